//! The web UI in a real headless Chromium, driven over WebDriver: an
//! Operator starts a run, sees it wait on the diagram; an Approver opens
//! the approval from the inbox, reads the call's arguments and approves it
//! with a comment; the run completes.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh`
//! installs them). Set `AGENTWERKE_UI_SCREENSHOTS=1` to save screenshots
//! of the main pages into `docs/screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::harness::TestServer;
use crate::ui::{CLARIFY, DIAGRAM, SCRIPTS};

/// A chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is not installed: apt-get install chromium chromium-driver \
                 (scripts/test.sh installs them)",
            );
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http.get(format!("{}/status", driver.url)).send().await
                && response.status().is_success()
            {
                return driver;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn browser(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--window-size=1280,1600",
            ]}),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Saves a screenshot of the page as `docs/screenshots/<name>.png`, only
/// when `AGENTWERKE_UI_SCREENSHOTS` is set, so the suite leaves the tree
/// clean.
async fn shoot(browser: &Client, name: &str) {
    if std::env::var_os("AGENTWERKE_UI_SCREENSHOTS").is_none() {
        return;
    }
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&folder).expect("the screenshot folder");
    let png = browser.screenshot().await.expect("a screenshot");
    std::fs::write(folder.join(format!("{name}.png")), png).expect("the screenshot");
}

/// The element `css` selects, waiting up to 10 s for it (a click that
/// submits a form returns before the next page has loaded).
async fn find(browser: &Client, css: &str) -> Element {
    let found = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await;
    match found {
        Ok(element) => element,
        Err(error) => {
            let source = browser.source().await.unwrap_or_default();
            panic!("{css} is not on the page ({error}): {source}");
        }
    }
}

async fn text(browser: &Client, css: &str) -> String {
    find(browser, css).await.text().await.expect("text")
}

async fn sign_in(browser: &Client, url: &str, name: &str, role: &str, groups: &str) {
    browser.goto(&format!("{url}/")).await.expect("goto");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/signin"),
        "signed out, / leads to sign-in"
    );
    find(browser, "#name")
        .await
        .send_keys(name)
        .await
        .expect("type");
    find(browser, "#role")
        .await
        .select_by_value(role)
        .await
        .expect("select");
    if !groups.is_empty() {
        find(browser, "#groups")
            .await
            .send_keys(groups)
            .await
            .expect("type");
    }
    find(browser, "#sign-in")
        .await
        .click()
        .await
        .expect("click");
    assert_eq!(
        text(browser, "#signed-in-as").await,
        format!(
            "{name} ({role}{})",
            if groups.is_empty() {
                String::new()
            } else {
                format!(", {groups}")
            }
        )
    );
}

async fn sign_out(browser: &Client) {
    find(browser, "#sign-out")
        .await
        .click()
        .await
        .expect("click");
    find(browser, "#signin-form").await;
}

