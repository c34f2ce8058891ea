//! Behaviour by behaviour, on models built in code (the BPMN files in
//! `conformance/` cover the same ground through the parser).

use agentwerke_bpmn::timer::TimerKind;
use agentwerke_engine::{ApprovalDecision, Effect, Error, Event, StepStatus, TaskError, WorkId};
use agentwerke_types::{ErrorCode, RunStatus, Timestamp};
use serde_json::json;

use super::support::{B, Run};

fn seq() -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent("Analyze");
    let e = b.end("End");
    b.chain(&[s, a, e]);
    b
}

#[test]
fn sequence_runs_agent_and_completes() {
    let mut r = Run::new(seq().build());
    r.start(json!({"title": "x"}));
    assert_eq!(r.status(), RunStatus::Running);
    assert!(matches!(
        &r.last[..],
        [Effect::RunAgentTask { attempt: 1, node_id, feedback: None, .. }] if node_id == "Analyze"
    ));
    r.complete("Analyze", json!({"risk": "low"}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited, ["Start", "Analyze", "End"]);
    assert_eq!(r.state.context()["output"]["Analyze"]["risk"], "low");
    assert_eq!(r.state.steps()[0].status, StepStatus::Completed);
    assert_eq!(r.state.steps()[0].agent.as_deref(), Some("analyze-agent"));
    assert_eq!(r.last_kinds(), ["run_finished"]);
    assert!(r.state.ended_at().is_some());
}

fn exclusive(default: bool) -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let g = b.xor("Route");
    let big = b.end("Big");
    let eu = b.end("Eu");
    let other = b.end("Other");
    b.flow(s, g);
    b.flow_if(g, big, "input.amount > 1000");
    b.flow_if(g, eu, r#"{{input.region}} == "eu""#);
    if default {
        let f = b.flow(g, other);
        b.set_default(g, f);
    }
    b
}

#[test]
fn exclusive_takes_first_true_condition_in_document_order() {
    let def = exclusive(true).build();
    let mut r = Run::new(def.clone());
    r.start(json!({"amount": 5000, "region": "eu"}));
    assert_eq!(r.visited, ["Start", "Route", "Big"]);
    let mut r = Run::new(def.clone());
    r.start(json!({"amount": 5, "region": "eu"}));
    assert_eq!(r.visited, ["Start", "Route", "Eu"]);
    let mut r = Run::new(def);
    r.start(json!({"amount": 5, "region": "us"}));
    assert_eq!(r.visited, ["Start", "Route", "Other"]);
    assert_eq!(r.status(), RunStatus::Completed);
}

#[test]
fn exclusive_without_match_or_default_fails_closed() {
    let mut r = Run::new(exclusive(false).build());
    r.start(json!({"amount": 5, "region": "us"}));
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r.state.error().unwrap();
    assert_eq!(err.code, "engine.no_matching_flow");
    assert_eq!(err.node_id.as_deref(), Some("Route"));
    assert_eq!(r.last_kinds(), ["run_finished"]);
}

#[test]
fn condition_that_cannot_be_evaluated_fails_closed() {
    let mut r = Run::new(exclusive(true).build());
    r.start(json!({"region": "us"}));
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.state.error().unwrap().code, "engine.condition_failed");
}

