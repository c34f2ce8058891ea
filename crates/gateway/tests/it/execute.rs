//! `Gateway::execute` and `execute_approved`: what runs, what is recorded,
//! and how an approval is bound to the call it approved.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use agentwerke_evidence::canonical::digest_value;
use agentwerke_gateway::tools::Builtins;
use agentwerke_gateway::{
    CallStatus, Category, DecisionKind, Error, EscalationBinding, Gateway, GatewayConfig, Halts,
    Outcome, PermissionLevel as L, PolicySchema, PolicySet, Reason, SandboxProfile as P, Stage,
    ToolRegistry,
};
use agentwerke_types::ErrorCode;

use crate::support::{Behaviour, Stub, TaskExt, agents, call, gateway_with, registry, task};

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn count(calls: &Arc<AtomicUsize>) -> usize {
    calls.load(Ordering::SeqCst)
}

#[tokio::test]
async fn an_allowed_call_runs_and_is_recorded() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let c = call(
        "shell.exec",
        json!({"command": "git status"}),
        task(L::Full, P::RepoWrite),
    );
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(count(&calls), 1);
    assert_eq!(ex.decision.kind, DecisionKind::Allow);
    let Outcome::Executed { output } = &ex.outcome else {
        panic!("{:?}", ex.outcome)
    };
    assert_eq!(output["args"]["command"], "git status");
    let r = &ex.record;
    assert_eq!(r.status, CallStatus::Executed);
    assert_eq!(r.category, Some(Category::Exec));
    assert_eq!(
        r.output_digest.as_deref(),
        Some(digest_value(output).as_str())
    );
    assert!(r.duration_ms.is_some());
    assert_eq!(r.args_hash, digest_value(&c.arguments));
    assert_eq!(
        r.determining_policies,
        ["permit-changes-outside-production"]
    );
    assert_eq!(r.policy_set_hash, gateway.policies().hash());
    assert!(!r.approved);
}

#[tokio::test]
async fn rejected_and_escalated_calls_do_not_run() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let rejected = gateway
        .execute(
            &call(
                "shell.exec",
                json!({"command": "ls"}),
                task(L::ReadOnly, P::Offline),
            ),
            &Halts::none(),
        )
        .await;
    assert_eq!(rejected.record.status, CallStatus::Blocked);
    assert!(matches!(
        rejected.outcome,
        Outcome::Blocked {
            reason: Reason::PermissionLevel,
            ..
        }
    ));
    assert_eq!(rejected.record.duration_ms, None);

    let escalated = gateway
        .execute(
            &call(
                "shell.exec",
                json!({"command": "rm -rf build"}),
                task(L::Full, P::RepoWrite),
            ),
            &Halts::none(),
        )
        .await;
    assert_eq!(escalated.record.status, CallStatus::PendingApproval);
    let Outcome::PendingApproval { binding } = escalated.outcome else {
        panic!("not pending")
    };
    assert_eq!(binding.tool, "shell.exec");
    assert_eq!(binding.args_hash, escalated.decision.args_hash);
    assert_eq!(count(&calls), 0);
}

#[tokio::test]
async fn an_approval_runs_exactly_the_approved_call() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let t = task(L::Full, P::RepoWrite);
    let c = call("shell.exec", json!({"command": "rm -rf build"}), t.clone());
    let Outcome::PendingApproval { binding } = gateway.execute(&c, &Halts::none()).await.outcome
    else {
        panic!("not pending")
    };

    // Other arguments: refused, whatever the approval says.
    let other = call("shell.exec", json!({"command": "rm -rf /"}), t.clone());
    let ex = gateway
        .execute_approved(&other, &Halts::none(), &binding)
        .await;
    assert_eq!(
        (ex.decision.stage, ex.decision.reason),
        (Stage::Approval, Reason::ApprovalMismatch)
    );
    assert_eq!(ex.record.status, CallStatus::Blocked);
    // Another tool with the same hash: refused too.
    let forged = EscalationBinding {
        tool: "artifact.write".to_owned(),
        args_hash: binding.args_hash.clone(),
    };
    let ex = gateway.execute_approved(&c, &Halts::none(), &forged).await;
    assert_eq!(ex.decision.reason, Reason::ApprovalMismatch);
    assert_eq!(count(&calls), 0);

    // The same call, with its keys in another order, hashes the same.
    let reordered: Value = serde_json::from_str(r#"{"command":"rm -rf build"}"#).unwrap();
    let same = call("shell.exec", reordered, t);
    let ex = gateway
        .execute_approved(&same, &Halts::none(), &binding)
        .await;
    assert_eq!(ex.record.status, CallStatus::Executed);
    assert_eq!(ex.decision.kind, DecisionKind::Escalate);
    assert!(ex.record.approved);
    assert_eq!(count(&calls), 1);
}

