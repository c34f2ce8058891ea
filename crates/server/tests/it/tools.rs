//! No task becomes a model call by a name: an `action` shaped like a tool
//! must name a tool the server has, at import, at publish and at run time;
//! and checking a document is bounded in time.

use std::fmt::Write as _;
use std::time::Duration;

use agentwerke_auth::Role;
use agentwerke_runtime::{Clock, SystemClock};
use agentwerke_server::{ApiLimits, CheckSlots};
use agentwerke_store::{
    Change, JsonText, NewWorkflowVersion, Row, SqliteStore, Store, Stream, WorkflowVersion,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::TestServer;

/// One agent task with `action` and `allowedTools`.
fn one_task(action: &str, allowed: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="d" targetNamespace="https://example.test">
  <process id="one-task" isExecutable="true">
    <startEvent id="Start"/>
    <sequenceFlow id="f1" sourceRef="Start" targetRef="Run"/>
    <serviceTask id="Run" name="Run it">
      <extensionElements>
        <aw:agentTask agent="analyst" action="{action}" allowedTools="{allowed}" purposeType="analysis"/>
      </extensionElements>
    </serviceTask>
    <sequenceFlow id="f2" sourceRef="Run" targetRef="End"/>
    <endEvent id="End"/>
  </process>
</definitions>
"#
    )
}

