//! Message delivery: correlation and idempotency.

use agentwerke_store::{
    Change, DeliveryOutcome, JsonText, MessageDelivery, Op, Row, RunFact, Store, Stream,
};
use agentwerke_types::{Actor, AuditKind};
use serde_json::json;

use super::support::{code_of, published, start_run, step, t};

fn wait(work_id: &str, key: Option<&str>) -> Op {
    Op::AwaitMessage {
        work_id: work_id.into(),
        message_name: "payment_received".to_owned(),
        correlation_key: key.map(str::to_owned),
    }
}

/// The event every matched run hears, as the planner builds it.
fn event(name: &str, key: &str) -> serde_json::Value {
    json!({"type": "message_received", "message_name": name, "correlation_key": key,
           "payload": {"amount": 42}, "at": t(1_000)})
}

fn delivery(id: &str, name: &str, key: &str) -> MessageDelivery {
    MessageDelivery {
        delivery_id: id.to_owned(),
        message_name: name.to_owned(),
        correlation_key: key.to_owned(),
        payload: JsonText::from(&json!({"amount": 42})),
        event: JsonText::from(&event(name, key)),
        fact: RunFact {
            at: "2023-11-14T22:13:21Z".to_owned(),
            actor: Actor::System,
            kind: AuditKind::MessageReceived,
            data: json!({"deliveryId": id}),
        },
    }
}

/// Commits `delivery` as the deliver-message command does: one global
/// change with the one row.
async fn deliver(
    store: &dyn Store,
    delivery: MessageDelivery,
) -> agentwerke_store::Result<DeliveryOutcome> {
    let committed = store
        .commit(Change {
            stream: Stream::Global,
            at: t(1_000),
            rows: vec![Row::DeliverMessage(delivery)],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await?;
    Ok(committed
        .delivery()
        .expect("the delivery's outcome")
        .clone())
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

    // A delivery is no run's change.
    let mut misplaced = Change {
        stream: Stream::Run("run-a".into()),
        at: t(1_000),
        rows: vec![Row::DeliverMessage(delivery(
            "d0",
            "payment_received",
            "order-1",
        ))],
        event: None,
        audit: Vec::new(),
        records: Vec::new(),
    };
    let refused = store.commit(misplaced.clone()).await;
    assert_eq!(code_of(refused), "store.invalid_input");
    misplaced.stream = Stream::Global;
    misplaced.rows.push(Row::FireTimer {
        timer_id: "t1".to_owned(),
    });
    let refused = store.commit(misplaced).await;
    assert!(
        refused.is_err(),
        "a refused row refuses the delivery with it"
    );
    let repeat_d0 = deliver(store, delivery("d0", "other", "order-9")).await;
    assert!(
        !repeat_d0.unwrap().duplicate,
        "a refused delivery recorded nothing"
    );

    // One delivery fans out to every matching run in one transaction: each
    // gets the event and the fact in its own chain.
    let first = deliver(store, delivery("d1", "payment_received", "order-1"))
        .await
        .unwrap();
    assert_eq!(first.matched_runs, ["run-a", "run-b"]);
    assert!(!first.duplicate);
    for run in ["run-a", "run-b", "run-c"] {
        let facts: Vec<_> = store
            .audit_log(run)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "message.received")
            .collect();
        let expected = usize::from(run != "run-c");
        assert_eq!(facts.len(), expected, "{run}");
        if let Some(fact) = facts.first() {
            assert_eq!(fact.data, json!({"deliveryId": "d1"}));
            assert_eq!(fact.actor, "system");
        }
    }
    let repeat = deliver(store, delivery("d1", "payment_received", "order-1"))
        .await
        .unwrap();
    assert_eq!(repeat.matched_runs, first.matched_runs);
    assert!(repeat.duplicate);
    let misuse = deliver(store, delivery("d1", "other", "order-1")).await;
    assert_eq!(code_of(misuse), "store.conflict");
    assert_eq!(
        store
            .audit_log("run-a")
            .await
            .unwrap()
            .iter()
            .filter(|r| r.kind == "message.received")
            .count(),
        1,
        "a repeat and a misuse record nothing"
    );

    let claimed = store
        .claim_runs("engine", t(1_100), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for run in &claimed {
        assert_eq!(run.events.len(), 1, "one event per delivery per run");
        assert_eq!(run.events[0].event, event("payment_received", "order-1"));
    }

    let nobody = deliver(store, delivery("d2", "shipment_sent", "order-1"))
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
    let second = deliver(store, delivery("d3", "payment_received", "order-2"))
        .await
        .unwrap();
    assert_eq!(second.matched_runs, ["run-c"]);
}
