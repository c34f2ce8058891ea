//! Redaction everywhere: a secret set through the Settings API after start,
//! a `redact-env` value, a secret deployment configuration keeps in a file
//! and every credential shape, planted in run inputs (also under keys named
//! like credentials), a BPMN prompt, a message payload and its correlation
//! key, a decision comment, an answer, a halt reason, a cancel reason, a
//! model's tool arguments and its answer, and a tool's own output (an HTTP
//! server answering with all of them), are found in no answer, not in the
//! run stream, not in an evidence pack and not in any byte of the data
//! folder (key files aside). The server log is searched by the same plants
//! against the real binary (`crates/cli/tests/leaks.rs`).

use reqwest::Method;
use serde_json::{Value, json};

use agentwerke_secrets::{SecretLocation, SecretName};

use crate::harness::{HELLO_SDLC, TestServer, one_agent_task};
use crate::settings::occurrences_on_disk;

const CLARIFY: &str = include_str!("../../../../examples/clarify-request.bpmn");
const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");
const MESSAGE_WAIT: &str = include_str!("../fixtures/message-wait.bpmn");

const FROM_ENV: &str = "env-secret-7f3c9a2b";
const FROM_API: &str = "api-secret-51d0e8c4";
const FROM_FILE: &str = "file-secret-0b6d2e97";
const PEM_BODY: &str = "MIIEowIBAAKCAQEAleakedPemBody0123456789";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.c2lnbmF0dXJlLWxlYWstdGVzdA";
const OPENAI: &str = "sk-leakedOpenAiKey0123456789abcdef";
const GITHUB: &str = "ghp_leakedGithubToken0123456789abcdefAB";
const AWS: &str = "AKIALEAKEDAWSKEY0123";
const DB_PASSWORD: &str = "pgLeakedPassw0rd";
const ASSIGNED: &str = "assignedLeak42x";
const UNDER_PASSWORD_KEY: &str = "keyed-password-value-3e1";
const UNDER_API_KEY: &str = "keyed-apikey-value-9b2";

/// Every planted value, searched for everywhere.
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