#[tokio::test]
async fn an_approval_never_overrides_a_reject() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let c = call(
        "shell.exec",
        json!({"command": "rm -rf build"}),
        task(L::Full, P::RepoWrite),
    );
    let binding = EscalationBinding {
        tool: c.tool.clone(),
        args_hash: digest_value(&c.arguments),
    };

    // Halted since the approval.
    let halted = Halts {
        global: true,
        ..Halts::none()
    };
    let ex = gateway.execute_approved(&c, &halted, &binding).await;
    assert_eq!(ex.decision.reason, Reason::Halted);

    // The surface shrank since the approval.
    let mut narrowed = c.clone();
    narrowed.task = narrowed.task.deny(&["shell.exec"]);
    let ex = gateway
        .execute_approved(&narrowed, &Halts::none(), &binding)
        .await;
    assert_eq!(ex.decision.reason, Reason::DeniedTool);

    // A new policy set forbids it now.
    let forbid = PolicySet::parse(
        "v2",
        r#"@id("stop") forbid(principal, action, resource);"#,
        gateway.policy_schema(),
    )
    .unwrap();
    let stricter = gateway.with_policies(forbid).unwrap();
    let ex = stricter
        .execute_approved(&c, &Halts::none(), &binding)
        .await;
    assert_eq!(
        (ex.decision.reason, ex.decision.policy_set_version.as_str()),
        (Reason::Forbidden, "v2")
    );
    assert_eq!(ex.record.status, CallStatus::Blocked);
    assert_eq!(count(&calls), 0);
}

#[tokio::test]
async fn a_surface_escalation_runs_once_approved() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let c = call(
        "artifact.write",
        json!({"path": "notes.md", "content": "x"}),
        task(L::ReadOnly, P::Offline).escalate(),
    );
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(
        (ex.decision.kind, ex.decision.stage),
        (DecisionKind::Escalate, Stage::Surface)
    );
    let Outcome::PendingApproval { binding } = ex.outcome else {
        panic!("not pending")
    };
    let ex = gateway.execute_approved(&c, &Halts::none(), &binding).await;
    assert_eq!(ex.record.status, CallStatus::Executed);
    assert!(ex.record.approved);
}

