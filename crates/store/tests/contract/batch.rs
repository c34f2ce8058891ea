//! Calls in flight together: each keeps its own all-or-nothing outcome,
//! exactly as if it had been made alone, whatever an implementation batches.

use agentwerke_types::{ApprovalKind, RunStatus};
use std::sync::Arc;

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::{Change, Delivered, JsonText, NewApproval, Op, Store};
use serde_json::json;

use super::support::{
    code_of, commit_all, create, draft, finish, new_run, published, start_run, t, usage,
};

fn insert(work_id: &str) -> Op {
    Op::InsertWork {
        work_id: work_id.into(),
        kind: "agent_task".to_owned(),
        payload: JsonText::from(&json!({"workId": work_id})),
    }
}

fn record(n: u32) -> Op {
    Op::Record(usage(&n.to_string(), 0.0))
}

fn gate(id: &str) -> Op {
    Op::OpenApproval {
        approval: NewApproval {
            id: id.into(),
            work_id: format!("work-of-{id}").into(),
            node_id: "Review".to_owned(),
            kind: ApprovalKind::Gate,
            request: json!({"requestedAction": "ship"}),
            expires_at: None,
            list_run_artifacts: false,
        },
    }
}

async fn chains_verify(store: &dyn Store, runs: &[&str]) {
    for run in runs {
        let log = store.audit_log(run).await.unwrap();
        verify_chain(&log).unwrap_or_else(|e| panic!("chain of {run}: {e}"));
    }
}

/// One `commit_runs` call with good and bad steps: the good ones are
/// written, every bad one fails with the error `commit_run` gives and leaves
/// no trace, and results come back in order.
pub(crate) async fn commit_runs_keep_each_outcome(store: &dyn Store) {
    let version = published(store, "wf").await;
    for run in ["r1", "r2", "r3", "r4", "r5"] {
        start_run(store, &version, run, t(10)).await;
    }
    let claimed = store.claim_runs("a", t(20), 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 5);
    let by_id = |id: &str| {
        claimed
            .iter()
            .find(|c| c.run.id == id)
            .expect("claimed")
            .clone()
    };

    let good = commit_all(&by_id("r1"), "a", "running", vec![insert("w1"), record(1)]);
    let mut stale = commit_all(&by_id("r2"), "a", "running", vec![insert("w2")]);
    stale.expected_state_version += 1;
    let gated = commit_all(&by_id("r3"), "a", "awaiting_approval", vec![gate("ap-3")]);
    let thief = commit_all(&by_id("r4"), "b", "running", vec![record(4)]);
    let mut stray = commit_all(&by_id("r5"), "a", "running", vec![record(5)]);
    stray.audit.push(draft("r1", "step.completed", json!({})));
    // The same step twice in one call: the first released the lease.
    let again = good.clone();

    let results = store
        .commit_runs(vec![good, stale, gated, thief, stray, again])
        .await;
    let codes: Vec<&str> = results
        .into_iter()
        .map(|r| r.map_or_else(|e| agentwerke_types::ErrorCode::code(&e), |()| "ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "store.conflict",
            "ok",
            "store.lease_lost",
            "store.invalid_input",
            "store.lease_lost"
        ]
    );

    let r1 = store.get_run("r1").await.unwrap().unwrap();
    assert_eq!((r1.state_version, r1.status.as_str()), (1, "running"));
    assert_eq!(store.pending_work_for_run("r1").await.unwrap().len(), 1);
    assert_eq!(store.records("r1").await.unwrap().len(), 1);
    let r3 = store.get_run("r3").await.unwrap().unwrap();
    assert_eq!(r3.status, RunStatus::AwaitingApproval);
    assert_eq!(store.approvals_for_run("r3").await.unwrap().len(), 1);
    for untouched in ["r2", "r4", "r5"] {
        let run = store.get_run(untouched).await.unwrap().unwrap();
        assert_eq!(run.state_version, 0, "{untouched} must be unchanged");
        assert!(
            store
                .pending_work_for_run(untouched)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.records(untouched).await.unwrap().is_empty());
        assert_eq!(store.audit_log(untouched).await.unwrap().len(), 1);
    }
    assert_eq!(
        store.audit_log("r1").await.unwrap().len(),
        2,
        "no forged record"
    );
    chains_verify(store, &["r1", "r2", "r3", "r4", "r5"]).await;

    // The failed steps are still claimable by their owner and commit fine.
    let retry = store.claim_runs("a", t(30), 30_000, 10).await.unwrap();
    let mut ids: Vec<&str> = retry.iter().map(|c| c.run.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["r2", "r4", "r5"]);
    let results = store
        .commit_runs(
            retry
                .iter()
                .map(|c| commit_all(c, "a", "running", vec![record(9)]))
                .collect(),
        )
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    chains_verify(store, &["r2", "r4", "r5"]).await;
}

