//! Executable fixtures: read completely, and the extension prefix does not
//! matter.

use agentwerke_bpmn::condition::{Condition, ConditionLanguage};
use agentwerke_bpmn::model::{
    Definitions, EventTrigger, ExecutionMode, NodeKind, PermissionLevel, Position, SandboxProfile,
    ToolEscalation,
};
use agentwerke_bpmn::{KnownTools, Limits, load};

use super::common::{dump, fixture};

/// The tools the fixtures' tasks name in `allowedTools` and `deniedTools`.
const FIXTURE_TOOLS: [&str; 4] = ["fs.read", "git.diff", "repo.search", "shell.exec"];

fn loaded(name: &str) -> Definitions {
    match load(
        &fixture(name),
        &Limits::default(),
        &KnownTools::new(FIXTURE_TOOLS),
    ) {
        Ok(loaded) => {
            assert_eq!(loaded.report.errors().count(), 0);
            assert_eq!(
                loaded.report.warnings().count(),
                0,
                "{}",
                dump(&loaded.report)
            );
            loaded.definitions
        }
        Err(report) => panic!("{name} refused:\n{}", dump(&report)),
    }
}

/// Zeroes every position, so two documents can be compared by content.
fn without_positions(defs: &Definitions) -> serde_json::Value {
    let mut value = serde_json::to_value(defs).unwrap();
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if map.contains_key("position") {
                    map.insert(
                        "position".into(),
                        serde_json::to_value(Position::default()).unwrap(),
                    );
                }
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

#[test]
fn prefixes_do_not_matter() {
    let autofac = loaded("good_autofac.bpmn");
    let agentwerke = loaded("good_agentwerke.bpmn");
    assert_eq!(without_positions(&autofac), without_positions(&agentwerke));
    assert_ne!(
        autofac, agentwerke,
        "positions differ, so the raw models must too"
    );
}

#[test]
fn reads_every_part() {
    let defs = loaded("good_autofac.bpmn");
    assert_eq!(defs.id.as_deref(), Some("Defs_Release"));
    assert_eq!(
        defs.messages.get("Msg_Deployed"),
        Some(&Some("deployment.finished".to_owned()))
    );
    let p = defs.executable_process().unwrap();
    assert_eq!(p.id, "Release");
    assert_eq!(p.nodes.len(), 17);
    assert_eq!(p.flows.len(), 16);

    let analyze = &p.nodes[p.node_index("Analyze").unwrap()];
    let NodeKind::AgentTask {
        element,
        spec: Some(spec),
    } = &analyze.kind
    else {
        panic!("{:?}", analyze.kind)
    };
    assert_eq!(element, "serviceTask");
    assert_eq!(spec.agent, "reviewer");
    assert_eq!(spec.action.as_deref(), Some("analyze"));
    assert_eq!(spec.purpose_type, "code_review");
    assert_eq!(spec.policy_tag.as_deref(), Some("release"));
    assert_eq!(spec.environment.as_deref(), Some("staging"));
    assert!(spec.requires_evidence && spec.strict_variables);
    assert_eq!(spec.execution_mode, ExecutionMode::ToolSandboxed);
    assert_eq!(spec.sandbox_profile, SandboxProfile::RepoRead);
    assert_eq!(spec.permission_level, PermissionLevel::ReadWrite);
    assert_eq!(spec.allowed_tools, ["git.diff", "fs.read", "repo.search"]);
    assert_eq!(spec.denied_tools, ["shell.exec"]);
    assert_eq!(spec.tool_escalation, ToolEscalation::Escalate);
    assert_eq!(
        spec.prompt.as_deref(),
        Some("Review {{input.change}} for {{run_id}}.")
    );
    assert_eq!(
        (
            spec.max_retries,
            spec.retry_backoff_seconds,
            spec.timeout_seconds
        ),
        (2, 5, Some(600))
    );
    assert_eq!(
        spec.metadata,
        [
            ("team".into(), "platform".into()),
            ("ticket".into(), "OPS-1".into())
        ]
    );
    assert_eq!(analyze.boundary, [p.node_index("Analyze_Timeout").unwrap()]);
    assert_eq!(
        analyze.position,
        Position {
            line: 14,
            column: 5
        }
    );

    let deploy_run = &p.nodes[p.node_index("Deploy_Run").unwrap()];
    let NodeKind::AgentTask {
        spec: Some(spec), ..
    } = &deploy_run.kind
    else {
        panic!()
    };
    assert_eq!(spec.execution_mode, ExecutionMode::Local);
    assert_eq!(spec.permission_level, PermissionLevel::Full);
    assert_eq!(spec.prompt.as_deref(), Some("Deploy it."));
    assert_eq!(deploy_run.parent, p.node_index("Deploy"));

    let review = &p.nodes[p.node_index("Review").unwrap()];
    let NodeKind::UserTask { approval: Some(a) } = &review.kind else {
        panic!()
    };
    assert_eq!(
        (a.purpose_type.as_str(), a.policy_tag.as_str()),
        ("release_approval", "release")
    );
    assert_eq!(a.approver_role.as_deref(), Some("release-manager"));

    let wait = &p.nodes[p.node_index("AwaitDeployed").unwrap()];
    let NodeKind::ReceiveTask {
        external_event: Some(e),
    } = &wait.kind
    else {
        panic!()
    };
    assert_eq!(e.message_name, "deployment.finished");
    assert_eq!(
        e.correlation_key_template.as_deref(),
        Some("{{input.changeId}}")
    );

    let risky = &p.nodes[p.node_index("Risky").unwrap()];
    assert_eq!(
        risky.kind,
        NodeKind::ExclusiveGateway {
            default: p.flow_index("F_LowRisk")
        }
    );
    assert_eq!(
        risky.outgoing,
        [
            p.flow_index("F_HighRisk").unwrap(),
            p.flow_index("F_LowRisk").unwrap()
        ]
    );

    let high = &p.flows[p.flow_index("F_HighRisk").unwrap()];
    let cond = high.condition.as_ref().unwrap();
    assert_eq!(
        (cond.text.as_str(), cond.language),
        ("output.Analyze.risk > 5", ConditionLanguage::Cel)
    );
    let approved = &p.flows[p.flow_index("F_Approved").unwrap()];
    let legacy = approved.condition.as_ref().unwrap();
    assert_eq!(legacy.language, ConditionLanguage::Legacy);
    assert!(Condition::compile(legacy).unwrap().reads("approval.Review"));

    let timeout = &p.nodes[p.node_index("End_Timeout").unwrap()];
    assert_eq!(
        timeout.kind,
        NodeKind::EndEvent {
            trigger: EventTrigger::Error {
                error_code: Some("FRAUD".into())
            }
        }
    );
    let NodeKind::BoundaryEvent {
        attached_to,
        cancel_activity,
        trigger: EventTrigger::Timer(t),
        ..
    } = &p.nodes[p.node_index("Analyze_Timeout").unwrap()].kind
    else {
        panic!()
    };
    assert_eq!(
        (*attached_to, *cancel_activity, t.expression.as_str()),
        (p.node_index("Analyze"), true, "PT30M")
    );

    assert_eq!(defs.diagram.shapes.len(), 2);
    assert_eq!(defs.diagram.shapes[1].is_expanded, Some(true));
    assert_eq!(defs.diagram.shapes[1].bounds.width, 300.0);
    assert_eq!(defs.diagram.edges[0].waypoints.len(), 2);
    assert_eq!(defs.diagram.edges[0].waypoints[1].x, 200.5);
}

#[test]
fn model_round_trips_through_json() {
    let defs = loaded("good_autofac.bpmn");
    let json = serde_json::to_string(&defs).unwrap();
    let back: Definitions = serde_json::from_str(&json).unwrap();
    assert_eq!(back, defs);
}
