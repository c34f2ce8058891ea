//! Property: whatever the arguments and the policy set, a call outside the
//! task's granted surface never executes. Under `toolEscalation="escalate"`
//! it may at most escalate; otherwise it is rejected.
//!
//! The oracle below re-states the surface rules from the spec on its own,
//! rather than calling `TaskSurface::check`, so a bug there cannot hide
//! itself.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use agentwerke_gateway::{
    AgentProfile, CallRequest, CallStatus, Category, DecisionKind, EscalationBinding, Gateway,
    GatewayConfig, Halts, PermissionLevel, PolicySchema, PolicySet, SandboxProfile, TaskSurface,
    ToolEscalation, ToolRegistry,
};

use crate::support::Stub;

const TOOLS: [(&str, Category); 6] = [
    ("p.read", Category::Read),
    ("p.write", Category::Write),
    ("p.exec", Category::Exec),
    ("p.network", Category::Network),
    ("p.integration", Category::Integration),
    ("p.secret", Category::Secret),
];

const LIST_ENTRIES: [&str; 9] = [
    "p.read",
    "p.write",
    "p.exec",
    "p.network",
    "p.integration",
    "p.secret",
    "p.*",
    "*",
    "other.tool",
];

const SCOPES: [&str; 9] = [
    "principal, action, resource",
    "principal == Agent::\"agent\", action, resource",
    "principal, action in Action::\"category:read\", resource",
    "principal, action in Action::\"category:network\", resource",
    "principal, action in Action::\"category:secret\", resource",
    "principal, action == Action::\"p.exec\", resource",
    "principal, action == Action::\"p.write\", resource",
    "principal, action, resource == Target::\"api.example.com\"",
    "principal, action in [Action::\"category:write\", Action::\"category:exec\"], resource",
];

const CONDITIONS: [&str; 9] = [
    "",
    "when { context.facts.production }",
    "unless { context.facts.destructive }",
    "when { context.attempt > 1 }",
    "when { context.riskScore >= 30 }",
    "when { context.policyTag == \"secrets\" }",
    "unless { context.facts.secretMaterial }",
    "when { context.facts.host like \"*.example.com\" }",
    "when { context.permissionLevel == \"full\" && context.sandboxProfile != \"offline\" }",
];

#[derive(Debug, Clone)]
struct GenPolicy {
    forbid: bool,
    escalate: bool,
    scope: usize,
    condition: usize,
}

#[derive(Debug, Clone)]
struct Case {
    level: PermissionLevel,
    profile: SandboxProfile,
    agent_profiles: Vec<SandboxProfile>,
    agent_known: bool,
    allowed: Vec<&'static str>,
    denied: Vec<&'static str>,
    escalate: bool,
    tool: usize,
    args: Value,
    environment: Option<&'static str>,
    policy_tag: Option<&'static str>,
    attempt: u32,
    permissive: bool,
    policies: Vec<GenPolicy>,
}

fn sub_list() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(prop::sample::select(&LIST_ENTRIES[..]), 0..3)
}

fn arg_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "https://api.example.com/x",
            "https://db.prod.example.com/",
            "http://169.254.169.254/",
            "rm -rf /",
            "git push --force",
            "ls -la",
            "DELETE",
            "GET",
            "../../etc/passwd",
            "notes.md",
            "production",
            "staging",
            "Bearer abcdefghijklmnop",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        Just(Value::Null),
        "[a-z ]{0,12}".prop_map(Value::String),
    ]
}

fn args() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "url",
        "method",
        "command",
        "argv",
        "path",
        "repo",
        "environment",
        "force",
        "token",
        "note",
        "host",
    ]);
    prop_oneof![
        9 => prop::collection::vec((keys, arg_value()), 0..5)
            .prop_map(|kvs| Value::Object(kvs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())),
        1 => arg_value(),
    ]
}

fn policy() -> impl Strategy<Value = GenPolicy> {
    (
        any::<bool>(),
        any::<bool>(),
        0..SCOPES.len(),
        0..CONDITIONS.len(),
    )
        .prop_map(|(forbid, escalate, scope, condition)| GenPolicy {
            forbid,
            escalate: escalate && !forbid,
            scope,
            condition,
        })
}

fn case() -> impl Strategy<Value = Case> {
    let surface = (
        prop::sample::select(PermissionLevel::ALL.to_vec()),
        prop::sample::select(SandboxProfile::ALL.to_vec()),
        prop::sample::subsequence(SandboxProfile::ALL.to_vec(), 0..=4),
        prop::bool::weighted(0.9),
        sub_list(),
        sub_list(),
        any::<bool>(),
    );
    let call = (
        0..TOOLS.len(),
        args(),
        prop::option::of(prop::sample::select(vec!["staging", "production"])),
        prop::option::of(Just("secrets")),
        0u32..4,
    );
    let policies = (any::<bool>(), prop::collection::vec(policy(), 0..6));
    (surface, call, policies).prop_map(
        |(
            (level, profile, agent_profiles, agent_known, allowed, denied, escalate),
            (tool, args, environment, policy_tag, attempt),
            (permissive, policies),
        )| Case {
            level,
            profile,
            agent_profiles,
            agent_known,
            allowed,
            denied,
            escalate,
            tool,
            args,
            environment,
            policy_tag,
            attempt,
            permissive,
            policies,
        },
    )
}

