//! Run creation, claims, commits, optimistic concurrency, leases, paging.

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::{JsonText, NewRun, Op, RunFilter, RunStart, Store, Written};
use agentwerke_types::{RiskLevel, RunStatus};
use serde_json::json;

use super::support::{
    code_of, commit_all, draft, import, one_run, published, queue, start_run, t, usage,
};

/// A run is created with its first event; a claim hands both over; a commit
/// needs the lease and the claimed state version, and releases the lease.
pub(crate) async fn create_claim_commit(store: &dyn Store) {
    let version = one_run(store, "wf", "run-1").await;
    let run = store.get_run("run-1").await.unwrap().expect("run exists");
    assert_eq!((run.state_version, run.status.as_str()), (0, "running"));
    assert_eq!(run.bpmn_sha256, version.bpmn_sha256);
    assert_eq!(run.inputs, json!({"ticket": "run-1"}));
    assert_eq!(run.created_at, t(10));
    assert_eq!(store.get_run("nope").await.unwrap(), None);

    let claimed = store.claim_runs("a", t(20), 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].events.len(), 1);
    assert_eq!(claimed[0].events[0].event["type"], "start");
    assert!(
        store
            .claim_runs("b", t(20), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "a live lease keeps other owners out"
    );

    let mut wrong_owner = commit_all(&claimed[0], "b", "running", vec![]);
    wrong_owner.owner = "b".to_owned();
    assert_eq!(
        code_of(store.commit_run(wrong_owner).await),
        "store.lease_lost"
    );

    let mut stale = commit_all(&claimed[0], "a", "running", vec![]);
    stale.expected_state_version = 7;
    assert_eq!(code_of(store.commit_run(stale).await), "store.conflict");

    let mut good = commit_all(&claimed[0], "a", "completed", vec![]);
    good.risk_level = Some(RiskLevel::Low);
    good.completed_at = Some(t(21));
    store.commit_run(good.clone()).await.unwrap();
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!((run.state_version, run.status.as_str()), (1, "completed"));
    assert_eq!(JsonText::from(&run.state), good.state);
    assert_eq!(run.risk_level, Some(RiskLevel::Low));
    assert_eq!(run.completed_at, Some(t(21)));

    // The lease was released and the event processed: a replayed commit is refused.
    assert_eq!(code_of(store.commit_run(good).await), "store.lease_lost");
    assert!(
        store
            .claim_runs("a", t(22), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Runs start only on published versions whose hash they name.
    let draft_version = store
        .create_workflow_version(import("wf", "v2"))
        .await
        .unwrap();
    let mut new = NewRun {
        run_id: "run-2".into(),
        workflow_id: "wf".to_owned(),
        version: draft_version.version,
        bpmn_sha256: draft_version.bpmn_sha256.clone(),
        requested_by: "ada".to_owned(),
        inputs: json!({}),
        state: JsonText::from(&json!({})),
        status: RunStatus::Running,
        at: t(30),
    };
    let first = || draft("run-2", "run.requested", json!({}));
    let refused = store
        .create_run(
            new.clone(),
            RunStart::Queued(json!({"type": "start"})),
            first(),
        )
        .await;
    assert_eq!(code_of(refused), "store.not_found");
    new.version = version.version;
    new.bpmn_sha256 = "forged".to_owned();
    let refused = store
        .create_run(
            new.clone(),
            RunStart::Queued(json!({"type": "start"})),
            first(),
        )
        .await;
    assert_eq!(code_of(refused), "store.conflict");
    new.bpmn_sha256 = version.bpmn_sha256.clone();
    let wrong_stream = draft("run-1", "run.requested", json!({}));
    let refused = store
        .create_run(
            new.clone(),
            RunStart::Queued(json!({"type": "start"})),
            wrong_stream,
        )
        .await;
    assert_eq!(code_of(refused), "store.invalid_input");
    assert_eq!(
        store.get_run("run-2").await.unwrap(),
        None,
        "a refused create writes nothing"
    );
    store
        .create_run(
            new.clone(),
            RunStart::Queued(json!({"type": "start"})),
            first(),
        )
        .await
        .unwrap();
    let duplicate = store
        .create_run(new, RunStart::Queued(json!({"type": "start"})), first())
        .await;
    assert_eq!(code_of(duplicate), "store.conflict");
}

/// A run created with its first step applied: the step's state, effects and
/// audit records are there at once, there is nothing to claim, and a run the
/// step ended is created complete. A bad audit draft leaves no run.
pub(crate) async fn create_with_first_step_applied(store: &dyn Store) {
    let version = published(store, "wf").await;
    let new = |id: &str, status: &str| NewRun {
        run_id: id.into(),
        workflow_id: "wf".to_owned(),
        version: version.version,
        bpmn_sha256: version.bpmn_sha256.clone(),
        requested_by: "ada".to_owned(),
        inputs: json!({"ticket": id}),
        state: JsonText::from(&json!({"step": 1})),
        status: RunStatus::parse(status).expect("a run status"),
        at: t(10),
    };
    let applied = |id: &str, completed_at| RunStart::Applied {
        ops: vec![
            Op::InsertWork {
                work_id: "w1".into(),
                kind: "agent_task".to_owned(),
                payload: JsonText::from(&json!({"workId": "w1"})),
            },
            Op::Record(usage("1", 0.0)),
        ],
        audit: vec![draft(id, "event.applied", json!({"event": "start"}))],
        completed_at,
    };
    let request = |id: &str| draft(id, "run.requested", json!({}));

    store
        .create_run(
            new("run-1", "running"),
            applied("run-1", None),
            request("run-1"),
        )
        .await
        .unwrap();
    let run = store.get_run("run-1").await.unwrap().expect("created");
    assert_eq!(run.state, json!({"step": 1}));
    assert_eq!((run.state_version, run.status.as_str()), (0, "running"));
    assert_eq!(run.completed_at, None);
    assert!(
        store
            .claim_runs("a", t(20), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "the first step is taken: nothing waits in the inbox"
    );
    assert_eq!(store.pending_work_for_run("run-1").await.unwrap().len(), 1);
    assert_eq!(store.records("run-1").await.unwrap().len(), 1);
    let log = store.audit_log("run-1").await.unwrap();
    let kinds: Vec<&str> = log.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["run.requested", "event.applied"]);
    verify_chain(&log).expect("the chain verifies");

    store
        .create_run(
            new("run-2", "completed"),
            applied("run-2", Some(t(11))),
            request("run-2"),
        )
        .await
        .unwrap();
    let run = store.get_run("run-2").await.unwrap().expect("created");
    assert_eq!(
        (run.status.as_str(), run.completed_at),
        ("completed", Some(t(11)))
    );

    let stray = applied("run-1", None);
    let refused = store
        .create_run(new("run-3", "running"), stray, request("run-3"))
        .await;
    assert_eq!(code_of(refused), "store.invalid_input");
    assert_eq!(store.get_run("run-3").await.unwrap(), None);
    assert!(
        store
            .pending_work_for_run("run-3")
            .await
            .unwrap()
            .is_empty()
    );
}

/// Events queue up in order; a dedup key admits an event once; processed
/// events are never handed out or marked again.
pub(crate) async fn inbox_order_and_dedup(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let audit = |kind: &str| Some(draft("run-1", kind, json!({})));
    let first = queue(
        store,
        "run-1",
        json!({"type": "cancel"}),
        Some("k1".to_owned()),
        audit("run.cancel_requested"),
    )
    .await
    .unwrap();
    let second = queue(
        store,
        "run-1",
        json!({"type": "cancel"}),
        Some("k1".to_owned()),
        audit("run.retry_requested"),
    )
    .await
    .unwrap();
    assert!(first && !second);
    queue(store, "run-1", json!({"type": "poke"}), None, None)
        .await
        .unwrap();
    let kinds: Vec<_> = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "run.requested",
            "run.cancel_requested",
            "run.retry_requested"
        ],
        "a repeated key drops the event, not the record that it was asked for"
    );
    let unknown = queue(store, "nope", json!({}), None, None).await;
    assert_eq!(code_of(unknown), "store.not_found");

    let claimed = store.claim_runs("a", t(20), 1_000, 10).await.unwrap();
    let types: Vec<_> = claimed[0]
        .events
        .iter()
        .map(|e| e.event["type"].clone())
        .collect();
    assert_eq!(types, [json!("start"), json!("cancel"), json!("poke")]);

    // Applying only the first event leaves the others for the next claim.
    let mut partial = commit_all(&claimed[0], "a", "running", vec![]);
    partial.processed_inbox_ids.truncate(1);
    store.commit_run(partial).await.unwrap();
    let again = store.claim_runs("a", t(21), 1_000, 10).await.unwrap();
    assert_eq!(again[0].events.len(), 2);
    assert_eq!(again[0].run.state_version, 1);

    // Naming an already processed event is a conflict, and rolls back.
    let mut replay = commit_all(&again[0], "a", "running", vec![]);
    replay.processed_inbox_ids.push(claimed[0].events[0].id);
    assert_eq!(code_of(store.commit_run(replay).await), "store.conflict");
    assert_eq!(
        store.get_run("run-1").await.unwrap().unwrap().state_version,
        1
    );
}