fn completion(run: &str, work_id: &str, owner: &str) -> Change {
    let mut change = finish(
        run,
        work_id,
        owner,
        json!({"type": "task_completed", "work_id": work_id}),
        format!("work:{run}:{work_id}"),
        t(35),
    );
    change.records = vec![usage(owner, 0.0)];
    change.audit = vec![draft(run, "step.completed", json!({"by": owner}))];
    change
}

/// Many completions at once, some for the same run (parallel branches) and
/// one repeated: each result is queued once, the repeat is refused whole,
/// unknown work fails alone, and every run's chain stays one chain.
pub(crate) async fn concurrent_completions(store: Arc<dyn Store>) {
    let version = published(store.as_ref(), "wf").await;
    let runs = ["c1", "c2", "c3"];
    for run in runs {
        start_run(store.as_ref(), &version, run, t(10)).await;
    }
    let claimed = store.claim_runs("engine", t(20), 30_000, 10).await.unwrap();
    let commits = claimed
        .iter()
        .map(|c| commit_all(c, "engine", "running", vec![insert("a"), insert("b")]))
        .collect();
    assert!(store.commit_runs(commits).await.iter().all(Result::is_ok));
    assert_eq!(
        store
            .claim_work("x", t(30), 30_000, 100)
            .await
            .unwrap()
            .len(),
        6
    );

    let mut calls: Vec<Change> = runs
        .iter()
        .flat_map(|run| [completion(run, "a", "x"), completion(run, "b", "x")])
        .collect();
    calls.push(completion("c1", "a", "y"));
    calls.push(completion("c2", "nope", "x"));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let store = store.clone();
            tokio::spawn(async move { store.commit(call).await.map(|c| c.delivered) })
        })
        .collect();
    let mut queued = 0;
    let mut repeats = 0;
    let mut unknown = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Delivered::Queued) => queued += 1,
            Ok(Delivered::Dropped) => panic!("every completion carries its event"),
            Ok(Delivered::Stepped) => panic!("no step was offered"),
            Err(error) => match code_of::<()>(Err(error)) {
                "store.work_closed" => repeats += 1,
                code => {
                    assert_eq!(code, "store.not_found");
                    unknown += 1;
                }
            },
        }
    }
    assert_eq!((queued, repeats, unknown), (6, 1, 1));
    for run in runs {
        assert!(store.pending_work_for_run(run).await.unwrap().is_empty());
        assert_eq!(store.records(run).await.unwrap().len(), 2, "{run}");
        // requested, applied, and one per completion.
        assert_eq!(store.audit_log(run).await.unwrap().len(), 4, "{run}");
    }
    let events = store.claim_runs("engine", t(40), 30_000, 10).await.unwrap();
    assert!(events.iter().all(|c| c.events.len() == 2));
    chains_verify(store.as_ref(), &runs).await;
}

/// Many run creations at once: a repeated run id and an unpublished version
/// fail alone, with the errors a lone call gives.
pub(crate) async fn concurrent_creations(store: Arc<dyn Store>) {
    let version = published(store.as_ref(), "wf").await;
    let mut missing = version.clone();
    missing.version = 7;
    let mut calls = Vec::new();
    for n in 0..8 {
        calls.push((version.clone(), format!("run-{n}")));
    }
    calls.push((version.clone(), "run-0".to_owned()));
    calls.push((missing, "run-x".to_owned()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(version, id)| {
            let store = store.clone();
            tokio::spawn(async move {
                let change = create(
                    new_run(&version, &id),
                    t(10),
                    Some(json!({"type": "start"})),
                );
                let result = store.commit(change).await.map(drop);
                (id, result)
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let (id, result) = task.await.unwrap();
        outcomes.push((
            id,
            result.map_or_else(|e| agentwerke_types::ErrorCode::code(&e), |()| "ok"),
        ));
    }
    let created = outcomes.iter().filter(|(_, code)| *code == "ok").count();
    assert_eq!(created, 8, "{outcomes:?}");
    assert!(
        outcomes.contains(&("run-0".to_owned(), "store.conflict")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&("run-x".to_owned(), "store.not_found")),
        "{outcomes:?}"
    );
    assert!(store.get_run("run-x").await.unwrap().is_none());
    let all: Vec<String> = (0..8).map(|n| format!("run-{n}")).collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    for run in &all {
        assert_eq!(store.audit_log(run).await.unwrap().len(), 1, "{run}");
    }
    chains_verify(store.as_ref(), &all).await;
    assert_eq!(
        store
            .claim_runs("engine", t(20), 30_000, 100)
            .await
            .unwrap()
            .len(),
        8,
        "one start event per run"
    );
}
