//! Run creation, claims, commits, optimistic concurrency, leases, paging.

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::{Delivered, JsonText, NewRun, Op, Row, RunFilter, Store, Stream, Written};
use agentwerke_types::{RiskLevel, RunStatus};
use serde_json::json;

use super::support::{
    code_of, commit_all, create, draft, global, import, new_run, one_run, published, queue,
    start_run, t, usage,
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
    let draft_version = global(
        store,
        t(22),
        vec![Row::ImportWorkflowVersion {
            version: 2,
            workflow: import("wf", "v2"),
        }],
        Vec::new(),
    )
    .await
    .unwrap()
    .workflow_version()
    .cloned()
    .unwrap();
    let mut new = new_run(&draft_version, "run-2");
    let start = || Some(json!({"type": "start"}));
    let refused = store.commit(create(new.clone(), t(30), start())).await;
    assert_eq!(code_of(refused), "store.not_found");
    new.version = version.version;
    new.bpmn_sha256 = "forged".to_owned();
    let refused = store.commit(create(new.clone(), t(30), start())).await;
    assert_eq!(code_of(refused), "store.conflict");
    new.bpmn_sha256 = version.bpmn_sha256.clone();
    let mut wrong_stream = create(new.clone(), t(30), start());
    wrong_stream.audit = vec![draft("run-1", "run.requested", json!({}))];
    let refused = store.commit(wrong_stream).await;
    assert_eq!(code_of(refused), "store.invalid_input");
    // A change of one run cannot create another; a change of an unknown run
    // that does not create it is refused by name.
    let mut other_run = create(new.clone(), t(30), start());
    other_run.stream = Stream::Run("run-1".into());
    other_run.audit.clear();
    let refused = store.commit(other_run.clone()).await;
    assert_eq!(code_of(refused), "store.invalid_input");
    other_run.stream = Stream::Run("run-9".into());
    let refused = store.commit(other_run).await;
    assert_eq!(code_of(refused), "store.not_found");
    assert_eq!(
        store.get_run("run-2").await.unwrap(),
        None,
        "a refused create writes nothing"
    );
    assert_eq!(store.get_run("run-9").await.unwrap(), None);
    assert!(store.audit_log("run-2").await.unwrap().is_empty());
    let committed = store
        .commit(create(new.clone(), t(30), start()))
        .await
        .unwrap();
    assert_eq!(committed.delivered, Delivered::Queued);
    let created = committed.created_run().expect("the run as created");
    assert_eq!(
        (created.id.as_str(), created.status, created.created_at),
        ("run-2", RunStatus::Running, t(30))
    );
    assert_eq!(
        (created.workflow_id.as_str(), created.workflow_version),
        ("wf", version.version)
    );
    assert_eq!(created.bpmn_sha256, version.bpmn_sha256);
    let log_before = store.audit_log("run-2").await.unwrap();
    let duplicate = store.commit(create(new, t(31), start())).await;
    assert_eq!(code_of(duplicate), "store.conflict");
    assert_eq!(
        store.audit_log("run-2").await.unwrap(),
        log_before,
        "a refused duplicate writes nothing"
    );
}

/// A run created with its first step applied: the step's state, effects and
/// audit records are there at once, there is nothing to claim, and a run the
/// step ended is created complete. A bad audit draft leaves no run.
pub(crate) async fn create_with_first_step_applied(store: &dyn Store) {
    let version = published(store, "wf").await;
    let new = |id: &str, status: &str, completed_at| NewRun {
        state: JsonText::from(&json!({"step": 1})),
        status: RunStatus::parse(status).expect("a run status"),
        completed_at,
        ops: vec![
            Op::InsertWork {
                work_id: "w1".into(),
                kind: "agent_task".to_owned(),
                payload: JsonText::from(&json!({"workId": "w1"})),
            },
            Op::Record(usage("1", 0.0)),
        ],
        ..new_run(&version, id)
    };
    let applied = |id: &str, status: &str, completed_at| {
        let mut change = create(new(id, status, completed_at), t(10), None);
        change
            .audit
            .push(draft(id, "event.applied", json!({"event": "start"})));
        change
    };

    let committed = store
        .commit(applied("run-1", "running", None))
        .await
        .unwrap();
    assert_eq!(committed.delivered, Delivered::Dropped, "no event to queue");
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
        .commit(applied("run-2", "completed", Some(t(11))))
        .await
        .unwrap();
    let run = store.get_run("run-2").await.unwrap().expect("created");
    assert_eq!(
        (run.status.as_str(), run.completed_at),
        ("completed", Some(t(11)))
    );

    let mut stray = applied("run-3", "running", None);
    stray
        .audit
        .push(draft("run-1", "event.applied", json!({"event": "start"})));
    let refused = store.commit(stray).await;
    assert_eq!(code_of(refused), "store.invalid_input");
    assert_eq!(store.get_run("run-3").await.unwrap(), None);
    assert!(
        store
            .pending_work_for_run("run-3")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.records("run-3").await.unwrap().is_empty());
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
