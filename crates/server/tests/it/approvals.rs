//! Decisions: exactly one wins, requesters cannot approve their own runs,
//! an approver role narrows who may decide.

use agentwerke_auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{HELLO_SDLC, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_decisions_exactly_one_wins() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let id = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/approvals/{id}/decision");
    let first_token = server.token("approver-one", &[Role::Approver]);
    let second_token = server.token("approver-two", &[Role::Approver]);
    let (a, b) = tokio::join!(
        server.call(
            Method::POST,
            &path,
            Some(&first_token),
            Some(json!({"decision": "approve"}))
        ),
        server.call(
            Method::POST,
            &path,
            Some(&second_token),
            Some(json!({"decision": "reject"}))
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let loser = if a.0 == StatusCode::CONFLICT {
        &a.1
    } else {
        &b.1
    };
    // Whether the loser saw the approval still pending or not, it is one
    // condition with one code.
    assert_eq!(loser["code"], "approval.already_decided", "{loser}");
    let expected = if a.0 == StatusCode::OK {
        "completed"
    } else {
        "rejected"
    };
    server.wait_status(&run_id, expected).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_requester_cannot_approve_their_own_run() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let both = server.token("pat", &[Role::Operator, Role::Approver]);
    let started = server
        .post(
            "/api/runs",
            &both,
            json!({"workflowId": "hello-sdlc", "inputs": {"title": "x"}}),
        )
        .await;
    let run_id = started["runId"].as_str().expect("id");
    let run = server.wait_status(run_id, "awaiting_approval").await;
    let id = run["pendingApprovals"][0]["id"].as_str().expect("id");
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{id}/decision"),
            Some(&both),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "approval.self_approval");
    let still = server.get(&format!("/api/approvals/{id}"), &both).await;
    assert_eq!(still["status"], "pending");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_list_filters_by_status() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    server.wait_status(&run_id, "awaiting_approval").await;
    let pending = server
        .get("/api/approvals?status=pending", &server.approver())
        .await;
    assert_eq!(pending["items"].as_array().map(Vec::len), Some(1));
    let approved = server
        .get("/api/approvals?status=approved", &server.approver())
        .await;
    assert_eq!(approved["items"].as_array().map(Vec::len), Some(0));
    let (status, body) = server
        .call(
            Method::GET,
            "/api/approvals?status=maybe",
            Some(&server.approver()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "approval.unknown_status");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_for_another_role_refuses_approvers_without_it() {
    let server = TestServer::start().await;
    let admins_only = HELLO_SDLC.replace(r#"approverRole="Approver""#, r#"approverRole="Admin""#);
    assert_ne!(
        admins_only, HELLO_SDLC,
        "the sample names its approver role"
    );
    server.publish("admins-only", &admins_only).await;
    let run_id = server.start_run("admins-only", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = &run["pendingApprovals"][0];
    assert_eq!(approval["approverRole"], "Admin", "{approval:#}");
    let id = approval["id"].as_str().expect("id");
    let path = format!("/api/approvals/{id}/decision");
    let (status, body) = server
        .call(
            Method::POST,
            &path,
            Some(&server.approver()),
            Some(json!({"decision": "approve"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "approval.wrong_role");
    assert_eq!(
        body["detail"],
        "this approval is for the 'Admin' role, which your token does not carry (nor Admin); \
         ask someone who holds it"
    );
    let still = server
        .get(&format!("/api/approvals/{id}"), &server.admin())
        .await;
    assert_eq!(
        still["status"], "pending",
        "a refused decision changes nothing"
    );
    server
        .post(&path, &server.admin(), json!({"decision": "approve"}))
        .await;
    server.wait_status(&run_id, "completed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_in_a_decision_comment_is_never_kept() {
    let server = TestServer::start().await;
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let id = run["pendingApprovals"][0]["id"].as_str().expect("id");
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let decided = server
        .post(
            &format!("/api/approvals/{id}/decision"),
            &server.approver(),
            json!({"decision": "approve", "comment": format!("ok, deploy with {secret}")}),
        )
        .await;
    assert!(
        decided["comment"]
            .as_str()
            .is_some_and(|c| c.starts_with("ok, deploy with") && c.contains("[REDACTED]")),
        "{decided}"
    );
    server.assert_never_kept(&run_id, secret, &decided).await;
    server.stop().await;
}

/// The sample with `attrs` added to its gate's `approvalTask`.
fn gate_with(attrs: &str) -> String {
    let gate = r#"approverRole="Approver"/>"#;
    assert!(HELLO_SDLC.contains(gate));
    HELLO_SDLC.replace(gate, &format!(r#"approverRole="Approver" {attrs}/>"#))
}

/// A gate that expires with `onExpiry="approve"` goes on without anyone,
/// and a decision that arrives after the expiry is refused with its own code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_gate_takes_its_modelled_outcome_and_refuses_late_decisions() {
    let server = TestServer::start().await;
    let xml = gate_with(r#"expiresAfter="PT1S" onExpiry="approve""#);
    server.publish("hello-sdlc", &xml).await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let id = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let approval = server
        .get(&format!("/api/approvals/{id}"), &server.approver())
        .await;
    assert!(approval["expiresAt"].is_string(), "{approval}");

    server.wait_status(&run_id, "completed").await;
    let (status, body) = server
        .call(
            Method::POST,
            &format!("/api/approvals/{id}/decision"),
            Some(&server.approver()),
            Some(json!({"decision": "reject"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "approval.past_expiry", "{body}");
    let approval = server
        .get(&format!("/api/approvals/{id}"), &server.approver())
        .await;
    assert_eq!(approval["status"], "expired");
    assert!(
        approval["decidedBy"].is_null(),
        "nobody decided: {approval}"
    );
    let audit = server.audit(&run_id).await;
    let expired: Vec<_> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["kind"] == "approval.expired")
        .collect();
    assert_eq!(expired.len(), 1, "{audit}");
    assert_eq!(expired[0]["data"]["outcome"], "approve");
    assert_eq!(expired[0]["actor"], "system");
    server.stop().await;
}

/// Without `onExpiry` an expired gate is a rejection: nobody agreed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_gate_rejects_by_default() {
    let server = TestServer::start().await;
    server
        .publish("hello-sdlc", &gate_with(r#"expiresAfter="PT1S""#))
        .await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    server.wait_status(&run_id, "rejected").await;
    server.stop().await;
}

/// An expiry the product cannot honour is refused at import, with a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_expiry_is_refused_at_import() {
    let server = TestServer::start().await;
    for (attrs, code) in [
        (r#"expiresAfter="four hours""#, "bpmn.invalid_expiry"),
        (r#"onExpiry="approve""#, "bpmn.invalid_expiry"),
        (
            r#"expiresAfter="PT4H" onExpiry="escalate""#,
            "bpmn.invalid_attribute",
        ),
    ] {
        let response = server
            .http
            .post(format!("{}/api/workflows?id=gated", server.url))
            .bearer_auth(server.admin())
            .header("content-type", "application/xml")
            .body(gate_with(attrs))
            .send()
            .await
            .expect("import");
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{attrs}"
        );
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["code"], "workflow.invalid", "{body}");
        let codes: Vec<_> = body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["code"].clone())
            .collect();
        assert_eq!(codes, [json!(code)], "{attrs}: {body}");
    }
    server.stop().await;
}
