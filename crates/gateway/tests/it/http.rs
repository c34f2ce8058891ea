//! `http.request` against a real HTTP server on 127.0.0.1.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get};
use serde_json::{Value, json};

use agentwerke_gateway::tools::{Builtins, HttpOptions, HttpRequest};
use agentwerke_gateway::{
    CallStatus, Halts, Idempotency, Outcome, PermissionLevel as L, Reason, SandboxProfile as P,
    Tool, ToolContext, ToolError, ToolRegistry,
};
use agentwerke_types::ErrorCode;

use crate::support::{call, gateway_with, task};

/// Starts the fake server and returns its base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/big", get(|| async { "x".repeat(5000) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/redirect",
            get(|| async { Redirect::to("http://169.254.169.254/") }),
        )
        .route(
            "/echo",
            any(
                |method: Method, headers: HeaderMap, body: Bytes| async move {
                    let ct = headers
                        .get(header::CONTENT_TYPE)
                        .map(|v| v.to_str().unwrap_or("").to_owned());
                    let probe = headers
                        .get("x-probe")
                        .map(|v| v.to_str().unwrap_or("").to_owned());
                    (
                        StatusCode::CREATED,
                        axum::Json(json!({
                            "method": method.as_str(),
                            "contentType": ct,
                            "probe": probe,
                            "body": String::from_utf8_lossy(&body),
                        })),
                    )
                        .into_response()
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn ctx() -> ToolContext {
    ToolContext {
        run_id: "r".to_owned(),
        node_id: "n".to_owned(),
        agent: "a".to_owned(),
        attempt: 1,
        call_id: None,
        secrets: agentwerke_gateway::InjectedSecrets::none(),
        sandbox: agentwerke_gateway::StepSandbox::new(
            agentwerke_gateway::SandboxProfile::Offline,
            agentwerke_gateway::ExecutionMode::Local,
        ),
    }
}

/// Safe methods are sent again after a lost answer; every other method
/// only with a human.
#[test]
fn only_safe_methods_may_be_sent_again() {
    let http = tool(1_000, 1_000);
    for (method, idempotency) in [
        (None, Idempotency::Idempotent),
        (Some("GET"), Idempotency::Idempotent),
        (Some("HEAD"), Idempotency::Idempotent),
        (Some("POST"), Idempotency::NotIdempotent),
        (Some("PUT"), Idempotency::NotIdempotent),
        (Some("PATCH"), Idempotency::NotIdempotent),
        (Some("DELETE"), Idempotency::NotIdempotent),
    ] {
        let mut args = serde_json::json!({"url": "https://example.test/"});
        if let Some(method) = method {
            args["method"] = method.into();
        }
        assert_eq!(http.idempotency(&args), idempotency, "{method:?}");
    }
}

/// A tool whose operator lets `127.0.0.1`, where the fake servers
/// listen, reach the loopback address.
fn tool(timeout_ms: u64, max_bytes: usize) -> HttpRequest {
    HttpRequest::new(HttpOptions {
        timeout: Duration::from_millis(timeout_ms),
        max_response_bytes: max_bytes,
        allow_private_hosts: vec!["127.0.0.1".to_owned()],
        ..HttpOptions::default()
    })
    .unwrap()
}

/// A tool with the default egress rules: public addresses only.
fn strict_tool() -> HttpRequest {
    HttpRequest::new(HttpOptions {
        timeout: Duration::from_millis(5000),
        ..HttpOptions::default()
    })
    .unwrap()
}

fn refused(result: Result<Value, ToolError>) -> agentwerke_gateway::egress::Refused {
    match result {
        Err(ToolError::EgressRefused(refused)) => refused,
        other => panic!("not refused: {other:?}"),
    }
}

/// A live server on 127.0.0.1 is out of reach however the URL names it:
/// by IP, by a name that resolves to it, in IPv6-mapped form, and in the
/// decimal, hex and octal forms the URL parser turns into 127.0.0.1.
#[tokio::test]
async fn a_loopback_server_is_refused_however_it_is_named() {
    use agentwerke_gateway::egress::AddressClass;
    let base = serve().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    // The server answers when the operator allows the host.
    let out = request(&tool(5000, 1024), json!({"url": format!("{base}/hello")}))
        .await
        .unwrap();
    assert_eq!(out["body"], "hello");

    let strict = strict_tool();
    for (host, named) in [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("LOCALHOST.", "localhost"),
        ("[::ffff:127.0.0.1]", "[::ffff:7f00:1]"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
    ] {
        let url = format!("http://{host}:{port}/hello");
        let refused = refused(request(&strict, json!({ "url": url })).await);
        assert_eq!(refused.class, AddressClass::Loopback, "{host}");
        assert_eq!(refused.host, named.trim_matches(['[', ']']), "{host}");
        let error = ToolError::EgressRefused(refused);
        assert_eq!(error.code(), "gateway.egress.address_refused");
        assert!(error.to_string().contains("loopback"), "{error}");
    }
}

/// Internal ranges beyond loopback are refused before any packet is sent.
#[tokio::test]
async fn private_link_local_and_unique_local_literals_are_refused() {
    use agentwerke_gateway::egress::AddressClass as C;
    let strict = strict_tool();
    for (url, class) in [
        ("http://10.1.2.3/", C::Private),
        ("http://172.16.0.1/", C::Private),
        ("https://192.168.1.1/", C::Private),
        ("http://169.254.169.254/latest/meta-data/", C::LinkLocal),
        ("http://[fd00::1]/", C::UniqueLocal),
        ("http://[fe80::1]/", C::LinkLocal),
        ("http://[::ffff:10.0.0.1]/", C::Private),
        ("http://[64:ff9b::a9fe:a9fe]/", C::LinkLocal),
        ("http://[::]/", C::Unspecified),
        ("http://0.0.0.0/", C::Unspecified),
    ] {
        let refused = refused(request(&strict, json!({ "url": url })).await);
        assert_eq!(refused.class, class, "{url}");
    }
}

/// The allowance is per host: allowing `127.0.0.1` does not let a name
/// that resolves to it through.
#[tokio::test]
async fn allowing_one_host_does_not_allow_another_name_for_it() {
    let base = serve().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let refused = refused(
        request(
            &tool(5000, 1024),
            json!({ "url": format!("http://localhost:{port}/hello") }),
        )
        .await,
    );
    assert_eq!(refused.host, "localhost");
}

/// Through the gateway the refusal is a failed call whose record names
/// the code, the host and the class, and never the query string.
#[tokio::test]
async fn the_call_record_shows_the_refusal() {
    let base = serve().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let c = call(
        "http.request",
        json!({"url": format!("http://localhost:{port}/hello?token=s3cr3t")}),
        task(L::Full, P::RepoRead),
    );
    let gateway = gateway_with(
        ToolRegistry::builtin(Builtins::in_memory()).unwrap(),
        Some(
            r#"@id("localhost") @rationale("the test server")
               permit(principal, action == Action::"http.request", resource == Target::"localhost");"#,
        ),
    );
    let ex = gateway.execute(&c, &Halts::none()).await;
    assert_eq!(
        ex.record.status,
        CallStatus::Failed,
        "{}",
        ex.decision.rationale
    );
    let error = ex.record.error.clone().unwrap();
    assert!(
        error.starts_with("gateway.egress.address_refused: "),
        "{error}"
    );
    assert!(
        error.contains("'localhost'") && error.contains("loopback"),
        "{error}"
    );
    assert!(!error.contains("s3cr3t"), "{error}");
    let Outcome::Failed { code, .. } = &ex.outcome else {
        panic!("not failed: {:?}", ex.outcome)
    };
    assert_eq!(code, "gateway.egress.address_refused");
}

async fn request(tool: &HttpRequest, args: Value) -> Result<Value, ToolError> {
    tool.execute(&args, &ctx()).await
}

#[tokio::test]
async fn get_returns_status_headers_and_body() {
    let base = serve().await;
    let out = request(&tool(5000, 1024), json!({"url": format!("{base}/hello")}))
        .await
        .unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(out["body"], "hello");
    assert_eq!(out["truncated"], false);
    assert!(
        out["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn methods_headers_and_json_bodies_are_sent() {
    let base = serve().await;
    let t = tool(5000, 1024);
    let out = request(
        &t,
        json!({"url": format!("{base}/echo"), "method": "POST", "headers": {"x-probe": "1"}, "body": {"a": 1}}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 201);
    let echoed: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        echoed,
        json!({"method": "POST", "contentType": "application/json", "probe": "1", "body": "{\"a\":1}"})
    );
    let out = request(
        &t,
        json!({"url": format!("{base}/echo"), "method": "DELETE"}),
    )
    .await
    .unwrap();
    let echoed: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed["method"], "DELETE");
}

#[tokio::test]
async fn responses_are_cut_at_the_size_limit() {
    let base = serve().await;
    let out = request(&tool(5000, 1000), json!({"url": format!("{base}/big")}))
        .await
        .unwrap();
    assert_eq!(out["bytes"], 1000);
    assert_eq!(out["truncated"], true);
    assert_eq!(out["body"].as_str().unwrap().len(), 1000);
}

#[tokio::test]
async fn slow_servers_time_out() {
    let base = serve().await;
    let started = std::time::Instant::now();
    let err = request(&tool(200, 1024), json!({"url": format!("{base}/slow")}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "gateway.tool.timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// The policy looked at one host; a redirect must not take the call to
/// another.
#[tokio::test]
async fn redirects_are_not_followed() {
    let base = serve().await;
    let out = request(
        &tool(5000, 1024),
        json!({"url": format!("{base}/redirect")}),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], 303);
    assert_eq!(out["headers"]["location"], "http://169.254.169.254/");
}

#[tokio::test]
async fn connection_failures_are_http_errors_without_the_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = request(
        &tool(2000, 1024),
        json!({"url": format!("http://{addr}/x?token=s3cr3t")}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "gateway.tool.http");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
}

/// End to end through the gateway: the default policies refuse loopback
/// (SSRF); a policy naming the host lets the same call through.
#[tokio::test]
async fn through_the_gateway_policy_decides_by_host() {
    let base = serve().await;
    let registry = crate::support::builtins_reaching_loopback;
    let c = call(
        "http.request",
        json!({"url": format!("{base}/hello")}),
        task(L::Full, P::RepoRead),
    );

    let default = gateway_with(registry(), None);
    let ex = default.execute(&c, &Halts::none()).await;
    assert_eq!(ex.decision.reason, Reason::Forbidden);
    assert_eq!(ex.decision.determining_policies, ["forbid-internal-hosts"]);

    let local = gateway_with(
        registry(),
        Some(
            r#"@id("local-fake") @rationale("the test server")
               permit(principal, action == Action::"http.request", resource == Target::"127.0.0.1");"#,
        ),
    );
    let ex = local.execute(&c, &Halts::none()).await;
    assert_eq!(
        ex.record.status,
        CallStatus::Executed,
        "{}",
        ex.decision.rationale
    );
    let Outcome::Executed { output } = ex.outcome else {
        panic!("not executed")
    };
    assert_eq!(output["body"], "hello");
}
