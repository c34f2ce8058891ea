//! A command's change without rows (a cancel or retry request): its event
//! and audit record commit together; without a dedup key a repeat is queued
//! again, with one it is dropped; a change without an event queues nothing.

use agentwerke_store::{Change, Delivered, JsonText, RunEvent, Store, Stream};
use serde_json::json;

use super::support::{draft, one_run, t};

fn request(n: u32, dedup_key: Option<&str>) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at: t(100 + i64::from(n)),
        rows: Vec::new(),
        event: Some(RunEvent {
            event: JsonText::from(&json!({"type": "cancel", "n": n})),
            dedup_key: dedup_key.map(str::to_owned),
            step: None,
        }),
        audit: vec![draft("run-1", "run.cancel_requested", json!({"n": n}))],
        records: Vec::new(),
    }
}

pub(crate) async fn without_rows(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    // The start event waits in the inbox, so nothing is stepped here.
    let before = store.audit_log("run-1").await.unwrap().len();
    for n in 0..2 {
        let committed = store.commit(request(n, None)).await.unwrap();
        assert!(committed.rows.is_empty());
        assert_eq!(committed.delivered, Delivered::Queued);
    }
    let keyed = store.commit(request(2, Some("once"))).await.unwrap();
    assert_eq!(keyed.delivered, Delivered::Queued);
    let repeat = store.commit(request(3, Some("once"))).await.unwrap();
    assert_eq!(
        repeat.delivered,
        Delivered::Dropped,
        "a repeated key is dropped"
    );
    let silent = Change {
        event: None,
        ..request(4, None)
    };
    assert_eq!(
        store.commit(silent).await.unwrap().delivered,
        Delivered::Dropped
    );

    let claimed = store.claim_runs("engine", t(200), 1_000, 10).await.unwrap();
    let numbers: Vec<_> = claimed[0]
        .events
        .iter()
        .filter(|e| e.event["type"] == "cancel")
        .map(|e| e.event["n"].clone())
        .collect();
    assert_eq!(numbers, [json!(0), json!(1), json!(2)]);
    let requested: Vec<_> = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .skip(before)
        .map(|r| r.data["n"].clone())
        .collect();
    assert_eq!(
        requested,
        [json!(0), json!(1), json!(2), json!(3), json!(4)],
        "every change's audit record is kept; a dropped event is not a dropped request"
    );
}

/// A global change appends its audit records to the global stream and
/// touches no run; one carrying an event or evidence is refused whole.
pub(crate) async fn global(store: &dyn Store) {
    let global = |n: u32| Change {
        stream: Stream::Global,
        at: t(100 + i64::from(n)),
        rows: Vec::new(),
        event: None,
        audit: vec![draft(
            agentwerke_store::GLOBAL_STREAM,
            "policy.published",
            json!({"n": n}),
        )],
        records: Vec::new(),
    };
    let committed = store.commit(global(0)).await.unwrap();
    assert_eq!(committed.delivered, Delivered::Dropped);
    let with_event = Change {
        event: request(1, None).event,
        ..global(1)
    };
    let refused = store.commit(with_event).await.unwrap_err();
    assert_eq!(
        agentwerke_types::ErrorCode::code(&refused),
        "store.invalid_input"
    );
    let stream = store
        .audit_log(agentwerke_store::GLOBAL_STREAM)
        .await
        .unwrap();
    let numbers: Vec<_> = stream.iter().map(|r| r.data["n"].clone()).collect();
    assert_eq!(numbers, [json!(0)], "the refused change wrote nothing");
}
