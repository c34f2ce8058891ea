//! The evidence and settings pages over HTTP: who may see them, what the
//! server's verification says, that the download is the API's file, and
//! that a secret's value goes in through the rotation form and never comes
//! back out.

use agentwerke_evidence::keys::{key_id, signing_key_from_seed};
use agentwerke_secrets::{SecretLocation, SecretName};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, Vars};
use crate::ui::{Browser, DIAGRAM, SCRIPTS, csrf_in};

/// A gateway-demo run, approved through the API, completed; its id.
pub(crate) async fn completed_run(server: &TestServer) -> String {
    server.publish("gateway-demo", DIAGRAM).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "3.1"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("an approval");
    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.release_manager(),
            json!({"decision": "approve", "comment": "Path and text checked."}),
        )
        .await;
    server.wait_status(&run_id, "completed").await;
    run_id
}

/// The pack without what changes from one generation to the next (when
/// it was generated, and so its signature).
pub(crate) fn but_generation(mut pack: Value) -> Value {
    let object = pack.as_object_mut().expect("a pack");
    object.remove("generatedAt");
    object["integrity"]
        .as_object_mut()
        .expect("integrity")
        .remove("signature");
    pack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evidence_page_shows_the_verified_pack_and_serves_the_apis_file() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let run_id = completed_run(&server).await;
    let page_path = format!("/runs/{run_id}/evidence");
    let download_path = format!("/runs/{run_id}/evidence/download");

    // Signed out, neither is served.
    let mut anonymous = Browser::new(&server);
    for path in [&page_path, &download_path] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.headers[LOCATION], "/signin");
    }

    // A Viewer reads evidence, as the API lets them.
    let mut viewer = Browser::new(&server);
    viewer.sign_in("vera", "Viewer", "").await;
    let run_page = viewer.get(&format!("/runs/{run_id}")).await;
    assert!(
        run_page.body.contains(&format!(r#"href="{page_path}""#)),
        "the run page links its evidence"
    );
    let page = viewer.get(&page_path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let key = signing_key_from_seed([7u8; 32]).verifying_key();
    let pack = server.evidence_pack(&run_id).await;
    let head = pack["integrity"]["chainHead"]["hash"]
        .as_str()
        .expect("a chain head");
    for shown in [
        r#"id="verification-status">verified<"#.to_owned(),
        format!(r#"id="key-id">{}<"#, key_id(&key)),
        format!(r#"id="chain-head">{head}<"#),
        format!(
            r#"id="chain-length">{}<"#,
            pack["auditLog"].as_array().expect("a log").len()
        ),
        // The tool calls with their decisions, the approval and its
        // comment, the model's usage, the audit chain.
        "artifact.write".to_owned(),
        r#"<span class="status escalate">escalate</span>"#.to_owned(),
        r#"<span class="status reject">reject</span>"#.to_owned(),
        "Path and text checked.".to_owned(),
        "rita-release".to_owned(),
        "scripted".to_owned(),
        "run.completed".to_owned(),
        format!(r#"href="{download_path}""#),
    ] {
        assert!(page.body.contains(&shown), "{shown} is not shown");
    }
    assert!(!page.body.contains("verification-problems"));

    // The download is the API's file: the same pack, signed by the same
    // key, written the same way; only its generation time (and so its
    // signature) is its own.
    let download = viewer.get(&download_path).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.headers[CONTENT_TYPE], "application/json");
    assert_eq!(
        download.headers[CONTENT_DISPOSITION],
        format!("attachment; filename=\"evidence-pack-{run_id}.json\"")
    );
    let report = agentwerke_evidence::verify(download.body.as_bytes(), Some(&key));
    assert!(report.is_valid(), "{:?}", report.problems);
    let downloaded: Value = serde_json::from_str(&download.body).expect("JSON");
    assert_eq!(
        download.body.as_bytes(),
        serde_json::to_vec_pretty(&downloaded).expect("pretty"),
        "written as the API writes it"
    );
    let from_api = api_download(&server, &run_id).await;
    assert_eq!(but_generation(downloaded), but_generation(from_api));

    // A run that does not exist is the API's refusal, on a page.
    let missing = viewer.get("/runs/no-such-run/evidence").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("does not exist"), "{}", missing.body);
    let missing = viewer.get("/runs/no-such-run/evidence/download").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

/// `GET /api/runs/{id}/evidence-pack/download` as an Admin, parsed.
async fn api_download(server: &TestServer, run_id: &str) -> Value {
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
    response.json().await.expect("JSON")
}

/// Sets stored secret `name` to `value` through the API as an Admin.
pub(crate) async fn put_secret(server: &TestServer, name: &str, value: &str) {
    let (status, body) = server
        .call(
            Method::PUT,
            &format!("/api/settings/secrets/{name}"),
            Some(&server.admin()),
            Some(json!({ "value": value })),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
}

/// Every secret's fingerprint, by name, as the API lists them.
pub(crate) async fn fingerprints(server: &TestServer) -> Vec<(String, Value)> {
    let settings = server.get("/api/settings", &server.admin()).await;
    settings["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("a name").to_owned(),
                s["fingerprint"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_is_rotated_write_only_and_refusals_change_nothing() {
    let first = "first-value-5e0c2b";
    let second = "rotated-value-b81f4d";
    let server = TestServer::start_with_secrets(
        vec![(
            SecretName::parse("llm_key").expect("name"),
            SecretLocation::parse("env:LLM_KEY").expect("location"),
        )],
        Vars(vec![("LLM_KEY".to_owned(), "env-value-0d93aa".to_owned())]),
    )
    .await;
    put_secret(&server, "deploy_token", first).await;
    let before = fingerprints(&server).await;
    let old = before
        .iter()
        .find(|(n, _)| n == "deploy_token")
        .expect("listed")
        .1
        .as_str()
        .expect("a fingerprint")
        .to_owned();

    let mut admin = Browser::new(&server);
    admin.sign_in("ada", "Admin", "").await;
    let page = admin.get("/settings").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&old), "the fingerprint is listed");
    assert!(page.body.contains("llm_key"));
    // A form for the stored secret only: a write-only field.
    assert!(page.body.contains(r#"id="rotate-deploy_token""#));
    assert!(!page.body.contains(r#"id="rotate-llm_key""#));
    assert!(
        page.body.contains(
            r#"<input type="password" id="value-deploy_token" name="value" autocomplete="off""#
        ),
        "{}",
        page.body
    );
    let csrf = csrf_in(&page.body);
    let rotate = "/settings/secrets/deploy_token";

    // Refused, each explained without the value, nothing changed: no
    // token, an empty value, a name that is not listed, one deployment
    // configuration keeps.
    let mut refusals = Vec::new();
    let no_token = admin.post(rotate, &[("value", second)]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(
        no_token.body.contains("security token"),
        "{}",
        no_token.body
    );
    refusals.push(no_token);
    let empty = admin.post(rotate, &[("csrf", &csrf), ("value", "")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("was not rotated"), "{}", empty.body);
    assert!(empty.body.contains("empty"), "{}", empty.body);
    refusals.push(empty);
    let unknown = admin
        .post(
            "/settings/secrets/no_such_secret",
            &[("csrf", &csrf), ("value", second)],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("no secret named"), "{}", unknown.body);
    refusals.push(unknown);
    let configured = admin
        .post(
            "/settings/secrets/llm_key",
            &[("csrf", &csrf), ("value", second)],
        )
        .await;
    assert_eq!(configured.status, StatusCode::CONFLICT);
    assert!(
        configured.body.contains("deployment configuration"),
        "{}",
        configured.body
    );
    refusals.push(configured);
    for refusal in &refusals {
        assert!(!refusal.body.contains(second), "{}", refusal.body);
    }
    assert_eq!(fingerprints(&server).await, before);

    // Rotated: back to the page, which shows the new fingerprint; the
    // value is in neither the redirect nor the page.
    let done = admin
        .post(rotate, &[("csrf", &csrf), ("value", second)])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let location = done.headers[LOCATION].to_str().expect("text").to_owned();
    assert_eq!(location, "/settings?rotated=deploy_token");
    let after = fingerprints(&server).await;
    let new = after
        .iter()
        .find(|(n, _)| n == "deploy_token")
        .expect("listed")
        .1
        .as_str()
        .expect("a fingerprint")
        .to_owned();
    assert_ne!(new, old);
    let page = admin.get(&location).await;
    assert!(
        page.body
            .contains(&format!(r#"id="rotated-fingerprint">{new}<"#)),
        "{}",
        page.body
    );
    for answer in [&done, &page] {
        assert!(!answer.body.contains(second) && !answer.body.contains(first));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_shown_no_settings_and_a_forged_rotation_is_refused() {
    let server = TestServer::start().await;
    put_secret(&server, "deploy_token", "kept-value-61c0e2").await;
    let before = fingerprints(&server).await;
    let mut viewer = Browser::new(&server);
    viewer.sign_in("vera", "Viewer", "").await;
    let page = viewer.get("/settings").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("manage_settings permission"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("rotate-"));
    assert!(!page.body.contains("deploy_token"), "nothing is listed");
    // With a valid token of the Viewer's own session, the post is the
    // API's refusal, and tells nothing about the name.
    let csrf = csrf_in(&viewer.get("/runs").await.body);
    for name in ["deploy_token", "no_such_secret"] {
        let forged = viewer
            .post(
                &format!("/settings/secrets/{name}"),
                &[("csrf", &csrf), ("value", "forged-value-0a7d")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{name}");
        assert!(
            forged.body.contains("manage_settings permission"),
            "{}",
            forged.body
        );
        assert!(!forged.body.contains("forged-value-0a7d"));
    }
    assert_eq!(fingerprints(&server).await, before);
    server.stop().await;
}
