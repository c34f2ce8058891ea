//! Every node a token passes, events and gateways included: the
//! `NodeChanged` effects, and what the model says is still reachable.

use agentwerke_engine::{Effect, Event};
use agentwerke_types::{NodeState, RunStatus};
use serde_json::json;

use super::support::{B, Run};

/// Start -> Route (exclusive) -> Big (agent) | Small (agent) -> Join
/// (exclusive) -> End.
fn routed() -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let g = b.xor("Route");
    let big = b.agent("Big");
    let small = b.agent("Small");
    let j = b.xor("Join");
    let e = b.end("End");
    b.flow(s, g);
    b.flow_if(g, big, "input.amount > 1000");
    let other = b.flow(g, small);
    b.set_default(g, other);
    b.flow(big, j);
    b.flow(small, j);
    b.flow(j, e);
    b
}

fn state(r: &Run, node: &str) -> Option<(NodeState, u32)> {
    r.nodes.get(node).copied()
}

#[test]
fn events_and_gateways_are_done_once_passed_and_the_untaken_branch_is_not_reached() {
    let mut r = Run::new(routed().build());
    r.start(json!({"amount": 5000}));
    assert_eq!(state(&r, "Start"), Some((NodeState::Done, 1)));
    assert_eq!(state(&r, "Route"), Some((NodeState::Done, 1)));
    assert_eq!(state(&r, "Big"), Some((NodeState::Active, 1)));
    assert_eq!(state(&r, "Small"), None, "no token reached it");
    // From where the token now is, the untaken branch is out of reach.
    let idx = |id: &str| r.def.node_index(id).expect("a node");
    let reach = r.def.reachable_from([idx("Big")]);
    assert!(!reach[idx("Small")] && !reach[idx("Start")] && !reach[idx("Route")]);
    assert!(reach[idx("Big")] && reach[idx("Join")] && reach[idx("End")]);

    r.complete("Big", json!({}));
    assert_eq!(r.status(), RunStatus::Completed);
    for node in ["Start", "Route", "Big", "Join", "End"] {
        assert_eq!(state(&r, node), Some((NodeState::Done, 1)), "{node}");
    }
    assert_eq!(state(&r, "Small"), None);
}

#[test]
fn node_changes_come_before_the_end_of_the_run_in_node_order() {
    let mut r = Run::new(routed().build());
    let at = r.at();
    let t = r
        .send(Event::Start {
            input: json!({"amount": 1}),
            at,
        })
        .expect("starts");
    let kinds: Vec<&str> = t.effects.iter().map(Effect::kind).collect();
    assert_eq!(
        kinds,
        [
            "run_agent_task",
            "node_changed",
            "node_changed",
            "node_changed"
        ]
    );
    let work = r.work("Small");
    let at = r.at();
    let t = r
        .send(Event::TaskCompleted {
            work_id: work,
            output: json!({}),
            at,
        })
        .expect("completes");
    let changed: Vec<(&str, NodeState)> = t
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::NodeChanged { node_id, state, .. } => Some((node_id.as_str(), *state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("Small", NodeState::Done),
            ("Join", NodeState::Done),
            ("End", NodeState::Done)
        ]
    );
    assert!(matches!(t.effects.last(), Some(Effect::RunFinished { .. })));
}

#[test]
fn a_paused_attempt_waits_and_a_resumed_one_is_active_again() {
    let mut r = Run::new(routed().build());
    r.start(json!({"amount": 1}));
    let work = r.work("Small");
    let at = r.at();
    r.ok(Event::TaskPaused {
        work_id: work,
        approval_id: "ap-1".to_owned(),
        at,
    });
    assert_eq!(state(&r, "Small"), Some((NodeState::Waiting, 1)));
    let at = r.at();
    r.ok(Event::TaskResumed { work_id: work, at });
    assert_eq!(state(&r, "Small"), Some((NodeState::Active, 1)));
}

#[test]
fn a_join_waits_for_its_other_branch() {
    let mut b = B::new();
    let s = b.start("Start");
    let fork = b.and("Fork");
    let left = b.agent("Left");
    let right = b.agent("Right");
    let join = b.and("Join");
    let e = b.end("End");
    b.flow(s, fork);
    b.flow(fork, left);
    b.flow(fork, right);
    b.flow(left, join);
    b.flow(right, join);
    b.flow(join, e);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.complete("Left", json!({}));
    assert_eq!(state(&r, "Join"), Some((NodeState::Waiting, 1)));
    assert_eq!(state(&r, "Right"), Some((NodeState::Active, 1)));
    r.complete("Right", json!({}));
    assert_eq!(state(&r, "Join"), Some((NodeState::Done, 2)));
    assert_eq!(state(&r, "End"), Some((NodeState::Done, 1)));
}

#[test]
fn cancelling_closes_the_nodes_tokens_rest_on() {
    let mut b = B::new();
    let s = b.start("Start");
    let sub = b.sub("Sub");
    let e = b.end("End");
    b.chain(&[s, sub, e]);
    b.inside(sub, |b| {
        let s = b.start("SubStart");
        let a = b.agent("Inner");
        let e = b.end("SubEnd");
        b.chain(&[s, a, e]);
    });
    let mut r = Run::new(b.build());
    r.start(json!({}));
    assert_eq!(state(&r, "Sub"), Some((NodeState::Active, 1)));
    assert_eq!(state(&r, "SubStart"), Some((NodeState::Done, 1)));
    assert_eq!(state(&r, "Inner"), Some((NodeState::Active, 1)));
    r.cancel("enough");
    assert_eq!(state(&r, "Sub"), Some((NodeState::Cancelled, 1)));
    assert_eq!(state(&r, "Inner"), Some((NodeState::Cancelled, 1)));
    assert_eq!(state(&r, "End"), None);
}

#[test]
fn a_gateway_without_a_way_out_is_where_the_run_failed() {
    let mut b = B::new();
    let s = b.start("Start");
    let g = b.xor("Route");
    let e = b.end("End");
    b.flow(s, g);
    b.flow_if(g, e, "input.amount > 1000");
    let mut r = Run::new(b.build());
    r.start(json!({"amount": 1}));
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(state(&r, "Start"), Some((NodeState::Done, 1)));
    assert_eq!(state(&r, "Route"), Some((NodeState::Failed, 1)));
}

#[test]
fn a_failed_attempt_that_is_retried_is_active_again_and_counts_two_arrivals() {
    let mut b = B::new();
    let s = b.start("Start");
    let a = b.agent_with("Flaky", |spec| spec.max_retries = 1);
    let e = b.end("End");
    b.chain(&[s, a, e]);
    let mut r = Run::new(b.build());
    r.start(json!({}));
    r.fail("Flaky", "boom");
    assert_eq!(state(&r, "Flaky"), Some((NodeState::Active, 1)));
    r.fail("Flaky", "boom");
    assert_eq!(r.status(), RunStatus::Failed);
    assert_eq!(state(&r, "Flaky"), Some((NodeState::Failed, 1)));
    let work = r.state.steps().last().expect("a step").work_id;
    let at = r.at();
    r.ok(Event::RetryStep { work_id: work, at });
    assert_eq!(state(&r, "Flaky"), Some((NodeState::Active, 2)));
}