#[tokio::test]
async fn failures_and_timeouts_are_recorded_with_codes() {
    let calls = counter();
    let registry = ToolRegistry::new()
        .with(Stub::with(
            "t.fail",
            Category::Read,
            &calls,
            Behaviour::Fail,
        ))
        .unwrap()
        .with(Stub::with(
            "t.slow",
            Category::Read,
            &calls,
            Behaviour::Sleep(Duration::from_secs(30)),
        ))
        .unwrap();
    let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
    let config = GatewayConfig {
        agents: agents(),
        tool_timeout: Duration::from_millis(50),
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(registry, PolicySet::default_set(schema).unwrap(), config).unwrap();
    let t = task(L::ReadOnly, P::Offline);

    let ex = gateway
        .execute(&call("t.fail", json!({}), t.clone()), &Halts::none())
        .await;
    assert_eq!(ex.record.status, CallStatus::Failed);
    assert_eq!(
        ex.record.error.as_deref(),
        Some("gateway.tool.failed: stub failure")
    );
    assert!(matches!(&ex.outcome, Outcome::Failed { code, .. } if code == "gateway.tool.failed"));

    let ex = gateway
        .execute(&call("t.slow", json!({}), t), &Halts::none())
        .await;
    assert_eq!(ex.record.status, CallStatus::Failed);
    assert!(matches!(&ex.outcome, Outcome::Failed { code, .. } if code == "gateway.tool.timeout"));
    assert!(ex.record.duration_ms.unwrap() < 5_000);
}

#[tokio::test]
async fn outputs_and_records_are_redacted() {
    let calls = counter();
    let leaky = json!({"token": "abcdefgh12345678", "note": "the key is hunter2-the-secret"});
    let registry = ToolRegistry::new()
        .with(Stub::with(
            "t.leak",
            Category::Read,
            &calls,
            Behaviour::Return(leaky),
        ))
        .unwrap();
    let gateway = gateway_with(
        registry,
        Some(r#"@id("all") permit(principal, action, resource);"#),
    );
    let args = json!({"q": "x", "password": "p4ssw0rd!"});
    let ex = gateway
        .execute(
            &call("t.leak", args.clone(), task(L::ReadOnly, P::Offline)),
            &Halts::none(),
        )
        .await;
    let Outcome::Executed { output } = &ex.outcome else {
        panic!("{:?}", ex.outcome)
    };
    assert_eq!(
        output,
        &json!({"token": "[REDACTED]", "note": "the key is [REDACTED]"})
    );
    assert_eq!(ex.record.redacted_args["password"], "[REDACTED]");
    assert_eq!(ex.record.args_hash, digest_value(&args));
    let json = serde_json::to_string(&ex.record).unwrap();
    assert!(
        !json.contains("p4ssw0rd") && !json.contains("hunter2"),
        "{json}"
    );
}

#[test]
fn decisions_and_records_serialise_in_camel_case() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let d = gateway.decide(
        &call(
            "http.request",
            json!({"url": "https://a.example/"}),
            task(L::Full, P::RepoRead),
        ),
        &Halts::none(),
    );
    let json = serde_json::to_value(&d).unwrap();
    for key in [
        "kind",
        "stage",
        "reason",
        "rationale",
        "determiningPolicies",
        "policySetVersion",
        "policySetHash",
        "risk",
        "riskLevel",
        "approverRole",
        "argsHash",
        "redactedArgs",
        "affectedSystems",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["kind"], "allow");
    assert_eq!(json["stage"], "policy");
    assert_eq!(json["affectedSystems"], json!(["host:a.example"]));
    let back: agentwerke_gateway::Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back, d);
}

#[tokio::test]
async fn records_map_onto_the_evidence_pack() {
    let calls = counter();
    let gateway = gateway_with(registry(&calls), None);
    let ex = gateway
        .execute(
            &call(
                "shell.exec",
                json!({"command": "ls"}),
                task(L::Full, P::RepoWrite).purpose("analysis"),
            ),
            &Halts::none(),
        )
        .await;
    let evidence = ex.record.to_evidence("work-1", "2025-01-31T09:15:02.123Z");
    assert_eq!(evidence.decision, "allow");
    assert_eq!(evidence.status, "executed");
    assert_eq!(evidence.category, "exec");
    assert_eq!(evidence.arguments_sha256, ex.record.args_hash);
    assert_eq!(evidence.risk_score, Some(40.0));
    assert_eq!(
        evidence.risk_factors[1],
        "purpose_misaligned (+20): purpose 'analysis' only reads, but the tool's category is exec"
    );
}

#[test]
fn a_gateway_refuses_policies_for_another_registry() {
    let builtins = ToolRegistry::builtin(Builtins::in_memory()).unwrap();
    let calls = counter();
    let schema = Arc::new(PolicySchema::for_registry(&builtins).unwrap());
    let err = Gateway::new(
        registry(&calls),
        PolicySet::default_set(schema).unwrap(),
        GatewayConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch(_)));
    assert_eq!(err.code(), "gateway.policy.schema_mismatch");
    assert_eq!(builtins.specs().len(), 8);
}
