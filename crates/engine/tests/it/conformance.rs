//! The conformance table: one BPMN file per behaviour in
//! `tests/conformance/`, run through the real parser and validator, with the
//! node trace, effect kinds and final status each script must produce.

use agentwerke_bpmn::{KnownTools, Limits, Severity, parse, validate};
use agentwerke_engine::{ApprovalDecision, Definition};
use agentwerke_types::RunStatus;
use serde_json::{Value, json};

use super::support::Run;

/// One scripted input.
#[derive(Debug, Clone, Copy)]
enum Step {
    Complete(&'static str),
    Fail(&'static str, &'static str),
    Decide(&'static str, ApprovalDecision),
    Message(&'static str, &'static str),
    Fire(&'static str),
    Cancel,
}

use ApprovalDecision::{Approve, Reject, RequestChanges};
use Step::{Cancel, Complete, Decide, Fail, Fire, Message};

struct Case {
    name: &'static str,
    file: &'static str,
    input: Value,
    steps: Vec<Step>,
    trace: Vec<&'static str>,
    effects: Vec<&'static str>,
    status: RunStatus,
    /// `RunError::code` for failed runs.
    error: Option<&'static str>,
}

fn case(name: &'static str, file: &'static str, input: Value, steps: Vec<Step>) -> Case {
    Case {
        name,
        file,
        input,
        steps,
        trace: vec![],
        effects: vec![],
        status: RunStatus::Completed,
        error: None,
    }
}

impl Case {
    fn trace(mut self, trace: &[&'static str]) -> Self {
        self.trace = trace.to_vec();
        self
    }
    fn effects(mut self, effects: &[&'static str]) -> Self {
        self.effects = effects.to_vec();
        self
    }
    fn ends(mut self, status: RunStatus, error: Option<&'static str>) -> Self {
        self.status = status;
        self.error = error;
        self
    }
}

const RAT: &str = "run_agent_task";
const RA: &str = "request_approval";
const ST: &str = "schedule_timer";
const FIN: &str = "run_finished";

fn table() -> Vec<Case> {
    vec![
        case(
            "sequence",
            "sequence",
            json!({"title": "t"}),
            vec![Complete("Analyze"), Decide("Review", Approve)],
        )
        .trace(&["Start", "Analyze", "Review", "End"])
        .effects(&[RAT, RA, FIN]),
        case(
            "exclusive CEL",
            "exclusive-conditions",
            json!({"amount": 5000, "region": "eu"}),
            vec![],
        )
        .trace(&["Start", "Route", "Big"])
        .effects(&[FIN]),
        case(
            "exclusive legacy",
            "exclusive-conditions",
            json!({"amount": 10, "region": "eu"}),
            vec![],
        )
        .trace(&["Start", "Route", "Eu"])
        .effects(&[FIN]),
        case(
            "exclusive default",
            "exclusive-conditions",
            json!({"amount": 10, "region": "us"}),
            vec![],
        )
        .trace(&["Start", "Route", "Fallback"])
        .effects(&[FIN]),
        case(
            "exclusive no match",
            "exclusive-no-match",
            json!({"amount": 10, "region": "us"}),
            vec![],
        )
        .trace(&["Start", "Route"])
        .effects(&[FIN])
        .ends(RunStatus::Failed, Some("engine.no_matching_flow")),
        case(
            "parallel approvals",
            "parallel-approvals",
            json!({}),
            vec![Decide("Legal", Approve), Decide("Security", Approve)],
        )
        .trace(&["Start", "Fork", "Legal", "Security", "Join", "Join", "End"])
        .effects(&[RA, RA, FIN]),
        case(
            "cancel",
            "parallel-approvals",
            json!({}),
            vec![Decide("Legal", Approve), Cancel],
        )
        .trace(&["Start", "Fork", "Legal", "Security", "Join"])
        .effects(&[RA, RA, "close_approval", FIN])
        .ends(RunStatus::Cancelled, None),
        case(
            "inclusive two branches",
            "inclusive",
            json!({"a": true, "c": true}),
            vec![Complete("A"), Complete("C")],
        )
        .trace(&["Start", "Fork", "A", "C", "Join", "Join", "End"])
        .effects(&[RAT, RAT, FIN]),
        case(
            "inclusive default",
            "inclusive",
            json!({"a": false, "c": false}),
            vec![Complete("D")],
        )
        .trace(&["Start", "Fork", "D", "Join", "End"])
        .effects(&[RAT, FIN]),
        case(
            "timers",
            "timers",
            json!({}),
            vec![Fire("Wait10m"), Fire("WaitDate"), Fire("WaitCycle")],
        )
        .trace(&["Start", "Wait10m", "WaitDate", "WaitCycle", "End"])
        .effects(&[ST, ST, ST, FIN]),
        case(
            "message correlation",
            "message-correlation",
            json!({"orderId": 42}),
            vec![
                Message("payment.received", "order-41"),
                Message("payment.received", "order-42"),
                Message("ack", "anything"),
            ],
        )
        .trace(&["Start", "Payment", "Ack", "End"])
        .effects(&["await_message", "await_message", FIN]),
        case(
            "approve",
            "approval-unmodelled",
            json!({}),
            vec![Complete("Draft"), Decide("Review", Approve)],
        )
        .trace(&["Start", "Draft", "Review", "End"])
        .effects(&[RAT, RA, FIN]),
        case(
            "reject",
            "approval-unmodelled",
            json!({}),
            vec![Complete("Draft"), Decide("Review", Reject)],
        )
        .trace(&["Start", "Draft", "Review"])
        .effects(&[RAT, RA, FIN])
        .ends(RunStatus::Rejected, None),
        case(
            "request changes",
            "approval-unmodelled",
            json!({}),
            vec![
                Complete("Draft"),
                Decide("Review", RequestChanges),
                Complete("Draft"),
                Decide("Review", Approve),
            ],
        )
        .trace(&["Start", "Draft", "Review", "Draft", "Review", "End"])
        .effects(&[RAT, RA, RAT, RA, FIN]),
        case(
            "modelled reject",
            "approval-modelled",
            json!({}),
            vec![Complete("Draft"), Decide("Review", Reject)],
        )
        .trace(&["Start", "Draft", "Review", "Decide", "Archive"])
        .effects(&[RAT, RA, FIN]),
        case(
            "modelled request changes",
            "approval-modelled",
            json!({}),
            vec![Complete("Draft"), Decide("Review", RequestChanges)],
        )
        .trace(&["Start", "Draft", "Review", "Decide", "Archive"])
        .effects(&[RAT, RA, FIN]),
        case(
            "boundary timer on task",
            "boundary-timer-task",
            json!({}),
            vec![Fire("Sla")],
        )
        .trace(&["Start", "Slow", "Sla", "Escalated"])
        .effects(&[ST, RAT, "cancel_work", FIN]),
        case(
            "boundary error on task",
            "boundary-error-task",
            json!({}),
            vec![
                Fail("Deploy", "deploy_failed"),
                Fail("Deploy", "deploy_failed"),
                Complete("Rollback"),
            ],
        )
        .trace(&["Start", "Deploy", "OnDeployError", "Rollback", "RolledBack"])
        .effects(&[RAT, RAT, RAT, FIN]),
        case(
            "unmatched error code",
            "boundary-error-task",
            json!({}),
            vec![Fail("Deploy", "other"), Fail("Deploy", "other")],
        )
        .trace(&["Start", "Deploy"])
        .effects(&[RAT, RAT, FIN])
        .ends(RunStatus::Failed, Some("engine.task_failed")),
        case(
            "boundary error on subprocess",
            "boundary-error-subprocess",
            json!({}),
            vec![Complete("Check")],
        )
        .trace(&[
            "Start",
            "Work",
            "SubStart",
            "Check",
            "Valid",
            "Invalid",
            "CatchInvalid",
            "Handled",
        ])
        .effects(&[RAT, FIN]),
        case("error end", "error-end", json!({}), vec![])
            .trace(&["Start", "Fail"])
            .effects(&[FIN])
            .ends(RunStatus::Failed, Some("engine.unhandled_error")),
        case("terminate end", "terminate-end", json!({}), vec![])
            .trace(&["Start", "Fork", "Long", "Stop"])
            .effects(&[RAT, "cancel_work", FIN]),
        case(
            "subprocess",
            "subprocess",
            json!({}),
            vec![Complete("A"), Complete("B"), Complete("Publish")],
        )
        .trace(&[
            "Start", "Prepare", "SubStart", "SubFork", "A", "B", "SubJoin", "SubJoin", "SubEnd",
            "Publish", "End",
        ])
        .effects(&[RAT, RAT, RAT, FIN]),
        case(
            "retries with backoff",
            "retries-backoff",
            json!({}),
            vec![
                Fail("Flaky", "e"),
                Fire("Flaky"),
                Fail("Flaky", "e"),
                Fire("Flaky"),
                Complete("Flaky"),
            ],
        )
        .trace(&["Start", "Flaky", "End"])
        .effects(&[RAT, ST, RAT, ST, RAT, FIN]),
        case("timeout", "timeout", json!({}), vec![Fire("Slow")])
            .trace(&["Start", "Slow"])
            .effects(&[RAT, ST, "cancel_work", FIN])
            .ends(RunStatus::Failed, Some("engine.task_failed")),
    ]
}

/// Parses, validates and compiles a conformance file.
fn load(file: &str) -> Definition {
    let path = format!(
        "{}/tests/conformance/{file}.bpmn",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let parsed = parse(&xml, &Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let report = validate(&parsed.definitions, &KnownTools::default());
    let errors: Vec<_> = parsed
        .diagnostics
        .iter()
        .chain(&report.diagnostics)
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{file}: {errors:#?}");
    Definition::from_definitions(&parsed.definitions).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn play(run: &mut Run, step: Step) {
    match step {
        Complete(node) => {
            let output = if node == "Check" {
                json!({"ok": false})
            } else {
                json!({"done": node})
            };
            run.complete(node, output);
        }
        Fail(node, code) => {
            run.fail(node, code);
        }
        Decide(node, decision) => {
            run.decide(node, decision, "comment");
        }
        Message(name, key) => {
            run.message(name, key, json!({"key": key}));
        }
        Fire(node) => {
            run.fire(node);
        }
        Cancel => {
            run.cancel("conformance");
        }
    }
}

#[test]
fn conformance_table() {
    let mut failures = vec![];
    for case in table() {
        let mut run = Run::new(load(case.file));
        run.start(case.input.clone());
        for step in &case.steps {
            play(&mut run, *step);
        }
        let error = run.state.error().map(|e| e.code.as_str());
        let got = (
            run.visited.clone(),
            run.kinds(),
            run.status(),
            error.map(str::to_owned),
        );
        let want = (
            case.trace
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>(),
            case.effects.clone(),
            case.status,
            case.error.map(str::to_owned),
        );
        if got != want {
            failures.push(format!("{}:\n  got  {got:?}\n  want {want:?}", case.name));
        }
        // Every conformance run replays to the same bytes.
        assert_eq!(
            serde_json::to_vec(&run.replay()).unwrap(),
            serde_json::to_vec(&run.state).unwrap(),
            "{}",
            case.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_conformance_file_is_in_the_table() {
    let dir = format!("{}/tests/conformance", env!("CARGO_MANIFEST_DIR"));
    let table = table();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.strip_suffix(".bpmn").unwrap();
        assert!(table.iter().any(|c| c.file == stem), "{name} has no case");
    }
}

#[test]
fn approval_modelling_is_detected_from_condition_text() {
    let def = load("approval-modelled");
    assert!(def.approval_is_modelled(def.node_index("Review").unwrap()));
    let def = load("approval-unmodelled");
    let review = def.node_index("Review").unwrap();
    assert!(!def.approval_is_modelled(review));
    assert_eq!(def.rework_target(review), def.node_index("Draft"));
}

#[test]
fn the_shipped_example_runs() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hello-sdlc.bpmn"
    );
    let xml = std::fs::read(path).unwrap();
    let parsed = parse(&xml, &Limits::default()).unwrap();
    let def = Definition::from_definitions(&parsed.definitions).unwrap();
    let mut run = Run::new(def);
    run.start(json!({"title": "Add audit export"}));
    run.complete("Analyze", json!("risks"))
        .decide("Review", Approve, "ok");
    assert_eq!(run.status(), RunStatus::Completed);
}
