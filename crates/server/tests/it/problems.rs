//! Every refusal is `application/problem+json` with a code from the pinned
//! list: unparseable queries and paths, unknown routes and methods, bodies of
//! the wrong type or shape, and missing resources.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{HELLO_SDLC, TestServer};

/// Sends a request and returns status, content type, `Allow` and the body.
async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, String, Option<String>, Value) {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(server.admin());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.body(body.to_owned()).send().await.expect("send");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").unwrap_or_default();
    let allow = header("allow");
    let status = response.status();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        content_type,
        allow,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn assert_problem(
    what: &str,
    got: &(StatusCode, String, Option<String>, Value),
    status: StatusCode,
    code: &str,
) {
    let (got_status, content_type, _, body) = got;
    assert_eq!(*got_status, status, "{what}: {body}");
    assert_eq!(content_type, "application/problem+json", "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert_eq!(body["status"], status.as_u16(), "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unparseable_queries_and_paths_are_problems_naming_the_parameter() {
    let server = TestServer::start().await;
    for path in [
        "/api/runs?limit=abc",
        "/api/approvals?limit=-1",
        "/api/questions?limit=1e3",
    ] {
        let got = raw(&server, Method::GET, path, None, "").await;
        assert_problem(path, &got, StatusCode::BAD_REQUEST, "request.invalid_query");
        assert!(
            got.3["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("limit"),
            "{path}: {}",
            got.3
        );
    }
    for path in [
        "/api/workflows/hello/versions/abc",
        "/api/policies/latest",
        "/api/policies/1.5/publish",
    ] {
        let method = if path.ends_with("publish") {
            Method::POST
        } else {
            Method::GET
        };
        let got = raw(&server, method, path, None, "").await;
        assert_problem(path, &got, StatusCode::BAD_REQUEST, "request.invalid_path");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_are_problems_and_405_says_what_is_allowed() {
    let server = TestServer::start().await;
    let got = raw(&server, Method::GET, "/api/nothing-here", None, "").await;
    assert_problem("unknown route", &got, StatusCode::NOT_FOUND, "api.no_route");

    let got = raw(&server, Method::DELETE, "/api/runs", None, "").await;
    assert_problem(
        "DELETE /api/runs",
        &got,
        StatusCode::METHOD_NOT_ALLOWED,
        "api.method_not_allowed",
    );
    let allow = got.2.expect("an Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    let got = raw(&server, Method::PUT, "/api/approvals/x/decision", None, "").await;
    assert_problem(
        "PUT decision",
        &got,
        StatusCode::METHOD_NOT_ALLOWED,
        "api.method_not_allowed",
    );
    assert_eq!(got.2.as_deref(), Some("POST"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bpmn_import_that_is_not_xml_is_415_and_stores_nothing() {
    let server = TestServer::start().await;
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let got = raw(
            &server,
            Method::POST,
            "/api/workflows?id=hello",
            content_type,
            HELLO_SDLC,
        )
        .await;
        assert_problem(
            &format!("{content_type:?}"),
            &got,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
        );
    }
    let workflows = server.get("/api/workflows", &server.admin()).await;
    assert_eq!(workflows["items"], json!([]));
    // The same document as XML is taken.
    let got = raw(
        &server,
        Method::POST,
        "/api/workflows?id=hello",
        Some("application/xml"),
        HELLO_SDLC,
    )
    .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_the_wrong_type_names_the_field() {
    let server = TestServer::start().await;
    let got = raw(
        &server,
        Method::POST,
        "/api/approvals/any/decision",
        Some("application/json"),
        r#"{"decision":1}"#,
    )
    .await;
    assert_problem(
        "decision: 1",
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request.invalid_body",
    );
    assert_eq!(got.3["errors"][0]["pointer"], "/decision", "{}", got.3);

    let got = raw(
        &server,
        Method::POST,
        "/api/gateway/halt",
        Some("application/json"),
        r#"{"scope":"agent","target":7,"reason":"x"}"#,
    )
    .await;
    assert_problem(
        "target: 7",
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request.invalid_body",
    );
    assert_eq!(got.3["errors"][0]["pointer"], "/target", "{}", got.3);

    let got = raw(
        &server,
        Method::POST,
        "/api/runs",
        Some("application/json"),
        "{\"workflowId\": ",
    )
    .await;
    assert_problem(
        "truncated",
        &got,
        StatusCode::BAD_REQUEST,
        "request.malformed_json",
    );

    let got = raw(
        &server,
        Method::POST,
        "/api/runs",
        Some("text/plain"),
        r#"{"workflowId":"x"}"#,
    )
    .await;
    assert_problem(
        "text/plain",
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.unsupported_media_type",
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_missing_resource_has_the_one_not_found_code() {
    let server = TestServer::start().await;
    for (method, path) in [
        (Method::GET, "/api/runs/nope"),
        (Method::GET, "/api/approvals/nope"),
        (Method::GET, "/api/questions/nope"),
        (Method::GET, "/api/workflows/nope"),
        (Method::GET, "/api/policies/999"),
        // Missing in the store itself, not in a handler's lookup.
        (Method::POST, "/api/workflows/nope/versions/1/publish"),
    ] {
        let got = raw(
            &server,
            method.clone(),
            path,
            Some("application/json"),
            "{}",
        )
        .await;
        assert_problem(
            &format!("{method} {path}"),
            &got,
            StatusCode::NOT_FOUND,
            "api.not_found",
        );
    }
    server.stop().await;
}
