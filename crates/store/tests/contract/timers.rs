//! Durable timers fire once, in due order, unless cancelled.

use agentwerke_store::{Op, Store};
use serde_json::json;

use super::support::{code_of, fire_due, fire_timer, one_run, step, t};

fn schedule(timer_id: &str, due_ms: i64) -> Op {
    Op::ScheduleTimer {
        timer_id: timer_id.to_owned(),
        due_at: t(due_ms),
        node_id: format!("Timer_{timer_id}"),
    }
}

/// Schedules `t1` at +1000 and `t2` at +2000 on `run-1` and leaves them pending.
pub(crate) async fn schedule_two(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(
        store,
        "engine",
        t(20),
        vec![schedule("t1", 1_000), schedule("t2", 2_000)],
    )
    .await;
}

/// Fires `t1` exactly once; `t2` is cancelled and never fires.
pub(crate) async fn fire_once(store: &dyn Store) {
    schedule_two(store).await;
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(1_000)));
    assert_eq!(fire_due(store, t(999), 10).await, 0);
    assert_eq!(fire_due(store, t(1_000), 10).await, 1);
    assert_eq!(fire_due(store, t(1_500), 10).await, 0, "fired only once");
    // The row is the compare-and-set: a second firing, a firing before the
    // timer is due and an unknown timer are refused and write nothing.
    let again = fire_timer(store, "run-1", "t1", t(1_500)).await;
    assert_eq!(code_of(again), "store.conflict");
    let early = fire_timer(store, "run-1", "t2", t(1_500)).await;
    assert_eq!(code_of(early), "store.conflict");
    let unknown = fire_timer(store, "run-1", "t9", t(1_500)).await;
    assert_eq!(code_of(unknown), "store.not_found");
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(2_000)));

    let claimed = store
        .claim_runs("engine", t(1_600), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(
        claimed[0]
            .events
            .iter()
            .map(|e| e.event.clone())
            .collect::<Vec<_>>(),
        [json!({"type": "timer_fired", "timer_id": "t1", "at": t(1_000)})]
    );
    let cancel = vec![Op::CancelTimer {
        timer_id: "t2".to_owned(),
    }];
    store
        .commit_run(super::support::commit_all(
            &claimed[0],
            "engine",
            "running",
            cancel,
        ))
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    assert_eq!(fire_due(store, t(10_000), 10).await, 0);

    let timers = store.timers_for_run("run-1").await.unwrap();
    let states: Vec<_> = timers
        .iter()
        .map(|t| (t.timer_id.as_str(), t.status.as_str()))
        .collect();
    assert_eq!(states, [("t1", "fired"), ("t2", "cancelled")]);
    assert_eq!(timers[0].fired_at, Some(t(1_000)));
    let fired_audit = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "timer.fired")
        .count();
    assert_eq!(fired_audit, 1);
}

/// After [`schedule_two`] and a restart: both timers are still there.
pub(crate) async fn still_scheduled(store: &dyn Store) {
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(1_000)));
    assert_eq!(fire_due(store, t(5_000), 1).await, 1, "limit respected");
    assert_eq!(fire_due(store, t(5_000), 10).await, 1);
    assert_eq!(fire_due(store, t(5_000), 10).await, 0);
}

/// One timer is read by its run and id, without the run's others; an
/// unknown timer or run reads as none.
pub(crate) async fn read_one(store: &dyn Store) {
    schedule_two(store).await;
    let one = store.get_timer("run-1", "t2").await.unwrap().expect("t2");
    assert_eq!(
        (
            one.run_id.as_str(),
            one.timer_id.as_str(),
            one.node_id.as_str()
        ),
        ("run-1", "t2", "Timer_t2")
    );
    assert_eq!(
        (one.due_at, one.status.as_str(), one.fired_at),
        (t(2_000), "scheduled", None)
    );
    assert_eq!(store.get_timer("run-1", "t9").await.unwrap(), None);
    assert_eq!(store.get_timer("run-9", "t1").await.unwrap(), None);
    fire_due(store, t(1_000), 10).await;
    let fired = store.get_timer("run-1", "t1").await.unwrap().expect("t1");
    assert_eq!(
        (fired.status.as_str(), fired.fired_at),
        ("fired", Some(t(1_000)))
    );
    let all = store.timers_for_run("run-1").await.unwrap();
    assert_eq!(all[0], fired);
}