/// A crashed owner's lease expires; the next owner gets the same events, and
/// the old owner's late commit is refused, so no step is lost or doubled.
pub(crate) async fn lease_expiry_and_reclaim(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let by_a = store.claim_runs("a", t(100), 1_000, 10).await.unwrap();
    assert!(
        store
            .claim_runs("b", t(1_099), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let by_b = store.claim_runs("b", t(1_100), 1_000, 10).await.unwrap();
    assert_eq!(by_b.len(), 1, "an expired lease is taken over");
    assert_eq!(by_b[0].events, by_a[0].events, "nothing was lost");

    let late = store
        .commit_run(commit_all(&by_a[0], "a", "running", vec![]))
        .await;
    assert_eq!(code_of(late), "store.lease_lost");
    store
        .commit_run(commit_all(&by_b[0], "b", "running", vec![]))
        .await
        .unwrap();
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(run.state_version, 1, "applied exactly once");

    // The same owner may re-claim its own live lease (after a failed commit).
    queue(store, "run-1", json!({"type": "poke"}), None, None)
        .await
        .unwrap();
    let once = store.claim_runs("a", t(2_000), 1_000, 10).await.unwrap();
    let twice = store.claim_runs("a", t(2_001), 1_000, 10).await.unwrap();
    assert_eq!(once[0].events, twice[0].events);
    // A commit checks the owner and version, not the clock: an owner whose
    // lease expired but was not taken over still commits safely.
    store
        .commit_run(commit_all(&twice[0], "a", "running", vec![]))
        .await
        .unwrap();
}

/// Runs list newest first, filtered, in pages linked by opaque cursors.
pub(crate) async fn pagination(store: &dyn Store) {
    let version = published(store, "wf").await;
    let other = published(store, "other").await;
    // Two runs share a creation time: the id breaks the tie.
    let plan = [
        (0, "r0"),
        (5, "r1"),
        (5, "r2"),
        (7, "r3"),
        (9, "r4"),
        (12, "r5"),
        (12, "r6"),
    ];
    for (ms, id) in plan {
        start_run(store, &version, id, t(ms)).await;
    }
    start_run(store, &other, "x1", t(8)).await;

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_runs(RunFilter {
                workflow_id: Some("wf".to_owned()),
                limit: 3,
                cursor: cursor.take(),
                ..RunFilter::default()
            })
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|r| r.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]);
    assert_eq!(pages, 3);

    let all = store
        .list_runs(RunFilter {
            limit: 100,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 8);
    assert_eq!(all.items[3].id, "x1");
    assert_eq!(all.next_cursor, None);

    let exact = store
        .list_runs(RunFilter {
            limit: 8,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (exact.items.len(), exact.next_cursor),
        (8, None),
        "no empty last page"
    );

    let none = store
        .list_runs(RunFilter {
            status: Some(RunStatus::Failed),
            limit: 5,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(none.items.is_empty());
    let running = store
        .list_runs(RunFilter {
            status: Some(RunStatus::Running),
            limit: 500,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(running.items.len(), 8);

    let bad = store
        .list_runs(RunFilter {
            cursor: Some("not-a-cursor".to_owned()),
            limit: 5,
            ..RunFilter::default()
        })
        .await;
    assert_eq!(code_of(bad), "store.invalid_cursor");
}

/// A run's risk level only rises, and raising it again to the same level
/// changes nothing; the row a raise writes reports the level as it now is.
pub(crate) async fn risk_level_only_rises(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let level = async || store.get_run("run-1").await.unwrap().unwrap().risk_level;
    assert_eq!(level().await, None);
    let raise = async |to| {
        let raised = super::support::raise_risk(store, "run-1", to, None).await;
        match raised.rows.as_slice() {
            [Written::Risk { level, peak: None }] => *level,
            other => panic!("one risk row: {other:?}"),
        }
    };
    assert_eq!(raise(RiskLevel::High).await, Some(RiskLevel::High));
    assert_eq!(level().await, Some(RiskLevel::High));
    assert_eq!(raise(RiskLevel::High).await, Some(RiskLevel::High));
    assert_eq!(
        raise(RiskLevel::Low).await,
        Some(RiskLevel::High),
        "never lowered"
    );
    assert_eq!(level().await, Some(RiskLevel::High), "never lowered");
    assert_eq!(raise(RiskLevel::Critical).await, Some(RiskLevel::Critical));
    assert_eq!(level().await, Some(RiskLevel::Critical));
}
