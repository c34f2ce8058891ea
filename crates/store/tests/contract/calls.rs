//! The tool-call journal: intents before, outcomes after, and what a replay
//! reads back; approvals used up with the intent; artifacts keyed by call.

use agentwerke_store::calls::{Begun, ToolCallIntent, ToolCallOutcome};
use agentwerke_store::gateway::ArtifactRow;
use agentwerke_store::{Change, JsonText, NewApproval, Op, Row, RunEvent, Store, Stream};
use agentwerke_types::{ApprovalDecision, ApprovalKind, ToolCallId, ToolCallStatus};
use serde_json::json;

use super::support::{code_of, draft, one_run, step, t};

fn intent(call_id: &str, args: &str) -> ToolCallIntent {
    ToolCallIntent {
        call_id: call_id.into(),
        run_id: "run-1".into(),
        work_id: "w1".into(),
        attempt: 1,
        tool: "http.request".to_owned(),
        args_hash: format!("hash-of-{args}"),
        arguments: JsonText::from(&json!({"url": args})),
        approval_id: None,
        at: t(100),
    }
}

fn outcome(call_id: &str, status: ToolCallStatus) -> ToolCallOutcome {
    ToolCallOutcome {
        call_id: call_id.into(),
        status,
        result: JsonText::from(&json!({"output": {"status": 201}})),
        at: t(200),
    }
}

/// A call's intent and outcome are kept apart; a call begun again before
/// its outcome counts a second execution, one with an outcome is handed
/// back and never begun again.
pub(crate) async fn intent_then_outcome(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    assert_eq!(
        store.begin_tool_call(intent("c1", "a")).await.unwrap(),
        Begun::Started { executions: 1 }
    );
    let rows = store.tool_calls_for_run("run-1").await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.status, ToolCallStatus::Started);
    assert_eq!(
        (row.tool.as_str(), row.args_hash.as_str()),
        ("http.request", "hash-of-a")
    );
    assert_eq!((row.work_id.as_str(), row.attempt), ("w1", 1));
    assert_eq!(row.arguments, json!({"url": "a"}));
    assert_eq!((row.result.clone(), row.finished_at), (None, None));

    // The outcome was lost and the call is run again under the same id.
    assert_eq!(
        store.begin_tool_call(intent("c1", "a")).await.unwrap(),
        Begun::Started { executions: 2 }
    );
    let other = store.begin_tool_call(intent("c1", "b")).await;
    assert_eq!(code_of(other), "store.conflict", "one id, one call");

    assert!(
        store
            .finish_tool_call(outcome("c1", ToolCallStatus::Executed))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_tool_call(outcome("c1", ToolCallStatus::Failed))
            .await
            .unwrap(),
        "an outcome is recorded once"
    );
    assert!(
        !store
            .finish_tool_call(outcome("nope", ToolCallStatus::Failed))
            .await
            .unwrap()
    );
    let started = store
        .finish_tool_call(outcome("c1", ToolCallStatus::Started))
        .await;
    assert_eq!(code_of(started), "store.invalid_input");

    let Begun::Settled(row) = store.begin_tool_call(intent("c1", "a")).await.unwrap() else {
        panic!("a settled call is not begun again");
    };
    assert_eq!(row.status, ToolCallStatus::Executed);
    assert_eq!(row.executions, 2);
    assert_eq!(row.result, Some(json!({"output": {"status": 201}})));
    assert_eq!(row.finished_at, Some(t(200)));

    store.begin_tool_call(intent("c2", "b")).await.unwrap();
    let ids: Vec<String> = store
        .tool_calls_for_run("run-1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.call_id.into_string())
        .collect();
    assert_eq!(ids, ["c1", "c2"], "in the order they were begun");
    assert!(store.tool_calls_for_run("run-2").await.unwrap().is_empty());
}

