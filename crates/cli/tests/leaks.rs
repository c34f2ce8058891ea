//! The leak test against the real `agentwerke serve`, logging at debug
//! level: a `redact-env` value, a secret set through the Settings API, one
//! deployment configuration keeps in a mounted file, and every credential
//! shape are planted in run inputs (also under keys named like
//! credentials), a BPMN prompt, a decision comment, an answer, a message
//! payload and its correlation key, a halt reason, a model's tool arguments
//! and its answer, and a tool's own output (an HTTP server answering with
//! all of them). Then every answer, the server's standard output and error,
//! and every byte of its data folder but the key files hold none of them.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::Server;

const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");
const CLARIFY: &str = include_str!("../../../examples/clarify-request.bpmn");
const MESSAGE_WAIT: &str = include_str!("../../server/tests/fixtures/message-wait.bpmn");

const FROM_ENV: &str = "env-secret-bin-4c8e1a";
const FROM_API: &str = "api-secret-bin-7d20f5";
const FROM_FILE: &str = "file-secret-bin-93ab6e";
const PEM_BODY: &str = "MIIEowIBAAKCAQEAbinaryPemBody0123456789";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiaW4ifQ.c2lnbmF0dXJlLWJpbmFyeQ";
const OPENAI: &str = "sk-binaryOpenAiKey0123456789abcdef";
const GITHUB: &str = "ghp_binaryGithubToken0123456789abcdefAB";
const AWS: &str = "AKIABINARYAWSKEY0123";
const DB_PASSWORD: &str = "pgBinaryPassw0rd";
const ASSIGNED: &str = "assignedBinary42x";
const UNDER_PASSWORD_KEY: &str = "keyed-password-bin-5f1";
const UNDER_API_KEY: &str = "keyed-apikey-bin-0c3";
/// A value that becomes a known secret only after the records holding it
/// were chained (it is in the decision comment).
const LATER: &str = "learned-later-bin-2f8a";

const PLANTED: [&str; 12] = [
    FROM_ENV,
    FROM_API,
    FROM_FILE,
    PEM_BODY,
    JWT,
    OPENAI,
    GITHUB,
    AWS,
    DB_PASSWORD,
    ASSIGNED,
    UNDER_PASSWORD_KEY,
    UNDER_API_KEY,
];

/// Lets `http.request` reach the test's own API.
const LOOPBACK: &str = r#"
@id("permit-test-server") @rationale("The test's own API.")
permit (principal, action == Action::"http.request", resource == Target::"127.0.0.1");
"#;

/// One text carrying every planted value but the keyed ones.
fn loaded(what: &str) -> String {
    format!(
        "{what}: {FROM_ENV} {FROM_API} {FROM_FILE}\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n\
         -----END PRIVATE KEY-----\njwt {JWT} openai {OPENAI} github {GITHUB} aws {AWS} \
         db postgres://app:{DB_PASSWORD}@db.internal:5432/app password={ASSIGNED}"
    )
}

/// Inputs with every planted value, the keyed ones under credential keys.
fn inputs(extra: Value) -> Value {
    let mut inputs = json!({
        "title": loaded("title"),
        "password": UNDER_PASSWORD_KEY,
        "apiKey": UNDER_API_KEY,
    });
    if let (Some(inputs), Value::Object(extra)) = (inputs.as_object_mut(), extra) {
        inputs.extend(extra);
    }
    inputs
}

/// The scripted model: the analyst of hello-sdlc asks for a call whose
/// arguments carry everything and answers with everything; `Clarify` asks
/// a person; `Fetch` calls the test's API and answers with what it got.
fn scripts(api: &str) -> String {
    let text = loaded("model").replace('\n', "\\n");
    format!(
        r#"
[[agents.analyst]]
tool_calls = [{{ name = "artifact.write", arguments = {{ path = "notes/leak.md", content = "{text}" }} }}]

[[agents.analyst]]
reply = "{text}"

[[nodes.Clarify]]
tool_calls = [{{ name = "human.ask", arguments = {{ question = "Who is it for?" }} }}]

[[nodes.Clarify]]
reply = "For {{{{last_tool_result}}}}."

[[nodes.Fetch]]
tool_calls = [{{ name = "http.request", arguments = {{ url = "{api}/report" }} }}]

[[nodes.Fetch]]
reply = "fetched {{{{last_tool_result}}}}"
"#
    )
}

/// One agent task `Fetch` run by the analyst, allowed the network.
const FETCHING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://example.test">
  <bpmn:process id="fetching" name="fetching" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Fetch"/>
    <bpmn:serviceTask id="Fetch" name="Fetch">
      <bpmn:extensionElements><aw:agentTask agent="analyst" purposeType="analysis" environment="staging" permissionLevel="full" sandboxProfile="repo-read" prompt="Fetch the report"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Fetch" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// An HTTP server answering every request with `body`; its base URL.
async fn tool_api(body: String) -> String {
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { body }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    url
}

