//! Approvals: one decision wins; the run hears about it exactly once.

use std::sync::Arc;

use agentwerke_store::{
    ApprovalFilter, Change, Delivered, JsonText, NewApproval, Op, PageRequest, Row, RunEvent,
    Store, Stream, Written,
};
use agentwerke_types::{ApprovalDecision, ApprovalKind, ApprovalStatus, ErrorCode, Timestamp};
use serde_json::json;

use super::support::{code_of, draft, one_run, start_run, step, t, usage};

fn open(id: &str, work_id: &str) -> Op {
    Op::OpenApproval {
        approval: NewApproval {
            id: id.into(),
            work_id: work_id.into(),
            node_id: "Review".to_owned(),
            kind: ApprovalKind::Gate,
            request: json!({"requestedAction": "deploy", "riskScore": 60}),
            expires_at: Some(t(86_400_000)),
            list_run_artifacts: false,
        },
    }
}

fn decision(id: &str, by: &str, decision: &str) -> Change {
    decision_at(id, by, decision, t(500))
}

fn decision_at(id: &str, by: &str, decision: &str, at: Timestamp) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at,
        rows: vec![Row::DecideApproval {
            id: id.into(),
            decision: ApprovalDecision::parse(decision).expect("a decision"),
            comment: Some(format!("{by} says {decision}")),
            decided_by: by.to_owned(),
        }],
        event: Some(RunEvent {
            event: JsonText::from(
                &json!({"type": "approval_decided", "decision": decision, "by": by}),
            ),
            dedup_key: Some(format!("approval:{id}")),
            step: None,
        }),
        audit: vec![draft("run-1", "approval.decided", json!({"by": by}))],
        records: vec![usage(by, 0.0)],
    }
}

fn expiry(id: &str, at: Timestamp) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at,
        rows: vec![Row::ExpireApproval { id: id.into() }],
        event: Some(RunEvent {
            event: JsonText::from(&json!({"type": "approval_decided", "decision": "reject"})),
            dedup_key: Some(format!("expire:{id}")),
            step: None,
        }),
        audit: vec![draft("run-1", "approval.expired", json!({}))],
        records: Vec::new(),
    }
}

