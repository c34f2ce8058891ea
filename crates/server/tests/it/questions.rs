//! `human.ask` end to end: an agent's blocking question pauses the run as
//! `waiting_user`, shows up in the run conversation, and the step resumes
//! with the answer once an operator gives it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestServer;

const CLARIFY: &str = include_str!("../../../../examples/clarify-request.bpmn");
const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");

async fn waiting(server: &TestServer, title: &str) -> (String, Value) {
    server.publish("clarify-request", CLARIFY).await;
    let run_id = server
        .start_run("clarify-request", json!({"title": title}))
        .await;
    let run = server.wait_status(&run_id, "waiting_user").await;
    let question = run["pendingQuestions"][0].clone();
    (run_id, question)
}

async fn answer(server: &TestServer, id: &str, token: &str, text: &str) -> (StatusCode, Value) {
    server
        .call(
            Method::POST,
            &format!("/api/questions/{id}/answer"),
            Some(token),
            Some(json!({ "answer": text })),
        )
        .await
}

async fn audit_kinds(server: &TestServer, run_id: &str) -> Vec<String> {
    let audit = server.audit(run_id).await;
    audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_waits_for_a_human_and_the_step_resumes_with_the_answer() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let (run_id, question) = waiting(&server, "Audit export").await;
    assert_eq!(
        question["question"], "Who is the summary of \"Audit export\" for?",
        "{question:#}"
    );
    assert_eq!(question["agent"], "analyst");
    assert_eq!(question["nodeId"], "Clarify");
    assert_eq!(question["status"], "open");
    let id = question["id"].as_str().expect("id").to_owned();

    let run = server
        .get(&format!("/api/runs/{run_id}"), &server.admin())
        .await;
    assert_eq!(run["conversation"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        run["pendingApprovals"],
        json!([]),
        "a question is no approval"
    );
    let inbox = server
        .get("/api/questions?status=open", &server.admin())
        .await;
    assert_eq!(inbox["items"][0]["id"], id.as_str());

    // Bad answers change nothing.
    let (status, body) = answer(&server, &id, &server.operator(), "   ").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "question.empty_answer");
    let (status, body) = answer(&server, &id, &server.operator(), &"x".repeat(17 * 1024)).await;
    assert_eq!(body["code"], "question.answer_too_long", "{status} {body}");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/questions/{id}/answer"),
            Some(&server.operator()),
            Some(json!({"answer": "x", "comment": "y"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["code"], "request.invalid_body",
        "unknown fields: {body}"
    );
    let still = server
        .get(&format!("/api/questions/{id}"), &server.admin())
        .await;
    assert_eq!(still["status"], "open");

    let (status, answered) = answer(&server, &id, &server.operator(), "the release managers").await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    assert_eq!(answered["status"], "answered");
    assert_eq!(answered["answeredBy"], "olivia-operator");

    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(
        run["steps"][0]["output"]["text"],
        "Summary of Audit export, written for the release managers.",
        "the model received the answer: {run:#}"
    );
    assert_eq!(
        run["steps"].as_array().map(Vec::len),
        Some(1),
        "one attempt, resumed"
    );
    assert_eq!(run["conversation"][0]["answer"], "the release managers");

    let (status, body) = answer(&server, &id, &server.operator(), "again").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "question.closed");

    let kinds = audit_kinds(&server, &run_id).await;
    for kind in [
        "question.asked",
        "step.paused",
        "question.answered",
        "step.resumed",
    ] {
        assert_eq!(
            kinds.iter().filter(|k| *k == kind).count(),
            1,
            "{kind} once in {kinds:?}"
        );
    }

    let pack = server.evidence_pack(&run_id).await;
    let entry = &pack["conversation"][0];
    assert_eq!(entry["question"], question["question"]);
    assert_eq!(entry["answer"], "the release managers");
    assert_eq!(entry["answeredBy"], "user:olivia-operator");
    let report = agentwerke_evidence::verify(&serde_json::to_vec(&pack).expect("bytes"), None);
    assert!(report.is_valid(), "{:?}", report.problems);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_that_waits_for_an_answer_closes_its_question() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let (run_id, question) = waiting(&server, "Search").await;
    let id = question["id"].as_str().expect("id").to_owned();
    server
        .post(
            &format!("/api/runs/{run_id}/cancel"),
            &server.operator(),
            json!({"reason": "no longer needed"}),
        )
        .await;
    let run = server.wait_status(&run_id, "cancelled").await;
    assert_eq!(run["conversation"][0]["status"], "cancelled", "{run:#}");
    assert_eq!(run["pendingQuestions"], json!([]));
    let (status, body) = answer(&server, &id, &server.operator(), "too late").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "question.closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_an_answer_is_never_kept() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let (run_id, question) = waiting(&server, "Deploy").await;
    let id = question["id"].as_str().expect("id");
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let (status, answered) = answer(
        &server,
        id,
        &server.operator(),
        &format!("ops, token {secret}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answered}");
    server.assert_never_kept(&run_id, secret, &answered).await;
    assert!(
        answered["answer"]
            .as_str()
            .is_some_and(|a| a.contains("[REDACTED]"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_questions_and_statuses_are_refused() {
    let server = TestServer::start().await;
    let (status, body) = answer(&server, "nope", &server.operator(), "x").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = server
        .call(
            Method::GET,
            "/api/questions?status=maybe",
            Some(&server.admin()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "question.unknown_status");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_denies_human_ask_never_waits_for_a_human() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let denied = CLARIFY.replace(
        r#"agent="analyst" "#,
        r#"agent="analyst" deniedTools="human.*" "#,
    );
    assert_ne!(denied, CLARIFY);
    server.publish("clarify-request", &denied).await;
    let run_id = server
        .start_run("clarify-request", json!({"title": "Audit export"}))
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    let text = run["steps"][0]["output"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        text.contains("human.ask is denied to this task (deniedTools: human.*)"),
        "the model was told why: {text}"
    );
    assert_eq!(run["conversation"], json!([]), "{run:#}");
    server.stop().await;
}

const ASK_TASK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="d" targetNamespace="https://example.test">
  <bpmn:process id="ask-task" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Ask"/>
    <bpmn:serviceTask id="Ask" name="Ask for the region">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" action="human.ask" purposeType="analysis">
          <aw:metadata key="tool.input.question" value="Which region is {{input.ticket}} for?"/>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Ask" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_whose_action_is_human_ask_asks_without_a_model() {
    let server = TestServer::start().await;
    server.publish("ask-task", ASK_TASK).await;
    let run_id = server.start_run("ask-task", json!({"ticket": "T-7"})).await;
    let run = server.wait_status(&run_id, "waiting_user").await;
    let question = &run["pendingQuestions"][0];
    assert_eq!(question["question"], "Which region is T-7 for?", "{run:#}");
    let id = question["id"].as_str().expect("id");
    let (status, body) = answer(&server, id, &server.operator(), "eu-central").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(
        run["steps"][0]["output"],
        json!({"tool": "human.ask", "output": "eu-central"}),
        "{run:#}"
    );
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(pack["modelUsage"], json!([]), "no model was called");
    server.stop().await;
}

const TWO_QUESTIONS: &str = r#"
[[nodes.Clarify]]
tool_calls = [{ name = "human.ask", arguments = { question = "Who is it for?" } }]

[[nodes.Clarify]]
tool_calls = [{ name = "human.ask", arguments = { question = "By when?" } }]

[[nodes.Clarify]]
reply = "For them, by {{last_tool_result}}."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_goes_on_after_each_answer_and_asks_each_question_once() {
    let server = TestServer::start_with_scripts(TWO_QUESTIONS).await;
    let (run_id, first) = waiting(&server, "Search").await;
    assert_eq!(first["question"], "Who is it for?");
    let (status, body) = answer(
        &server,
        first["id"].as_str().expect("id"),
        &server.operator(),
        "ops",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = server
        .wait_for(&run_id, |run| {
            run["pendingQuestions"][0]["question"] == "By when?"
        })
        .await;
    let second = &run["pendingQuestions"][0];
    let (status, body) = answer(
        &server,
        second["id"].as_str().expect("id"),
        &server.operator(),
        "Friday",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(run["steps"][0]["output"]["text"], "For them, by Friday.");
    assert_eq!(
        run["conversation"].as_array().map(Vec::len),
        Some(2),
        "{run:#}"
    );
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(pack["prompts"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        pack["modelUsage"].as_array().map(Vec::len),
        Some(3),
        "three model turns, none asked twice"
    );
    server.stop().await;
}
