//! How long the web UI takes to answer its pages for a run with many steps.
//!
//! Starts the whole server on a loopback socket (SQLite file, runtime,
//! scripted model), runs a workflow of `BENCH_STEPS` agent tasks one after
//! another (200 by default) to completion, signs in, and times `GET
//! /runs/{id}` (the run page: the run view, its audit log's tool calls, the
//! diagram from the BPMNDI), `GET /runs/{id}/evidence` (the pack gathered,
//! signed and verified), `GET /runs` and `GET /approvals` over HTTP on
//! loopback. Prints p50, p99 and the largest of `BENCH_ROUNDS` requests each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_auth::{AuthConfig, DevKey, Role, Verifier, mint_dev_token};
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::{AgentProfile, SandboxProfile};
use agentwerke_profiles::Catalogue;
use agentwerke_runtime::{
    Clock, GatewayService, GatewaySettings, Runtime, RuntimeDeps, RuntimeOptions, SystemClock,
};
use agentwerke_server::{ApiLimits, AppState, SecretKeeper, app};
use agentwerke_store::{SqliteStore, Store};
use reqwest::redirect;
use serde_json::{Value, json};

/// The allocator the `agentwerke` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let steps = env_number("BENCH_STEPS", 200);
    let rounds = env_number("BENCH_ROUNDS", 50);
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!("sqlite://{}", dir.path().join("ui.db").display()))
            .await
            .expect("store"),
    );
    let mut auth = AuthConfig::default();
    auth.dev.enabled = true;
    let dev_key = DevKey::load_or_create(&auth.dev.key_path(dir.path())).expect("key");
    let verifier = Arc::new(Verifier::new(&auth, Some(&dev_key)).expect("verifier"));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redactor = Redactor::default();
    let keeper = SecretKeeper::new(
        Arc::new(agentwerke_secrets::LocalKeys::load_or_create(dir.path()).expect("keys")),
        Vec::new(),
        Arc::new(agentwerke_secrets::ProcessEnvironment),
        redactor.clone(),
    )
    .expect("keeper");
    let gateway = Arc::new(
        GatewayService::start(
            store.clone(),
            clock.clone(),
            GatewaySettings {
                profiles: Catalogue::from_config(&[AgentProfile::new(
                    "analyst",
                    [SandboxProfile::Offline],
                )]),
                documents: Vec::new(),
                redactor: redactor.clone(),
                escalation_ttl: Duration::from_secs(3600),
                resolver: None,
                allow_private_hosts: Vec::new(),
                exec: agentwerke_gateway::ExecTools::unavailable(),
            },
        )
        .await
        .expect("gateway"),
    );
    let runtime = Runtime::start(
        RuntimeOptions {
            poll_interval: Duration::from_millis(20),
            redactor: redactor.clone(),
            ..RuntimeOptions::default()
        },
        RuntimeDeps {
            store: store.clone(),
            provider: Arc::new(ScriptedProvider::default()),
            clock: clock.clone(),
            gateway: Some(gateway.clone()),
        },
    );
    let state = AppState {
        store,
        verifier,
        runtime: runtime.handle(),
        clock,
        evidence_key: Arc::new(agentwerke_evidence::keys::signing_key_from_seed([7; 32])),
        gateway,
        keeper,
        limits: ApiLimits::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        axum::serve(listener, app(state)).await.expect("serve");
    });

    let admin = mint_dev_token(
        &dev_key,
        "admin",
        &[Role::Admin],
        Duration::from_secs(3600),
        SystemClock.now(),
    );
    let http = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    let run_id = run_to_completion(&http, &url, &admin, steps).await;

    // Sign in as a Viewer, as a browser does.
    let form = http
        .get(format!("{url}/signin"))
        .send()
        .await
        .expect("sign-in page");
    let nonce_cookie = cookie(&form, "aw_signin");
    let html = form.text().await.expect("html");
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a token") + marker.len();
    let nonce = &html[start..start + 64];
    let signed = http
        .post(format!("{url}/signin"))
        .header("cookie", format!("aw_signin={nonce_cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("csrf", nonce), ("name", "vera"), ("role", "Viewer")])
                .expect("a form"),
        )
        .send()
        .await
        .expect("sign in");
    let session = format!("aw_session={}", cookie(&signed, "aw_session"));

    println!("web UI pages, a completed run of {steps} agent steps, {rounds} requests each:");
    for path in [
        format!("/runs/{run_id}"),
        format!("/runs/{run_id}/evidence"),
        "/runs".to_owned(),
        "/approvals".to_owned(),
    ] {
        let mut took = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let began = Instant::now();
            let response = http
                .get(format!("{url}{path}"))
                .header("cookie", &session)
                .send()
                .await
                .expect("page");
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            let body = response.text().await.expect("body");
            took.push(began.elapsed());
            assert!(body.len() > 1000, "{path} answered a page");
        }
        took.sort();
        println!(
            "  GET {:<21} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            path.replace(&run_id, "{id}"),
            ms(took[took.len() / 2]),
            ms(took[(took.len() * 99 / 100).min(took.len() - 1)]),
            ms(took[took.len() - 1]),
        );
    }
    runtime.stop().await;
    server.abort();
}

