//! A step's end as one change: the rows it writes (work, approval,
//! question, risk, the settlement of open calls), each refused whole when
//! its row is no longer as the plan saw it.

use agentwerke_store::calls::{ToolCallIntent, ToolCallOutcome};
use agentwerke_store::{
    Change, Delivered, JsonText, NewApproval, NewQuestion, Op, RiskPeak, Row, RunEvent, Store,
    Stream, WorkEnd, Written,
};
use agentwerke_types::{ApprovalKind, ApprovalStatus, AuditKind, RiskLevel, ToolCallStatus};
use serde_json::json;

use super::support::{code_of, draft, one_run, queue, start_run, step, t, usage};

fn insert(work_id: &str) -> Op {
    Op::InsertWork {
        work_id: work_id.into(),
        kind: "agent_task".to_owned(),
        payload: JsonText::from(&json!({"workId": work_id})),
    }
}

/// One run with pending work `w1` and `w2`, both claimed by `exec`.
async fn claimed(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    step(store, "engine", t(20), vec![insert("w1"), insert("w2")]).await;
    assert_eq!(
        store
            .claim_work("exec", t(30), 60_000, 10)
            .await
            .unwrap()
            .len(),
        2
    );
}

fn intent(call_id: &str, work_id: &str) -> ToolCallIntent {
    ToolCallIntent {
        call_id: call_id.into(),
        run_id: "run-1".into(),
        work_id: work_id.into(),
        attempt: 1,
        tool: "http.request".to_owned(),
        args_hash: format!("hash-of-{call_id}"),
        arguments: JsonText::from(&json!({"url": call_id})),
        approval_id: None,
        at: t(40),
    }
}

fn peak(score: u8) -> RiskPeak {
    RiskPeak {
        score,
        tool: "http.request".to_owned(),
        node_id: "Analyze".to_owned(),
        work_id: "w1".into(),
        factors: vec!["external".to_owned()],
    }
}

fn approval(id: &str) -> NewApproval {
    NewApproval {
        id: id.into(),
        work_id: "w1".into(),
        node_id: "Analyze".to_owned(),
        kind: ApprovalKind::ToolEscalation,
        request: json!({"tool": "http.request"}),
        expires_at: None,
        list_run_artifacts: false,
    }
}

fn question(id: &str) -> NewQuestion {
    NewQuestion {
        id: id.into(),
        work_id: "w1".into(),
        node_id: "Analyze".to_owned(),
        agent: "analyst".to_owned(),
        question: "Which region?".to_owned(),
        asked_at: t(50),
    }
}

/// The end of `work_id`'s first claim writing `rows`, with a result event,
/// a `step.completed` record and one evidence record.
fn end(work_id: &str, rows: Vec<Row>) -> Change {
    Change {
        stream: Stream::Run("run-1".into()),
        at: t(60),
        rows,
        event: Some(RunEvent {
            event: JsonText::from(&json!({"type": "task_completed", "work_id": work_id})),
            dedup_key: Some(format!("work:run-1:{work_id}:1")),
            step: None,
        }),
        audit: vec![draft("run-1", "step.completed", json!({"workId": work_id}))],
        records: vec![usage(work_id, 0.0)],
    }
}

fn complete(work_id: &str, resume: Option<JsonText>) -> Row {
    Row::CompleteWork {
        work_id: work_id.into(),
        owner: "exec".to_owned(),
        resume,
    }
}

fn abandon(work_id: &str) -> Row {
    Row::AbandonCalls {
        work_id: work_id.into(),
        audit: draft("run-1", "tool.abandoned", json!({"workId": work_id})),
    }
}