/// Occurrences of `needle` in every file under `dir` but the secret keys.
fn on_disk(dir: &Path, needle: &str) -> usize {
    let mut found = 0;
    for entry in std::fs::read_dir(dir).expect("folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found += on_disk(&path, needle);
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("secrets-") && name.ends_with(".key") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("file");
        found += bytes
            .windows(needle.len())
            .filter(|w| *w == needle.as_bytes())
            .count();
    }
    found
}

async fn wait_status(server: &Server, token: &str, run_id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = server.get(token, &format!("/api/runs/{run_id}")).await;
        if run["status"] == status {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run_id} is not {status}: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_run(server: &Server, token: &str, workflow: &str, inputs: Value) -> String {
    let started = server
        .post(
            token,
            "/api/runs",
            json!({"workflowId": workflow, "inputs": inputs}),
        )
        .await;
    started["runId"].as_str().expect("run id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_values_are_in_no_answer_no_log_line_and_no_byte_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let api = tool_api(loaded("tool output")).await;
    let mounts = dir.path().join("mounts");
    std::fs::create_dir(&mounts).expect("mounts");
    let mounted = mounts.join("file_token");
    std::fs::write(&mounted, format!("{FROM_FILE}\n")).expect("mount");
    let scripts_file = dir.path().join("scripts.toml");
    std::fs::write(&scripts_file, scripts(&api)).expect("scripts");
    let config = dir.path().join("agentwerke.toml");
    std::fs::write(
        &config,
        format!(
            "redact-env = [\"LEAK_TEST_ENV_VALUE\"]\nseed-sample = false\nscripts = \"{}\"\n\
             egress-allow-private-hosts = [\"127.0.0.1\"]\n\n\
             [secrets]\nfile_token = \"file:{}\"\n",
            scripts_file.display(),
            mounted.display()
        ),
    )
    .expect("config");
    let server = Server::start(
        dir.path(),
        &[
            ("AGENTWERKE_CONFIG", config.display().to_string()),
            ("LEAK_TEST_ENV_VALUE", FROM_ENV.to_owned()),
            ("AGENTWERKE_LOG", "debug".to_owned()),
        ],
    )
    .await;
    let admin = server.token("Admin");
    let operator = server.token("Operator");
    let approver = server.token("Approver");
    let http = reqwest::Client::new();
    let mut answers: Vec<(String, Value)> = Vec::new();

    let set = http
        .put(format!("{}/api/settings/secrets/deploy_token", server.url))
        .bearer_auth(&admin)
        .json(&json!({"value": FROM_API}))
        .send()
        .await
        .expect("PUT");
    assert!(set.status().is_success());
    answers.push(("secret set".to_owned(), set.json().await.expect("json")));

    let prompted = HELLO_SDLC.replace(
        "list its risks.",
        &format!("list its risks. {}", loaded("prompt")),
    );
    server.publish(&admin, "hello-sdlc", &prompted).await;
    server.publish(&admin, "clarify-request", CLARIFY).await;
    server.publish(&admin, "message-wait", MESSAGE_WAIT).await;

    // A gate decided with a comment carrying everything.
    let gated = start_run(&server, &operator, "hello-sdlc", inputs(json!({}))).await;
    let run = wait_status(&server, &admin, &gated, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("approval")
        .to_owned();
    let decided = server
        .post(
            &approver,
            &format!("/api/approvals/{approval}/decision"),
            json!({"decision": "approve", "comment": format!("{} {LATER}", loaded("comment"))}),
        )
        .await;
    answers.push(("decision".to_owned(), decided));

    // A question answered with everything.
    let asking = start_run(&server, &operator, "clarify-request", inputs(json!({}))).await;
    let run = wait_status(&server, &admin, &asking, "waiting_user").await;
    let question = run["pendingQuestions"][0]["id"]
        .as_str()
        .expect("question")
        .to_owned();
    let answered = server
        .post(
            &operator,
            &format!("/api/questions/{question}/answer"),
            json!({"answer": loaded("answer")}),
        )
        .await;
    answers.push(("answer".to_owned(), answered));

    // A message keyed by a secret, its payload carrying everything.
    let commit = format!("commit-{FROM_API}");
    let waiting = start_run(
        &server,
        &operator,
        "message-wait",
        inputs(json!({"commit": commit})),
    )
    .await;
    wait_status(&server, &admin, &waiting, "waiting_event").await;
    let delivered = server
        .post(
            &operator,
            "/api/events",
            json!({"messageName": "ci.finished", "correlationKey": commit,
                   "deliveryId": "leak-bin-1",
                   "payload": {"result": "success", "note": loaded("payload"),
                               "token": UNDER_API_KEY}}),
        )
        .await;
    assert_eq!(delivered["matchedRuns"], json!([waiting]), "{delivered}");
    answers.push(("delivery".to_owned(), delivered));

    // A halt whose reason carries everything, and its resume.
    let halt = server
        .post(
            &admin,
            "/api/gateway/halt",
            json!({"scope": "global", "reason": loaded("reason")}),
        )
        .await;
    answers.push(("halt".to_owned(), halt));
    let resume = server
        .post(&admin, "/api/gateway/resume", json!({"scope": "global"}))
        .await;
    answers.push(("resume".to_owned(), resume));

    let mut runs = vec![gated.clone(), asking, waiting];
    for run_id in &runs {
        wait_status(&server, &admin, run_id, "completed").await;
    }

    // A tool's own output: `http.request` under a policy set that lets it
    // reach the test's API (published last: it replaces the defaults the
    // runs above were decided by).
    let draft = server
        .post(&admin, "/api/policies", json!({"text": LOOPBACK}))
        .await;
    let version = draft["version"].as_i64().expect("version");
    server
        .post(
            &admin,
            &format!("/api/policies/{version}/publish"),
            json!({}),
        )
        .await;
    server.publish(&admin, "fetching", FETCHING).await;
    let fetching = start_run(&server, &operator, "fetching", json!({})).await;
    let run = wait_status(&server, &admin, &fetching, "completed").await;
    assert!(
        run.to_string().contains("tool output: [REDACTED]"),
        "the tool's output reached the run, redacted: {run:#}"
    );
    runs.push(fetching);

    for run_id in &runs {
        for path in ["", "/audit", "/evidence-pack"] {
            let answer = server
                .get(&admin, &format!("/api/runs/{run_id}{path}"))
                .await;
            answers.push((format!("/api/runs/{run_id}{path}"), answer));
        }
    }
    let pack = server
        .get(&admin, &format!("/api/runs/{gated}/evidence-pack"))
        .await;
    let prompts = pack["prompts"].to_string();
    assert!(
        prompts.contains("list its risks. prompt: [REDACTED]"),
        "{prompts}"
    );
    for path in [
        "/api/audit?limit=200",
        "/api/approvals",
        "/api/questions",
        "/api/runs",
        "/api/workflows/hello-sdlc/versions/1",
    ] {
        answers.push((path.to_owned(), server.get(&admin, path).await));
    }

    // The debug log names every request's path and query: plant every
    // value there too, each where its shape is recognised.
    for uri in [
        format!("/api/runs/{FROM_ENV}"),
        format!("/api/runs/{FROM_API}"),
        format!("/api/runs/{FROM_FILE}"),
        format!("/api/runs/{JWT}"),
        format!("/api/runs/{OPENAI}"),
        format!("/api/runs/{GITHUB}"),
        format!("/api/runs/{AWS}"),
        format!("/api/runs/x?db=postgres://app:{DB_PASSWORD}@db.internal/app"),
        format!("/api/runs/x?password={ASSIGNED}"),
        format!("/api/runs/x?password={UNDER_PASSWORD_KEY}&apikey={UNDER_API_KEY}"),
    ] {
        let answer = http
            .get(format!("{}{uri}", server.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET");
        assert!(answer.status().is_client_error(), "{uri}");
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        answers.push((uri, body));
    }

    // Known from now on: the gated run's signed pack leaves without it, and
    // `evidence verify` says which record was redacted after it was
    // chained, rather than calling the honest pack altered.
    let set = http
        .put(format!("{}/api/settings/secrets/later", server.url))
        .bearer_auth(&admin)
        .json(&json!({"value": LATER}))
        .send()
        .await
        .expect("PUT");
    assert!(set.status().is_success());
    let pack = http
        .get(format!(
            "{}/api/runs/{gated}/evidence-pack/download",
            server.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("pack");
    assert!(!String::from_utf8_lossy(&pack).contains(LATER));
    let pack_file = dir.path().join("pack.json");
    std::fs::write(&pack_file, &pack).expect("pack file");
    let verified = std::process::Command::new(support::BIN)
        .args(["evidence", "verify"])
        .arg(&pack_file)
        .args(["--server", &server.url])
        .env("AGENTWERKE_TOKEN", server.token("Viewer"))
        .env_remove("AGENTWERKE_URL")
        .output()
        .expect("evidence verify");
    let said = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert_eq!(verified.status.code(), Some(0), "{said}");
    assert!(
        said.contains("1 record(s) redacted after they were chained (seq "),
        "{said}"
    );

    let data_dir = server.data_dir.clone();
    let status = server.stop();
    assert!(status.success(), "the server stopped cleanly: {status:?}");
    let log = std::fs::read_to_string(dir.path().join("server.log")).expect("server log");
    for planted in PLANTED {
        for (what, answer) in &answers {
            assert!(
                !answer.to_string().contains(planted),
                "{what} leaks {planted}: {answer}"
            );
        }
        assert!(!log.contains(planted), "the server log holds {planted}");
        assert_eq!(on_disk(&data_dir, planted), 0, "{planted} is on disk");
    }
    assert!(
        log.contains("DEBUG") && log.contains("[REDACTED]"),
        "the log is at debug level and shows redaction"
    );
}
