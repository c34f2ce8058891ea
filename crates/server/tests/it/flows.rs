//! The seed's flow and the other ways a run moves: reject, request changes,
//! parallel approvals, a message wait, a timer.

use agentwerke_auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer, documented};

fn pending_approval(run: &Value) -> String {
    run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("a pending approval")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_flow_pauses_at_review_completes_on_approval_and_leaves_verifiable_evidence() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "Add audit export"}))
        .await;

    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(
        run["currentSteps"].as_array().map(Vec::len),
        Some(1),
        "{run:#}"
    );
    assert_eq!(run["currentSteps"][0]["nodeId"], "Review", "{run:#}");
    let approval = &run["pendingApprovals"][0];
    assert_eq!(approval["nodeId"], "Review");
    for key in [
        "requestedAction",
        "requester",
        "agent",
        "policyRationale",
        "riskScore",
        "riskFactors",
        "affectedSystems",
        "relatedOutput",
        "artifacts",
    ] {
        assert!(
            approval.get(key).is_some(),
            "approval lacks {key}: {approval:#}"
        );
    }
    assert_eq!(approval["requester"], "olivia-operator");
    assert_eq!(approval["agent"], "analyst");
    assert!(
        approval["relatedOutput"]["Analyze"].is_object(),
        "{approval:#}"
    );
    let analyze = &run["steps"][0];
    assert_eq!(analyze["nodeId"], "Analyze");
    assert_eq!(analyze["status"], "completed");
    assert_eq!(analyze["agent"], "analyst");

    // The seed's curl shape, verbatim.
    let approval_id = pending_approval(&run);
    let (status, decided) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{approval_id}/decision"),
            Some(&server.approver()),
            Some(json!({"decision":"approve","comment":"Reviewed generated output and risk rationale."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");

    let run = server.wait_status(&run_id, "completed").await;
    assert!(run["completedAt"].is_string(), "{run:#}");
    assert_eq!(
        run["approvals"][0]["comment"],
        "Reviewed generated output and risk rationale."
    );

    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(pack["schemaVersion"], "agentwerke.evidence-pack.v1");
    assert_eq!(pack["runId"], run_id);
    for key in [
        "workflow",
        "run",
        "approvals",
        "policyDecisions",
        "toolCalls",
        "sandboxExecutions",
        "modelUsage",
        "artifacts",
        "auditLog",
    ] {
        assert!(pack.get(key).is_some(), "pack lacks {key}");
    }
    assert_eq!(
        pack["workflow"]["bpmnSha256"].as_str().map(str::len),
        Some(64)
    );
    assert!(
        pack["auditLog"]
            .as_array()
            .expect("audit log")
            .iter()
            .any(|r| r["kind"] == "approval.decided"
                && r["data"]["comment"] == "Reviewed generated output and risk rationale."),
        "the decision comment is part of the audit trail"
    );

    let response = server
        .http
        .get(format!(
            "{}/api/runs/{run_id}/evidence-pack/download",
            server.url
        ))
        .bearer_auth(server.admin())
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let bytes = response.bytes().await.expect("bytes");
    let key = server
        .get("/api/evidence/public-key", &server.admin())
        .await;
    let public =
        agentwerke_evidence::keys::decode_public_key(key["publicKey"].as_str().expect("key"))
            .expect("public key");
    let report = agentwerke_evidence::verify(&bytes, Some(&public));
    assert!(report.is_valid(), "{:?}", report.problems);

    let mut tampered: Value = serde_json::from_slice(&bytes).expect("json");
    tampered["approvals"][0]["comment"] = json!("Rubber-stamped.");
    let report = agentwerke_evidence::verify(
        &serde_json::to_vec(&tampered).expect("bytes"),
        Some(&public),
    );
    assert!(!report.is_valid());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains("approvals[0]")),
        "{:?}",
        report.problems
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_without_a_modelled_path_ends_the_run_rejected() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    server
        .post(
            &format!("/api/approvals/{}/decision", pending_approval(&run)),
            &server.approver(),
            json!({"decision": "reject", "comment": "Too risky."}),
        )
        .await;
    let run = server.wait_status(&run_id, "rejected").await;
    assert!(run["completedAt"].is_string());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_changes_sends_the_run_back_to_the_agent_with_the_comment() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let first = pending_approval(&run);
    server
        .post(
            &format!("/api/approvals/{first}/decision"),
            &server.approver(),
            json!({"decision": "request_changes", "comment": "Cover the rollback plan."}),
        )
        .await;
    let run = server
        .wait_for(&run_id, |run| {
            let pending = &run["pendingApprovals"][0]["id"];
            run["status"] == "awaiting_approval" && pending.is_string() && *pending != first
        })
        .await;
    let analyses: Vec<&Value> = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["nodeId"] == "Analyze")
        .collect();
    assert_eq!(analyses.len(), 2, "Analyze ran again: {run:#}");
    let audit = server.audit(&run_id).await;
    let prompt_feedback = audit["items"].as_array().expect("items").iter().any(|r| {
        r["kind"] == "approval.decided" && r["data"]["comment"] == "Cover the rollback plan."
    });
    assert!(prompt_feedback);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modelled_rejection_path_is_followed() {
    let server = TestServer::start().await;
    server
        .publish(
            "modelled-review",
            include_str!("../fixtures/modelled-review.bpmn"),
        )
        .await;
    let run_id = server.start_run("modelled-review", json!({})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    server
        .post(
            &format!("/api/approvals/{}/decision", pending_approval(&run)),
            &server.approver(),
            json!({"decision": "reject", "comment": "Not this one."}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    assert!(
        run["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["nodeId"] == "Archive"),
        "{run:#}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_parallel_approvals_are_open_at_once_and_both_are_needed() {
    let server = TestServer::start().await;
    server
        .publish(
            "parallel-approvals",
            include_str!("../fixtures/parallel-approvals.bpmn"),
        )
        .await;
    let run_id = server.start_run("parallel-approvals", json!({})).await;
    let run = server
        .wait_for(&run_id, |run| {
            run["pendingApprovals"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(run["status"], "awaiting_approval");
    let ids: Vec<String> = run["pendingApprovals"]
        .as_array()
        .expect("approvals")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect();
    server
        .post(
            &format!("/api/approvals/{}/decision", ids[0]),
            &server.approver(),
            json!({"decision": "approve"}),
        )
        .await;
    let run = server
        .wait_for(&run_id, |run| {
            run["pendingApprovals"].as_array().map(Vec::len) == Some(1)
        })
        .await;
    assert_eq!(run["status"], "awaiting_approval");
    server
        .post(
            &format!("/api/approvals/{}/decision", ids[1]),
            &server.approver(),
            json!({"decision": "approve"}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlated_message_resumes_only_the_matching_run_and_only_once() {
    let server = TestServer::start().await;
    server
        .publish(
            "message-wait",
            include_str!("../fixtures/message-wait.bpmn"),
        )
        .await;
    let first = server
        .start_run("message-wait", json!({"commit": "abc123"}))
        .await;
    let second = server
        .start_run("message-wait", json!({"commit": "def456"}))
        .await;
    server.wait_status(&first, "waiting_event").await;
    server.wait_status(&second, "waiting_event").await;
    let delivery = json!({"messageName": "ci.finished", "correlationKey": "abc123",
        "payload": {"result": "success"}, "deliveryId": "d-1"});
    let outcome = server
        .post("/api/events", &server.operator(), delivery.clone())
        .await;
    assert_eq!(outcome["matchedRuns"], json!([first]));
    let again = server
        .post("/api/events", &server.operator(), delivery)
        .await;
    assert_eq!(again["duplicate"], true);
    let run = server.wait_status(&first, "completed").await;
    assert!(
        run["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .any(|s| s["nodeId"] == "WaitForCi")
    );
    let other = server
        .get(
            &format!("/api/runs/{second}"),
            &server.token("v", &[Role::Viewer]),
        )
        .await;
    assert_eq!(other["status"], "waiting_event");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_waits_then_fires() {
    let server = TestServer::start().await;
    server
        .publish("timer", include_str!("../fixtures/timer.bpmn"))
        .await;
    let run_id = server.start_run("timer", json!({})).await;
    server.wait_status(&run_id, "waiting_timer").await;
    server.wait_status(&run_id, "completed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_run_and_closes_its_approvals() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = pending_approval(&run);
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/runs/{run_id}/cancel"),
            Some(&server.operator()),
            Some(json!({"reason": "superseded"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.wait_status(&run_id, "cancelled").await;
    let closed = server
        .get(&format!("/api/approvals/{approval}"), &server.admin())
        .await;
    assert_eq!(closed["status"], "cancelled");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{approval}/decision"),
            Some(&server.approver()),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    server.stop().await;
}

const FLAKY: &str = r#"
[[nodes.Analyze]]
fail = { code = "provider.unavailable", message = "the model provider is down", times = 1 }

[[nodes.Analyze]]
reply = "analysed on the second attempt"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_is_retried_on_request_and_the_run_goes_on() {
    let server = TestServer::start_with_scripts(FLAKY).await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "failed").await;
    assert_eq!(run["steps"][0]["status"], "failed", "{run:#}");
    assert_eq!(run["steps"][0]["error"]["code"], "provider.unavailable");

    // A Viewer may not retry; an Operator may.
    let (status, _) = server
        .call(
            Method::POST,
            &format!("/api/runs/{run_id}/retry"),
            Some(&server.token("vera", &[agentwerke_auth::Role::Viewer])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/runs/{run_id}/retry"),
            Some(&server.operator()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let analyses: Vec<&Value> = run["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s["nodeId"] == "Analyze")
        .collect();
    assert_eq!(analyses.len(), 2, "{run:#}");
    assert_eq!(analyses[1]["status"], "completed");
    assert_eq!(
        analyses[1]["output"]["text"],
        "analysed on the second attempt"
    );

    // Retrying a run that is not failed is refused.
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/runs/{run_id}/retry"),
            Some(&server.operator()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "run.not_failed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_sends_audit_records_and_ends_with_the_run() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = pending_approval(&run);
    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.approver(),
            json!({"decision": "approve"}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;
    let response = server
        .http
        .get(format!("{}/api/runs/{run_id}/stream", server.url))
        .bearer_auth(server.admin())
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let text = tokio::time::timeout(std::time::Duration::from_secs(10), response.text())
        .await
        .expect("the stream ends once the run has ended")
        .expect("body");
    assert!(text.contains("event: audit"), "{text}");
    assert!(text.contains("approval.decided"), "{text}");
    assert!(text.contains("event: end"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_answers_exactly_the_fields_its_schema_documents() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "documented"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let doc = server.get("/openapi.json", &server.admin()).await;
    let mut answered: Vec<String> = run.as_object().expect("a run").keys().cloned().collect();
    answered.sort();
    let schema = &doc["components"]["schemas"]["RunDetail"];
    assert_eq!(answered, documented(&doc, schema));
    let step = &run["steps"][0];
    let mut step_fields: Vec<String> = step.as_object().expect("a step").keys().cloned().collect();
    step_fields.sort();
    assert_eq!(
        step_fields,
        documented(&doc, &doc["components"]["schemas"]["StepView"])
    );
    server.stop().await;
}