async fn audit_kinds(store: &dyn Store) -> Vec<String> {
    store
        .audit_log("run-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect()
}

/// A completed step's end raises the run's risk, settles the calls its
/// replay never made again, completes the work and queues the result, all
/// in one change; the calls of other work and the calls with an outcome
/// are left as they are.
pub(crate) async fn completed_step_settles_open_calls(store: &dyn Store) {
    claimed(store).await;
    for (call, work) in [("c1", "w1"), ("c2", "w1"), ("c3", "w1"), ("c4", "w2")] {
        store.begin_tool_call(intent(call, work)).await.unwrap();
    }
    let finished = ToolCallOutcome {
        call_id: "c2".into(),
        status: ToolCallStatus::Executed,
        result: JsonText::from(&json!({"output": 1})),
        at: t(45),
    };
    assert!(store.finish_tool_call(finished).await.unwrap());

    let committed = store
        .commit(end(
            "w1",
            vec![
                Row::RaiseRisk {
                    level: RiskLevel::High,
                    peak: Some(peak(70)),
                },
                abandon("w1"),
                complete("w1", None),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(committed.delivered, Delivered::Queued);
    assert_eq!(
        committed.rows,
        [
            Written::Risk {
                level: Some(RiskLevel::High),
                peak: Some(peak(70)),
            },
            Written::Abandoned(vec!["c1".into(), "c3".into()]),
            Written::Work {
                work_id: "w1".into(),
                end: WorkEnd::Completed,
            },
        ]
    );
    let statuses: Vec<_> = store
        .tool_calls_for_run("run-1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.call_id.to_string(), c.status, c.finished_at))
        .collect();
    assert_eq!(
        statuses,
        [
            ("c1".to_owned(), ToolCallStatus::Abandoned, Some(t(60))),
            ("c2".to_owned(), ToolCallStatus::Executed, Some(t(45))),
            ("c3".to_owned(), ToolCallStatus::Abandoned, Some(t(60))),
            ("c4".to_owned(), ToolCallStatus::Started, None),
        ]
    );
    let log = store.audit_log("run-1").await.unwrap();
    let settled: Vec<_> = log.iter().filter(|r| r.kind == "tool.abandoned").collect();
    assert_eq!(settled.len(), 1, "one record for the settlement");
    assert_eq!(
        settled[0].data,
        json!({"workId": "w1", "callIds": ["c1", "c3"]})
    );
    let kinds: Vec<_> = log.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [AuditKind::ToolAbandoned.as_str(), "step.completed"],
        "the settlement is recorded before the step's end"
    );
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!(run.risk_level, Some(RiskLevel::High));
    assert!(store.pending_work_for_run("run-1").await.unwrap().len() == 1);

    // Nothing left open: the settlement writes no record.
    let again = store
        .commit(end("w2", vec![abandon("w1"), complete("w2", None)]))
        .await
        .unwrap();
    assert_eq!(again.rows[0], Written::Abandoned(Vec::new()));
    assert_eq!(
        audit_kinds(store)
            .await
            .iter()
            .filter(|k| *k == "tool.abandoned")
            .count(),
        1
    );
}

/// A second end of the same work (an execution after a reclaim) is refused
/// whole: no risk raised, no call settled, no record, no audit, no event.
pub(crate) async fn second_end_writes_nothing(store: &dyn Store) {
    claimed(store).await;
    store
        .commit(end("w1", vec![complete("w1", None)]))
        .await
        .unwrap();
    store.begin_tool_call(intent("c1", "w1")).await.unwrap();
    let audit_before = store.audit_log("run-1").await.unwrap().len();
    let records_before = store.records("run-1").await.unwrap().len();

    let repeat = store
        .commit(end(
            "w1",
            vec![
                Row::RaiseRisk {
                    level: RiskLevel::Critical,
                    peak: Some(peak(99)),
                },
                abandon("w1"),
                complete("w1", None),
            ],
        ))
        .await;
    assert_eq!(code_of(repeat), "store.work_closed");
    let run = store.get_run("run-1").await.unwrap().unwrap();
    assert_eq!((run.risk_level, run.risk_peak), (None, None));
    let calls = store.tool_calls_for_run("run-1").await.unwrap();
    assert_eq!(calls[0].status, ToolCallStatus::Started);
    assert_eq!(store.audit_log("run-1").await.unwrap().len(), audit_before);
    assert_eq!(store.records("run-1").await.unwrap().len(), records_before);
    let claimed = store.claim_runs("engine", t(100), 1_000, 10).await.unwrap();
    assert_eq!(claimed[0].events.len(), 1, "the first result only");
}

/// A paused step's end opens its approval with its work done and its
/// resume point kept; an approval id another run holds refuses the whole
/// end, and nothing of it is written.
pub(crate) async fn paused_step_opens_its_approval(store: &dyn Store) {
    claimed(store).await;
    let version = store.get_version("wf", 1).await.unwrap().unwrap();
    start_run(store, &version, "run-2", t(10)).await;
    step(store, "engine", t(20), Vec::new()).await;
    let other = Change {
        stream: Stream::Run("run-2".into()),
        at: t(40),
        rows: vec![Row::OpenApproval {
            approval: approval("ap-taken"),
        }],
        event: None,
        audit: Vec::new(),
        records: Vec::new(),
    };
    store.commit(other).await.unwrap();

    let resume = JsonText::from(&json!({"turn": 3}));
    let taken = store
        .commit(end(
            "w1",
            vec![
                complete("w1", Some(resume.clone())),
                Row::OpenApproval {
                    approval: approval("ap-taken"),
                },
            ],
        ))
        .await;
    assert_eq!(code_of(taken), "store.conflict");
    assert_eq!(store.pending_work_for_run("run-1").await.unwrap().len(), 2);
    assert!(store.records("run-1").await.unwrap().is_empty());
    assert!(
        !audit_kinds(store)
            .await
            .contains(&"step.completed".to_owned())
    );

    let paused = store
        .commit(end(
            "w1",
            vec![
                complete("w1", Some(resume.clone())),
                Row::OpenApproval {
                    approval: approval("ap-1"),
                },
            ],
        ))
        .await
        .unwrap();
    let opened = paused.approval().expect("the approval is written");
    assert_eq!(
        (opened.id.as_str(), opened.status, opened.run_id.as_str()),
        ("ap-1", ApprovalStatus::Pending, "run-1")
    );
    assert_eq!(paused.work(), Some(WorkEnd::Completed));
    // Reopened after the decision, the step gets where it stood.
    let runs = store.claim_runs("engine", t(70), 1_000, 10).await.unwrap();
    store
        .commit_run(super::support::commit_all(
            &runs[0],
            "engine",
            "running",
            vec![Op::ReopenWork {
                work_id: "w1".into(),
            }],
        ))
        .await
        .unwrap();
    let reclaimed = store.claim_work("exec", t(80), 1_000, 10).await.unwrap();
    assert_eq!(reclaimed[0].resume.as_ref(), Some(&resume));
}

/// An asking step's end opens its question; a question id already taken
/// refuses the whole end.
pub(crate) async fn asking_step_opens_its_question(store: &dyn Store) {
    claimed(store).await;
    let asked = store
        .commit(end(
            "w1",
            vec![
                complete("w1", None),
                Row::OpenQuestion {
                    question: question("q-1"),
                },
            ],
        ))
        .await
        .unwrap();
    assert_eq!(asked.question().map(|q| q.id.as_str()), Some("q-1"));

    let taken = Change {
        event: None,
        ..end(
            "w2",
            vec![
                complete("w2", None),
                Row::OpenQuestion {
                    question: question("q-1"),
                },
            ],
        )
    };
    assert_eq!(code_of(store.commit(taken).await), "store.conflict");
    assert_eq!(
        store.pending_work_for_run("run-1").await.unwrap().len(),
        1,
        "w2 is not completed"
    );
}

/// The end of work the run cancelled keeps its records and audit and the
/// rows before its work row, but opens nothing after it and queues no
/// event.
pub(crate) async fn cancelled_work_keeps_only_its_records(store: &dyn Store) {
    claimed(store).await;
    store.begin_tool_call(intent("c1", "w1")).await.unwrap();
    queue(store, "run-1", json!({"type": "cancel"}), None, None)
        .await
        .unwrap();
    step(
        store,
        "engine",
        t(50),
        vec![Op::CancelWork {
            work_id: "w1".into(),
        }],
    )
    .await;
    let late = store
        .commit(end(
            "w1",
            vec![
                abandon("w1"),
                complete("w1", None),
                Row::OpenApproval {
                    approval: approval("ap-late"),
                },
            ],
        ))
        .await
        .unwrap();
    assert_eq!(late.delivered, Delivered::Dropped);
    assert_eq!(late.work(), Some(WorkEnd::Cancelled));
    assert_eq!(late.rows.len(), 2, "nothing after the cancelled work");
    assert_eq!(store.get_approval("ap-late").await.unwrap(), None);
    assert_eq!(
        store.tool_calls_for_run("run-1").await.unwrap()[0].status,
        ToolCallStatus::Abandoned
    );
    assert_eq!(store.records("run-1").await.unwrap().len(), 1);
    assert!(
        audit_kinds(store)
            .await
            .contains(&"step.completed".to_owned())
    );
    assert!(
        store
            .claim_runs("engine", t(100), 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "the run hears nothing"
    );
}

/// A hold of work that is no longer pending is refused whole: nothing of
/// the held step is written.
pub(crate) async fn hold_of_closed_work_writes_nothing(store: &dyn Store) {
    claimed(store).await;
    store
        .commit(end("w1", vec![complete("w1", None)]))
        .await
        .unwrap();
    let audit_before = store.audit_log("run-1").await.unwrap().len();
    let hold = Change {
        stream: Stream::Run("run-1".into()),
        at: t(70),
        rows: vec![Row::HoldWork {
            work_id: "w1".into(),
            workflow_id: "wf".to_owned(),
            agent: "analyst".to_owned(),
            resume: None,
        }],
        event: None,
        audit: vec![draft("run-1", "step.halted", json!({}))],
        records: vec![usage("held", 0.0)],
    };
    assert_eq!(code_of(store.commit(hold).await), "store.work_closed");
    assert_eq!(store.audit_log("run-1").await.unwrap().len(), audit_before);
    assert_eq!(store.records("run-1").await.unwrap().len(), 1);
}
