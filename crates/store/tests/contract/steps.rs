//! Engine steps delivered with their event: committed with it only when
//! nothing moved the run, left to an applier otherwise.

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::{AppliedStep, Change, Delivered, JsonText, Op, Store};
use agentwerke_types::RunStatus;
use serde_json::json;

use super::support::{draft, finish, one_run, queue, step, t};

fn insert(work_id: &str) -> Op {
    Op::InsertWork {
        work_id: work_id.into(),
        kind: "agent_task".to_owned(),
        payload: JsonText::from(&json!({"workId": work_id})),
    }
}

/// The step the completion of `work_id` causes, computed at `version`.
fn applied(version: i64, next: &str) -> AppliedStep {
    AppliedStep {
        expected_state_version: version,
        state: JsonText::from(&json!({"after": next})),
        status: RunStatus::Running,
        completed_at: None,
        ops: vec![insert(next)],
        audit: vec![draft("run-1", "event.applied", json!({"next": next}))],
    }
}

fn completion(work_id: &str, step: AppliedStep, at: i64) -> Change {
    let mut change = finish(
        "run-1",
        work_id,
        "exec",
        json!({"type": "task_completed", "work_id": work_id}),
        format!("work:run-1:{work_id}"),
        t(at),
    );
    change.audit = vec![draft("run-1", "step.completed", json!({"work": work_id}))];
    if let Some(event) = change.event.as_mut() {
        event.step = Some(step);
    }
    change
}

/// Completes `work_id` at `at` offering a step computed at `version`; what
/// became of the result.
async fn deliver(store: &dyn Store, work_id: &str, version: i64, next: &str, at: i64) -> Delivered {
    store
        .commit(completion(work_id, applied(version, next), at))
        .await
        .unwrap()
        .delivered
}

async fn claim_one_work(store: &dyn Store, now: i64) -> String {
    let claimed = store.claim_work("exec", t(now), 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "one work item to claim");
    claimed[0].work_id.to_string()
}

pub(crate) async fn committed_only_when_nothing_moved(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1")]).await;
    let version = store.get_run("run-1").await.unwrap().unwrap().state_version;

    // Nothing moved: the step commits with the result, nothing is left to claim.
    let w1 = claim_one_work(store, 30).await;
    assert_eq!(
        deliver(store, &w1, version, "w2", 35).await,
        Delivered::Stepped
    );
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(run.state_version, version + 1);
    assert_eq!(run.state, json!({"after": "w2"}));
    assert!(
        store
            .claim_runs("engine", t(40), 30_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = store.pending_work_for_run("run-1").await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|w| w.work_id.as_str())
            .collect::<Vec<_>>(),
        ["w2"]
    );

    // A step computed from an older state is not committed: the event waits.
    let w2 = claim_one_work(store, 50).await;
    assert_eq!(
        deliver(store, &w2, version, "stale", 55).await,
        Delivered::Queued
    );
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(
        run.state,
        json!({"after": "w2"}),
        "the stale step was not applied"
    );
    let claimed = store.claim_runs("engine", t(60), 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].events[0].event["work_id"], "w2");

    // A run whose lease someone holds is theirs: the event waits for them.
    store
        .commit_run(super::support::commit_all(
            &claimed[0],
            "engine",
            "running",
            vec![insert("w3")],
        ))
        .await
        .unwrap();
    let version = store.get_run("run-1").await.unwrap().unwrap().state_version;
    queue(store, "run-1", json!({"type": "nudge"}), None, None)
        .await
        .unwrap();
    let held = store.claim_runs("other", t(70), 30_000, 10).await.unwrap();
    assert_eq!(held.len(), 1);
    let w3 = claim_one_work(store, 80).await;
    assert_eq!(
        deliver(store, &w3, version, "w4", 85).await,
        Delivered::Queued
    );
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(
        run.state_version, version,
        "neither a held lease nor an earlier event is skipped"
    );
    assert!(
        store
            .pending_work_for_run("run-1")
            .await
            .unwrap()
            .is_empty()
    );

    verify_chain(&store.audit_log("run-1").await.unwrap()).expect("the chain verifies");
}
