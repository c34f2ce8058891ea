//! The policy, gateway and workflow pages over HTTP: problems and findings
//! stand at their lines, and a Viewer is offered no action and changes
//! nothing with a forged form, even one carrying the session's own token.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

use crate::harness::TestServer;
use crate::ui::{Browser, DIAGRAM, SCRIPTS, csrf_in};

/// A policy set that reads freely and freezes every write.
pub(crate) const FREEZE: &str = "@id(\"permit-reads\")
permit (principal, action in Action::\"category:read\", resource);

@id(\"freeze-writes\")
@rationale(\"Change freeze.\")
forbid (principal, action in Action::\"category:write\", resource);
";

/// [`FREEZE`] with a syntax error on line 6.
pub(crate) const FREEZE_BROKEN: &str = "@id(\"permit-reads\")
permit (principal, action in Action::\"category:read\", resource);

@id(\"freeze-writes\")
@rationale(\"Change freeze.\")
forbid (principal, action in Action::\"category:write\", resource) whenn { true };
";

/// The gateway demo with its last flow pointing at a node that does not
/// exist (line 18).
pub(crate) fn broken_diagram() -> String {
    let line = DIAGRAM.lines().nth(17).expect("line 18");
    assert!(line.contains(r#"targetRef="End""#), "{line}");
    DIAGRAM.replacen(
        r#"sourceRef="DraftReleaseNotes" targetRef="End""#,
        r#"sourceRef="DraftReleaseNotes" targetRef="Nowhere""#,
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drafts_problems_and_an_uploads_findings_stand_at_their_lines() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let admin = server.admin();
    let mut browser = Browser::new(&server);
    browser.sign_in("ada", "Admin", "").await;

    // The editor starts from the set in force: the shipped default.
    let page = browser.get("/policies").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="draft-form""#));
    assert!(page.body.contains("forbid-destructive-in-production"));
    let csrf = csrf_in(&page.body);

    // The API's problem says where: line 6.
    let (status, problem) = server
        .call(
            reqwest::Method::POST,
            "/api/policies",
            Some(&admin),
            Some(json!({"text": FREEZE_BROKEN})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["code"], "gateway.policy.parse");
    assert_eq!(problem["errors"][0]["line"], 6, "{problem:#}");

    // The page shows it at line 6, with the text kept for fixing.
    let refused = browser
        .post(
            "/policies",
            &[("csrf", &csrf), ("text", FREEZE_BROKEN), ("note", "freeze")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(r#"<li id="line-6" class="flagged">"#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"data-line="6""#));
    assert_eq!(refused.body.matches(r#"class="flagged""#).count(), 1);
    assert!(refused.body.contains("whenn { true }"));
    assert!(refused.body.contains(r#"value="freeze""#));
    // A problem Cedar gives no position for stands at its policy.
    let unnamed = browser
        .post(
            "/policies",
            &[
                ("csrf", &csrf),
                (
                    "text",
                    "@id(\"a\")\npermit (principal, action, resource);\n\npermit (principal, action, resource);\n",
                ),
            ],
        )
        .await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unnamed.body.contains(r#"<li id="line-4" class="flagged">"#),
        "{}",
        unnamed.body
    );
    assert!(unnamed.body.contains("has no @id"));
    let listed = server.get("/api/policies", &admin).await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");

    // Fixed, it is stored as a draft and its page shows it.
    let saved = browser
        .post(
            "/policies",
            &[("csrf", &csrf), ("text", FREEZE), ("note", "freeze")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.headers[LOCATION], "/policies/1");
    let set = browser.get("/policies/1").await;
    assert!(set.body.contains(r#"id="set-status">draft"#));
    assert!(set.body.contains(r#"id="publish-form""#));
    assert!(!set.body.contains("class=\"flagged\""));

    // A BPMN file with a dangling flow: its finding at line 18, the
    // lines around it shown, the rest left out.
    let broken = broken_diagram();
    let refused = browser
        .post_multipart(
            "/workflows",
            &[("csrf", &csrf)],
            ("bpmn", "demo.bpmn", &broken),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains(r#"<li id="line-18" class="flagged">"#),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Nowhere"));
    assert!(refused.body.contains(r#"id="line-16""#));
    assert!(
        !refused.body.contains(r#"id="line-1""#),
        "far lines left out"
    );
    let workflows = server.get("/api/workflows", &admin).await;
    assert_eq!(workflows["items"], json!([]), "nothing was imported");

    // Without the session's token the upload is refused and nothing is imported.
    let forged = browser
        .post_multipart("/workflows", &[], ("bpmn", "demo.bpmn", DIAGRAM))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let workflows = server.get("/api/workflows", &admin).await;
    assert_eq!(workflows["items"], json!([]));

    // The good file is imported as a draft.
    let imported = browser
        .post_multipart(
            "/workflows",
            &[("csrf", &csrf)],
            ("bpmn", "demo.bpmn", DIAGRAM),
        )
        .await;
    assert_eq!(imported.status, StatusCode::SEE_OTHER, "{}", imported.body);
    assert_eq!(imported.headers[LOCATION], "/workflows/gateway-demo");
    let page = browser.get("/workflows/gateway-demo").await;
    assert!(page.body.contains("Publish version 1"), "{}", page.body);

    // A halt needs a reason: a blank one is the command's refusal, shown.
    let halted = browser
        .post(
            "/gateway/halt",
            &[("csrf", &csrf), ("scope", "global"), ("reason", "  ")],
        )
        .await;
    assert_eq!(
        halted.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        halted.body
    );
    assert!(
        halted.body.contains("say why the gateway is halted"),
        "{}",
        halted.body
    );
    let halts = server.get("/api/gateway/halts", &admin).await;
    assert_eq!(halts["items"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_is_offered_no_action_and_forged_posts_change_nothing() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let admin = server.admin();
    server.publish("gateway-demo", DIAGRAM).await;
    // A second, unpublished version, a draft policy set and a halt.
    let response = reqwest::Client::new()
        .post(format!("{}/api/workflows?id=gateway-demo", server.url))
        .bearer_auth(&admin)
        .header("content-type", "application/xml")
        .body(DIAGRAM)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status(), StatusCode::CREATED);
    server
        .post(
            "/api/policies",
            &admin,
            json!({"text": FREEZE, "note": "freeze"}),
        )
        .await;
    server
        .post(
            "/api/gateway/halt",
            &admin,
            json!({"scope": "agent", "target": "release-assistant", "reason": "Investigating a leak."}),
        )
        .await;

    let mut viewer = Browser::new(&server);
    viewer.sign_in("vera", "Viewer", "").await;
    let forms = [
        "draft-form",
        "simulate-form",
        "publish-form",
        "halt-form",
        "resume-form",
        "upload-form",
    ];
    for path in [
        "/policies",
        "/policies/1",
        "/gateway",
        "/workflows",
        "/workflows/gateway-demo",
    ] {
        let page = viewer.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        for form in forms {
            assert!(!page.body.contains(form), "{path} offers {form}");
        }
    }
    assert!(
        viewer
            .get("/gateway")
            .await
            .body
            .contains("Investigating a leak.")
    );
    assert!(
        viewer
            .get("/policies/1")
            .await
            .body
            .contains("freeze-writes")
    );

    // Forged posts with the Viewer's own valid token: each is refused by
    // the API's permission check.
    let csrf = csrf_in(&viewer.get("/policies").await.body);
    for (path, fields) in [
        ("/policies", vec![("text", FREEZE)]),
        ("/policies/1/simulate", vec![]),
        ("/policies/1/publish", vec![]),
        (
            "/gateway/halt",
            vec![("scope", "global"), ("reason", "forged")],
        ),
        (
            "/gateway/resume",
            vec![("scope", "agent"), ("target", "release-assistant")],
        ),
        ("/workflows/gateway-demo/versions/2/publish", vec![]),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        let answer = viewer.post(path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            answer.body.contains("permission"),
            "{path}: {}",
            answer.body
        );
    }
    let upload = viewer
        .post_multipart(
            "/workflows",
            &[("csrf", &csrf), ("id", "forged")],
            ("bpmn", "demo.bpmn", DIAGRAM),
        )
        .await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN);

    // Nothing changed.
    let policies = server.get("/api/policies", &admin).await;
    assert_eq!(policies["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(policies["items"][0]["status"], "draft");
    assert_eq!(policies["inForce"]["version"], "builtin-1");
    let halts = server.get("/api/gateway/halts", &admin).await;
    assert_eq!(halts["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(halts["items"][0]["target"], "release-assistant");
    let workflow = server.get("/api/workflows/gateway-demo", &admin).await;
    assert_eq!(workflow["publishedVersion"], 1);
    assert_eq!(workflow["latestVersion"], 2);
    let workflows = server.get("/api/workflows", &admin).await;
    assert_eq!(workflows["items"].as_array().map(Vec::len), Some(1));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_draft_or_upload_never_shows_a_secret_it_carried() {
    let secret = "planted-secret-41d9b2";
    let server = TestServer::start_redacting(SCRIPTS, &[secret]).await;
    let mut browser = Browser::new(&server);
    browser.sign_in("ada", "Admin", "").await;
    let csrf = csrf_in(&browser.get("/policies").await.body);

    let text = FREEZE_BROKEN.replace("Change freeze.", &format!("Change freeze {secret}"));
    let draft = browser
        .post(
            "/policies",
            &[("csrf", &csrf), ("text", &text), ("note", secret)],
        )
        .await;
    assert_eq!(draft.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(draft.body.contains(r#"<li id="line-6" class="flagged">"#));

    let bpmn = broken_diagram().replacen(
        r#"id="Flow_Draft_End""#,
        &format!(r#"id="Flow_Draft_End" name="{secret}""#),
        1,
    );
    let upload = browser
        .post_multipart(
            "/workflows",
            &[("csrf", &csrf)],
            ("bpmn", &format!("{secret}.bpmn"), &bpmn),
        )
        .await;
    assert_eq!(
        upload.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        upload.body
    );
    assert!(upload.body.contains(r#"<li id="line-18" class="flagged">"#));
    for answer in [&draft, &upload] {
        assert!(!answer.body.contains(secret), "{}", answer.body);
        assert!(answer.body.contains("[REDACTED"), "{}", answer.body);
    }
    server.stop().await;
}
