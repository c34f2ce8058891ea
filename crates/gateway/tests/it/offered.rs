//! The tools offered to a model: the granted surface, not the registry.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use agentwerke_gateway::{AgentProfile, Gateway, PermissionLevel as L, SandboxProfile as P};

use crate::support::{TaskExt, gateway_with, registry, task};

fn gateway() -> Gateway {
    gateway_with(registry(&Arc::new(AtomicUsize::new(0))), None)
}

fn names(gateway: &Gateway, task: &agentwerke_gateway::TaskSurface, agent: &str) -> Vec<String> {
    gateway
        .offered(task, agent)
        .into_iter()
        .map(|spec| spec.name)
        .collect()
}

#[test]
fn a_read_only_task_is_offered_its_read_tools_only() {
    let gateway = gateway();
    let every: Vec<String> = gateway
        .registry()
        .specs()
        .into_iter()
        .map(|s| s.name)
        .collect();
    let offered = names(&gateway, &task(L::ReadOnly, P::Offline), "coder");
    assert!(!offered.is_empty());
    assert!(
        offered.len() < every.len(),
        "not every registered tool: {offered:?}"
    );
    for name in &offered {
        let category = gateway.registry().category(name).unwrap();
        assert_eq!(category, agentwerke_gateway::Category::Read, "{name}");
    }
    for refused in ["artifact.write", "shell.exec", "vault.read", "http.request"] {
        assert!(
            every.contains(&refused.to_owned()),
            "{refused} is registered"
        );
        assert!(
            !offered.contains(&refused.to_owned()),
            "{refused} is not offered"
        );
    }
}

#[test]
fn escalatable_failures_still_offer_the_tool_and_hard_ones_do_not() {
    let gateway = gateway();
    let escalating = task(L::ReadOnly, P::Offline).escalate().deny(&["shell.*"]);
    let offered = names(&gateway, &escalating, "coder");
    assert!(
        offered.contains(&"artifact.write".to_owned()),
        "{offered:?}"
    );
    assert!(offered.contains(&"vault.read".to_owned()), "{offered:?}");
    assert!(
        !offered.contains(&"shell.exec".to_owned()),
        "deniedTools is never escalated"
    );

    // The agent may not use the task's sandbox profile: nothing at all.
    assert!(names(&gateway, &task(L::Full, P::Deployment).escalate(), "reader").is_empty());
    // An agent the gateway has no profile for: nothing at all.
    assert!(names(&gateway, &task(L::Full, P::Offline), "stranger").is_empty());
}

#[test]
fn allowed_tools_and_secret_grants_narrow_the_offer() {
    let gateway = gateway();
    let narrowed = task(L::Full, P::RepoWrite).allow(&["artifact.*", "vault.read"]);
    let offered = names(&gateway, &narrowed, "coder");
    assert!(
        offered
            .iter()
            .all(|n| n.starts_with("artifact.") || n == "vault.read"),
        "{offered:?}"
    );
    assert!(offered.contains(&"vault.read".to_owned()));
    let wildcard = task(L::Full, P::RepoWrite).allow(&["*"]);
    assert!(!names(&gateway, &wildcard, "coder").contains(&"vault.read".to_owned()));
}

#[test]
fn other_agent_profiles_replace_the_old_ones() {
    let gateway = gateway();
    let offline = task(L::ReadOnly, P::Offline);
    assert!(names(&gateway, &offline, "newcomer").is_empty());
    let reloaded = gateway.with_agents(vec![AgentProfile::new("newcomer", [P::Offline])]);
    assert!(!names(&reloaded, &offline, "newcomer").is_empty());
    assert!(
        reloaded.agent("coder").is_none(),
        "the old profiles are gone"
    );
    assert_eq!(reloaded.policies().version(), gateway.policies().version());
}