fn policy_text(case: &Case) -> String {
    let mut text = String::new();
    if case.permissive {
        text.push_str("@id(\"permissive\") permit(principal, action, resource);\n");
    }
    for (i, p) in case.policies.iter().enumerate() {
        let decision = if p.escalate {
            "@decision(\"escalate\") "
        } else {
            ""
        };
        let effect = if p.forbid { "forbid" } else { "permit" };
        text.push_str(&format!(
            "@id(\"p{i}\") {decision}{effect}({}) {};\n",
            SCOPES[p.scope], CONDITIONS[p.condition]
        ));
    }
    text
}

/// The spec, restated: (outside the surface, never escalatable).
fn oracle(case: &Case) -> (bool, bool) {
    let (tool, category) = TOOLS[case.tool];
    let listed = |list: &[&str]| {
        list.iter().any(|p| {
            *p == "*" || *p == tool || (p.ends_with(".*") && tool.starts_with(&p[..p.len() - 1]))
        })
    };
    let hard =
        !case.agent_known || listed(&case.denied) || !case.agent_profiles.contains(&case.profile);
    let level_grants = match category {
        Category::Read => true,
        Category::Write | Category::Integration => case.level >= PermissionLevel::ReadWrite,
        Category::Exec | Category::Network => case.level == PermissionLevel::Full,
        Category::Secret => case.allowed.contains(&tool),
    };
    let soft = (!case.allowed.is_empty() && !listed(&case.allowed))
        || !level_grants
        || (category == Category::Network && case.profile == SandboxProfile::Offline);
    (hard || soft, hard)
}

fn gateway(case: &Case, calls: &Arc<AtomicUsize>) -> Gateway {
    let mut registry = ToolRegistry::new();
    for (name, category) in TOOLS {
        registry.register(Stub::new(name, category, calls)).unwrap();
    }
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let policies = PolicySet::parse("prop", policy_text(case), schema).unwrap();
    let agents = if case.agent_known {
        vec![AgentProfile::new(
            "agent",
            case.agent_profiles.iter().copied(),
        )]
    } else {
        vec![AgentProfile::new("someone-else", SandboxProfile::ALL)]
    };
    let config = GatewayConfig {
        agents,
        ..GatewayConfig::default()
    };
    Gateway::new(registry, policies, config).unwrap()
}

fn request(case: &Case) -> CallRequest {
    CallRequest {
        tool: TOOLS[case.tool].0.to_owned(),
        arguments: case.args.clone(),
        agent: "agent".to_owned(),
        workflow_id: "wf".to_owned(),
        run_id: "run".to_owned(),
        node_id: "node".to_owned(),
        attempt: case.attempt,
        task: TaskSurface {
            purpose_type: "analysis".to_owned(),
            policy_tag: case.policy_tag.map(str::to_owned),
            environment: case.environment.map(str::to_owned),
            permission_level: case.level,
            allowed_tools: case.allowed.iter().map(|s| (*s).to_owned()).collect(),
            denied_tools: case.denied.iter().map(|s| (*s).to_owned()).collect(),
            sandbox_profile: case.profile,
            tool_escalation: if case.escalate {
                ToolEscalation::Escalate
            } else {
                ToolEscalation::Reject
            },
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn nothing_outside_the_surface_ever_executes(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let gateway = gateway(&case, &calls);
        let call = request(&case);
        let (outside, hard) = oracle(&case);

        let ex = runtime.block_on(gateway.execute(&call, &Halts::none()));
        let ran = calls.load(Ordering::SeqCst) == 1;
        // Running, the record and the decision always agree.
        prop_assert_eq!(ran, matches!(ex.record.status, CallStatus::Executed | CallStatus::Failed));
        prop_assert!(!ran || ex.decision.kind == DecisionKind::Allow);

        if outside {
            prop_assert!(!ran, "outside the surface but executed: {:?}", ex.decision);
            prop_assert_ne!(ex.decision.kind, DecisionKind::Allow);
            if hard || !case.escalate {
                prop_assert_eq!(ex.decision.kind, DecisionKind::Reject, "{:?}", ex.decision);
            }
            // A forged approval (other arguments) never runs it either.
            let forged = EscalationBinding { tool: call.tool.clone(), args_hash: "0".repeat(64) };
            let again = runtime.block_on(gateway.execute_approved(&call, &Halts::none(), &forged));
            prop_assert_eq!(again.record.status, CallStatus::Blocked);
            prop_assert_eq!(calls.load(Ordering::SeqCst), 0);
        }

        // The kill switch stops everything, inside the surface or not.
        let halted = Halts { agents: BTreeSet::from(["agent".to_owned()]), ..Halts::none() };
        let before = calls.load(Ordering::SeqCst);
        let ex = runtime.block_on(gateway.execute(&call, &halted));
        prop_assert_eq!(ex.decision.kind, DecisionKind::Reject);
        prop_assert_eq!(calls.load(Ordering::SeqCst), before);
    }
}
