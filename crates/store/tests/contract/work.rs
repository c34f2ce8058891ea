//! Agent work: leases, reclaim, completion exactly once, cancellation.

use agentwerke_store::gateway::HaltScope;
use agentwerke_store::{
    Change, Delivered, GLOBAL_STREAM, JsonText, Op, PageRequest, Row, Store, Stream, WorkEnd,
};
use serde_json::json;

use super::support::{
    clear_halt, code_of, draft, finish, one_run, queue, set_halt, step, t, usage,
};

fn insert(work_id: &str) -> Op {
    Op::InsertWork {
        work_id: work_id.into(),
        kind: "agent_task".to_owned(),
        payload: JsonText::from(&json!({"workId": work_id, "prompt": "analyze"})),
    }
}

fn completion(work_id: &str, owner: &str, output: &str) -> Change {
    let mut change = finish(
        "run-1",
        work_id,
        owner,
        json!({"type": "task_completed", "work_id": work_id, "output": output}),
        format!("work:run-1:{work_id}"),
        t(2_000),
    );
    change.records = vec![usage(owner, 0.1 + 0.2)];
    change.audit = vec![draft("run-1", "step.completed", json!({"by": owner}))];
    change
}

/// Work leased to a crashed executor is reclaimed after expiry; of two
/// completions only the first counts and the second writes nothing.
pub(crate) async fn reclaim_and_complete_once(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1"), insert("w1")]).await;
    assert_eq!(
        store.pending_work_for_run("run-1").await.unwrap().len(),
        1,
        "insert is idempotent"
    );

    let by_a = store.claim_work("a", t(100), 1_000, 10).await.unwrap();
    assert_eq!(by_a.len(), 1);
    assert_eq!((by_a[0].work_id.as_str(), by_a[0].attempt_count), ("w1", 1));
    let payload: serde_json::Value = serde_json::from_str(by_a[0].payload.as_str()).unwrap();
    assert_eq!(
        payload["prompt"], "analyze",
        "the payload as it was written"
    );
    assert_eq!(by_a[0].resume, None, "work that never paused");
    assert!(
        store
            .claim_work("b", t(500), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A long step keeps its lease alive.
    store
        .extend_work_lease("run-1", "w1", "a", 1, t(900), 1_000)
        .await
        .unwrap();
    assert!(
        store
            .claim_work("b", t(1_500), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A goes silent; B takes over after expiry.
    let by_b = store.claim_work("b", t(1_900), 1_000, 10).await.unwrap();
    assert_eq!(by_b[0].attempt_count, 2);
    let extend = store
        .extend_work_lease("run-1", "w1", "a", 1, t(1_950), 1_000)
        .await;
    assert_eq!(code_of(extend), "store.lease_lost");

    let first = store.commit(completion("w1", "b", "from b")).await.unwrap();
    assert_eq!(first.delivered, Delivered::Queued);
    assert_eq!(first.work(), Some(WorkEnd::Completed));
    assert_eq!(
        code_of(store.commit(completion("w1", "a", "from a")).await),
        "store.work_closed",
        "a second completion is refused and writes nothing"
    );
    assert!(
        store
            .pending_work_for_run("run-1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_work("c", t(9_000), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let records = store.records("run-1").await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].record, usage("b", 0.1 + 0.2));
    let completed: Vec<_> = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "step.completed")
        .collect();
    assert_eq!(completed.len(), 1);

    let claimed = store
        .claim_runs("engine", t(9_000), 1_000, 10)
        .await
        .unwrap();
    let results: Vec<_> = claimed[0]
        .events
        .iter()
        .map(|e| e.event["output"].clone())
        .collect();
    assert_eq!(results, [json!("from b")], "exactly one result event");

    let unknown = store.commit(completion("nope", "a", "x")).await;
    assert_eq!(code_of(unknown), "store.not_found");
}

/// A lease is kept alive by the claim that holds it and no other: once it
/// lapsed and the work was claimed again, even by the same owner, the older
/// claim's extension is refused, so its execution learns it must stop.
pub(crate) async fn lease_extended_only_by_its_claim(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1")]).await;
    let first = store.claim_work("a", t(100), 1_000, 10).await.unwrap();
    assert_eq!(first[0].attempt_count, 1);
    store
        .extend_work_lease("run-1", "w1", "a", 1, t(600), 1_000)
        .await
        .unwrap();
    assert!(
        store
            .claim_work("a", t(1_500), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "the extended lease holds past the first one's end"
    );

    let again = store.claim_work("a", t(1_700), 1_000, 10).await.unwrap();
    assert_eq!(again[0].attempt_count, 2, "the lapsed lease is taken over");
    let stale = store
        .extend_work_lease("run-1", "w1", "a", 1, t(1_800), 1_000)
        .await;
    assert_eq!(code_of(stale), "store.lease_lost");
    store
        .extend_work_lease("run-1", "w1", "a", 2, t(1_800), 1_000)
        .await
        .unwrap();
}

/// Cancelled work is never claimed; a late completion queues no event but
/// keeps its evidence.
pub(crate) async fn cancelled_work(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1"), insert("w2")]).await;
    let claimed = store.claim_work("a", t(100), 1_000, 1).await.unwrap();
    assert_eq!(claimed[0].work_id, "w1", "oldest work first");

    queue(store, "run-1", json!({"type": "cancel"}), None, None)
        .await
        .unwrap();
    let cancel = vec![
        Op::CancelWork {
            work_id: "w1".into(),
        },
        Op::CancelWork {
            work_id: "w2".into(),
        },
    ];
    step(store, "engine", t(200), cancel).await;
    assert!(
        store
            .claim_work("a", t(5_000), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .pending_work_for_run("run-1")
            .await
            .unwrap()
            .is_empty()
    );

    let late = store.commit(completion("w1", "a", "late")).await.unwrap();
    assert_eq!(late.delivered, Delivered::Dropped);
    assert_eq!(late.work(), Some(WorkEnd::Cancelled));
    assert_eq!(
        store.records("run-1").await.unwrap().len(),
        1,
        "evidence is kept"
    );
    assert!(
        store
            .claim_runs("engine", t(5_000), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

fn hold(work_id: &str, agent: &str, resume: &str) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at: t(200),
        rows: vec![Row::HoldWork {
            work_id: work_id.into(),
            workflow_id: "wf".to_owned(),
            agent: agent.to_owned(),
            resume: Some(JsonText::from(&json!({"turn": resume}))),
        }],
        event: None,
        audit: vec![draft("run-1", "step.halted", json!({"workId": work_id}))],
        records: vec![usage("turn-1", 0.0)],
    }
}

/// What a hold did to its work.
async fn held(store: &dyn Store, change: Change) -> Option<WorkEnd> {
    store.commit(change).await.unwrap().work()
}

/// A step the kill switch stopped is held, with where it stands, until its
/// halt is lifted; one whose halt was lifted before the hold is written is
/// released at once, never held with nobody to free it.
pub(crate) async fn held_by_the_kill_switch(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1"), insert("w2")]).await;
    let first = store.claim_work("a", t(100), 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|w| !w.held), "never held yet");
    let halted = set_halt(store, HaltScope::Agent, "writer", t(150))
        .await
        .unwrap()
        .audit
        .expect("the halt's record");
    assert_eq!(halted.hash.len(), 64);

    assert_eq!(
        held(store, hold("w1", "writer", "1")).await,
        Some(WorkEnd::Held)
    );
    // No halt covers the other agent: released.
    assert_eq!(
        held(store, hold("w2", "reader", "2")).await,
        Some(WorkEnd::Released)
    );
    // Long after every lease ran out, only the released step is claimed.
    let claimed = store
        .claim_work("b", t(1_000_000), 1_000, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = claimed.iter().map(|w| w.work_id.as_str()).collect();
    assert_eq!(ids, ["w2"]);
    assert!(claimed[0].held, "released at once, but held all the same");

    let lifted = clear_halt(store, HaltScope::Agent, "writer", t(200))
        .await
        .unwrap()
        .audit
        .expect("the resume's record");
    assert_eq!(
        lifted.seq,
        halted.seq + 1,
        "the resume's record follows the halt's"
    );
    let claimed = store
        .claim_work("b", t(1_000_100), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].work_id, "w1");
    let resume: serde_json::Value =
        serde_json::from_str(claimed[0].resume.as_ref().expect("kept").as_str()).unwrap();
    assert_eq!(resume["turn"], "1", "it goes on where it stood");
    assert!(claimed[0].held, "the claim says the step was held");
    assert_eq!(
        code_of(clear_halt(store, HaltScope::Agent, "writer", t(300)).await),
        "store.conflict",
        "nothing to lift"
    );
    assert_eq!(
        store.audit_log(GLOBAL_STREAM).await.unwrap().len(),
        4,
        "the import, the publication, the halt and the resume: the refused \
         resume wrote nothing"
    );
    let kinds: Vec<String> = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "step.halted").count(), 2);

    // The step's end clears the mark: a step reopened after it ended was
    // not held since.
    store.commit(completion("w1", "b", "paused")).await.unwrap();
    step(
        store,
        "engine",
        t(1_000_200),
        vec![Op::ReopenWork {
            work_id: "w1".into(),
        }],
    )
    .await;
    let claimed = store
        .claim_work("c", t(1_000_300), 1_000, 10)
        .await
        .unwrap();
    let w1 = claimed
        .iter()
        .find(|w| w.work_id == "w1")
        .expect("reopened");
    assert!(!w1.held, "its end released the hold");
}

/// The halts in force page oldest first, across halts taken at the same
/// moment, and every halt appears once.
pub(crate) async fn halts_page_in_order(store: &dyn Store) {
    for (scope, target, at) in [
        (HaltScope::Workflow, "billing", 5),
        (HaltScope::Agent, "writer", 5),
        (HaltScope::Global, "", 9),
        (HaltScope::Agent, "reader", 1),
    ] {
        set_halt(store, scope, target, t(at)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .page_halts(PageRequest { limit: 3, cursor })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(
            page.items
                .iter()
                .map(|h| format!("{}:{}", h.scope.as_str(), h.target)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "agent:reader",
            "agent:writer",
            "workflow:billing",
            "global:"
        ]
    );
    let all: Vec<String> = store
        .halts()
        .await
        .unwrap()
        .iter()
        .map(|h| format!("{}:{}", h.scope.as_str(), h.target))
        .collect();
    assert_eq!(all, seen, "the whole list and its pages agree");
}
