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
    // (htmx, loaded under the Content-Security-Policy, polls it).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        // The element may be swapped out between finding and reading it.
        let shown = match operator.find(Locator::Id("run-status")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if shown.as_deref() == Some("completed") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run page did not follow the run"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