#[test]
fn parallel_fork_join_with_two_approvals_open_at_once() {
    let mut b = B::new();
    let s = b.start("Start");
    let fork = b.and("Fork");
    let a1 = b.approval("Legal");
    let a2 = b.approval("Security");
    let join = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, fork]);
    b.chain(&[fork, a1, join]);
    b.chain(&[fork, a2, join]);
    b.chain(&[join, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    assert_eq!(r.last_kinds(), ["request_approval", "request_approval"]);
    r.decide("Legal", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    assert!(!r.visited.contains(&"End".to_owned()));
    r.decide("Security", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(
        r.visited,
        ["Start", "Fork", "Legal", "Security", "Join", "Join", "End"]
    );
    assert_eq!(
        r.state.context()["approval"]["Legal"]["decision"],
        "approve"
    );
    assert_eq!(
        r.state.context()["approval"]["Legal"]["decidedBy"],
        "arnold"
    );
}

fn inclusive() -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let fork = b.or("Fork");
    let a = b.agent("A");
    let c = b.agent("C");
    let d = b.agent("D");
    let join = b.or("Join");
    let e = b.end("End");
    b.flow(s, fork);
    b.flow_if(fork, a, "input.a");
    b.flow_if(fork, c, "input.c");
    let fd = b.flow(fork, d);
    b.set_default(fork, fd);
    b.chain(&[a, join]);
    b.chain(&[c, join]);
    b.chain(&[d, join]);
    b.chain(&[join, e]);
    b
}

#[test]
fn inclusive_join_waits_only_for_tokens_that_can_still_arrive() {
    let def = inclusive().build();
    let mut r = Run::new(def.clone());
    r.start(json!({"a": true, "c": true}));
    assert_eq!(r.last_kinds(), ["run_agent_task", "run_agent_task"]);
    r.complete("A", json!(1));
    assert_eq!(r.status(), RunStatus::Running, "C can still reach the join");
    r.complete("C", json!(2));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited.iter().filter(|v| *v == "End").count(), 1);

    let mut r = Run::new(def.clone());
    r.start(json!({"a": false, "c": true}));
    r.complete("C", json!(2));
    assert_eq!(
        r.status(),
        RunStatus::Completed,
        "one branch taken, join fires"
    );

    let mut r = Run::new(def);
    r.start(json!({"a": false, "c": false}));
    assert!(r.has_work("D"), "default flow");
}

#[test]
fn timer_catch_duration_date_cycle() {
    for (kind, expr, due) in [
        (TimerKind::Duration, "PT10M", 1_001 + 600_000),
        (TimerKind::Date, "2030-01-01T00:00:00Z", 1_893_456_000_000),
        (TimerKind::Cycle, "R3/PT1M", 1_001 + 60_000),
    ] {
        let mut b = B::new();
        let s = b.start("Start");
        let t = b.timer_catch("Wait", kind, expr);
        let e = b.end("End");
        b.chain(&[s, t, e]);
        let mut r = Run::new(b.build());
        r.start(json!({}));
        assert_eq!(r.status(), RunStatus::WaitingTimer);
        assert!(matches!(&r.last[..], [Effect::ScheduleTimer { due_at, .. }] if due_at.0 == due));
        r.fire("Wait");
        assert_eq!(r.status(), RunStatus::Completed, "{expr}");
        assert_eq!(r.state.steps()[0].node_type, "timerCatch");
    }
}

#[test]
fn message_wait_correlates_by_rendered_key() {
    let mut b = B::new();
    let s = b.start("Start");
    let m = b.receive(
        "Payment",
        "payment.received",
        Some("order-{{input.orderId}}"),
    );
    let e = b.end("End");
    b.chain(&[s, m, e]);
    let mut r = Run::new(b.build());
    r.start(json!({"orderId": 42}));
    assert_eq!(r.status(), RunStatus::WaitingEvent);
    assert!(matches!(
        &r.last[..],
        [Effect::AwaitMessage { correlation_key: Some(k), message_name, .. }]
            if k == "order-42" && message_name == "payment.received"
    ));
    r.message("payment.received", "order-41", json!({"x": 1}));
    assert_eq!(r.status(), RunStatus::WaitingEvent, "other key: ignored");
    assert!(r.last.is_empty());
    r.message("payment.received", "order-42", json!({"paid": true}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.state.context()["output"]["Payment"]["paid"], true);
    assert_eq!(r.state.context()["event"]["paid"], true);
}

#[test]
fn unresolved_correlation_key_fails_closed() {
    let mut b = B::new();
    let s = b.start("Start");
    let m = b.message_catch("Wait", "m", Some("{{input.nope}}"));
    let e = b.end("End");
    b.chain(&[s, m, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(
        r.state.error().unwrap().code,
        "engine.correlation_key_unresolved"
    );
}

#[test]
fn message_without_key_template_matches_any_key_and_resumes_all_waits() {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("Fork");
    let m1 = b.message_catch("W1", "go", None);
    let m2 = b.receive("W2", "go", None);
    let j = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, f, m1, j, e]);
    b.chain(&[f, m2, j]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.message("go", "anything", json!(1));
    assert_eq!(r.status(), RunStatus::Completed);
}

fn review(modelled: bool) -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent("Draft");
    let r = b.approval("Review");
    let e = b.end("End");
    b.chain(&[s, a, r]);
    if modelled {
        let g = b.xor("Decision");
        let redo = b.end("Rejected");
        b.flow(r, g);
        b.flow_if(g, e, r#"approval.Review.decision == "approve""#);
        let other = b.flow(g, redo);
        b.set_default(g, other);
    } else {
        b.flow(r, e);
    }
    b
}

#[test]
fn approval_unmodelled_approve_reject_request_changes() {
    let def = review(false).build();
    assert!(!def.approval_is_modelled(def.node_index("Review").unwrap()));
    let mut r = Run::new(def.clone());
    r.start(json!({})).complete("Draft", json!("v1"));
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    r.decide("Review", ApprovalDecision::Approve, "fine");
    assert_eq!(r.status(), RunStatus::Completed);

    let mut r = Run::new(def.clone());
    r.start(json!({})).complete("Draft", json!("v1"));
    r.decide("Review", ApprovalDecision::Reject, "no");
    assert_eq!(r.status(), RunStatus::Rejected);
    assert_eq!(r.last_kinds(), ["run_finished"]);

    let mut r = Run::new(def);
    r.start(json!({})).complete("Draft", json!("v1"));
    r.decide("Review", ApprovalDecision::RequestChanges, "add tests");
    assert_eq!(r.status(), RunStatus::Running);
    assert!(matches!(
        &r.last[..],
        [Effect::RunAgentTask { node_id, attempt: 1, feedback: Some(f), work_id, .. }]
            if node_id == "Draft" && f == "add tests" && *work_id == WorkId(3)
    ));
    r.complete("Draft", json!("v2"));
    r.decide("Review", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(
        r.visited,
        ["Start", "Draft", "Review", "Draft", "Review", "End"]
    );
    assert_eq!(r.state.context()["output"]["Draft"], "v2");
}

#[test]
fn approval_modelled_routes_through_the_gateway() {
    let def = review(true).build();
    assert!(def.approval_is_modelled(def.node_index("Review").unwrap()));
    let mut r = Run::new(def);
    r.start(json!({})).complete("Draft", json!("v1"));
    r.decide("Review", ApprovalDecision::Reject, "no");
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited.last().unwrap(), "Rejected");
}

#[test]
fn request_changes_without_preceding_agent_is_a_reject() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.approval("Gate");
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.decide("Gate", ApprovalDecision::RequestChanges, "hmm");
    assert_eq!(r.status(), RunStatus::Rejected);
}

#[test]
fn reject_cancels_other_open_work() {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("Fork");
    let a = b.approval("Gate");
    let w = b.agent("Work");
    let t = b.timer_catch("Later", TimerKind::Duration, "PT1H");
    let j = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, f, a, j, e]);
    b.chain(&[f, w, j]);
    b.chain(&[f, t, j]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.decide("Gate", ApprovalDecision::Reject, "no");
    assert_eq!(r.status(), RunStatus::Rejected);
    assert_eq!(
        r.last_kinds(),
        ["cancel_work", "cancel_timer", "run_finished"]
    );
    assert!(!r.state.has_open_work());
}

#[test]
fn boundary_timer_interrupts_a_task() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent("Slow");
    let e = b.end("End");
    let late = b.end("Late");
    b.chain(&[s, a, e]);
    let bt = b.boundary_timer("Sla", a, TimerKind::Duration, "PT5M", true);
    b.flow(bt, late);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.last_kinds(), ["schedule_timer", "run_agent_task"]);
    assert_eq!(
        r.status(),
        RunStatus::Running,
        "boundary timers are not waits"
    );
    let work = r.work("Slow");
    r.fire("Sla");
    assert_eq!(r.last[0], Effect::CancelWork { work_id: work });
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited, ["Start", "Slow", "Sla", "Late"]);
    assert_eq!(r.state.steps()[0].status, StepStatus::Cancelled);
    // The late completion of the interrupted work is stale: accepted, no-op.
    let at = r.at();
    let stale = Event::TaskCompleted {
        work_id: work,
        output: json!(1),
        at,
    };
    assert_eq!(r.send(stale).unwrap_err(), Error::RunFinished);
}

