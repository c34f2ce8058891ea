//! Persisted shapes: event and effect tags, state round trips, determinism.

use agentwerke_engine::{ApprovalDecision, Effect, Event, RunState, STATE_SCHEMA_VERSION, WorkId};
use agentwerke_types::{NodeState, RunStatus, Timestamp};
use serde_json::json;

use super::support::{B, Run};

#[test]
fn event_and_effect_tags_are_stable() {
    let e = Event::ApprovalDecided {
        work_id: WorkId(3),
        decision: ApprovalDecision::RequestChanges,
        comment: Some("c".into()),
        decided_by: "a".into(),
        at: Timestamp(7),
    };
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"type": "approval_decided", "work_id": "w3", "decision": "request_changes",
               "comment": "c", "decided_by": "a", "at": 7})
    );
    let back: Event = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
    assert_eq!(back, e);
    assert_eq!(
        serde_json::to_value(Event::TaskHeld {
            work_id: WorkId(3),
            at: Timestamp(7),
        })
        .unwrap(),
        json!({"type": "task_held", "work_id": "w3", "at": 7})
    );
    assert_eq!(
        serde_json::to_value(Event::TaskReleased {
            work_id: WorkId(3),
            at: Timestamp(7),
        })
        .unwrap(),
        json!({"type": "task_released", "work_id": "w3", "at": 7})
    );
    let f = Effect::RunFinished {
        status: RunStatus::Rejected,
    };
    assert_eq!(
        serde_json::to_value(&f).unwrap(),
        json!({"type": "run_finished", "status": "rejected"})
    );
    let n = Effect::NodeChanged {
        node_id: "Route".into(),
        state: NodeState::Waiting,
        entered: 2,
    };
    assert_eq!(
        serde_json::to_value(&n).unwrap(),
        json!({"type": "node_changed", "node_id": "Route", "state": "waiting", "entered": 2})
    );
}

fn busy() -> B {
    let mut b = B::new();
    let s = b.start("Start");
    let f = b.and("F");
    let a = b.agent_with("A", |s| {
        s.max_retries = 1;
        s.retry_backoff_seconds = 5;
        s.timeout_seconds = Some(100);
    });
    let g = b.approval("G");
    let m = b.receive("M", "msg", Some("{{run_id}}"));
    let j = b.and("J");
    let e = b.end("End");
    b.chain(&[s, f, a, j, e]);
    b.chain(&[f, g, j]);
    b.chain(&[f, m, j]);
    b
}

#[test]
fn state_round_trips_and_replay_is_byte_identical() {
    let mut r = Run::new(busy().build());
    r.start(json!({"x": 1}));
    r.fail("A", "flaky");
    r.fire("A");
    r.message("msg", "run-1", json!({"ok": true}));
    let json = serde_json::to_string(&r.state).unwrap();
    let back: RunState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.state);
    assert_eq!(back.schema_version(), STATE_SCHEMA_VERSION);
    r.complete("A", json!(2))
        .decide("G", ApprovalDecision::Approve, "ok");
    assert_eq!(r.status(), RunStatus::Completed);
    let replayed = r.replay();
    assert_eq!(
        serde_json::to_vec(&replayed).unwrap(),
        serde_json::to_vec(&r.state).unwrap()
    );
}
