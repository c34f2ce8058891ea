//! The role matrix: every endpoint against every role, and every way a token
//! can be bad.

use std::time::Duration;

use agentwerke_auth::{DevConfig, DevKey, Role, mint_dev_token};
use agentwerke_runtime::{Clock, SystemClock};
use agentwerke_types::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::TestServer;

/// Which roles may call an endpoint.
#[derive(Clone, Copy, Debug)]
enum Needs {
    Read,
    Operate,
    Decide,
    Admin,
}

fn allowed(needs: Needs, role: Role) -> bool {
    matches!(
        (needs, role),
        (_, Role::Admin)
            | (Needs::Read, _)
            | (Needs::Operate, Role::Operator)
            | (Needs::Decide, Role::Approver)
    )
}

fn endpoints() -> Vec<(Method, &'static str, Needs, Option<Value>)> {
    vec![
        (Method::GET, "/api/workflows", Needs::Read, None),
        (Method::GET, "/api/workflows/hello-sdlc", Needs::Read, None),
        (
            Method::GET,
            "/api/workflows/hello-sdlc/versions",
            Needs::Read,
            None,
        ),
        (
            Method::GET,
            "/api/workflows/hello-sdlc/versions/1",
            Needs::Read,
            None,
        ),
        (Method::POST, "/api/workflows/validate", Needs::Read, None),
        (Method::POST, "/api/workflows?id=matrix", Needs::Admin, None),
        (
            Method::POST,
            "/api/workflows/hello-sdlc/versions/1/publish",
            Needs::Admin,
            Some(json!({})),
        ),
        (Method::GET, "/api/runs", Needs::Read, None),
        (
            Method::POST,
            "/api/runs",
            Needs::Operate,
            Some(json!({"workflowId": "hello-sdlc"})),
        ),
        (Method::GET, "/api/runs/none", Needs::Read, None),
        (
            Method::POST,
            "/api/runs/none/cancel",
            Needs::Operate,
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/runs/none/retry",
            Needs::Operate,
            Some(json!({})),
        ),
        (Method::GET, "/api/runs/none/audit", Needs::Read, None),
        (
            Method::POST,
            "/api/gateway/evaluate",
            Needs::Admin,
            Some(
                json!({"tool": "knowledge.search", "arguments": {"query": "x"},
                        "agent": "analyst", "task": {"purposeType": "analysis"}}),
            ),
        ),
        (
            Method::POST,
            "/api/gateway/halt",
            Needs::Admin,
            Some(json!({"scope": "agent", "target": "nobody", "reason": "matrix"})),
        ),
        (
            Method::POST,
            "/api/gateway/resume",
            Needs::Admin,
            Some(json!({"scope": "agent", "target": "nobody"})),
        ),
        (Method::GET, "/api/gateway/halts", Needs::Read, None),
        (Method::GET, "/api/agents", Needs::Read, None),
        (Method::GET, "/api/policies", Needs::Read, None),
        (Method::GET, "/api/policies/schema", Needs::Read, None),
        (Method::GET, "/api/policies/1", Needs::Read, None),
        (
            Method::POST,
            "/api/policies",
            Needs::Admin,
            Some(json!({"text": "not cedar"})),
        ),
        (
            Method::POST,
            "/api/policies/1/simulate",
            Needs::Admin,
            Some(json!({})),
        ),
        (
            Method::POST,
            "/api/policies/1/publish",
            Needs::Admin,
            Some(json!({})),
        ),
        (
            Method::GET,
            "/api/runs/none/evidence-pack",
            Needs::Read,
            None,
        ),
        (
            Method::GET,
            "/api/runs/none/evidence-pack/download",
            Needs::Read,
            None,
        ),
        (Method::GET, "/api/evidence/public-key", Needs::Read, None),
        (Method::GET, "/api/evidence/schema", Needs::Read, None),
        (Method::GET, "/api/audit", Needs::Read, None),
        (Method::GET, "/api/audit/export", Needs::Read, None),
        (
            Method::POST,
            "/api/events",
            Needs::Operate,
            Some(json!({"messageName": "m"})),
        ),
        (Method::GET, "/api/approvals", Needs::Read, None),
        (Method::GET, "/api/approvals/none", Needs::Read, None),
        (
            Method::POST,
            "/api/approvals/none/decision",
            Needs::Decide,
            Some(json!({"decision": "approve"})),
        ),
        (Method::GET, "/api/questions", Needs::Read, None),
        (Method::GET, "/api/questions/none", Needs::Read, None),
        (
            Method::POST,
            "/api/questions/none/answer",
            Needs::Operate,
            Some(json!({"answer": "eu"})),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_against_every_role() {
    let server = TestServer::start().await;
    server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let mut failures = Vec::new();
    for role in [Role::Viewer, Role::Operator, Role::Approver, Role::Admin] {
        let token = server.token(&format!("{role:?}").to_lowercase(), &[role]);
        for (method, path, needs, body) in endpoints() {
            let (status, response) = server.call(method.clone(), path, Some(&token), body).await;
            let expected = allowed(needs, role);
            let denied = status == StatusCode::FORBIDDEN && response["code"] == "auth.forbidden";
            if expected == denied || status == StatusCode::UNAUTHORIZED {
                failures.push(format!("{role:?} {method} {path}: {status} {response}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix broken:\n{}",
        failures.join("\n")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_missing_and_bad_tokens() {
    let server = TestServer::start().await;
    let now = SystemClock.now();
    let expired = mint_dev_token(
        &dev_key(&server),
        "late",
        &[Role::Admin],
        Duration::from_secs(60),
        Timestamp::from_millis(now.as_millis() - 3_600_000),
    );
    let stranger = DevKey::load_or_create(&server.dir.path().join("other-key.json")).expect("key");
    let wrong_signature = mint_dev_token(
        &stranger,
        "mallory",
        &[Role::Admin],
        Duration::from_secs(600),
        now,
    );
    let claims = json!({"sub": "mallory", "roles": ["Admin"], "iss": "agentwerke-dev",
        "aud": "agentwerke", "exp": now.as_millis() / 1000 + 600});
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let cases: Vec<(&str, Option<String>, &[&str])> = vec![
        ("no token", None, &["auth.missing_token"]),
        (
            "garbage",
            Some("not-a-jwt".to_owned()),
            &["auth.malformed_token"],
        ),
        ("expired", Some(expired), &["auth.expired"]),
        (
            "wrong signature",
            Some(wrong_signature),
            &["auth.bad_signature", "auth.unknown_key"],
        ),
        (
            "alg none",
            Some(alg_none),
            &["auth.algorithm_not_allowed", "auth.malformed_token"],
        ),
    ];
    for (method, path, _, body) in endpoints() {
        for (name, token, codes) in &cases {
            let (status, response) = server
                .call(method.clone(), path, token.as_deref(), body.clone())
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{name} {method} {path}: {response}"
            );
            let code = response["code"].as_str().unwrap_or_default();
            assert!(codes.contains(&code), "{name} {method} {path}: {response}");
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_token() {
    let server = TestServer::start().await;
    for path in ["/api/health/live", "/api/health/ready"] {
        let (status, _) = server.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    server.stop().await;
}

fn dev_key(server: &TestServer) -> DevKey {
    DevKey::load_or_create(&DevConfig::default().key_path(server.dir.path())).expect("key")
}