#[test]
fn non_interrupting_boundary_timer_spawns_a_token_and_cycles() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.approval("Gate");
    let e = b.end("End");
    let remind = b.agent("Remind");
    let re = b.end("Reminded");
    b.chain(&[s, a, e]);
    let bt = b.boundary_timer("Nag", a, TimerKind::Cycle, "R2/PT1H", false);
    b.chain(&[bt, remind, re]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.fire("Nag");
    assert!(r.has_work("Gate") && r.has_work("Remind"));
    assert_eq!(r.last_kinds(), ["schedule_timer", "run_agent_task"]);
    r.complete("Remind", json!(null));
    r.fire("Nag");
    assert_eq!(r.last_kinds(), ["run_agent_task"], "R2: no third firing");
    r.complete("Remind", json!(null));
    r.decide("Gate", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
}

#[test]
fn boundary_error_catches_exhausted_task_by_code() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Deploy", |s| s.max_retries = 1);
    let e = b.end("End");
    let rb = b.agent("Rollback");
    let re = b.end("RolledBack");
    b.chain(&[s, a, e]);
    let be = b.boundary_error("OnFail", a, Some("deploy_failed"));
    b.chain(&[be, rb, re]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.fail("Deploy", "deploy_failed");
    assert!(
        matches!(&r.last[..], [Effect::RunAgentTask { attempt: 2, .. }]),
        "retry first"
    );
    r.fail("Deploy", "deploy_failed");
    assert_eq!(r.visited, ["Start", "Deploy", "OnFail", "Rollback"]);
    r.complete("Rollback", json!(null));
    assert_eq!(r.status(), RunStatus::Completed);
}

#[test]
fn boundary_error_with_other_code_does_not_catch() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent("Deploy");
    let e = b.end("End");
    let re = b.end("Caught");
    b.chain(&[s, a, e]);
    let be = b.boundary_error("OnFail", a, Some("other"));
    b.flow(be, re);
    let mut r = Run::new(b.build());
    r.start(json!({})).fail("Deploy", "boom");
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r.state.error().unwrap();
    assert_eq!(err.code, "engine.task_failed");
    assert_eq!(err.error_code.as_deref(), Some("boom"));
    assert_eq!(err.work_id, Some(WorkId(1)));
}

