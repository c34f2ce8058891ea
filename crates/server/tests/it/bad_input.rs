//! Bad input gets a clear, coded error and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer};

async fn import_raw(server: &TestServer, body: Vec<u8>) -> (StatusCode, Value, String) {
    // The server answers an oversized body before reading all of it and then
    // closes the connection, so the client's upload can break off mid-write.
    // That is the transport, not the answer: send again on a fresh connection.
    let mut attempts = 0;
    let response = loop {
        attempts += 1;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let sent = client
            .post(format!("{}/api/workflows?id=bad", server.url))
            .bearer_auth(server.admin())
            .header("content-type", "application/xml")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => break response,
            Err(error) if attempts < 5 && (error.is_request() || error.is_body()) => continue,
            Err(error) => panic!("send: {error}"),
        }
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, content_type)
}

async fn workflow_count(server: &TestServer) -> usize {
    server.get("/api/workflows", &server.admin()).await["items"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_bpmn_is_refused_with_diagnostics_and_stores_nothing() {
    let server = TestServer::start().await;
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol2;</definitions>"#;
    let unknown_task = HELLO_SDLC
        .replace(
            "<bpmn:userTask id=\"Review\"",
            "<bpmn:callActivity id=\"Review\"",
        )
        .replace("</bpmn:userTask>", "</bpmn:callActivity>");
    for (name, body) in [
        (
            "truncated",
            HELLO_SDLC.as_bytes()[..HELLO_SDLC.len() / 2].to_vec(),
        ),
        ("billion laughs", billion_laughs.as_bytes().to_vec()),
        ("garbage", vec![0xff, 0xfe, 0x00, 0x13, 0x37]),
        ("not executable", unknown_task.into_bytes()),
    ] {
        let (status, body, content_type) = import_raw(&server, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert_eq!(body["code"], "workflow.invalid", "{name}: {body}");
        let errors = body["errors"].as_array().expect("diagnostics");
        assert!(
            errors
                .iter()
                .all(|e| e["code"].is_string() && e["message"].is_string()),
            "{name}: {body}"
        );
    }
    assert_eq!(workflow_count(&server).await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_with_413() {
    let server = TestServer::start().await;
    let huge = vec![b' '; 6 * 1024 * 1024];
    let (status, body, _) = import_raw(&server, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "request.too_large");
    assert_eq!(workflow_count(&server).await, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_unknown_fields_and_unknown_workflows_are_refused() {
    let server = TestServer::start().await;
    let response = server
        .http
        .post(format!("{}/api/runs", server.url))
        .bearer_auth(server.operator())
        .header("content-type", "application/json")
        .body("{\"workflowId\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "request.malformed_json");

    let (status, body) = server
        .call(
            Method::POST,
            "/api/runs",
            Some(&server.operator()),
            Some(json!({"workflowId": "hello-sdlc", "inptus": {}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "request.invalid_body");

    let (status, body) = server
        .call(
            Method::POST,
            "/api/runs",
            Some(&server.operator()),
            Some(json!({"workflowId": "no-such-workflow"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "workflow.not_published");

    let (status, body) = server
        .call(
            Method::GET,
            "/api/runs/does-not-exist",
            Some(&server.operator()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "api.not_found");

    let runs = server.get("/api/runs", &server.admin()).await;
    assert_eq!(runs["items"].as_array().map(Vec::len), Some(0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_on_closed_approvals_conflict() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let id = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/approvals/{id}/decision");
    server
        .post(&path, &server.approver(), json!({"decision": "approve"}))
        .await;
    let (status, body) = server
        .call(
            Method::POST,
            &path,
            Some(&server.approver()),
            Some(json!({"decision": "reject"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "approval.already_decided", "{body}");
    let (status, body) = server
        .call(
            Method::POST,
            &path,
            Some(&server.approver()),
            Some(json!({"decision": "maybe"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    server.wait_status(&run_id, "completed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_the_seed_endpoints_and_the_conversation() {
    let server = TestServer::start().await;
    let (status, doc) = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/runs",
        "/api/runs/{id}",
        "/api/approvals/{id}/decision",
        "/api/runs/{id}/evidence-pack",
        "/api/runs/{id}/evidence-pack/download",
        "/api/health/ready",
        "/api/questions",
        "/api/questions/{id}",
        "/api/questions/{id}/answer",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing {path}");
    }
    server.stop().await;
}