/// POSTs BPMN to `path` as `token`.
async fn post_xml(server: &TestServer, path: &str, token: &str, xml: &str) -> (StatusCode, Value) {
    let response = server
        .http
        .post(format!("{}{path}", server.url))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(xml.to_owned())
        .send()
        .await
        .expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn codes(diagnostics: &Value) -> Vec<&str> {
    diagnostics
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect()
}

/// Writes a draft straight into the server's database, as an import made
/// before the server's tools changed would have left it.
async fn stored_draft(server: &TestServer, id: &str, xml: &str) -> i64 {
    let path = server.dir.path().join("aw.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("store");
    let import = Row::ImportWorkflowVersion {
        version: 1,
        workflow: NewWorkflowVersion {
            workflow_id: id.to_owned(),
            name: id.to_owned(),
            bpmn_xml: xml.to_owned(),
            bpmn_sha256: hex::encode(Sha256::digest(xml.as_bytes())),
            diagnostics: JsonText::from(&json!([])),
            created_by: "admin".to_owned(),
        },
    };
    global(&store, import).await.expect("draft").version
}

/// Commits one workflow row on the global stream, as its command would
/// (without the audit record, which these tests do not read).
async fn global(store: &SqliteStore, row: Row) -> agentwerke_store::Result<WorkflowVersion> {
    let committed = store
        .commit(Change {
            stream: Stream::Global,
            at: SystemClock.now(),
            rows: vec![row],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await?;
    Ok(committed
        .workflow_version()
        .expect("a workflow version")
        .clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_naming_no_known_tool_is_refused_at_validate_and_import() {
    let server = TestServer::start().await;
    let viewer = server.token("viewer", &[Role::Viewer]);
    let unknown = one_task("shell.exec", "");
    let (status, verdict) = post_xml(&server, "/api/workflows/validate", &viewer, &unknown).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], false, "{verdict}");
    let finding = verdict["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|d| d["code"] == "bpmn.unknown_tool")
        .unwrap_or_else(|| panic!("no bpmn.unknown_tool: {verdict}"));
    assert_eq!(finding["elementId"], "Run");
    assert_eq!(finding["severity"], "error");
    let message = finding["message"].as_str().expect("message");
    assert!(
        message.contains("shell.exec") && message.contains("artifact.write"),
        "{message}"
    );

    let (status, problem) = post_xml(
        &server,
        "/api/workflows?id=unknown",
        &server.admin(),
        &unknown,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "workflow.invalid");
    assert!(
        codes(&problem["errors"]).contains(&"bpmn.unknown_tool"),
        "{problem}"
    );
    let listed = server.get("/api/workflows", &server.admin()).await;
    assert_eq!(listed["items"], json!([]), "nothing is stored");

    // A registered tool, `human.ask` and a label are all fine; a tool-list
    // entry that matches no tool is only a warning.
    for action in ["artifact.write", "human.ask", "analyze"] {
        let (_, verdict) = post_xml(
            &server,
            "/api/workflows/validate",
            &viewer,
            &one_task(action, "artifact.* vault.read"),
        )
        .await;
        assert_eq!(verdict["valid"], true, "{action}: {verdict}");
        let warnings: Vec<&Value> = verdict["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .filter(|d| d["code"] == "bpmn.unknown_tool_pattern")
            .collect();
        assert_eq!(warnings.len(), 1, "{action}: {verdict}");
        assert_eq!(warnings[0]["severity"], "warning");
        assert!(
            warnings[0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("vault.read"))
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_naming_no_known_tool_is_not_published() {
    let server = TestServer::start().await;
    let version = stored_draft(&server, "stale", &one_task("shell.exec", "")).await;
    let (status, problem) = server
        .call(
            reqwest::Method::POST,
            &format!("/api/workflows/stale/versions/{version}/publish"),
            Some(&server.admin()),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "workflow.invalid");
    assert!(
        codes(&problem["errors"]).contains(&"bpmn.unknown_tool"),
        "{problem}"
    );
    let found = server.get("/api/workflows/stale", &server.admin()).await;
    assert_eq!(found["versions"][0]["status"], "draft", "{found}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_action_naming_no_known_tool_fails_its_step_without_a_model_call() {
    let server = TestServer::start().await;
    let xml = one_task("shell.exec", "");
    let version = stored_draft(&server, "stale-run", &xml).await;
    let path = server.dir.path().join("aw.db");
    let store = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("store");
    let publish = Row::PublishWorkflowVersion {
        workflow_id: "stale-run".to_owned(),
        version,
        published_by: "admin".to_owned(),
    };
    global(&store, publish).await.expect("published");
    let run_id = server.start_run("stale-run", json!({})).await;
    let run = server.wait_status(&run_id, "failed").await;
    let step = &run["steps"][0];
    assert_eq!(step["status"], "failed", "{run:#}");
    assert_eq!(step["error"]["code"], "runtime.unknown_tool", "{run:#}");
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(
        pack["modelUsage"].as_array().map(Vec::len),
        Some(0),
        "no model was called: {pack:#}"
    );
    let audit = server.audit(&run_id).await;
    let refused = audit["items"]
        .as_array()
        .expect("audit records")
        .iter()
        .find(|r| r["kind"] == "step.failed")
        .unwrap_or_else(|| panic!("no step.failed record: {audit:#}"))
        .clone();
    assert_eq!(
        refused["data"]["code"], "runtime.unknown_tool",
        "{refused:#}"
    );
    assert_eq!(refused["data"]["tool"], "shell.exec", "{refused:#}");
    server.stop().await;
}

/// Start, `tasks` agent tasks in sequence, end.
fn chain(tasks: usize) -> String {
    let mut xml = String::from(
        r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:aw="https://agentwerke.de/bpmn/extensions/v1">
<process id="chain" isExecutable="true"><startEvent id="S"/>
"#,
    );
    let mut prev = "S".to_owned();
    for t in 0..tasks {
        let _ = writeln!(
            xml,
            r#"<serviceTask id="T{t}" name="T{t}"><extensionElements><aw:agentTask agent="analyst" purposeType="p"/></extensionElements></serviceTask><sequenceFlow id="F{t}" sourceRef="{prev}" targetRef="T{t}"/>"#
        );
        prev = format!("T{t}");
    }
    let _ = writeln!(
        xml,
        r#"<endEvent id="E"/><sequenceFlow id="FE" sourceRef="{prev}" targetRef="E"/></process></definitions>"#
    );
    xml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_a_document_is_bounded_in_time() {
    let xml = chain(20_000);
    let limits = ApiLimits {
        check_timeout: Duration::from_millis(1),
        ..ApiLimits::default()
    };
    let server = TestServer::start_with_limits(limits).await;
    let viewer = server.token("viewer", &[Role::Viewer]);
    let (status, problem) = post_xml(&server, "/api/workflows/validate", &viewer, &xml).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "workflow.too_complex", "{problem}");
    let (status, problem) =
        post_xml(&server, "/api/workflows?id=chain", &server.admin(), &xml).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "workflow.too_complex", "{problem}");
    server.stop().await;

    // Within the default bound, the same 20,000-task chain is checked in full.
    let server = TestServer::start().await;
    let viewer = server.token("viewer", &[Role::Viewer]);
    let (status, verdict) = post_xml(&server, "/api/workflows/validate", &viewer, &xml).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_beyond_the_free_slots_are_refused_not_queued_without_end() {
    let slots = CheckSlots::new(1);
    let limits = ApiLimits {
        check_timeout: Duration::from_millis(200),
        check_slots: slots.clone(),
        ..ApiLimits::default()
    };
    let server = TestServer::start_with_limits(limits).await;
    let viewer = server.token("viewer", &[Role::Viewer]);
    let xml = chain(3);

    // The only slot is taken, as by a check that overran its time limit.
    let taken = slots
        .take(Duration::from_secs(1))
        .await
        .expect("the free slot");
    let (status, problem) = post_xml(&server, "/api/workflows/validate", &viewer, &xml).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["code"], "workflow.checks_busy", "{problem}");
    let (status, problem) =
        post_xml(&server, "/api/workflows?id=chain", &server.admin(), &xml).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    let (status, _) = server
        .call(
            reqwest::Method::GET,
            "/api/workflows/chain",
            Some(&server.admin()),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused import stores nothing"
    );

    // Once it is free again, the same document is checked.
    drop(taken);
    let (status, verdict) = post_xml(&server, "/api/workflows/validate", &viewer, &xml).await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], true, "{verdict}");
    server.stop().await;
}