fn sub_with_error_end(catch: bool) -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let e = b.end("End");
    b.inside(sub, |b| {
        let ss = b.start("SubStart");
        let f = b.and("SubFork");
        let w = b.approval("SubWait");
        let g = b.xor("Check");
        let bad = b.error_end("Boom", Some("E42"));
        let ok = b.end("SubEnd");
        b.chain(&[ss, f, w]);
        b.chain(&[f, g]);
        b.flow_if(g, bad, "input.fail");
        let d = b.flow(g, ok);
        b.set_default(g, d);
        let se = b.end("SubEnd2");
        b.flow(w, se);
    });
    b.chain(&[s, sub, e]);
    if catch {
        let h = b.end("Handled");
        let be = b.boundary_error("Catch", sub, Some("E42"));
        b.flow(be, h);
    }
    b
}

#[test]
fn error_end_in_subprocess_is_caught_by_its_boundary() {
    let mut r = Run::new(sub_with_error_end(true).build());
    r.start(json!({"fail": true}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(
        r.visited,
        [
            "Start", "Sub", "SubStart", "SubFork", "SubWait", "Check", "Boom", "Catch", "Handled"
        ]
    );
    assert_eq!(
        r.last_kinds(),
        ["request_approval", "close_approval", "run_finished"]
    );
}

#[test]
fn uncaught_error_end_fails_the_run_with_its_code() {
    let mut r = Run::new(sub_with_error_end(false).build());
    r.start(json!({"fail": true}));
    assert_eq!(r.status(), RunStatus::Failed);
    let err = r.state.error().unwrap();
    assert_eq!(err.code, "engine.unhandled_error");
    assert_eq!(err.error_code.as_deref(), Some("E42"));
}

#[test]
fn embedded_subprocess_completes_when_its_tokens_are_gone() {
    let mut r = Run::new(sub_with_error_end(true).build());
    r.start(json!({"fail": false}));
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    r.decide("SubWait", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited.last().unwrap(), "End");
}

#[test]
fn task_failure_inside_subprocess_propagates_to_its_error_boundary() {
    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let e = b.end("End");
    b.inside(sub, |b| {
        let ss = b.start("SubStart");
        let a = b.agent("Inner");
        let se = b.end("SubEnd");
        b.chain(&[ss, a, se]);
    });
    b.chain(&[s, sub, e]);
    let be = b.boundary_error("Catch", sub, None);
    let h = b.end("Handled");
    b.flow(be, h);
    let mut r = Run::new(b.build());
    r.start(json!({})).fail("Inner", "x");
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.visited.last().unwrap(), "Handled");
}

#[test]
fn boundary_timer_on_subprocess_cancels_everything_inside() {
    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let e = b.end("End");
    b.inside(sub, |b| {
        let ss = b.start("SubStart");
        let f = b.and("F");
        let a = b.agent("A");
        let m = b.receive("M", "msg", None);
        let j = b.and("J");
        let se = b.end("SubEnd");
        b.chain(&[ss, f, a, j, se]);
        b.chain(&[f, m, j]);
    });
    b.chain(&[s, sub, e]);
    let bt = b.boundary_timer("Timeout", sub, TimerKind::Duration, "PT1H", true);
    let h = b.end("TimedOut");
    b.flow(bt, h);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::WaitingEvent);
    r.fire("Timeout");
    assert_eq!(
        r.last_kinds(),
        ["cancel_work", "stop_awaiting_message", "run_finished"]
    );
    assert_eq!(r.visited.last().unwrap(), "TimedOut");
}