/// Publishes a workflow of `steps` agent tasks in a row (with its BPMNDI),
/// runs it and waits until it completes; the run's id.
async fn run_to_completion(http: &reqwest::Client, url: &str, token: &str, steps: usize) -> String {
    let xml = chain(steps);
    let imported: Value = http
        .post(format!("{url}/api/workflows?id=chain"))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(xml)
        .send()
        .await
        .expect("import")
        .json()
        .await
        .expect("json");
    let version = imported["version"].as_i64().expect("a version");
    http.post(format!(
        "{url}/api/workflows/chain/versions/{version}/publish"
    ))
    .bearer_auth(token)
    .json(&json!({}))
    .send()
    .await
    .expect("publish");
    let started: Value = http
        .post(format!("{url}/api/runs"))
        .bearer_auth(token)
        .json(&json!({"workflowId": "chain", "inputs": {"title": "bench"}}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let run_id = started["runId"].as_str().expect("a run").to_owned();
    let began = Instant::now();
    loop {
        let run: Value = http
            .get(format!("{url}/api/runs/{run_id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        match run["status"].as_str() {
            Some("completed") => break,
            Some("running") => {}
            other => panic!("the run stopped as {other:?}"),
        }
        assert!(
            began.elapsed() < Duration::from_secs(600),
            "the run did not complete"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    run_id
}

/// BPMN: Start, `steps` agent tasks, End, laid out in rows of ten.
fn chain(steps: usize) -> String {
    let mut process = String::from(r#"<startEvent id="Start"/>"#);
    let mut shapes = String::from(
        r#"<bpmndi:BPMNShape bpmnElement="Start"><dc:Bounds x="0" y="22" width="36" height="36"/></bpmndi:BPMNShape>"#,
    );
    let mut previous = "Start".to_owned();
    for n in 1..=steps {
        let id = format!("T{n}");
        process.push_str(&format!(
            r#"<sequenceFlow id="f{n}" sourceRef="{previous}" targetRef="{id}"/>
<serviceTask id="{id}" name="Step {n}"><extensionElements><aw:agentTask agent="analyst" purposeType="analysis" permissionLevel="read-only" sandboxProfile="offline" environment="staging" prompt="Step {n} of {{{{input.title}}}}"/></extensionElements></serviceTask>"#
        ));
        let (x, y) = (60 + (n - 1) % 10 * 140, (n - 1) / 10 * 120);
        shapes.push_str(&format!(
            r#"<bpmndi:BPMNShape bpmnElement="{id}"><dc:Bounds x="{x}" y="{y}" width="100" height="80"/></bpmndi:BPMNShape>
<bpmndi:BPMNEdge bpmnElement="f{n}"><di:waypoint x="{x}" y="{}"/><di:waypoint x="{}" y="{}"/></bpmndi:BPMNEdge>"#,
            y + 40,
            x + 100,
            y + 40
        ));
        previous = id;
    }
    process.push_str(&format!(
        r#"<sequenceFlow id="fEnd" sourceRef="{previous}" targetRef="End"/><endEvent id="End"/>"#
    ));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="d" targetNamespace="https://example.test">
  <process id="chain" isExecutable="true">{process}</process>
  <bpmndi:BPMNDiagram><bpmndi:BPMNPlane bpmnElement="chain">{shapes}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</definitions>"#
    )
}

fn cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
