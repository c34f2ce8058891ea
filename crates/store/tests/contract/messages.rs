//! Message delivery: correlation and idempotency.

use agentwerke_store::{Delivery, Op, Store};
use serde_json::json;

use super::support::{code_of, published, start_run, step, t};

fn wait(work_id: &str, key: Option<&str>) -> Op {
    Op::AwaitMessage {
        work_id: work_id.into(),
        message_name: "payment_received".to_owned(),
        correlation_key: key.map(str::to_owned),
    }
}

fn delivery(id: &str, name: &str, key: &str) -> Delivery {
    Delivery {
        delivery_id: id.to_owned(),
        message_name: name.to_owned(),
        correlation_key: key.to_owned(),
        payload: json!({"amount": 42}),
        at: t(1_000),
    }
}

/// Waits with a key match only that key, waits without one match any; a
/// repeated delivery returns the first outcome and queues nothing.
pub(crate) async fn correlation_and_idempotency(store: &dyn Store) {
    let version = published(store, "wf").await;
    for (run, work, key) in [
        ("run-a", "w", Some("order-1")),
        ("run-b", "w", None),
        ("run-c", "w", Some("order-2")),
    ] {
        start_run(store, &version, run, t(10)).await;
        step(store, "engine", t(20), vec![wait(work, key)]).await;
    }

    let first = store
        .deliver_message(delivery("d1", "payment_received", "order-1"))
        .await
        .unwrap();
    assert_eq!(first.matched_runs, ["run-a", "run-b"]);
    assert!(!first.duplicate);
    let repeat = store
        .deliver_message(delivery("d1", "payment_received", "order-1"))
        .await
        .unwrap();
    assert_eq!(repeat.matched_runs, first.matched_runs);
    assert!(repeat.duplicate);
    let misuse = store
        .deliver_message(delivery("d1", "other", "order-1"))
        .await;
    assert_eq!(code_of(misuse), "store.conflict");

    let claimed = store
        .claim_runs("engine", t(1_100), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for run in &claimed {
        assert_eq!(run.events.len(), 1, "one event per delivery per run");
        assert_eq!(
            run.events[0].event,
            json!({"type": "message_received", "message_name": "payment_received",
                   "correlation_key": "order-1", "payload": {"amount": 42}, "at": t(1_000)})
        );
    }

    let nobody = store
        .deliver_message(delivery("d2", "shipment_sent", "order-1"))
        .await
        .unwrap();
    assert!(nobody.matched_runs.is_empty());

    // Once run-b stops waiting, only the keyed wait of run-c matches order-2.
    let stop = vec![Op::StopAwaitingMessage {
        work_id: "w".into(),
    }];
    for run in &claimed {
        let ops = if run.run.id == "run-b" {
            stop.clone()
        } else {
            vec![]
        };
        store
            .commit_run(super::support::commit_all(run, "engine", "running", ops))
            .await
            .unwrap();
    }
    let second = store
        .deliver_message(delivery("d3", "payment_received", "order-2"))
        .await
        .unwrap();
    assert_eq!(second.matched_runs, ["run-c"]);
}
