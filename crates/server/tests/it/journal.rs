//! The tool-call journal after a crash, end to end: a step that resumes
//! meets calls whose intent was committed but whose outcome never was (the
//! state a SIGKILL leaves; `crates/cli/tests/crash.rs` kills a real process).
//! A call safe to repeat runs again under its id; any other asks a human,
//! and a rejection means it is not made.

use std::sync::{Arc, Mutex};

use agentwerke_evidence::canonical::digest_value;
use agentwerke_runtime::gateway::call_id;
use agentwerke_store::calls::{Begun, ToolCallIntent};
use agentwerke_store::{JsonText, SqliteStore, Store};
use agentwerke_types::{Timestamp, ToolCallStatus};
use axum::extract::{Request, State};
use serde_json::{Value, json};

use crate::harness::{TestServer, one_agent_task};

const LOOPBACK: &str = r#"
@id("permit-reads") @rationale("Reads are fine.")
permit (principal, action in Action::"category:read", resource);
@id("permit-test-server") @rationale("The test's own shop.")
permit (principal, action == Action::"http.request", resource == Target::"127.0.0.1");
"#;

type Seen = Arc<Mutex<Vec<String>>>;

async fn shop() -> (String, Seen) {
    async fn any(State(seen): State<Seen>, request: Request) -> &'static str {
        let line = format!("{} {}", request.method(), request.uri());
        seen.lock().expect("log").push(line);
        "ok"
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(any)
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, seen)
}

/// The step asks a human first (so it pauses with its work id known), then
/// reads the stock and posts an order.
fn scripts(base: &str) -> String {
    format!(
        r#"
[[nodes.Order]]
tool_calls = [{{ name = "human.ask", arguments = {{ question = "Which shop?" }} }}]
[[nodes.Order]]
tool_calls = [
  {{ name = "http.request", arguments = {{ url = "{base}/stock" }} }},
  {{ name = "http.request", arguments = {{ url = "{base}/orders", method = "POST", body = "one" }} }},
]
[[nodes.Order]]
reply = "ordered"
"#
    )
}