/// Reloads the run page until its status is `status` (20 s at most).
async fn wait_for_status(browser: &Client, url: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        browser.goto(url).await.expect("goto");
        let shown = text(browser, "#run-status").await;
        if shown == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run page still says {shown}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn node_state(browser: &Client, node: &str) -> String {
    browser
        .find(Locator::Css(&format!("#diagram #node-{node}")))
        .await
        .expect("the node on the diagram")
        .attr("data-state")
        .await
        .expect("attr")
        .expect("a state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_starts_a_run_and_an_approver_approves_it_in_a_browser() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DIAGRAM).await;
    let driver = Driver::start().await;
    // Two browsers, each with its own cookies: the Operator's stays on the
    // run page while others sign in and decide.
    let operator = driver.browser().await;
    let other = driver.browser().await;
    let url = server.url.clone();

    // The Operator starts a run from the run list.
    sign_in(&operator, &url, "olivia", "Operator", "").await;
    shoot(&operator, "runs").await;
    find(&operator, "#workflow")
        .await
        .select_by_value("gateway-demo")
        .await
        .expect("select");
    let inputs = find(&operator, "#inputs").await;
    inputs.clear().await.expect("clear");
    inputs
        .send_keys(r#"{"release": "2.4"}"#)
        .await
        .expect("type");
    find(&operator, "#start-run")
        .await
        .click()
        .await
        .expect("click");
    // The run page, once it has loaded.
    find(&operator, "#run-status").await;
    let run_url = operator.current_url().await.expect("url").to_string();
    let run_id = run_url.rsplit('/').next().expect("an id").to_owned();
    assert_eq!(run_id.len(), 36, "{run_url}");

    // It pauses on the escalated call: the drafting node waits.
    wait_for_status(&operator, &run_url, "awaiting_approval").await;
    assert_eq!(node_state(&operator, "DraftReleaseNotes").await, "waiting");
    assert_eq!(node_state(&operator, "End").await, "pending");
    let calls = text(&operator, "#tool-calls").await;
    assert!(calls.contains("production/notes/2.4.md"), "{calls}");
    assert!(calls.contains("escalate"), "{calls}");
    assert!(operator.find(Locator::Id("cancel-form")).await.is_ok());
    shoot(&operator, "run-waiting").await;

    // A Viewer sees the same run and no action.
    sign_in(&other, &url, "vera", "Viewer", "").await;
    other.goto(&run_url).await.expect("goto");
    assert_eq!(text(&other, "#run-status").await, "awaiting_approval");
    assert!(other.find(Locator::Id("cancel-form")).await.is_err());
    other.goto(&format!("{url}/runs")).await.expect("goto");
    assert!(other.find(Locator::Id("start-form")).await.is_err());
    sign_out(&other).await;

    // A release manager opens it from the inbox and approves exactly the
    // call shown.
    sign_in(&other, &url, "rita", "Approver", "release-manager").await;
    other.goto(&format!("{url}/approvals")).await.expect("goto");
    shoot(&other, "approvals").await;
    find(&other, "#inbox a[href^='/approvals/']")
        .await
        .click()
        .await
        .expect("click");
    assert_eq!(text(&other, "#tool").await, "artifact.write");
    let arguments: serde_json::Value =
        serde_json::from_str(&text(&other, "#arguments").await).expect("JSON arguments");
    assert_eq!(
        arguments,
        json!({"path": "production/notes/2.4.md", "content": "Release 2.4 is live."})
    );
    assert_eq!(text(&other, "#requester").await, "olivia");
    assert_eq!(text(&other, "#agent").await, "release-assistant");
    assert!(!text(&other, "#rationale").await.is_empty());
    assert!(!text(&other, "#risk").await.is_empty());
    assert!(other.find(Locator::Id("risk-factors")).await.is_ok());
    shoot(&other, "approval").await;
    find(&other, "#comment")
        .await
        .send_keys("Checked the path and the text.")
        .await
        .expect("type");
    find(&other, "#approve").await.click().await.expect("click");
    // The decision, once the page after it has loaded.
    find(&other, "#decision").await;
    assert_eq!(text(&other, "#approval-status").await, "approved");
    assert_eq!(
        text(&other, "#decision-comment").await,
        "Checked the path and the text."
    );

    // The Operator's page, never reloaded, follows the run to its end
    // (htmx, loaded under the Content-Security-Policy, over the run's
    // live stream).
    follows_to(&operator, "completed").await;
    assert_eq!(
        operator.current_url().await.expect("url").as_str(),
        run_url,
        "no navigation"
    );
    assert_eq!(node_state(&operator, "DraftReleaseNotes").await, "done");
    // A finished run is not polled, and offers no cancel.
    operator.goto(&run_url).await.expect("goto");
    assert!(operator.find(Locator::Id("cancel-form")).await.is_err());
    shoot(&operator, "run-completed").await;
    let approved = server
        .get(&format!("/api/runs/{run_id}"), &server.admin())
        .await;
    assert_eq!(approved["approvals"][0]["decidedBy"], "rita");
    assert_eq!(
        approved["approvals"][0]["comment"],
        "Checked the path and the text."
    );

    operator.close().await.expect("close the browser");
    other.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_answers_an_agents_question_in_a_browser() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("clarify-request", CLARIFY).await;
    let run_id = server
        .start_run("clarify-request", json!({"title": "Audit export"}))
        .await;
    server.wait_status(&run_id, "waiting_user").await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let url = server.url.clone();
    let run_url = format!("{url}/runs/{run_id}");

    sign_in(&browser, &url, "olivia", "Operator", "").await;
    browser.goto(&run_url).await.expect("goto");
    assert_eq!(text(&browser, "#run-status").await, "waiting_user");
    assert_eq!(node_state(&browser, "Clarify").await, "waiting");
    assert!(
        text(&browser, ".question")
            .await
            .contains("Who is the summary of \"Audit export\" for?")
    );
    shoot(&browser, "run-question").await;
    find(&browser, ".answer-form textarea")
        .await
        .send_keys("the release managers")
        .await
        .expect("type");
    find(&browser, ".answer-form button")
        .await
        .click()
        .await
        .expect("click");
    wait_for_status(&browser, &run_url, "completed").await;
    let steps = text(&browser, "#steps").await;
    assert!(
        steps.contains("Summary of Audit export, written for the release managers."),
        "{steps}"
    );
    let conversation = text(&browser, "#conversation-title + dl").await;
    assert!(conversation.contains("olivia answered"), "{conversation}");

    browser.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

/// Replaces the text of the field `css` with `value`.
async fn type_into(browser: &Client, css: &str, value: &str) {
    let field = find(browser, css).await;
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(browser: &Client, css: &str) {
    find(browser, css).await.click().await.expect("click");
}

/// Whether the page has an element `css` selects, without waiting.
async fn has(browser: &Client, css: &str) -> bool {
    browser.find(Locator::Css(css)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_simulates_and_publishes_a_policy_and_halts_the_gateway_in_a_browser() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DIAGRAM).await;
    // Recorded calls for the simulation: two writes, one escalated.
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.4"}))
        .await;
    server.wait_status(&run_id, "awaiting_approval").await;
    let driver = Driver::start().await;
    let admin = driver.browser().await;
    let viewer = driver.browser().await;
    let url = server.url.clone();

    sign_in(&admin, &url, "ada", "Admin", "").await;
    admin.goto(&format!("{url}/policies")).await.expect("goto");
    assert_eq!(text(&admin, "#in-force").await, "builtin-1");
    assert!(has(&admin, "#no-sets").await);
    // The editor starts from the set in force.
    let start = find(&admin, "#policy-text")
        .await
        .prop("value")
        .await
        .expect("prop")
        .unwrap_or_default();
    assert!(start.contains("forbid-destructive-in-production"));

    // A syntax error on line 6 is shown at line 6, the text kept.
    type_into(&admin, "#policy-text", crate::ui_admin::FREEZE_BROKEN).await;
    type_into(&admin, "#note", "Change freeze").await;
    click(&admin, "#save-draft").await;
    let finding = find(&admin, "#draft-listing #line-6.flagged .finding").await;
    assert_eq!(
        finding.attr("data-line").await.expect("attr").as_deref(),
        Some("6")
    );
    let said = finding.text().await.expect("text");
    assert!(said.starts_with("Line 6, column "), "{said}");
    assert!(
        text(&admin, "#draft-listing #line-6 code")
            .await
            .contains("whenn")
    );
    assert_eq!(
        admin
            .find_all(Locator::Css("#draft-listing .flagged"))
            .await
            .expect("lines")
            .len(),
        1
    );
    assert!(
        text(&admin, "#draft-problem")
            .await
            .contains("nothing was stored")
    );
    shoot(&admin, "policy-editor").await;
    let kept = find(&admin, "#policy-text")
        .await
        .prop("value")
        .await
        .expect("prop")
        .unwrap_or_default();
    assert!(kept.contains("whenn"), "{kept}");

    // Fixed, it is stored as draft 1.
    type_into(&admin, "#policy-text", crate::ui_admin::FREEZE).await;
    click(&admin, "#save-draft").await;
    assert_eq!(text(&admin, "#set-status").await, "draft");
    assert!(
        admin
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/policies/1")
    );
    assert!(!has(&admin, "#set-in-force").await);

    // The simulation: the recorded writes would be rejected.
    type_into(&admin, "#runs", "10").await;
    click(&admin, "#simulate").await;
    let changed = text(&admin, "#changed-decisions").await;
    assert!(changed.contains("artifact.write"), "{changed}");
    assert!(changed.contains("freeze-writes"), "{changed}");
    assert!(changed.contains("escalate"), "{changed}");
    assert!(changed.contains(&run_id), "{changed}");
    let rows = admin
        .find_all(Locator::Css("#changed-decisions tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2, "{changed}");
    shoot(&admin, "policy-simulation").await;

    // Published, it is the set in force.
    click(&admin, "#publish").await;
    find(&admin, "#set-in-force").await;
    assert_eq!(text(&admin, "#set-status").await, "published");
    admin.goto(&format!("{url}/policies")).await.expect("goto");
    assert_eq!(text(&admin, "#in-force").await, "1");
    assert!(text(&admin, "#policy-sets").await.contains("in force"));
    let policies = server.get("/api/policies", &server.admin()).await;
    assert_eq!(policies["inForce"]["version"], "1");

    // The gateway: halted with a reason, then resumed.
    admin.goto(&format!("{url}/gateway")).await.expect("goto");
    assert!(has(&admin, "#no-halts").await);
    find(&admin, "#scope")
        .await
        .select_by_value("agent")
        .await
        .expect("select");
    type_into(&admin, "#target", "release-assistant").await;
    type_into(
        &admin,
        "#reason",
        "Incident 42: checking the release notes.",
    )
    .await;
    click(&admin, "#halt").await;
    let halts = text(&admin, "#halts").await;
    assert!(
        halts.contains("Incident 42: checking the release notes."),
        "{halts}"
    );
    assert!(halts.contains("release-assistant"), "{halts}");
    assert!(halts.contains("ada"), "{halts}");
    shoot(&admin, "gateway").await;
    let listed = server.get("/api/gateway/halts", &server.admin()).await;
    assert_eq!(
        listed["items"][0]["reason"],
        "Incident 42: checking the release notes."
    );

    // A Viewer sees the sets, the text and the halt, and no action.
    sign_in(&viewer, &url, "vera", "Viewer", "").await;
    for path in ["/policies", "/policies/1", "/gateway"] {
        viewer.goto(&format!("{url}{path}")).await.expect("goto");
        find(&viewer, "main h1").await;
        for form in [
            "#draft-form",
            "#simulate-form",
            "#publish-form",
            "#halt-form",
            ".resume-form",
            "#edit-copy",
        ] {
            assert!(!has(&viewer, form).await, "{path} offers {form}");
        }
    }
    assert!(text(&viewer, "#halts").await.contains("Incident 42"));

    click(&admin, ".resume").await;
    find(&admin, "#no-halts").await;
    let listed = server.get("/api/gateway/halts", &server.admin()).await;
    assert_eq!(listed["items"], json!([]));

    admin.close().await.expect("close the browser");
    viewer.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_uploads_and_publishes_a_workflow_and_starts_it_in_a_browser() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let files = tempfile::tempdir().expect("a temporary folder");
    let broken = files.path().join("broken.bpmn");
    std::fs::write(&broken, crate::ui_admin::broken_diagram()).expect("write");
    let good = files.path().join("gateway-demo.bpmn");
    std::fs::write(&good, DIAGRAM).expect("write");
    let driver = Driver::start().await;
    let admin = driver.browser().await;
    let viewer = driver.browser().await;
    let url = server.url.clone();

    sign_in(&admin, &url, "ada", "Admin", "").await;
    admin.goto(&format!("{url}/workflows")).await.expect("goto");
    assert!(has(&admin, "#no-workflows").await);

    // The broken file: its finding at line 18, with the lines around it.
    find(&admin, "#bpmn")
        .await
        .send_keys(broken.to_str().expect("a path"))
        .await
        .expect("choose the file");
    click(&admin, "#upload").await;
    let finding = text(&admin, "#upload-listing #line-18.flagged .finding").await;
    assert!(finding.starts_with("Line 18"), "{finding}");
    assert!(finding.contains("Nowhere"), "{finding}");
    assert!(
        text(&admin, "#upload-listing #line-18 code")
            .await
            .contains(r#"targetRef="Nowhere""#)
    );
    assert!(has(&admin, "#upload-listing #line-16").await);
    assert!(!has(&admin, "#upload-listing #line-1").await);
    assert!(text(&admin, "#refused-title").await.contains("broken.bpmn"));
    shoot(&admin, "workflow-upload-refused").await;
    assert!(has(&admin, "#no-workflows").await, "nothing was imported");

    // The good file is imported as a draft, then published.
    find(&admin, "#bpmn")
        .await
        .send_keys(good.to_str().expect("a path"))
        .await
        .expect("choose the file");
    click(&admin, "#upload").await;
    assert_eq!(text(&admin, "#published-version").await, "none yet");
    assert_eq!(text(&admin, "#version-1 .version-status").await, "draft");
    click(&admin, "#version-1 .publish").await;
    find(&admin, "#start-link").await;
    assert_eq!(text(&admin, "#published-version").await, "1");
    assert_eq!(
        text(&admin, "#version-1 .version-status").await,
        "published"
    );
    assert!(!has(&admin, "#version-1 .publish").await);
    shoot(&admin, "workflow").await;

    // A Viewer sees the workflow and no upload or publish.
    sign_in(&viewer, &url, "vera", "Viewer", "").await;
    viewer
        .goto(&format!("{url}/workflows"))
        .await
        .expect("goto");
    assert!(text(&viewer, "#workflows").await.contains("gateway-demo"));
    assert!(!has(&viewer, "#upload-form").await);
    viewer
        .goto(&format!("{url}/workflows/gateway-demo"))
        .await
        .expect("goto");
    assert_eq!(text(&viewer, "#published-version").await, "1");
    assert!(!has(&viewer, ".publish-form").await);

    // Started from the run list, it runs.
    click(&admin, "#start-link").await;
    find(&admin, "#workflow")
        .await
        .select_by_value("gateway-demo")
        .await
        .expect("select");
    type_into(&admin, "#inputs", r#"{"release": "3.0"}"#).await;
    click(&admin, "#start-run").await;
    find(&admin, "#run-status").await;
    let run_url = admin.current_url().await.expect("url").to_string();
    wait_for_status(&admin, &run_url, "awaiting_approval").await;
    let run_id = run_url.rsplit('/').next().expect("an id");
    let run = server
        .get(&format!("/api/runs/{run_id}"), &server.admin())
        .await;
    assert_eq!(run["workflowId"], "gateway-demo");
    assert_eq!(run["requestedBy"], "ada");

    admin.close().await.expect("close the browser");
    viewer.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

/// Signing in through the identity provider in a real browser: the sign-in
/// page's "Sign in with …" link goes to the provider (a fake one that
/// consents at once), which sends the browser back with a code; the
/// server redeems it with the PKCE verifier, checks the ID token, and the
/// browser lands signed in with the role and group from the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_through_the_identity_provider_in_a_browser() {
    let idp = crate::fake_idp::FakeIdp::start().await;
    let server = TestServer::start_with_oidc(
        |url| idp.config(url),
        Vec::new(),
        crate::harness::Vars::default(),
    )
    .await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser
        .goto(&format!("{}/", server.url))
        .await
        .expect("goto");
    let link = find(&browser, "#sign-in-oidc").await;
    assert_eq!(
        link.text().await.expect("text"),
        format!("Sign in with {}", idp.issuer)
    );
    shoot(&browser, "signin-oidc").await;
    link.click().await.expect("click");
    assert_eq!(
        text(&browser, "#signed-in-as").await,
        "rita (Approver, release-manager)"
    );
    let landed = browser.current_url().await.expect("url");
    assert_eq!(landed.path(), "/runs");
    let asked = idp.with(|i| i.authorizations.clone());
    assert_eq!(asked.len(), 1, "one trip to the provider");
    assert_eq!(asked[0]["code_challenge_method"], "S256");
    find(&browser, "a[href='/approvals']")
        .await
        .click()
        .await
        .expect("click");
    find(&browser, "h1").await;
    assert_eq!(
        browser.current_url().await.expect("url").path(),
        "/approvals",
        "the session carries on"
    );

    browser.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_opens_a_runs_evidence_sees_it_verified_and_downloads_it_in_a_browser() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    let run_id = crate::ui_evidence::completed_run(&server).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let url = server.url.clone();

    sign_in(&browser, &url, "vera", "Viewer", "").await;
    browser
        .goto(&format!("{url}/runs/{run_id}"))
        .await
        .expect("goto");
    find(&browser, "#evidence-link")
        .await
        .click()
        .await
        .expect("click");
    assert_eq!(text(&browser, "#verification-status").await, "verified");
    let key = agentwerke_evidence::keys::signing_key_from_seed([7u8; 32]).verifying_key();
    assert_eq!(
        text(&browser, "#key-id").await,
        agentwerke_evidence::keys::key_id(&key)
    );
    let pack = server.evidence_pack(&run_id).await;
    assert_eq!(
        text(&browser, "#chain-head").await,
        pack["integrity"]["chainHead"]["hash"]
            .as_str()
            .expect("a head")
    );
    let calls = text(&browser, "#evidence-tool-calls").await;
    assert!(calls.contains("artifact.write"), "{calls}");
    assert!(calls.contains("escalate"), "{calls}");
    let approvals = text(&browser, "#evidence-approvals").await;
    assert!(approvals.contains("Path and text checked."), "{approvals}");
    shoot(&browser, "evidence").await;

    // The download link, fetched with this browser's session, answers the
    // API's pack: verified with the server's key, equal but for when it
    // was generated.
    let href = find(&browser, "#evidence-download")
        .await
        .attr("href")
        .await
        .expect("attr")
        .expect("a link");
    let bytes = with_session(&browser, &format!("{url}{href}")).await;
    let report = agentwerke_evidence::verify(&bytes, Some(&key));
    assert!(report.is_valid(), "{:?}", report.problems);
    let downloaded: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(
        crate::ui_evidence::but_generation(downloaded),
        crate::ui_evidence::but_generation(pack)
    );

    browser.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_rotates_a_secret_in_a_browser_and_the_value_is_nowhere() {
    let logs = ServerLogs::capture();
    let first = "first-browser-value-2d7a91";
    let second = "rotated-browser-value-c4e03f";
    let server = TestServer::start().await;
    crate::ui_evidence::put_secret(&server, "deploy_token", first).await;
    // The browser talks to the server through a recorder, which keeps
    // every request line and every answer exactly as the browser got them.
    let recorder = Recorder::start(&server.url).await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let url = recorder.url.clone();
    let mut sources = Vec::new();

    sign_in(&browser, &url, "ada", "Admin", "").await;
    find(&browser, "nav a[href='/settings']")
        .await
        .click()
        .await
        .expect("click");
    let old = text(&browser, "#secret-deploy_token .fingerprint").await;
    assert!(old.starts_with("hmac-sha256:"), "{old}");
    sources.push(browser.source().await.expect("source"));
    let field = find(&browser, "#value-deploy_token").await;
    assert_eq!(
        field.attr("type").await.expect("attr").as_deref(),
        Some("password")
    );
    assert_eq!(
        field.attr("autocomplete").await.expect("attr").as_deref(),
        Some("off")
    );
    field.send_keys(second).await.expect("type");
    find(&browser, "#rotate-deploy_token button")
        .await
        .click()
        .await
        .expect("click");
    let new = text(&browser, "#rotated-fingerprint").await;
    assert_ne!(new, old, "the fingerprint changed");
    assert_eq!(
        text(&browser, "#secret-deploy_token .fingerprint").await,
        new
    );
    let listed = crate::ui_evidence::fingerprints(&server).await;
    assert!(
        listed
            .iter()
            .any(|(name, f)| name == "deploy_token" && *f == new.as_str()),
        "{listed:?}"
    );
    let landed = browser.current_url().await.expect("url");
    assert_eq!(
        format!("{}?{}", landed.path(), landed.query().unwrap_or_default()),
        "/settings?rotated=deploy_token"
    );
    sources.push(browser.source().await.expect("source"));
    shoot(&browser, "settings").await;
    for page in ["/runs", "/settings"] {
        browser.goto(&format!("{url}{page}")).await.expect("goto");
        sources.push(browser.source().await.expect("source"));
    }

    for source in &sources {
        assert!(
            !source.contains(second) && !source.contains(first),
            "{source}"
        );
    }
    let seen = recorder.seen();
    assert!(
        seen.iter()
            .any(|x| x.request == "POST /settings/secrets/deploy_token" && x.status == 303),
        "the rotation went through the recorder"
    );
    for exchange in &seen {
        for value in [first, second] {
            assert!(!exchange.request.contains(value), "{}", exchange.request);
            assert!(!exchange.head.contains(value), "{}", exchange.head);
            assert!(
                !String::from_utf8_lossy(&exchange.body).contains(value),
                "the answer to {} carries the value",
                exchange.request
            );
        }
    }
    let log = logs.text();
    assert!(
        log.contains("/settings/secrets/deploy_token"),
        "the server's log was captured: {log}"
    );
    for value in [first, second] {
        assert!(!log.contains(value), "the server's log carries the value");
    }

    browser.close().await.expect("close the browser");
    drop(driver);
    recorder.stop();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_gets_no_rotation_form_and_forged_rotations_are_refused_in_a_browser() {
    let server = TestServer::start().await;
    crate::ui_evidence::put_secret(&server, "deploy_token", "kept-browser-value-9e15").await;
    let before = crate::ui_evidence::fingerprints(&server).await;
    let driver = Driver::start().await;
    let viewer = driver.browser().await;
    let admin = driver.browser().await;
    let url = server.url.clone();
    let rotate = format!("{url}/settings/secrets/deploy_token");

    // The Viewer follows the Settings link and is told why not.
    sign_in(&viewer, &url, "vera", "Viewer", "").await;
    let csrf = find(&viewer, "input[name='csrf']")
        .await
        .attr("value")
        .await
        .expect("attr")
        .expect("the session's token");
    find(&viewer, "nav a[href='/settings']")
        .await
        .click()
        .await
        .expect("click");
    assert_eq!(text(&viewer, "#error-title").await, "403 Forbidden");
    assert!(
        text(&viewer, "#error-message")
            .await
            .contains("manage_settings permission")
    );
    assert!(
        viewer
            .find_all(Locator::Css("form.rotate-form, input[type='password']"))
            .await
            .expect("find")
            .is_empty()
    );
    // A form forged in the Viewer's page, carrying the Viewer's own valid
    // token, is the API's refusal.
    forge_post(
        &viewer,
        &rotate,
        &[("csrf", &csrf), ("value", "forged-by-viewer-31aa")],
    )
    .await;
    assert_eq!(text(&viewer, "#error-title").await, "403 Forbidden");
    assert!(
        text(&viewer, "#error-message")
            .await
            .contains("manage_settings permission")
    );

    // An Admin's browser posting a form without the session's token (as a
    // page of another site would) is refused too.
    sign_in(&admin, &url, "ada", "Admin", "").await;
    forge_post(&admin, &rotate, &[("value", "forged-without-token-8b02")]).await;
    assert_eq!(text(&admin, "#error-title").await, "403 Forbidden");
    assert!(
        text(&admin, "#error-message")
            .await
            .contains("security token")
    );
    assert_eq!(crate::ui_evidence::fingerprints(&server).await, before);

    viewer.close().await.expect("close the browser");
    admin.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}

/// GETs `url` with the session cookie of `browser` (a download, which a
/// headless browser saves instead of showing); the answer's bytes.
async fn with_session(browser: &Client, url: &str) -> Vec<u8> {
    let session = browser
        .get_named_cookie("aw_session")
        .await
        .expect("the session cookie");
    let response = reqwest::Client::new()
        .get(url)
        .header("cookie", format!("aw_session={}", session.value()))
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.bytes().await.expect("body").to_vec()
}

/// Builds a form in the page `browser` shows, posting `fields` to `action`,
/// and submits it: a forged form, as a script or another page would post.
async fn forge_post(browser: &Client, action: &str, fields: &[(&str, &str)]) {
    let fields: Vec<serde_json::Value> = fields.iter().map(|(k, v)| json!([k, v])).collect();
    browser
        .execute(
            "const form = document.createElement('form');
             form.method = 'post';
             form.action = arguments[0];
             for (const [name, value] of arguments[1]) {
               const input = document.createElement('input');
               input.type = 'hidden';
               input.name = name;
               input.value = value;
               form.appendChild(input);
             }
             document.body.appendChild(form);
             form.submit();",
            vec![json!(action), json!(fields)],
        )
        .await
        .expect("a forged form");
}

/// Everything the server logs while a test runs, at every level, as text:
/// the one log subscriber of the test process.
#[derive(Clone, Default)]
struct ServerLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl ServerLogs {
    /// Installs the capture (once per process) and returns it.
    fn capture() -> Self {
        static LOGS: std::sync::OnceLock<ServerLogs> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = ServerLogs::default();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(logs.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other log subscriber");
            logs
        })
        .clone()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

impl std::io::Write for ServerLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ServerLogs {
    type Writer = ServerLogs;

    fn make_writer(&'a self) -> ServerLogs {
        self.clone()
    }
}

/// One request the browser made through the [`Recorder`] and its answer.
#[derive(Clone)]
struct Exchange {
    /// `POST /settings/secrets/deploy_token`.
    request: String,
    status: u16,
    /// The answer's headers, one `name: value` a line.
    head: String,
    body: Vec<u8>,
}

/// A reverse proxy in front of the server that keeps every exchange, so a
/// test sees every byte the browser was answered, redirects included.
struct Recorder {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Upstream {
    url: String,
    http: reqwest::Client,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>,
}

impl Recorder {
    async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::default();
        let state = Upstream {
            url: upstream.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            seen: std::sync::Arc::clone(&seen),
        };
        let app = axum::Router::new().fallback(relay).with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { url, seen, task }
    }

    fn seen(&self) -> Vec<Exchange> {
        self.seen.lock().expect("exchanges").clone()
    }

    fn stop(self) {
        self.task.abort();
    }
}

/// Passes one request on to the server and its answer back, keeping both.
async fn relay(
    axum::extract::State(upstream): axum::extract::State<Upstream>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the request body");
    let mut forwarded = upstream
        .http
        .request(parts.method.clone(), format!("{}{target}", upstream.url))
        .body(body);
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.send().await.expect("the server answers");
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.expect("the answer's body");
    upstream.seen.lock().expect("exchanges").push(Exchange {
        request: format!("{} {target}", parts.method),
        status: status.as_u16(),
        head: headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
            .collect::<Vec<_>>()
            .join("\n"),
        body: bytes.to_vec(),
    });
    let mut relayed = axum::response::Response::new(axum::body::Body::from(bytes));
    *relayed.status_mut() = status;
    for (name, value) in &headers {
        if name != axum::http::header::TRANSFER_ENCODING
            && name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::CONNECTION
        {
            relayed.headers_mut().append(name, value.clone());
        }
    }
    relayed
}

/// Start -> Route (exclusive) -> Review (approval, the default) | Escalate
/// (approval, for large amounts) -> End, with its BPMNDI.
const ROUTED_GATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
                  xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
                  xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
                  xmlns:autofac="https://agentwerke.de/bpmn/extensions/v1"
                  id="routed-gate-definitions" targetNamespace="https://agentwerke.de/tests">
  <bpmn:process id="routed-gate" name="Routed gate" isExecutable="true">
    <bpmn:startEvent id="Start" name="Start"/>
    <bpmn:exclusiveGateway id="Route" name="Large?" default="ToReview"/>
    <bpmn:userTask id="Review" name="Review">
      <bpmn:extensionElements>
        <autofac:approvalTask purposeType="review" policyTag="t" approverRole="Approver"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:userTask id="Escalate" name="Escalate">
      <bpmn:extensionElements>
        <autofac:approvalTask purposeType="review" policyTag="t" approverRole="Approver"/>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="End" name="End"/>
    <bpmn:sequenceFlow id="ToRoute" sourceRef="Start" targetRef="Route"/>
    <bpmn:sequenceFlow id="ToReview" sourceRef="Route" targetRef="Review"/>
    <bpmn:sequenceFlow id="ToEscalate" sourceRef="Route" targetRef="Escalate">
      <bpmn:conditionExpression>input.amount &gt; 1000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="ReviewEnd" sourceRef="Review" targetRef="End"/>
    <bpmn:sequenceFlow id="EscalateEnd" sourceRef="Escalate" targetRef="End"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="D">
    <bpmndi:BPMNPlane id="P" bpmnElement="routed-gate">
      <bpmndi:BPMNShape id="Start_di" bpmnElement="Start"><dc:Bounds x="100" y="152" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Route_di" bpmnElement="Route"><dc:Bounds x="190" y="145" width="50" height="50"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Review_di" bpmnElement="Review"><dc:Bounds x="300" y="60" width="100" height="80"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Escalate_di" bpmnElement="Escalate"><dc:Bounds x="300" y="200" width="100" height="80"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="End_di" bpmnElement="End"><dc:Bounds x="470" y="152" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="ToRoute_di" bpmnElement="ToRoute"><di:waypoint x="136" y="170"/><di:waypoint x="190" y="170"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="ToReview_di" bpmnElement="ToReview"><di:waypoint x="215" y="145"/><di:waypoint x="215" y="100"/><di:waypoint x="300" y="100"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="ToEscalate_di" bpmnElement="ToEscalate"><di:waypoint x="215" y="195"/><di:waypoint x="215" y="240"/><di:waypoint x="300" y="240"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="ReviewEnd_di" bpmnElement="ReviewEnd"><di:waypoint x="400" y="100"/><di:waypoint x="488" y="100"/><di:waypoint x="488" y="152"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="EscalateEnd_di" bpmnElement="EscalateEnd"><di:waypoint x="400" y="240"/><di:waypoint x="488" y="240"/><di:waypoint x="488" y="188"/></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>"#;

/// The accessible name of a node's shape on the diagram.
async fn node_label(browser: &Client, node: &str) -> String {
    find(browser, &format!("#diagram #node-{node}"))
        .await
        .attr("aria-label")
        .await
        .expect("attr")
        .expect("an accessible name")
}

/// Waits up to 20 s, without reloading, for the run page to say `status`.
async fn follows_to(browser: &Client, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The element may be swapped out between finding and reading it.
        let shown = match browser.find(Locator::Id("run-status")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if shown.as_deref() == Some(status) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not follow the run to {status}: it says {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The diagram colours events and gateways too: the start event and the
/// gateway a token passed are done, the branch it did not take is skipped,
/// each shape says so in words, and the run page (and the run list's status
/// column) follow the run over its live stream, without a reload, when an
/// approval decided through the API lets it complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diagram_shows_passed_and_skipped_nodes_and_follows_the_run_live() {
    let server = TestServer::start().await;
    server.publish("routed-gate", ROUTED_GATE).await;
    let run_id = server.start_run("routed-gate", json!({"amount": 10})).await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("a pending approval")
        .to_owned();
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let lister = driver.browser().await;
    let url = server.url.clone();
    let run_url = format!("{url}/runs/{run_id}");

    sign_in(&browser, &url, "olivia", "Operator", "").await;
    browser.goto(&run_url).await.expect("goto");
    assert_eq!(text(&browser, "#run-status").await, "awaiting_approval");
    assert_eq!(node_state(&browser, "Start").await, "done");
    assert_eq!(node_state(&browser, "Route").await, "done");
    assert_eq!(node_state(&browser, "Review").await, "waiting");
    assert_eq!(node_state(&browser, "Escalate").await, "skipped");
    assert_eq!(node_state(&browser, "End").await, "pending");
    assert_eq!(
        node_label(&browser, "Route").await,
        "Large? (exclusive gateway): done"
    );
    assert_eq!(
        node_label(&browser, "Escalate").await,
        "Escalate (approval task): skipped"
    );
    let legend = text(&browser, ".legend").await;
    assert!(
        legend.contains("skipped") && legend.contains("not reached yet"),
        "{legend}"
    );
    shoot(&browser, "run-diagram").await;

    // A second browser watches the run list, filtered by workflow.
    sign_in(&lister, &url, "vera", "Viewer", "").await;
    lister
        .goto(&format!("{url}/runs?workflow=routed-gate"))
        .await
        .expect("goto");
    assert_eq!(text(&lister, ".run-status").await, "awaiting_approval");

    server
        .post(
            &format!("/api/approvals/{approval}/decision"),
            &server.approver(),
            json!({"decision": "approve", "comment": "fine"}),
        )
        .await;
    follows_to(&browser, "completed").await;
    assert_eq!(
        browser.current_url().await.expect("url").as_str(),
        run_url,
        "no navigation"
    );
    assert_eq!(node_state(&browser, "Review").await, "done");
    assert_eq!(node_state(&browser, "End").await, "done");
    assert_eq!(node_state(&browser, "Escalate").await, "skipped");
    assert!(browser.find(Locator::Id("cancel-form")).await.is_err());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shown = match lister.find(Locator::Css(".run-status")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if shown.as_deref() == Some("completed") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run list did not follow the run: {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        lister.current_url().await.expect("url").path(),
        "/runs",
        "no navigation"
    );

    browser.close().await.expect("close the browser");
    lister.close().await.expect("close the browser");
    drop(driver);
    server.stop().await;
}