/// Two concurrent decisions on different tasks: exactly one wins, the other
/// gets `store.already_decided`, and one event reaches the run.
pub(crate) async fn concurrent_decisions(store: Arc<dyn Store>) {
    one_run(store.as_ref(), "wf", "run-1").await;
    step(
        store.as_ref(),
        "engine",
        t(20),
        vec![open("ap-1", "w1"), open("ap-2", "w2")],
    )
    .await;
    let pending = store
        .list_approvals(ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            run_id: None,
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].request["riskScore"], 60);
    assert_eq!(pending[0].expires_at, Some(t(86_400_000)));

    let tasks: Vec<_> = [("bob", "approved"), ("eve", "rejected")]
        .into_iter()
        .map(|(by, verdict)| {
            let store = store.clone();
            tokio::spawn(async move { store.commit(decision("ap-1", by, verdict)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "exactly one decision wins: {outcomes:?}");
    let loser = outcomes
        .iter()
        .find_map(|o| o.as_ref().err())
        .expect("one loses");
    assert_eq!(loser.code(), "store.already_decided");

    let stored = store.get_approval("ap-1").await.unwrap().unwrap();
    assert_eq!(winners[0].rows, [Written::Approval(stored.clone())]);
    assert_eq!(winners[0].approval(), Some(&stored));
    assert_eq!(
        store.records("run-1").await.unwrap().len(),
        1,
        "the loser's evidence went with it"
    );
    assert_eq!(
        winners[0].delivered,
        Delivered::Queued,
        "no step was offered"
    );
    assert_eq!(
        stored.decision.map(ApprovalDecision::status),
        Some(stored.status)
    );
    assert_eq!(stored.decided_at, Some(t(500)));

    let claimed = store.claim_runs("engine", t(600), 1_000, 10).await.unwrap();
    assert_eq!(claimed[0].events.len(), 1, "the run hears one decision");
    assert_eq!(claimed[0].events[0].event["by"], json!(stored.decided_by));
    let decided_audit = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "approval.decided")
        .count();
    assert_eq!(decided_audit, 1);

    // A closed approval cannot be decided either.
    let close = Op::CloseApproval {
        work_id: "w2".into(),
        status: ApprovalStatus::Cancelled,
    };
    store
        .commit_run(super::support::commit_all(
            &claimed[0],
            "engine",
            "cancelled",
            vec![close],
        ))
        .await
        .unwrap();
    let late = store.commit(decision("ap-2", "bob", "approved")).await;
    assert!(matches!(
        late,
        Err(agentwerke_store::Error::AlreadyDecided { ref status, .. }) if status == "cancelled"
    ));

    assert_eq!(
        code_of(store.commit(decision("nope", "bob", "approved")).await),
        "store.not_found"
    );
    let mine = store.approvals_for_run("run-1").await.unwrap();
    assert_eq!(
        mine.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["ap-1", "ap-2"]
    );
    assert!(store.approvals_for_run("other").await.unwrap().is_empty());
    let (run, together) = store
        .get_run_with_approvals("run-1")
        .await
        .unwrap()
        .expect("run-1 exists");
    assert_eq!(run.id, "run-1");
    assert_eq!(together, mine);
    assert!(
        store
            .get_run_with_approvals("no-such-run")
            .await
            .unwrap()
            .is_none()
    );
}

/// A decision that arrives after the approval's `expires_at` is refused by
/// the statement that would record it, before anything marked it expired,
/// and writes nothing; the expiry then goes through once, and a later
/// decision is refused the same way.
pub(crate) async fn decided_after_expiry(store: &dyn Store) {
    let version = one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![open("ap-1", "w1")]).await;
    let due = t(86_400_000);
    let audit_before = store.audit_log("run-1").await.unwrap().len();

    let just_in_time = store
        .commit(decision_at("ap-1", "bob", "approved", t(86_399_999)))
        .await;
    assert!(just_in_time.is_ok(), "{just_in_time:?}");

    step(store, "engine", t(30), vec![open("ap-2", "w2")]).await;
    let late = store
        .commit(decision_at("ap-2", "bob", "approved", due))
        .await;
    assert!(
        matches!(late, Err(agentwerke_store::Error::Expired { ref id }) if id == "ap-2"),
        "{late:?}"
    );
    assert_eq!(code_of(late), "store.expired");
    let untouched = store.get_approval("ap-2").await.unwrap().unwrap();
    assert_eq!(untouched.status, ApprovalStatus::Pending, "nothing written");
    assert_eq!(untouched.decided_by, None);

    assert_eq!(
        code_of(store.commit(expiry("ap-2", t(86_399_999))).await),
        "store.conflict",
        "not due yet"
    );
    let expired = store.commit(expiry("ap-2", due)).await.unwrap();
    let row = expired.approval().expect("the approval");
    assert_eq!(row.status, ApprovalStatus::Expired);
    assert_eq!(expired.delivered, Delivered::Queued);
    assert_eq!(
        code_of(store.commit(expiry("ap-2", due)).await),
        "store.already_decided",
        "an expiry happens once"
    );
    assert_eq!(
        code_of(
            store
                .commit(decision_at("ap-2", "eve", "rejected", due))
                .await
        ),
        "store.expired"
    );
    assert_eq!(
        code_of(store.commit(expiry("ap-1", due)).await),
        "store.already_decided",
        "a decided approval does not expire"
    );
    let kinds: Vec<_> = store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .skip(audit_before)
        .map(|r| r.kind)
        .filter(|k| k.starts_with("approval."))
        .collect();
    assert_eq!(kinds, ["approval.decided", "approval.expired"]);
    // A change writes one run's rows only.
    step(store, "engine", t(40), vec![open("ap-3", "w3")]).await;
    start_run(store, &version, "run-2", t(45)).await;
    let wrong_run = Change {
        stream: Stream::Run("run-2".into()),
        audit: Vec::new(),
        ..decision_at("ap-3", "bob", "approved", t(50))
    };
    assert_eq!(
        code_of(store.commit(wrong_run).await),
        "store.invalid_input"
    );
    let no_run = Change {
        stream: Stream::Run("run-9".into()),
        ..decision_at("ap-3", "bob", "approved", t(50))
    };
    assert_eq!(
        code_of(store.commit(no_run).await),
        "store.not_found",
        "a change for a run that does not exist is refused by name"
    );
    let untouched = store.get_approval("ap-3").await.unwrap().unwrap();
    assert_eq!(untouched.status, ApprovalStatus::Pending);
}

/// Approvals opened in one step share a timestamp; pages still list each
/// once, in `(created_at, id)` order, under every filter shape, and a page
/// never holds more than its limit.
pub(crate) async fn pagination(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let ids = ["ap-1", "ap-2", "ap-3", "ap-4", "ap-5"];
    let opens = ids
        .iter()
        .enumerate()
        .map(|(n, id)| open(id, &format!("w{n}")))
        .collect();
    step(store, "engine", t(20), opens).await;
    let filters = [
        (None, None),
        (Some(ApprovalStatus::Pending), None),
        (None, Some("run-1")),
        (Some(ApprovalStatus::Pending), Some("run-1")),
    ];
    for (status, run_id) in filters {
        let filter = || ApprovalFilter {
            status,
            run_id: run_id.map(str::to_owned),
        };
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .page_approvals(filter(), PageRequest { limit: 2, cursor })
                .await
                .unwrap();
            sizes.push(page.items.len());
            seen.extend(page.items.into_iter().map(|a| a.id));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(sizes, [2, 2, 1], "{status:?} {run_id:?}");
        assert_eq!(seen, ids, "{status:?} {run_id:?}");
    }
    let none = store
        .page_approvals(
            ApprovalFilter {
                status: Some(ApprovalStatus::Approved),
                run_id: None,
            },
            PageRequest {
                limit: 2,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_cursor.is_none());
    let bad = store
        .page_approvals(
            ApprovalFilter::default(),
            PageRequest {
                limit: 2,
                cursor: Some("not-a-cursor".to_owned()),
            },
        )
        .await;
    assert_eq!(code_of(bad), "store.invalid_cursor");
}

/// An approval that asks for the run's artifacts gets them listed by the
/// statement that opens it, with their real digests; one that does not
/// keeps the list it was given. The riskiest assessed call only ever rises.
pub(crate) async fn artifacts_listed_and_risk_peak_raised(store: &dyn Store) {
    use agentwerke_store::RiskPeak;
    use agentwerke_store::gateway::ArtifactRow;
    use agentwerke_types::RiskLevel;

    one_run(store, "wf", "run-1").await;
    for (path, content) in [("reports/b.md", "second"), ("reports/a.md", "first")] {
        let row = ArtifactRow {
            run_id: "run-1".into(),
            path: path.to_owned(),
            sha256: format!("{:0>64}", content.len()),
            size: content.len() as u64,
            media_type: "text/markdown".to_owned(),
        };
        store
            .put_artifact(row, content.as_bytes().to_vec(), &path.into(), t(15))
            .await
            .unwrap();
    }
    let mut listed = open("ap-1", "w1");
    if let Op::OpenApproval { approval } = &mut listed {
        approval.list_run_artifacts = true;
    }
    step(store, "engine", t(20), vec![listed, open("ap-2", "w2")]).await;
    let approvals = store.approvals_for_run("run-1").await.unwrap();
    assert_eq!(
        approvals[0].request["artifacts"],
        json!([
            {"name": "reports/a.md", "sha256": format!("{:0>64}", 5), "size": 5,
             "mediaType": "text/markdown"},
            {"name": "reports/b.md", "sha256": format!("{:0>64}", 6), "size": 6,
             "mediaType": "text/markdown"},
        ])
    );
    assert_eq!(approvals[0].request["riskScore"], 60, "the rest is kept");
    assert!(approvals[1].request.get("artifacts").is_none());

    let peak = |score: u8, tool: &str| RiskPeak {
        score,
        tool: tool.to_owned(),
        node_id: "Draft".to_owned(),
        work_id: "w0".into(),
        factors: vec!["tool_category".to_owned()],
    };
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(run.risk_peak, None);
    for (level, score, tool) in [
        (RiskLevel::Medium, 30, "artifact.write"),
        (RiskLevel::Low, 10, "knowledge.search"),
        (RiskLevel::High, 55, "http.request"),
        (RiskLevel::Medium, 40, "artifact.write"),
    ] {
        super::support::raise_risk(store, "run-1", level, Some(peak(score, tool))).await;
    }
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(run.risk_peak, Some(peak(55, "http.request")));
    assert_eq!(run.risk_level, Some(RiskLevel::High));
}