#[test]
fn terminate_end_completes_the_run_and_cancels_open_work() {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("Fork");
    let a = b.agent("Long");
    let t = b.terminate("Stop");
    let e = b.end("End");
    b.chain(&[s, f, a, e]);
    b.chain(&[f, t]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(
        r.last_kinds(),
        ["run_agent_task", "cancel_work", "run_finished"]
    );
}

#[test]
fn terminate_inside_subprocess_only_ends_the_subprocess() {
    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let after = b.agent("After");
    let e = b.end("End");
    b.inside(sub, |b| {
        let ss = b.start("SubStart");
        let f = b.and("F");
        let w = b.approval("W");
        let t = b.terminate("T");
        let we = b.end("WE");
        b.chain(&[ss, f, w, we]);
        b.chain(&[f, t]);
    });
    b.chain(&[s, sub, after, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(
        r.last_kinds(),
        ["request_approval", "close_approval", "run_agent_task"]
    );
    r.complete("After", json!(1));
    assert_eq!(r.status(), RunStatus::Completed);
}

#[test]
fn retries_with_exponential_backoff() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Flaky", |s| {
        s.max_retries = 2;
        s.retry_backoff_seconds = 10;
    });
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.fail("Flaky", "e");
    let now = r.now;
    assert!(
        matches!(&r.last[..], [Effect::ScheduleTimer { due_at, .. }] if due_at.0 == now + 10_000)
    );
    assert_eq!(r.status(), RunStatus::WaitingTimer);
    assert_eq!(r.state.steps()[1].status, StepStatus::WaitingRetry);
    r.fire("Flaky");
    assert!(
        matches!(&r.last[..], [Effect::RunAgentTask { attempt: 2, work_id, .. }] if *work_id == WorkId(2))
    );
    r.fail("Flaky", "e");
    let now = r.now;
    assert!(
        matches!(&r.last[..], [Effect::ScheduleTimer { due_at, .. }] if due_at.0 == now + 20_000)
    );
    r.fire("Flaky");
    r.complete("Flaky", json!("third time"));
    assert_eq!(r.status(), RunStatus::Completed);
    let statuses: Vec<_> = r
        .state
        .steps()
        .iter()
        .map(|s| (s.attempt, s.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, StepStatus::Failed),
            (2, StepStatus::Failed),
            (3, StepStatus::Completed)
        ]
    );
}

#[test]
fn timeout_cancels_work_and_counts_as_failure() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Slow", |s| {
        s.timeout_seconds = Some(30);
        s.max_retries = 1;
    });
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.last_kinds(), ["run_agent_task", "schedule_timer"]);
    assert_eq!(
        r.status(),
        RunStatus::Running,
        "timeout timers are not waits"
    );
    r.fire("Slow");
    assert_eq!(
        r.last_kinds(),
        ["cancel_work", "run_agent_task", "schedule_timer"]
    );
    assert_eq!(r.state.steps()[0].error.as_ref().unwrap().code, "timeout");
    r.fire("Slow");
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(
        r.state.error().unwrap().error_code.as_deref(),
        Some("timeout")
    );
}

#[test]
fn a_paused_attempt_stops_its_timeout_and_gets_a_whole_one_when_it_resumes() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Slow", |s| s.timeout_seconds = Some(30));
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    let work = r.work("Slow");
    let at = r.at();
    r.ok(Event::TaskAsked {
        work_id: work,
        question_id: "q-1".to_owned(),
        at,
    });
    assert_eq!(
        r.last_kinds(),
        ["cancel_timer"],
        "the person's time is not counted"
    );
    assert_eq!(r.state.pending_timers().count(), 0);
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    assert_eq!(r.last_kinds(), ["resume_agent_task", "schedule_timer"]);
    let (_, due) = r.timer("Slow");
    assert_eq!(due.0, at.0 + 30_000, "a whole timeout from the resume");
    r.fire("Slow");
    assert_eq!(r.state.steps()[0].error.as_ref().unwrap().code, "timeout");
    assert_eq!(r.replay(), r.state);
}

fn slow() -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Slow", |s| s.timeout_seconds = Some(30));
    let e = b.end("End");
    b.chain(&[s, a, e]);
    b
}