/// One text carrying every planted value but the keyed ones.
fn loaded(what: &str) -> String {
    format!(
        "{what}: {FROM_ENV} {FROM_API} {FROM_FILE}\n-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n\
         jwt {JWT} openai {OPENAI} github {GITHUB} aws {AWS} \
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_and_credential_shapes_are_found_nowhere() {
    // The analyst of hello-sdlc asks for a call whose arguments carry
    // everything, then answers with everything: the model's output and the
    // tool arguments are input paths too.
    let toml_text = loaded("model").replace('\n', "\\n");
    let scripts = format!(
        "{SCRIPTS}\n[[agents.analyst]]\ntool_calls = [\n  {{ name = \"artifact.write\", \
         arguments = {{ path = \"notes/leak.md\", content = \"{toml_text}\" }} }},\n]\n\n\
         [[agents.analyst]]\nreply = \"{toml_text}\"\n"
    );
    // A tool's own output: an API answering every request with everything.
    let api = tool_api(loaded("tool output")).await;
    let scripts = format!(
        "{scripts}\n[[nodes.Fetch]]\ntool_calls = [{{ name = \"http.request\", \
         arguments = {{ url = \"{api}/report\" }} }}]\n[[nodes.Fetch]]\nreply = \"fetched {{{{last_tool_result}}}}\"\n"
    );
    // A secret deployment configuration keeps in a mounted file.
    let mounts = tempfile::tempdir().expect("temp dir");
    let mounted = mounts.path().join("file_token");
    std::fs::write(&mounted, format!("{FROM_FILE}\n")).expect("mount");
    let server = TestServer::start_redacting_with_secrets(
        &scripts,
        &[FROM_ENV],
        vec![(
            SecretName::parse("file_token").expect("name"),
            SecretLocation::File(mounted),
        )],
    )
    .await;
    let admin = server.admin();
    let mut answers: Vec<(String, Value)> = Vec::new();
    let mut keep = |what: &str, value: Value| answers.push((what.to_owned(), value));

    // Known only from here on: the runtime must learn it while it runs.
    let (status, set) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/deploy_token",
            Some(&admin),
            Some(json!({"value": FROM_API})),
        )
        .await;
    assert!(status.is_success(), "{set}");
    keep("secret set", set);

    // The analyst's prompt carries everything too.
    let prompted = HELLO_SDLC.replace(
        "list its risks.",
        &format!("list its risks. {}", loaded("prompt")),
    );
    server.publish("hello-sdlc", &prompted).await;
    server.publish("clarify-request", CLARIFY).await;
    server.publish("message-wait", MESSAGE_WAIT).await;

    // A run with a gate: the comment carries everything too.
    let gated = server.start_run("hello-sdlc", inputs(json!({}))).await;
    let run = server.wait_status(&gated, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("approval")
        .to_owned();
    keep("run at the gate", run);
    keep(
        "approval",
        server
            .get(&format!("/api/approvals/{approval}"), &admin)
            .await,
    );
    let decided = server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.approver(),
            json!({"decision": "approve", "comment": loaded("comment")}),
        )
        .await;
    keep("decision", decided);

    // A run that asks: the question quotes the title, the answer carries
    // everything.
    let asking = server.start_run("clarify-request", inputs(json!({}))).await;
    let run = server.wait_status(&asking, "waiting_user").await;
    let question = run["pendingQuestions"][0]["id"]
        .as_str()
        .expect("question")
        .to_owned();
    keep("run asking", run);
    let (_, answered) = server
        .call(
            Method::POST,
            &format!("/api/questions/{question}/answer"),
            Some(&server.operator()),
            Some(json!({"answer": loaded("answer")})),
        )
        .await;
    keep("answer", answered);

    // A run waiting for a message keyed by a secret: the key still
    // matches once both sides are redacted.
    let commit = format!("commit-{FROM_API}");
    let waiting = server
        .start_run("message-wait", inputs(json!({"commit": commit})))
        .await;
    server.wait_status(&waiting, "waiting_event").await;
    let delivered = server
        .post(
            "/api/events",
            &server.operator(),
            json!({"messageName": "ci.finished", "correlationKey": commit,
                   "deliveryId": "leak-1",
                   "payload": {"result": "success", "note": loaded("payload"),
                               "token": UNDER_API_KEY}}),
        )
        .await;
    assert_eq!(delivered["matchedRuns"], json!([waiting]), "{delivered}");
    keep("delivery", delivered);

    // A halt whose reason carries everything, then its resume.
    keep(
        "halt",
        server
            .post(
                "/api/gateway/halt",
                &admin,
                json!({"scope": "global", "reason": loaded("reason")}),
            )
            .await,
    );
    keep("halts", server.get("/api/gateway/halts", &admin).await);
    keep(
        "resume",
        server
            .post("/api/gateway/resume", &admin, json!({"scope": "global"}))
            .await,
    );

    // A run cancelled with a reason that carries everything.
    let cancelled = server.start_run("hello-sdlc", inputs(json!({}))).await;
    server.wait_status(&cancelled, "awaiting_approval").await;
    let (_, cancel) = server
        .call(
            Method::POST,
            &format!("/api/runs/{cancelled}/cancel"),
            Some(&server.operator()),
            Some(json!({"reason": loaded("cancel")})),
        )
        .await;
    keep("cancel", cancel);

    for (run_id, status) in [
        (&gated, "completed"),
        (&asking, "completed"),
        (&waiting, "completed"),
        (&cancelled, "cancelled"),
    ] {
        let run = server.wait_status(run_id, status).await;
        if run_id == &gated {
            // The scripted answer and the call reached the run, redacted,
            // and so did the prompt.
            let text = run.to_string();
            assert!(text.contains("model: [REDACTED]"), "{run:#}");
            assert!(text.contains("artifact.write"), "{run:#}");
            let prompts = server.evidence_pack(run_id).await["prompts"].to_string();
            assert!(
                prompts.contains("list its risks. prompt: [REDACTED]"),
                "{prompts}"
            );
        }
        keep("run", run);
        keep("audit", server.audit(run_id).await);
        keep("pack", server.evidence_pack(run_id).await);
        let stream = server
            .http
            .get(format!("{}/api/runs/{run_id}/stream", server.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("stream")
            .text()
            .await
            .expect("stream body");
        assert!(stream.contains("event: end"), "{stream}");
        keep("stream", Value::String(stream));
    }
    // A run whose `http.request` gets everything back, under a policy set
    // that lets it reach the test's API (published last: it replaces the
    // defaults the runs above were decided by).
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
    server
        .publish(
            "fetching",
            &one_agent_task("fetching", "Fetch", "integrator", "analysis"),
        )
        .await;
    let fetching = server.start_run("fetching", json!({})).await;
    let run = server.wait_status(&fetching, "completed").await;
    let pack = server.evidence_pack(&fetching).await;
    let shown = format!("{run} {pack}");
    assert!(
        shown.contains("tool output: [REDACTED]"),
        "{run:#} {pack:#}"
    );
    keep("fetching run", run);
    keep("fetching audit", server.audit(&fetching).await);
    keep("fetching pack", pack);
    // A problem document that quotes the request (the run id of a path).
    for planted in [FROM_ENV, FROM_FILE, GITHUB] {
        let (status, problem) = server
            .call(
                Method::GET,
                &format!("/api/runs/{planted}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains("[REDACTED]"),
            "{problem}"
        );
        keep("not found", problem);
    }
    keep(
        "global audit",
        server.get("/api/audit?limit=200", &admin).await,
    );
    keep("approvals", server.get("/api/approvals", &admin).await);
    keep("questions", server.get("/api/questions", &admin).await);
    keep("runs", server.get("/api/runs", &admin).await);

    let data = answers
        .iter()
        .map(|(_, v)| v.to_string())
        .collect::<String>();
    assert!(data.contains("[REDACTED]"), "redaction shows");
    for planted in PLANTED {
        for (what, answer) in &answers {
            assert!(
                !answer.to_string().contains(planted),
                "the {what} leaks {planted}: {answer}"
            );
        }
    }
    // The database and its write-ahead log as the runs left them.
    for planted in PLANTED {
        assert_eq!(
            occurrences_on_disk(&server, planted),
            0,
            "{planted} is on disk"
        );
    }
    server.stop().await;
}

const LOOPBACK: &str = r#"
@id("permit-test-server") @rationale("The test's own API.")
permit (principal, action == Action::"http.request", resource == Target::"127.0.0.1");
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

/// A record kept before a value became known (a halt reason written before
/// the value was set through the API) is redacted from the audit pages once
/// the value is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_learned_later_is_redacted_from_records_kept_before() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let later = "learned-later-value-61fa0c";
    server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "global", "reason": format!("incident {later}")}),
        )
        .await;
    let before = server.get("/api/audit?limit=200", &admin).await;
    assert!(
        before.to_string().contains(later),
        "kept as given: {before}"
    );
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/late",
            Some(&admin),
            Some(json!({"value": later})),
        )
        .await;
    assert!(status.is_success());
    let after = server.get("/api/audit?limit=200", &admin).await;
    assert!(!after.to_string().contains(later), "{after}");
    assert!(after.to_string().contains("incident [REDACTED]"), "{after}");
    server.stop().await;
}