/// Writes the intent of the `http.request` call `arguments` of `work_id`,
/// as the process that died had.
async fn started_before_a_crash(store: &dyn Store, run_id: &str, work_id: &str, arguments: Value) {
    let args_hash = digest_value(&arguments);
    let intent = ToolCallIntent {
        call_id: call_id(run_id, work_id, 1, "http.request", &args_hash, 0),
        run_id: run_id.into(),
        work_id: work_id.into(),
        attempt: 1,
        tool: "http.request".to_owned(),
        args_hash,
        arguments: JsonText::from(&arguments),
        approval_id: None,
        at: Timestamp::from_millis(1),
    };
    assert_eq!(
        store.begin_tool_call(intent).await.expect("begin"),
        Begun::Started { executions: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_outcome_is_repeated_only_when_safe_and_otherwise_asks_a_human() {
    let (base, seen) = shop().await;
    let server = TestServer::start_with_scripts(&scripts(&base)).await;
    let admin = server.admin();
    let draft = server
        .post("/api/policies", &admin, json!({"text": LOOPBACK}))
        .await;
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &format!("/api/policies/{version}/publish"),
            &admin,
            json!({}),
        )
        .await;
    server
        .publish(
            "shop",
            &one_agent_task("shop", "Order", "release-assistant", "ordering"),
        )
        .await;
    let run_id = server.start_run("shop", json!({})).await;
    let run = server.wait_status(&run_id, "waiting_user").await;
    let question = run["pendingQuestions"][0].clone();
    let work_id = question["workId"].as_str().expect("work id").to_owned();

    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        server.dir.path().join("aw.db").display()
    ))
    .await
    .expect("store");
    let stock = json!({"url": format!("{base}/stock")});
    let order = json!({"url": format!("{base}/orders"), "method": "POST", "body": "one"});
    // A call the replayed model never asks for again.
    let refund = json!({"url": format!("{base}/refunds"), "method": "POST"});
    started_before_a_crash(&store, &run_id, &work_id, stock).await;
    started_before_a_crash(&store, &run_id, &work_id, order).await;
    started_before_a_crash(&store, &run_id, &work_id, refund).await;

    server
        .post(
            &format!(
                "/api/questions/{}/answer",
                question["id"].as_str().expect("id")
            ),
            &server.operator(),
            json!({"answer": "the corner shop"}),
        )
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0].clone();
    assert_eq!(approval["cause"], "tool_outcome_unknown", "{approval:#}");
    assert_eq!(approval["tool"], "http.request");
    assert_eq!(approval["arguments"]["method"], "POST");
    let calls = store.tool_calls_for_run(&run_id).await.expect("journal");
    let stock_call = &calls[0];
    assert_eq!(
        (stock_call.status, stock_call.executions),
        (ToolCallStatus::Executed, 2),
        "a GET whose answer was lost is sent again under its id"
    );
    assert_eq!(calls[1].status, ToolCallStatus::Started);
    assert_eq!(
        calls[2].status,
        ToolCallStatus::Started,
        "a paused step keeps its open calls: its resumption may meet them"
    );
    assert_eq!(approval["callId"], calls[1].call_id.as_str());
    assert_eq!(
        *seen.lock().expect("log"),
        ["GET /stock"],
        "the order is not posted again on its own"
    );

    server
        .post(
            &format!(
                "/api/approvals/{}/decision",
                approval["id"].as_str().expect("id")
            ),
            &server.approver(),
            json!({"decision": "reject", "comment": "it went through"}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;
    assert_eq!(
        *seen.lock().expect("log"),
        ["GET /stock"],
        "never posted twice"
    );
    let calls = store.tool_calls_for_run(&run_id).await.expect("journal");
    assert_eq!(calls.len(), 3);
    assert_eq!(
        (calls[2].status, calls[2].executions),
        (ToolCallStatus::Abandoned, 1),
        "the step ended without making it again: no call stays open"
    );
    let settled: Vec<_> = store
        .audit_log(&run_id)
        .await
        .expect("audit")
        .into_iter()
        .filter(|r| r.kind == "tool.abandoned")
        .collect();
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(
        settled[0].data["callIds"],
        json!([calls[2].call_id.as_str()])
    );
    assert_eq!(
        (calls[1].status, calls[1].executions),
        (ToolCallStatus::Unknown, 1),
        "whether it happened stays unknown, and it says so"
    );
    let refusal = calls[1]
        .result
        .as_ref()
        .expect("the refusal is filed")
        .to_string();
    assert!(
        refusal.contains("may or may not have happened"),
        "{refusal}"
    );
    assert!(refusal.contains("it went through"), "{refusal}");
    store.close().await;
}

const RELEASE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="release" name="Release" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Notes"/>
    <bpmn:serviceTask id="Notes" name="Notes">
      <bpmn:extensionElements><aw:agentTask agent="release-assistant" purposeType="release" environment="production" permissionLevel="read-write" prompt="Write the notes"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Notes" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

const NOTES: &str = r#"
[[nodes.Notes]]
tool_calls = [{ name = "artifact.write", arguments = { path = "notes.md", content = "Release 2.4" } }]
[[nodes.Notes]]
reply = "written"
"#;

/// A crash after an approval was used up (with the intent of the call it
/// let run) and before the call's outcome was recorded: the replay neither
/// asks a human again (the approval's effect is kept) nor uses the approval
/// a second time; the keyed write runs again under the same id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_used_before_a_crash_keeps_its_effect_and_is_not_used_twice() {
    let server = TestServer::start_with_scripts(NOTES).await;
    let admin = server.admin();
    server.publish("release", RELEASE).await;
    let run_id = server.start_run("release", json!({})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0].clone();
    let approval_id = approval["id"].as_str().expect("id").to_owned();
    let work_id = approval["workId"].as_str().expect("work id").to_owned();

    // Hold the agent so the approved call does not run before the state a
    // crash would leave is set up.
    let halt = json!({"scope": "agent", "target": "release-assistant", "reason": "set-up"});
    server.post("/api/gateway/halt", &admin, halt).await;
    server
        .post(
            &format!("/api/approvals/{approval_id}/decision"),
            &server.release_manager(),
            json!({"decision": "approve"}),
        )
        .await;
    server
        .wait_for(&run_id, |run| {
            !run["gatewayHalts"].as_array().is_none_or(Vec::is_empty)
        })
        .await;

    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        server.dir.path().join("aw.db").display()
    ))
    .await
    .expect("store");
    let arguments = json!({"path": "notes.md", "content": "Release 2.4"});
    let args_hash = digest_value(&arguments);
    let intent = ToolCallIntent {
        call_id: call_id(&run_id, &work_id, 1, "artifact.write", &args_hash, 0),
        run_id: run_id.as_str().into(),
        work_id: work_id.as_str().into(),
        attempt: 1,
        tool: "artifact.write".to_owned(),
        args_hash,
        arguments: JsonText::from(&arguments),
        approval_id: Some(approval_id.as_str().into()),
        at: Timestamp::from_millis(1),
    };
    assert_eq!(
        store.begin_tool_call(intent).await.expect("begin"),
        Begun::Started { executions: 1 },
        "the approval is used up with the intent, as the step did before the crash"
    );

    server
        .post(
            "/api/gateway/resume",
            &admin,
            json!({"scope": "agent", "target": "release-assistant"}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(run["pendingApprovals"], json!([]), "{run:#}");
    let approvals = store.approvals_for_run(&run_id).await.expect("approvals");
    assert_eq!(approvals.len(), 1, "nobody was asked again");
    assert!(approvals[0].consumed_at.is_some());
    let calls = store.tool_calls_for_run(&run_id).await.expect("journal");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].status, calls[0].executions),
        (ToolCallStatus::Executed, 2)
    );
    assert_eq!(
        calls[0].approval_id.as_ref().map(|a| a.as_str()),
        Some(approval_id.as_str())
    );
    let notes = store
        .find_artifact(&run_id, "notes.md")
        .await
        .expect("read")
        .expect("written");
    assert_eq!(notes.size, 11);
    store.close().await;
}