#[test]
fn a_held_attempt_stops_its_timeout_and_gets_a_whole_one_when_released() {
    let mut r = Run::new(slow().build());
    r.start(json!({}));
    let work = r.work("Slow");
    let at = r.at();
    r.ok(Event::TaskHeld { work_id: work, at });
    assert_eq!(r.last_kinds(), ["cancel_timer"], "a halt is not counted");
    assert_eq!(r.state.pending_timers().count(), 0);
    assert_eq!(r.status(), RunStatus::Running, "a held step is not a wait");
    // Far beyond the timeout: nothing fires while the attempt is held.
    r.now += 3_600_000;
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    assert_eq!(
        r.last_kinds(),
        ["schedule_timer"],
        "the release runs nothing again: the claim that sent it goes on"
    );
    let (_, due) = r.timer("Slow");
    assert_eq!(due.0, at.0 + 30_000, "a whole timeout from the release");
    r.complete("Slow", json!({"ok": true}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.replay(), r.state);
}

#[test]
fn a_repeated_or_late_release_changes_nothing() {
    let mut r = Run::new(slow().build());
    r.start(json!({}));
    let work = r.work("Slow");
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    assert!(r.last.is_empty(), "not held: {:?}", r.last);
    assert_eq!(
        r.state.pending_timers().count(),
        1,
        "the first timeout stands"
    );
    let at = r.at();
    r.ok(Event::TaskHeld { work_id: work, at });
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    let before = r.state.clone();
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    assert!(r.last.is_empty(), "a repeat arms nothing: {:?}", r.last);
    assert_eq!(r.state.pending_timers().count(), 1);
    assert_eq!(r.state, before);
}

#[test]
fn a_release_of_an_attempt_that_ended_changes_nothing() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Slow", |s| s.timeout_seconds = Some(30));
    let next = b.agent("Next");
    let e = b.end("End");
    b.chain(&[s, a, next, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    let work = r.work("Slow");
    let at = r.at();
    r.ok(Event::TaskHeld { work_id: work, at });
    r.complete("Slow", json!({}));
    let before = r.state.clone();
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    assert!(r.last.is_empty(), "the attempt ended: {:?}", r.last);
    assert_eq!(r.state, before);
    assert!(r.has_work("Next"));
}

#[test]
fn a_held_attempt_that_is_held_again_stays_without_a_timeout() {
    let mut r = Run::new(slow().build());
    r.start(json!({}));
    let work = r.work("Slow");
    let at = r.at();
    r.ok(Event::TaskHeld { work_id: work, at });
    let at = r.at();
    r.ok(Event::TaskHeld { work_id: work, at });
    assert!(r.last.is_empty(), "nothing more to disarm: {:?}", r.last);
    let at = r.at();
    r.ok(Event::TaskReleased { work_id: work, at });
    assert_eq!(r.last_kinds(), ["schedule_timer"]);
    r.fire("Slow");
    assert_eq!(
        r.state.steps()[0].error.as_ref().unwrap().code,
        "timeout",
        "the released attempt is bounded again"
    );
}

#[test]
fn holding_work_that_is_not_an_agent_attempt_is_refused() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.approval("Review");
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    let work = r.work("Review");
    let at = r.at();
    let refused = r.send(Event::TaskHeld { work_id: work, at });
    assert!(
        matches!(refused, Err(Error::WorkKindMismatch { .. })),
        "{refused:?}"
    );
    let refused = r.send(Event::TaskReleased { work_id: work, at });
    assert!(
        matches!(refused, Err(Error::WorkKindMismatch { .. })),
        "{refused:?}"
    );
}

#[test]
fn operator_retry_resumes_a_failed_run_with_parked_tokens() {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("Fork");
    let a = b.agent("A");
    let g = b.approval("Gate");
    let j = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, f, a, j, e]);
    b.chain(&[f, g, j]);
    let mut r = Run::new(b.build());
    r.start(json!({})).fail("A", "boom");
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.last_kinds(), ["close_approval", "run_finished"]);
    let at = r.at();
    assert_eq!(
        r.send(Event::RetryStep {
            work_id: WorkId(2),
            at
        })
        .unwrap_err(),
        Error::NotRetryable(WorkId(2))
    );
    r.ok(Event::RetryStep {
        work_id: WorkId(1),
        at,
    });
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    assert!(matches!(
        &r.last[..],
        [
            Effect::RunAgentTask { attempt: 2, .. },
            Effect::RequestApproval { .. }
        ]
    ));
    assert!(r.state.error().is_none());
    r.complete("A", json!(1))
        .decide("Gate", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
}