/// Posts `xml` to `path` (an import or a validation) as an Admin.
async fn post_xml(server: &TestServer, path: &str, xml: &str) -> (reqwest::StatusCode, Value) {
    let response = server
        .http
        .post(format!("{}{path}", server.url))
        .bearer_auth(server.admin())
        .header("content-type", "application/xml")
        .body(xml.to_owned())
        .send()
        .await
        .expect("post");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// An imported document is kept redacted, and the redacted document is the
/// one that runs: a known secret and a credential shape in a prompt are in
/// no answer, not on disk, and the run's prompt shows `[REDACTED]`. A
/// document that redaction would break is refused and nothing is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_prompt_is_kept_and_run_redacted() {
    let server = TestServer::start_redacting("", &[FROM_ENV]).await;
    let admin = server.admin();
    let xml = HELLO_SDLC.replace(
        "list its risks.",
        &format!("list its risks. Deploy with {FROM_ENV} or {GITHUB}."),
    );
    let (status, verdict) = post_xml(&server, "/api/workflows/validate", &xml).await;
    assert!(status.is_success() && verdict["valid"] == true, "{verdict}");
    let (status, imported) = post_xml(&server, "/api/workflows?id=prompted", &xml).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{imported}");
    let version = server
        .get("/api/workflows/prompted/versions/1", &admin)
        .await;
    let kept = version["bpmnXml"].as_str().expect("bpmnXml");
    assert!(
        kept.contains("list its risks. Deploy with [REDACTED] or [REDACTED]."),
        "{kept}"
    );
    server
        .post(
            "/api/workflows/prompted/versions/1/publish",
            &admin,
            json!({}),
        )
        .await;
    let run_id = server
        .start_run("prompted", json!({"title": "A change"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let pack = server.evidence_pack(&run_id).await;
    let prompts = pack["prompts"].to_string();
    assert!(
        prompts.contains("list its risks. Deploy with [REDACTED] or [REDACTED]."),
        "{prompts}"
    );
    let audit = server.audit(&run_id).await;
    let workflows = server.get("/api/workflows/prompted", &admin).await;
    for planted in [FROM_ENV, GITHUB] {
        for (what, answer) in [
            ("import", &imported),
            ("verdict", &verdict),
            ("version", &version),
            ("workflow", &workflows),
            ("run", &run),
            ("pack", &pack),
            ("audit", &audit),
        ] {
            assert!(
                !answer.to_string().contains(planted),
                "the {what} leaks {planted}: {answer}"
            );
        }
        assert_eq!(
            occurrences_on_disk(&server, planted),
            0,
            "{planted} is on disk"
        );
    }

    // A value that becomes known after its document was kept leaves the
    // version's answer redacted too.
    let later = "learned-after-import-0c41";
    let xml = HELLO_SDLC.replace("list its risks.", &format!("list its risks. {later}"));
    let (status, _) = post_xml(&server, "/api/workflows?id=later", &xml).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/later",
            Some(&admin),
            Some(json!({"value": later})),
        )
        .await;
    assert!(status.is_success());
    let version = server.get("/api/workflows/later/versions/1", &admin).await;
    let shown = version["bpmnXml"].as_str().expect("bpmnXml");
    assert!(shown.contains("list its risks. [REDACTED]"), "{shown}");

    // A condition on a member named like a credential: redaction of the
    // `token = ...` shape would take the operator with it.
    let broken = MESSAGE_WAIT.replace("event.result ==", "event.token ==");
    for path in ["/api/workflows/validate", "/api/workflows?id=broken"] {
        let (status, problem) = post_xml(&server, path, &broken).await;
        assert_eq!(
            status,
            reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            "{problem}"
        );
        assert_eq!(problem["code"], "workflow.secret_unredactable", "{problem}");
    }
    let (status, _) = server
        .call(Method::GET, "/api/workflows/broken", Some(&admin), None)
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "nothing is kept");
    server.stop().await;
}

/// Downloads `path` (a signed pack or export) as bytes.
async fn download(server: &TestServer, path: &str) -> Vec<u8> {
    let response = server
        .http
        .get(format!("{}{path}", server.url))
        .bearer_auth(server.admin())
        .send()
        .await
        .expect("download");
    assert!(response.status().is_success(), "{path}");
    response.bytes().await.expect("bytes").to_vec()
}

/// Records kept before a value became a known secret are redacted from the
/// audit pages, the signed evidence pack and the signed audit export, and
/// marked `redactedAfterChaining`: the pack and the export still verify
/// (with the server's key), and the report says which records the chain can
/// no longer vouch for, instead of calling them tampered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_redacted_after_chaining_are_marked_and_still_verify() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let later = "learned-later-pack-9d2e41";
    server.publish("hello-sdlc", HELLO_SDLC).await;
    let run_id = server
        .start_run("hello-sdlc", json!({"title": "a change"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("approval")
        .to_owned();
    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.approver(),
            json!({"decision": "approve", "comment": format!("ok {later}")}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;
    server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "global", "reason": format!("incident {later}")}),
        )
        .await;
    assert!(server.audit(&run_id).await.to_string().contains(later));

    let (status, _) = server
        .call(
            Method::PUT,
            "/api/settings/secrets/late",
            Some(&admin),
            Some(json!({"value": later})),
        )
        .await;
    assert!(status.is_success());

    let key = server.get("/api/evidence/public-key", &admin).await;
    let key = agentwerke_evidence::keys::decode_public_key(key["publicKey"].as_str().expect("key"))
        .expect("public key");
    for (audit, path, report) in [
        (
            server.audit(&run_id).await,
            format!("/api/runs/{run_id}/evidence-pack/download"),
            agentwerke_evidence::verify as fn(&[u8], _) -> _,
        ),
        (
            server.get("/api/audit?limit=200", &admin).await,
            "/api/audit/export".to_owned(),
            agentwerke_evidence::verify_export,
        ),
    ] {
        let marked: Vec<&Value> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["redactedAfterChaining"] == true)
            .collect();
        assert_eq!(marked.len(), 1, "{audit:#}");
        assert!(marked[0]["data"].to_string().contains("[REDACTED]"));
        assert!(!audit.to_string().contains(later), "{audit}");
        let bytes = download(&server, &path).await;
        assert!(!String::from_utf8_lossy(&bytes).contains(later), "{path}");
        let report = report(&bytes, Some(&key));
        assert!(report.is_valid(), "{path}: {:?}", report.problems);
        assert_eq!(report.warnings.len(), 1, "{path}: {:?}", report.warnings);
        assert!(
            report.warnings[0].contains("was redacted after it was chained"),
            "{:?}",
            report.warnings
        );
    }
    server.stop().await;
}
