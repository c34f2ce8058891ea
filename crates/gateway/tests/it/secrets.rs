//! Credentials in arguments: refused before any policy, recorded redacted,
//! and known values followed as they change while the gateway runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use agentwerke_gateway::{
    CallStatus, DecisionKind, Gateway, GatewayConfig, Halts, Outcome, PermissionLevel as L,
    PolicySchema, PolicySet, Reason, Redactor, SandboxProfile as P, Stage,
};

use crate::support::{agents, call, registry, task};

const PEM: &str =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKbD9x\n-----END PRIVATE KEY-----\n";

/// A gateway whose policies permit every call, so only the secrets check
/// can refuse one.
fn permissive(redactor: Redactor, calls: &Arc<AtomicUsize>) -> Gateway {
    let registry = registry(calls);
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let policies = PolicySet::load(
        "permit-all",
        r#"@id("all") permit(principal, action, resource);"#,
        schema,
    );
    // A fixed value, as `redact-env` gives one at start.
    redactor.add(["static-value-from-env"]);
    let config = GatewayConfig {
        agents: agents(),
        redactor,
        ..GatewayConfig::default()
    };
    Gateway::new(registry, policies, config).unwrap()
}

#[tokio::test]
async fn a_refused_call_never_runs_and_its_record_is_redacted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gateway = permissive(Redactor::new(["db-pass-0f9e8d"]), &calls);
    let args = json!({
        "command": "deploy --password db-pass-0f9e8d",
        "key": PEM,
        "static-value-from-env": true,
    });
    let c = call("shell.exec", args, task(L::Full, P::RepoWrite));
    let ex = gateway.execute(&c, &Halts::none()).await;

    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(ex.decision.kind, DecisionKind::Reject);
    assert_eq!(ex.decision.stage, Stage::Secrets);
    assert_eq!(ex.decision.reason, Reason::SecretInArguments);
    assert_eq!(ex.decision.reason.as_str(), "secret_in_arguments");
    assert!(ex.decision.determining_policies.is_empty());
    assert!(matches!(
        ex.outcome,
        Outcome::Blocked {
            reason: Reason::SecretInArguments,
            ..
        }
    ));
    assert_eq!(ex.record.status, CallStatus::Blocked);
    let recorded = serde_json::to_string(&ex.record).unwrap();
    for leaked in [
        "db-pass-0f9e8d",
        "MC4CAQAw",
        "BEGIN PRIVATE KEY",
        "static-value-from-env",
    ] {
        assert!(!recorded.contains(leaked), "{leaked} in {recorded}");
    }
    assert_eq!(ex.record.redacted_args["key"], "[REDACTED]\n");
    assert_eq!(ex.record.args_hash.len(), 64);
}

#[test]
fn the_refusal_does_not_depend_on_which_secret_or_where() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gateway = permissive(Redactor::new(["db-pass-0f9e8d"]), &calls);
    let t = || task(L::Full, P::RepoWrite);
    for args in [
        json!({"command": "echo static-value-from-env"}),
        json!({"argv": ["x", {"nested": "db-pass-0f9e8d"}]}),
        json!({"files": {"id_rsa": PEM.replace('\n', "\\n")}}),
    ] {
        let d = gateway.decide(&call("shell.exec", args.clone(), t()), &Halts::none());
        assert_eq!(
            (d.stage, d.reason),
            (Stage::Secrets, Reason::SecretInArguments),
            "{args}"
        );
    }
    let d = gateway.decide(
        &call("shell.exec", json!({"command": "ls"}), t()),
        &Halts::none(),
    );
    assert_eq!(d.kind, DecisionKind::Allow);
}

#[test]
fn a_secret_set_while_running_is_refused_from_the_next_call() {
    let calls = Arc::new(AtomicUsize::new(0));
    let shared = Redactor::new(["first-value-a1"]);
    let gateway = permissive(shared.clone(), &calls);
    let c = |value: &str| {
        call(
            "shell.exec",
            json!({ "command": format!("login {value}") }),
            task(L::Full, P::RepoWrite),
        )
    };
    assert_eq!(
        gateway.decide(&c("second-value-b2"), &Halts::none()).kind,
        DecisionKind::Allow
    );

    // A rotation elsewhere in the server: the new value is added, the old
    // one stays known.
    shared.add(["second-value-b2"]);
    for value in ["first-value-a1", "second-value-b2"] {
        let d = gateway.decide(&c(value), &Halts::none());
        assert_eq!(d.reason, Reason::SecretInArguments, "{value}");
    }
    assert!(!gateway.redact("x second-value-b2").contains("second-value"));
    // The gateway's fixed values joined the shared redactor.
    assert!(shared.contains_known("static-value-from-env"));
}

#[test]
fn risk_details_and_affected_systems_are_redacted() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gateway = permissive(Redactor::default(), &calls);
    let token = "sk-abcdefghijklmnopqrstuv";
    let mut t = task(L::Full, P::RepoWrite);
    t.environment = Some("production".to_owned());
    let args = json!({"path": format!("production/notes/{token}.md"), "content": "x"});
    let d = gateway.decide(&call("artifact.write", args, t), &Halts::none());
    assert!(
        d.risk.factors.iter().any(|f| f.name == "production_target"),
        "{:?}",
        d.risk.factors
    );
    let shown = serde_json::to_string(&d).unwrap();
    assert!(!shown.contains(token), "{shown}");
    assert!(
        d.affected_systems
            .iter()
            .any(|s| s.starts_with("path:/workspace/production/notes/")),
        "{:?}",
        d.affected_systems
    );
}