#[test]
fn cancel_closes_every_kind_of_open_work() {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("Fork");
    let a = b.agent_with("A", |s| s.timeout_seconds = Some(60));
    let g = b.approval("G");
    let m = b.receive("M", "msg", None);
    let t = b.timer_catch("T", TimerKind::Duration, "PT1H");
    let j = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, f, a, j, e]);
    b.chain(&[f, g, j]);
    b.chain(&[f, m, j]);
    b.chain(&[f, t, j]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    r.cancel("operator said so");
    assert_eq!(r.status(), RunStatus::Cancelled);
    assert_eq!(
        r.last_kinds(),
        [
            "cancel_work",
            "cancel_timer",
            "close_approval",
            "stop_awaiting_message",
            "cancel_timer",
            "run_finished"
        ]
    );
    assert_eq!(r.state.cancel_reason(), Some("operator said so"));
    assert!(
        r.state
            .steps()
            .iter()
            .all(|s| s.status == StepStatus::Cancelled)
    );
    assert!(r.state.pending_timers().next().is_none());
}

#[test]
fn refused_events_are_typed_and_leave_state_unchanged() {
    let def = seq().build();
    let mut r = Run::new(def.clone());
    let at = Timestamp(5);
    assert_eq!(
        r.send(Event::Cancel {
            reason: "x".into(),
            at
        })
        .unwrap_err(),
        Error::NotStarted
    );
    r.start(json!({}));
    let before = r.state.clone();
    let start = Event::Start {
        input: json!({}),
        at,
    };
    assert_eq!(r.send(start).unwrap_err().code(), "engine.already_started");
    let unknown = Event::TaskCompleted {
        work_id: WorkId(9),
        output: json!(1),
        at,
    };
    assert_eq!(r.send(unknown).unwrap_err(), Error::UnknownWork(WorkId(9)));
    let wrong = Event::ApprovalDecided {
        work_id: WorkId(1),
        decision: ApprovalDecision::Approve,
        comment: None,
        decided_by: "x".into(),
        at,
    };
    assert_eq!(
        r.send(wrong).unwrap_err().code(),
        "engine.work_kind_mismatch"
    );
    let timer = Event::TimerFired {
        timer_id: agentwerke_engine::TimerId(1),
        at,
    };
    assert_eq!(r.send(timer).unwrap_err().code(), "engine.unknown_timer");
    assert_eq!(r.state, before);
    // A second failure report for a closed attempt is stale: Ok, no effects.
    r.complete("Analyze", json!(1));
    assert_eq!(r.state.status(), RunStatus::Completed);
    let late = Event::TaskFailed {
        work_id: WorkId(1),
        error: TaskError {
            code: "x".into(),
            message: "y".into(),
        },
        at,
    };
    assert_eq!(r.send(late).unwrap_err(), Error::RunFinished);
}

#[test]
fn stale_events_on_a_live_run_are_no_ops() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("A", |s| s.max_retries = 1);
    let g = b.approval("G");
    let e = b.end("End");
    b.chain(&[s, a, g, e]);
    let mut r = Run::new(b.build());
    r.start(json!({})).fail("A", "x");
    let at = r.at();
    let t = r
        .send(Event::TaskCompleted {
            work_id: WorkId(1),
            output: json!(1),
            at,
        })
        .unwrap();
    assert!(t.effects.is_empty() && t.visited.is_empty());
    r.complete("A", json!(1));
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
}

#[test]
fn loop_without_wait_state_hits_the_step_limit() {
    let mut b = B::new();
    let s = b.start("Start");
    let g1 = b.xor("G1");
    let g2 = b.xor("G2");
    b.chain(&[s, g1, g2, g1]);
    let def = b.build().with_move_limit(1_000);
    let mut r = Run::new(def);
    r.start(json!({}));
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.state.error().unwrap().code, "engine.step_limit");
}

#[test]
fn join_that_can_never_fire_is_a_deadlock() {
    let mut b = B::new();
    let s = b.start("Start");
    let x = b.xor("X");
    let a = b.agent("A");
    let c = b.agent("C");
    let j = b.and("J");
    let e = b.end("End");
    b.flow(s, x);
    b.flow_if(x, a, "true");
    b.flow_if(x, c, "false");
    b.chain(&[a, j]);
    b.chain(&[c, j]);
    b.chain(&[j, e]);
    let mut r = Run::new(b.build());
    r.start(json!({})).complete("A", json!(1));
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(r.state.error().unwrap().code, "engine.deadlock");
}

