//! The gateway demo against real HTTP model providers (a local fake of
//! each wire format): the run ends exactly as with the scripted provider,
//! and the evidence pack carries the provider's token counts, latency and
//! the key's secret by name and fingerprint, never its value.

use std::sync::Arc;

use agentwerke_agents::provider::ModelProvider;
use agentwerke_providers::fake::{FakeProvider, FakeTurn, Reply, Wire};
use agentwerke_providers::{
    KeyResolver, ProviderKind, ProviderRouter, ProviderSettings, check_all,
};
use reqwest::Method;
use serde_json::{Value, json};

use crate::gateway::{call, calls};
use crate::harness::TestServer;

const DEMO: &str = include_str!("../../../../examples/gateway-demo.bpmn");
const KEY: &str = "sk-e2e-provider-key-0123456789";

/// A provider of `wire` at `fake`, keyed by the stored secret `model_key`.
fn settings(wire: Wire, fake: &FakeProvider) -> ProviderSettings {
    ProviderSettings {
        name: "remote".into(),
        kind: match wire {
            Wire::OpenAi => ProviderKind::Openai,
            Wire::Anthropic => ProviderKind::Anthropic,
        },
        base_url: Some(fake.base_url()),
        api_key: Some("secret:model_key".into()),
        api_key_env: None,
        api_key_header: None,
        model: Some("test-model".into()),
        timeout_secs: Some(60),
        max_retries: Some(0),
        default: false,
        stream: None,
        max_tokens: None,
        anthropic_version: None,
    }
}