/// An approved escalation is used up with the intent of the call it lets
/// run, in one transaction: a second start on it writes nothing.
pub(crate) async fn approval_used_with_the_intent(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let open = Op::OpenApproval {
        approval: NewApproval {
            id: "ap-1".into(),
            work_id: "w1".into(),
            node_id: "Call".to_owned(),
            kind: ApprovalKind::ToolEscalation,
            request: json!({"tool": "http.request", "argsHash": "hash-of-a"}),
            expires_at: None,
            list_run_artifacts: false,
        },
    };
    step(store, "engine", t(20), vec![open]).await;
    let approved = |id: &str| ToolCallIntent {
        approval_id: Some("ap-1".into()),
        ..intent(id, "a")
    };
    // Not decided yet: nothing to use.
    assert_eq!(
        store.begin_tool_call(approved("c1")).await.unwrap(),
        Begun::ApprovalUsed
    );
    assert!(store.tool_calls_for_run("run-1").await.unwrap().is_empty());
    store
        .commit(Change {
            stream: Stream::Run("run-1".into()),
            at: t(50),
            rows: vec![Row::DecideApproval {
                id: "ap-1".into(),
                decision: ApprovalDecision::Approved,
                comment: None,
                decided_by: "bob".to_owned(),
            }],
            event: Some(RunEvent {
                event: JsonText::from(&json!({"type": "task_resumed", "work_id": "w1"})),
                dedup_key: Some("approval:ap-1".to_owned()),
                step: None,
            }),
            audit: vec![draft("run-1", "approval.decided", json!({}))],
            records: Vec::new(),
        })
        .await
        .unwrap();

    assert_eq!(
        store.begin_tool_call(approved("c1")).await.unwrap(),
        Begun::Started { executions: 1 }
    );
    let approval = store.get_approval("ap-1").await.unwrap().unwrap();
    assert_eq!(
        approval.consumed_at,
        Some(t(100)),
        "used up with the intent"
    );
    let rows = store.tool_calls_for_run("run-1").await.unwrap();
    assert_eq!(
        rows[0].approval_id.as_ref().map(|a| a.as_str()),
        Some("ap-1")
    );

    // Neither the same call again nor another may run on it.
    assert_eq!(
        store.begin_tool_call(approved("c1")).await.unwrap(),
        Begun::ApprovalUsed
    );
    assert_eq!(
        store.begin_tool_call(approved("c2")).await.unwrap(),
        Begun::ApprovalUsed
    );
    let rows = store.tool_calls_for_run("run-1").await.unwrap();
    assert_eq!(rows.len(), 1, "nothing written for a used approval");
    assert_eq!(rows[0].executions, 1);
}

fn artifact(path: &str, content: &str) -> ArtifactRow {
    ArtifactRow {
        run_id: "run-1".into(),
        path: path.to_owned(),
        sha256: format!("sha-of-{content}"),
        size: content.len() as u64,
        media_type: "text/plain".to_owned(),
    }
}

/// An artifact write is keyed by its call: the same call again changes
/// nothing, even after a later call pointed the path elsewhere.
pub(crate) async fn artifact_writes_keyed_by_call(store: &dyn Store) {
    one_run(store, "wf", "run-1").await;
    let c1 = ToolCallId::from("c1");
    let c2 = ToolCallId::from("c2");
    assert!(
        store
            .put_artifact(artifact("a.md", "x"), b"x".to_vec(), &c1, t(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_artifact(artifact("a.md", "y"), b"y".to_vec(), &c2, t(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_artifact(artifact("a.md", "x"), b"x".to_vec(), &c1, t(3))
            .await
            .unwrap(),
        "the same call writes nothing twice"
    );
    let found = store.find_artifact("run-1", "a.md").await.unwrap().unwrap();
    assert_eq!(found.sha256, "sha-of-y", "the later call's content stays");
    assert_eq!(
        store.get_artifact("run-1", "sha-of-x").await.unwrap(),
        Some(b"x".to_vec())
    );
}