#[test]
fn extra_tokens_queue_at_a_parallel_join() {
    // Two tokens arrive on the first flow before one arrives on the second:
    // the join releases once, and again when the second set completes.
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("F");
    let a1 = b.agent("A1");
    let a2 = b.agent("A2");
    let c = b.agent("C");
    let m = b.xor("Merge");
    let j = b.and("J");
    let out = b.agent("Out");
    let e = b.end("End");
    b.chain(&[s, f]);
    b.chain(&[f, a1, m]);
    b.chain(&[f, a2, m]);
    b.chain(&[m, j]);
    b.chain(&[f, c, j]);
    b.chain(&[j, out, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.complete("A1", json!(1)).complete("A2", json!(2));
    assert!(!r.has_work("Out"));
    r.complete("C", json!(3));
    assert!(r.has_work("Out"));
    r.complete("Out", json!(4));
    assert!(!r.has_work("Out"), "second set incomplete");
    assert_eq!(
        r.status(),
        RunStatus::Failed,
        "the queued token can never be joined"
    );
}

#[test]
fn an_escalated_tool_call_pauses_the_attempt_until_its_decision() {
    let mut r = Run::new(seq().build());
    r.start(json!({}));
    let work = r.work("Analyze");
    let at = r.at();
    r.ok(Event::TaskPaused {
        work_id: work,
        approval_id: "ap-1".to_owned(),
        at,
    });
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    assert!(r.last.is_empty(), "pausing emits nothing: {:?}", r.last);
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    assert_eq!(r.status(), RunStatus::Running);
    assert_eq!(r.last, [Effect::ResumeAgentTask { work_id: work }]);
    r.complete("Analyze", json!({"ok": true}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.state.steps().len(), 1, "one attempt, paused and resumed");
    assert_eq!(r.replay(), r.state);
}

#[test]
fn a_question_to_a_human_pauses_the_attempt_as_waiting_user_until_answered() {
    let mut r = Run::new(seq().build());
    r.start(json!({}));
    let work = r.work("Analyze");
    let at = r.at();
    r.ok(Event::TaskAsked {
        work_id: work,
        question_id: "q-1".to_owned(),
        at,
    });
    assert_eq!(r.status(), RunStatus::WaitingUser);
    assert!(r.last.is_empty(), "asking emits nothing: {:?}", r.last);
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    assert_eq!(r.status(), RunStatus::Running);
    assert_eq!(r.last, [Effect::ResumeAgentTask { work_id: work }]);
    r.complete("Analyze", json!({"ok": true}));
    assert_eq!(r.status(), RunStatus::Completed);
    assert_eq!(r.replay(), r.state);
}

#[test]
fn an_open_approval_outranks_a_question_and_a_question_outranks_a_message_wait() {
    let mut b = B::new();
    let s = b.start("Start");
    let fork = b.and("Fork");
    let a = b.agent("Analyze");
    let gate = b.approval("Review");
    let wait = b.receive("Wait", "ping", None);
    let join = b.and("Join");
    let e = b.end("End");
    b.chain(&[s, fork]);
    b.chain(&[fork, a, join]);
    b.chain(&[fork, gate, join]);
    b.chain(&[fork, wait, join]);
    b.chain(&[join, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    let work = r.work("Analyze");
    let at = r.at();
    r.ok(Event::TaskAsked {
        work_id: work,
        question_id: "q-1".to_owned(),
        at,
    });
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    r.decide("Review", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::WaitingUser);
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    r.complete("Analyze", json!({}));
    assert_eq!(r.status(), RunStatus::WaitingEvent);
}

#[test]
fn an_escalation_after_an_answered_question_is_awaiting_approval_again() {
    let mut r = Run::new(seq().build());
    r.start(json!({}));
    let work = r.work("Analyze");
    let at = r.at();
    r.ok(Event::TaskAsked {
        work_id: work,
        question_id: "q-1".to_owned(),
        at,
    });
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    let at = r.at();
    r.ok(Event::TaskPaused {
        work_id: work,
        approval_id: "ap-1".to_owned(),
        at,
    });
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
    assert_eq!(r.replay(), r.state);
}

#[test]
fn pausing_work_that_is_not_an_agent_attempt_is_refused() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.approval("Review");
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    let work = r.work("Review");
    let at = r.at();
    let refused = r.send(Event::TaskPaused {
        work_id: work,
        approval_id: "ap-1".to_owned(),
        at,
    });
    assert!(
        matches!(refused, Err(Error::WorkKindMismatch { .. })),
        "{refused:?}"
    );
    assert_eq!(r.status(), RunStatus::AwaitingApproval);
}
