//! `secret:NAME` references in tool calls, end to end: a run's
//! `http.request` sends the stored value to a real HTTP server, the next
//! call after a rotation sends the new one, and neither value appears in
//! any answer, the journal, the audit or the evidence; an agent not
//! granted the secret is refused before anything is resolved.

use std::sync::{Arc, Mutex};

use agentwerke_store::{SqliteStore, Store};
use axum::http::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, one_agent_task};

const LOOPBACK: &str = r#"
@id("permit-test-server") @rationale("The test's own API.")
permit (principal, action == Action::"http.request", resource == Target::"127.0.0.1");
"#;

type Seen = Arc<Mutex<Vec<String>>>;

/// A server keeping the `Authorization` header of every request.
async fn api() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        log.lock().expect("log").push(auth);
        "ok"
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (url, seen)
}

/// Node `Call` makes one request with the credential as a reference, then
/// answers.
fn scripts(base: &str) -> String {
    format!(
        r#"
[[nodes.Call]]
tool_calls = [{{ name = "http.request", arguments = {{ url = "{base}/Call", secret_headers = {{ Authorization = "Bearer secret:github_token" }} }} }}]
[[nodes.Call]]
reply = "done"
"#
    )
}

async fn set_secret(server: &TestServer, value: &str) -> Value {
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/github_token",
            Some(&server.admin()),
            Some(json!({"value": value})),
        )
        .await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "{body}"
    );
    body
}

async fn publish(server: &TestServer, id: &str, agent: &str, node: &str) {
    let xml = one_agent_task(id, node, agent, "analysis");
    server.publish(id, &xml).await;
}

/// What a finished run shows and keeps: the run view, its audit, its
/// evidence pack and its tool-call journal.
async fn kept(server: &TestServer, run_id: &str) -> Vec<(String, String)> {
    let run = server.wait_status(run_id, "completed").await;
    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        server.dir.path().join("aw.db").display()
    ))
    .await
    .expect("store");
    let journal = store.tool_calls_for_run(run_id).await.expect("journal");
    vec![
        ("run".to_owned(), run.to_string()),
        ("audit".to_owned(), server.audit(run_id).await.to_string()),
        (
            "pack".to_owned(),
            server.evidence_pack(run_id).await.to_string(),
        ),
        ("journal".to_owned(), format!("{journal:?}")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_sends_the_current_value_and_keeps_only_name_and_fingerprint() {
    let (base, seen) = api().await;
    let server = TestServer::start_with_scripts(&scripts(&base)).await;
    let admin = server.admin();
    let draft = server
        .post("/api/policies", &admin, json!({"text": LOOPBACK}))
        .await;
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &format!("/api/policies/{version}/publish"),
            &admin,
            json!({}),
        )
        .await;
    publish(&server, "first_flow", "integrator", "Call").await;
    // The same node and arguments as the first run's call: a call of
    // another run is a call of its own, sent, not the first one replayed.
    publish(&server, "second_flow", "integrator", "Call").await;
    publish(&server, "ungranted_flow", "release-assistant", "Call").await;

    let first = "ghp-first-7f3a9c1e5b";
    let second = "ghp-second-2d8e4f6a0c";
    let set = set_secret(&server, first).await;
    let first_print = set["fingerprint"].as_str().expect("fingerprint").to_owned();
    let run_one = server.start_run("first_flow", json!({})).await;
    let mut answers = kept(&server, &run_one).await;

    // Rotated while the server runs: the next run's call sends the new value.
    let rotated = set_secret(&server, second).await;
    let second_print = rotated["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_ne!(first_print, second_print);
    let run_two = server.start_run("second_flow", json!({})).await;
    answers.extend(kept(&server, &run_two).await);
    assert_eq!(
        *seen.lock().expect("log"),
        [format!("Bearer {first}"), format!("Bearer {second}")],
        "the API received each value, resolved when the call was sent"
    );

    // The evidence names the secret and the fingerprint each call sent.
    for (run_id, print) in [(&run_one, &first_print), (&run_two, &second_print)] {
        let pack = server.evidence_pack(run_id).await;
        assert_eq!(
            pack["toolCalls"][0]["secrets"],
            json!([{"name": "github_token", "fingerprint": print}]),
            "{pack:#}"
        );
        let audit = server.audit(run_id).await.to_string();
        assert!(
            audit.contains(print.as_str()),
            "the audit names the fingerprint"
        );
    }

    // An agent not granted the secret: refused, nothing sent.
    let refused = server.start_run("ungranted_flow", json!({})).await;
    answers.extend(kept(&server, &refused).await);
    let audit = server.audit(&refused).await.to_string();
    assert!(audit.contains("secret_reference_not_granted"), "{audit}");
    assert_eq!(seen.lock().expect("log").len(), 2, "nothing more was sent");

    answers.push(("set".to_owned(), set.to_string()));
    answers.push(("rotated".to_owned(), rotated.to_string()));
    answers.push((
        "settings".to_owned(),
        server.get("/api/settings", &admin).await.to_string(),
    ));
    for (what, text) in &answers {
        for value in [first, second] {
            assert!(!text.contains(value), "the {what} holds a secret value");
        }
    }
}

/// Rotated while a run uses it: the step's next call sends the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_while_a_run_waits_reaches_its_next_call() {
    let (base, seen) = api().await;
    let scripts = format!(
        r#"
[[nodes.Call]]
tool_calls = [{{ name = "http.request", arguments = {{ url = "{base}/before", secret_headers = {{ Authorization = "Bearer secret:github_token" }} }} }}]
[[nodes.Call]]
tool_calls = [{{ name = "human.ask", arguments = {{ question = "Go on?" }} }}]
[[nodes.Call]]
tool_calls = [{{ name = "http.request", arguments = {{ url = "{base}/after", secret_headers = {{ Authorization = "Bearer secret:github_token" }} }} }}]
[[nodes.Call]]
reply = "done"
"#
    );
    let server = TestServer::start_with_scripts(&scripts).await;
    let admin = server.admin();
    let draft = server
        .post("/api/policies", &admin, json!({"text": LOOPBACK}))
        .await;
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &format!("/api/policies/{version}/publish"),
            &admin,
            json!({}),
        )
        .await;
    publish(&server, "rotating_flow", "integrator", "Call").await;
    let (old, new) = ("ghp-old-value-4e1d9b7a", "ghp-new-value-8c3f2a6d");
    set_secret(&server, old).await;
    let run_id = server.start_run("rotating_flow", json!({})).await;
    let run = server.wait_status(&run_id, "waiting_user").await;
    set_secret(&server, new).await;
    let question = run["pendingQuestions"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let answered = server
        .post(
            &format!("/api/questions/{question}/answer"),
            &server.operator(),
            json!({"answer": "yes"}),
        )
        .await;
    let answers = kept(&server, &run_id).await;
    assert_eq!(
        *seen.lock().expect("log"),
        [format!("Bearer {old}"), format!("Bearer {new}")]
    );
    for (what, text) in answers
        .iter()
        .chain([&("answer".to_owned(), answered.to_string())])
    {
        for value in [old, new] {
            assert!(!text.contains(value), "the {what} holds a secret value");
        }
    }
}