/// A server whose model calls go to `settings` (as `agentwerke serve`
/// builds its providers), with the key stored as the secret `model_key`;
/// also returns the key's fingerprint.
async fn serve(settings: ProviderSettings) -> (TestServer, String) {
    let specs = check_all(&[settings]).expect("settings");
    let server = TestServer::start_with_provider(Box::new(move |secrets, redactor| {
        let keys = KeyResolver::new(
            Some(secrets),
            Arc::new(agentwerke_secrets::ProcessEnvironment),
            redactor,
        );
        let scripted: Arc<dyn ModelProvider> =
            Arc::new(agentwerke_agents::scripted::ScriptedProvider::default());
        Arc::new(ProviderRouter::build(&specs, &keys, scripted).expect("providers"))
    }))
    .await;
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/model_key",
            Some(&server.admin()),
            Some(json!({"value": KEY})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let fingerprint = body["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    (server, fingerprint)
}

async fn gateway_demo_runs_against(wire: Wire) {
    let fake = FakeProvider::start(wire, Some(KEY)).await;
    // What the scripted release assistant does, as a model would answer.
    fake.push(Reply::Turn(
        // The second call names a tool the task denies (so it is not
        // offered), as a model that guesses might.
        FakeTurn::calls([
            (
                "call_a",
                "artifact_write",
                json!({"path": "notes/2.4.md", "content": "Release 2.4: audit export, faster search."}),
            ),
            (
                "call_b",
                "http_request",
                json!({"method": "GET", "url": "https://status.example.com/api"}),
            ),
            (
                "call_c",
                "artifact_write",
                json!({"path": "production/notes/2.4.md", "content": "Release 2.4 is live."}),
            ),
        ])
        .usage(812, 96, 512),
    ));
    fake.push(Reply::Turn(
        FakeTurn::text("Release notes for 2.4 drafted and published.").usage(1024, 11, 768),
    ));
    let mut settings = settings(wire, &fake);
    settings.max_retries = Some(1);
    settings.stream = Some(true);
    settings.default = true;
    let (server, fingerprint) = serve(settings).await;

    server.publish("gateway-demo", DEMO).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.4"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("http_request", "reject", "blocked", false),
            call("artifact.write", "escalate", "pending_approval", false),
        ]
    );
    let approval = &run["pendingApprovals"][0];
    assert_eq!(approval["arguments"]["path"], "production/notes/2.4.md");
    let id = approval["id"].as_str().expect("id").to_owned();
    server
        .post(
            &format!("/api/approvals/{id}/decision"),
            &server.release_manager(),
            json!({"decision": "approve"}),
        )
        .await;
    let run = server.wait_status(&run_id, "completed").await;
    assert_eq!(
        calls(&server, &run_id).await,
        [
            call("artifact.write", "allow", "executed", false),
            call("http_request", "reject", "blocked", false),
            call("artifact.write", "escalate", "pending_approval", false),
            call("artifact.write", "escalate", "executed", true),
        ]
    );
    assert_eq!(
        run["steps"][0]["output"]["text"],
        "Release notes for 2.4 drafted and published."
    );

    // The second request carried the three results back, the rejected one
    // with its reason, in the wire's own shape.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    // The task denies `http.*`, so the model was never offered it: the call
    // a model makes anyway is refused under the name it used.
    let offered = requests[0].body["tools"].to_string();
    assert!(offered.contains("artifact_write"), "{offered}");
    assert!(!offered.contains("http_request"), "{offered}");
    let sent = requests[1].body.to_string();
    assert!(
        sent.contains("call_b") && sent.contains("rejected"),
        "{sent}"
    );

    let pack = server.evidence_pack(&run_id).await;
    let usage = pack["modelUsage"].as_array().expect("modelUsage");
    assert_eq!(usage.len(), 2, "{usage:#?}");
    let counts: Vec<(u64, u64, u64)> = usage
        .iter()
        .map(|u| {
            (
                u["inputTokens"].as_u64().unwrap_or_default(),
                u["outputTokens"].as_u64().unwrap_or_default(),
                u["cachedInputTokens"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(counts, [(812, 96, 512), (1024, 11, 768)]);
    // Priced from the table: cached prompt tokens at the cached price, the
    // rest of the prompt at the input price, completion at the output price.
    let price = crate::harness::test_prices();
    let price = price.get("test-model").expect("price");
    let expected = |input: f64, output: f64, cached: f64| {
        ((input - cached) * price.input
            + cached * price.cached_input.unwrap_or(price.input)
            + output * price.output)
            / 1e6
    };
    let costs: Vec<f64> = usage
        .iter()
        .map(|u| u["costUsd"].as_f64().expect("costUsd"))
        .collect();
    for (cost, want) in costs
        .iter()
        .zip([expected(812.0, 96.0, 512.0), expected(1024.0, 11.0, 768.0)])
    {
        assert!((cost - want).abs() < 1e-12, "{costs:?}");
    }
    for u in usage {
        assert_eq!(u["provider"], "remote");
        assert_eq!(u["model"], "test-model");
        assert_eq!(
            u["key"],
            json!({"name": "model_key", "fingerprint": fingerprint})
        );
        assert!(u["latencyMs"].as_u64().is_some(), "{u}");
    }
    let bytes = serde_json::to_vec(&pack).expect("bytes");
    assert!(agentwerke_evidence::verify(&bytes, None).is_valid());
    assert!(!String::from_utf8_lossy(&bytes).contains(KEY));
    let run_text = serde_json::to_string(&run).expect("run");
    assert!(!run_text.contains(KEY));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_demo_runs_against_an_openai_compatible_provider() {
    gateway_demo_runs_against(Wire::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_demo_runs_against_an_anthropic_provider() {
    gateway_demo_runs_against(Wire::Anthropic).await;
}

/// A provider that refuses the key fails the step with its code, and the
/// run shows it; nothing of the key is anywhere in the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_fails_the_step_with_model_auth_failed() {
    let fake = FakeProvider::start(Wire::OpenAi, Some("the-right-key")).await;
    let (server, _) = serve(settings(Wire::OpenAi, &fake)).await;
    server.publish("gateway-demo", DEMO).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.4"}))
        .await;
    let run = server.wait_status(&run_id, "failed").await;
    let error: &Value = &run["steps"][0]["error"];
    assert_eq!(error["code"], "model.auth_failed", "{run:#}");
    assert!(!run.to_string().contains(KEY));
    server.stop().await;
}

/// The model's text reaches the run's stream as `text` events while the
/// step runs, and a known secret in it never does, although the provider
/// sent it split over several pieces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_models_text_streams_live_and_redacted() {
    let fake = FakeProvider::start(Wire::OpenAi, Some(KEY)).await;
    let planted = "pl4nted-l1ve-s3cret-0123456789";
    let filler = "and the rest of the analysis goes on ".repeat(20);
    let reply = format!("Analysis done. The token {planted} must not leak, {filler}END-OF-REPLY");
    {
        let reply = reply.clone();
        fake.fallback(move |_| {
            Reply::Slow(
                std::time::Duration::from_millis(1500),
                FakeTurn::text(reply.clone()).usage(50, 400, 0),
            )
        });
    }
    let (server, _) = serve(settings(Wire::OpenAi, &fake)).await;
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/planted",
            Some(&server.admin()),
            Some(json!({"value": planted})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "Live text"}))
        .await;
    let response = server
        .http
        .get(format!("{}/api/runs/{run_id}/stream", server.url))
        .bearer_auth(server.admin())
        .send()
        .await
        .expect("stream");
    assert!(response.status().is_success());
    use eventsource_stream::Eventsource;
    use futures::StreamExt;
    let mut events = response.bytes_stream().eventsource();
    let mut text = String::new();
    let mut pieces = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !text.contains("END-OF-REPLY") {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the text in time")
            .expect("an event")
            .expect("a readable event");
        if event.event == "text" {
            let piece: Value = serde_json::from_str(&event.data).expect("json");
            assert_eq!(piece["nodeId"], "Analyze");
            assert!(piece["workId"].as_str().is_some());
            let piece = piece["text"].as_str().expect("text");
            assert!(!piece.contains("pl4nted"), "{piece}");
            text.push_str(piece);
            pieces += 1;
        }
    }
    // The start went out before the end: streamed, not sent at the end.
    assert!(pieces >= 2, "{pieces}");
    assert_eq!(text, reply.replace(planted, "[REDACTED]"));
    server.stop().await;
}

/// Cancelling a run drops its model call in flight at once: the step ends
/// with `model.cancelled` long before the slow provider would answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_aborts_its_model_call() {
    let fake = FakeProvider::start(Wire::OpenAi, Some(KEY)).await;
    fake.fallback(|_| {
        Reply::Slow(
            std::time::Duration::from_secs(60),
            FakeTurn::text("too late"),
        )
    });
    let (server, _) = serve(settings(Wire::OpenAi, &fake)).await;
    server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "Cancel me"}))
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while fake.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the model was never asked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    server
        .post(
            &format!("/api/runs/{run_id}/cancel"),
            &server.operator(),
            json!({"reason": "changed my mind"}),
        )
        .await;
    server.wait_status(&run_id, "cancelled").await;
    let failed = loop {
        let audit = server.audit(&run_id).await;
        let failed: Vec<Value> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["kind"] == "step.failed")
            .cloned()
            .collect();
        if !failed.is_empty() {
            break failed;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the model call was not aborted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(failed[0]["data"]["code"], "model.cancelled", "{failed:#?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(fake.requests().len(), 1, "not retried");
    server.stop().await;
}

/// A rate-limited first attempt, then an answer: the step goes on, and the
/// evidence shows the retry and the latency it cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_call_shows_its_retries_in_the_evidence() {
    let fake = FakeProvider::start(Wire::Anthropic, Some(KEY)).await;
    fake.push(Reply::Error {
        status: 429,
        retry_after: Some("1".into()),
        kind: "rate_limit_error".into(),
        message: "Number of request tokens has exceeded your per-minute rate limit".into(),
    });
    fake.push(Reply::Turn(FakeTurn::text("Risks: none.").usage(64, 4, 0)));
    let mut settings = settings(Wire::Anthropic, &fake);
    settings.name = "claude".into();
    settings.max_retries = Some(2);
    settings.stream = Some(false);
    settings.max_tokens = Some(1024);
    let (server, _) = serve(settings).await;
    server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "Retry"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(run["steps"][0]["output"]["text"], "Risks: none.");
    let pack = server.evidence_pack(&run_id).await;
    let usage = &pack["modelUsage"][0];
    assert_eq!(usage["provider"], "claude");
    assert_eq!(usage["retries"], 1, "{usage}");
    assert!(
        usage["latencyMs"].as_u64().is_some_and(|ms| ms >= 1000),
        "{usage}"
    );
    assert_eq!(
        (
            usage["inputTokens"].as_u64(),
            usage["outputTokens"].as_u64()
        ),
        (Some(64), Some(4))
    );
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.requests()[0].body["max_tokens"], 1024);
    server.stop().await;
}
