//! The web UI over HTTP: every page carries the security headers, a form
//! posted without the session's CSRF token changes nothing, and the pages
//! show what the API holds, escaped.

use reqwest::header::{CONTENT_SECURITY_POLICY, HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::json;

use crate::harness::TestServer;

/// The gateway demo, with its BPMNDI.
pub(crate) const DIAGRAM: &str = include_str!("../../../../examples/gateway-demo.bpmn");
pub(crate) const SCRIPTS: &str = include_str!("../../../../examples/scripts.toml");

/// A browser without script: keeps its cookies by hand, follows no
/// redirect, so every answer can be looked at.
pub(crate) struct Browser {
    url: String,
    http: Client,
    cookies: Vec<(String, String)>,
}

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(server: &TestServer) -> Self {
        Self {
            url: server.url.clone(),
            http: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let value = value.to_str().expect("a cookie");
            let pair = value.split(';').next().expect("a pair");
            let (name, kept) = pair.split_once('=').expect("name=value");
            self.cookies.retain(|(k, _)| k != name);
            if !value.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), kept.to_owned()));
            }
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.answer(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"))
            .send()
            .await
            .expect("POST");
        self.answer(response).await
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        self.keep(&headers);
        let body = response.text().await.expect("body");
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Signs in locally as `name` with `role` and `groups`.
    pub(crate) async fn sign_in(&mut self, name: &str, role: &str, groups: &str) {
        let form = self.get("/signin").await;
        let nonce = csrf_in(&form.body);
        let done = self
            .post(
                "/signin",
                &[
                    ("csrf", &nonce),
                    ("name", name),
                    ("role", role),
                    ("groups", groups),
                ],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    }

    /// Posts `fields` and one file as `multipart/form-data`, as a file
    /// input's form does.
    pub(crate) async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &str),
    ) -> Answer {
        let boundary = "agentwerke-test-boundary-7f3a";
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        let (name, file_name, content) = file;
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/xml\r\n\r\n{content}\r\n--{boundary}--\r\n"
        ));
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .expect("POST");
        self.answer(response).await
    }
}

/// The value of the first `csrf` hidden field of a page.
pub(crate) fn csrf_in(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = html[start..].find('"').expect("the field's end") + start;
    html[start..end].to_owned()
}

/// The headers every UI answer carries.
fn assert_secured(what: &str, answer: &Answer) {
    let csp = answer
        .headers
        .get(CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .expect("text");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(
        answer.headers["x-content-type-options"], "nosniff",
        "{what}"
    );
    assert_eq!(answer.headers["referrer-policy"], "no-referrer", "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_secured_and_forged_forms_change_nothing() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DIAGRAM).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "<b>2.4</b>"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("an approval")
        .to_owned();

    // Signed out: every page sends the browser to sign in.
    let mut anonymous = Browser::new(&server);
    for path in ["/", "/runs", &format!("/runs/{run_id}"), "/approvals"] {
        let answer = anonymous.get(path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(answer.headers[LOCATION], "/signin", "{path}");
        assert_secured(path, &answer);
    }
    // A sign-in posted without the form's own cookie (from another site)
    // opens no session.
    let forged = anonymous
        .post(
            "/signin",
            &[
                ("csrf", "0".repeat(64).as_str()),
                ("name", "mallory"),
                ("role", "Admin"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.headers.get(SET_COOKIE).is_none());

    let mut browser = Browser::new(&server);
    browser.sign_in("rita", "Approver", "release-manager").await;
    let session = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "aw_session")
        .expect("a session cookie")
        .1
        .clone();
    assert_eq!(session.len(), 64);
    for path in [
        "/runs".to_owned(),
        "/runs?status=awaiting_approval".to_owned(),
        format!("/runs/{run_id}"),
        "/approvals".to_owned(),
        format!("/approvals/{approval}"),
        "/assets/htmx.min.js".to_owned(),
        "/assets/app.css".to_owned(),
    ] {
        let answer = browser.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_secured(&path, &answer);
    }
    let missing = browser.get("/approvals/no-such-approval").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_secured("a refusal", &missing);
    assert!(missing.body.contains("does not exist"), "{}", missing.body);

    // The run's input is shown escaped, never as markup.
    let page = browser.get(&format!("/runs/{run_id}")).await;
    assert!(
        page.body.contains("&#60;b&#62;2.4&#60;/b&#62;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>2.4</b>"));
    // No inline script or style anywhere.
    for answer in [&page, &browser.get(&format!("/approvals/{approval}")).await] {
        assert!(!answer.body.contains("<script>"), "inline script");
        assert!(!answer.body.contains("style="), "inline style");
        assert!(!answer.body.contains("<style"), "inline style");
    }

    // The decision form, posted with the session cookie but without the
    // session's token, or with another one, is refused and decides nothing.
    let path = format!("/approvals/{approval}/decision");
    for token in [None, Some("0".repeat(64)), Some(String::new())] {
        let mut fields = vec![("decision", "approve"), ("comment", "forged")];
        if let Some(token) = &token {
            fields.push(("csrf", token.as_str()));
        }
        let answer = browser.post(&path, &fields).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{token:?}");
        assert_secured("a forged post", &answer);
    }
    let cancel = browser
        .post(&format!("/runs/{run_id}/cancel"), &[("reason", "forged")])
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);
    let sign_out = browser.post("/signout", &[]).await;
    assert_eq!(sign_out.status, StatusCode::FORBIDDEN);
    let still = server
        .get(&format!("/api/approvals/{approval}"), &server.admin())
        .await;
    assert_eq!(still["status"], "pending", "{still:#}");
    let run = server
        .get(&format!("/api/runs/{run_id}"), &server.admin())
        .await;
    assert_eq!(run["status"], "awaiting_approval");

    // The token of one session does not open another's forms.
    let mut other = Browser::new(&server);
    other.sign_in("rex", "Approver", "release-manager").await;
    let foreign = csrf_in(&other.get("/runs").await.body);
    let answer = browser
        .post(&path, &[("decision", "approve"), ("csrf", &foreign)])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    // With its own token the same form decides, once.
    let own = csrf_in(&browser.get(&format!("/approvals/{approval}")).await.body);
    let answer = browser
        .post(
            &path,
            &[
                ("decision", "approve"),
                ("comment", "Looks right."),
                ("csrf", &own),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let decided = server
        .get(&format!("/api/approvals/{approval}"), &server.admin())
        .await;
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decidedBy"], "rita");
    assert_eq!(decided["comment"], "Looks right.");

    // Signed out, the session is gone on the server too.
    let answer = browser.post("/signout", &[("csrf", &own)]).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let mut replay = Browser::new(&server);
    replay.cookies.push(("aw_session".to_owned(), session));
    let answer = replay.get("/runs").await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the old cookie opens nothing"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_role_checks_as_the_api_decide_what_a_page_offers() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("gateway-demo", DIAGRAM).await;
    let mut operator = Browser::new(&server);
    operator.sign_in("olivia", "Operator", "").await;
    // The operator starts the run from the run list's form.
    let runs = operator.get("/runs").await;
    assert!(runs.body.contains(r#"id="start-form""#));
    let csrf = csrf_in(&runs.body);
    let started = operator
        .post(
            "/runs",
            &[
                ("csrf", &csrf),
                ("workflow", "gateway-demo"),
                ("inputs", r#"{"release": "2.5"}"#),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let location = started.headers[LOCATION].to_str().expect("text").to_owned();
    let run_id = location.trim_start_matches("/runs/").to_owned();
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(run["requestedBy"], "olivia");
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("an approval")
        .to_owned();

    // A Viewer is offered no action, and a decision is explained away.
    let mut viewer = Browser::new(&server);
    viewer.sign_in("vera", "Viewer", "").await;
    let runs = viewer.get("/runs").await;
    assert!(!runs.body.contains("start-form"));
    let page = viewer.get(&format!("/runs/{run_id}")).await;
    assert!(page.body.contains("awaiting_approval"));
    assert!(!page.body.contains("cancel-form"));
    let page = viewer.get(&format!("/approvals/{approval}")).await;
    assert!(!page.body.contains("decision-form"));
    assert!(
        page.body.contains("needs the Approver or Admin role"),
        "{}",
        page.body
    );
    // Posting anyway is the API's refusal, and changes nothing.
    let csrf = csrf_in(&page.body);
    let refused = viewer
        .post(&format!("/runs/{run_id}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("cancel_run permission"),
        "{}",
        refused.body
    );

    // An Approver without the group the policy names is told which.
    let mut approver = Browser::new(&server);
    approver.sign_in("arne", "Approver", "").await;
    let page = approver.get(&format!("/approvals/{approval}")).await;
    assert!(!page.body.contains("decision-form"));
    assert!(page.body.contains("release-manager"), "{}", page.body);
    let inbox = approver.get("/approvals").await;
    assert!(inbox.body.contains("Nothing is waiting for you"));
    // The run's requester, even holding the group, may not approve it.
    let mut requester = Browser::new(&server);
    requester
        .sign_in("olivia", "Approver", "release-manager")
        .await;
    let page = requester.get(&format!("/approvals/{approval}")).await;
    assert!(!page.body.contains("decision-form"));
    assert!(
        page.body.contains("you requested this run"),
        "{}",
        page.body
    );
    let csrf = csrf_in(&page.body);
    let refused = requester
        .post(
            &format!("/approvals/{approval}/decision"),
            &[("csrf", &csrf), ("decision", "approve")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The operator may cancel; the run is cancelled through the API's road.
    let page = operator.get(&format!("/runs/{run_id}")).await;
    assert!(page.body.contains("cancel-form"));
    let csrf = csrf_in(&page.body);
    let cancelled = operator
        .post(
            &format!("/runs/{run_id}/cancel"),
            &[("csrf", &csrf), ("reason", "Not this release.")],
        )
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    server.wait_status(&run_id, "cancelled").await;
    server.stop().await;
}

const FLAKY: &str = r#"
[[nodes.Analyze]]
fail = { code = "provider.unavailable", message = "the model provider is down", times = 1 }

[[nodes.Analyze]]
reply = "analysed on the second attempt"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_is_retried_from_its_page_by_those_allowed() {
    let server = TestServer::start_with_scripts(FLAKY).await;
    server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let run_id = server.start_run("hello-sdlc", json!({"title": "x"})).await;
    server.wait_status(&run_id, "failed").await;
    let page_path = format!("/runs/{run_id}");

    let mut viewer = Browser::new(&server);
    viewer.sign_in("vera", "Viewer", "").await;
    let page = viewer.get(&page_path).await;
    assert!(page.body.contains("provider.unavailable"), "{}", page.body);
    assert!(!page.body.contains("retry-form"));

    let mut operator = Browser::new(&server);
    operator.sign_in("olivia", "Operator", "").await;
    let page = operator.get(&page_path).await;
    assert!(page.body.contains("retry-form"), "{}", page.body);
    assert!(
        !page.body.contains("cancel-form"),
        "a finished run offers no cancel"
    );
    let retry = format!("/runs/{run_id}/retry");
    let forged = operator.post(&retry, &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let run = server
        .get(&format!("/api/runs/{run_id}"), &server.admin())
        .await;
    assert_eq!(run["status"], "failed", "a forged retry changed nothing");

    let csrf = csrf_in(&page.body);
    let viewer_csrf = csrf_in(&viewer.get(&page_path).await.body);
    let refused = viewer.post(&retry, &[("csrf", &viewer_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("retry_run permission"),
        "{}",
        refused.body
    );

    let done = operator.post(&retry, &[("csrf", &csrf)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    assert_eq!(
        run["steps"][1]["output"]["text"],
        "analysed on the second attempt"
    );
    // Retrying again is the API's refusal, shown as a page.
    let again = operator.post(&retry, &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_those_who_may_answer_get_the_answer_form() {
    let server = TestServer::start_with_scripts(SCRIPTS).await;
    server.publish("clarify-request", CLARIFY).await;
    let run_id = server
        .start_run("clarify-request", json!({"title": "Audit export"}))
        .await;
    let run = server.wait_status(&run_id, "waiting_user").await;
    let question = run["pendingQuestions"][0]["id"]
        .as_str()
        .expect("a question")
        .to_owned();
    let page_path = format!("/runs/{run_id}");

    let mut approver = Browser::new(&server);
    approver.sign_in("arne", "Approver", "").await;
    let page = approver.get(&page_path).await;
    assert!(page.body.contains("Who is the summary of"), "{}", page.body);
    assert!(!page.body.contains("answer-form"));
    assert!(
        page.body
            .contains("Answering needs the Operator or Admin role")
    );
    let csrf = csrf_in(&page.body);
    let refused = approver
        .post(
            &format!("/questions/{question}/answer"),
            &[("csrf", &csrf), ("answer", "me")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("answer_question permission"),
        "{}",
        refused.body
    );
    let still = server
        .get(&format!("/api/questions/{question}"), &server.admin())
        .await;
    assert_eq!(still["status"], "open");
    server.stop().await;
}

pub(crate) const CLARIFY: &str = include_str!("../../../../examples/clarify-request.bpmn");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_page_never_quotes_a_secret_the_browser_sent() {
    let secret = "planted-secret-7c1e5a";
    let server = TestServer::start_redacting(SCRIPTS, &[secret]).await;
    server.publish("gateway-demo", DIAGRAM).await;
    let run_id = server
        .start_run("gateway-demo", json!({"release": "2.6"}))
        .await;
    let run = server.wait_status(&run_id, "awaiting_approval").await;
    let approval = run["pendingApprovals"][0]["id"]
        .as_str()
        .expect("an approval")
        .to_owned();
    let mut browser = Browser::new(&server);
    browser.sign_in("rita", "Approver", "release-manager").await;
    // A filter and a decision that are not one quote what was sent.
    let listed = browser.get(&format!("/runs?status={secret}")).await;
    assert_eq!(listed.status, StatusCode::BAD_REQUEST);
    assert!(
        listed.body.contains("is not a run status"),
        "{}",
        listed.body
    );
    let page = browser.get(&format!("/approvals/{approval}")).await;
    let csrf = csrf_in(&page.body);
    let decided = browser
        .post(
            &format!("/approvals/{approval}/decision"),
            &[("csrf", &csrf), ("decision", secret)],
        )
        .await;
    assert_eq!(decided.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        decided.body.contains("is not a decision"),
        "{}",
        decided.body
    );
    for answer in [&listed, &decided] {
        assert!(!answer.body.contains(secret), "{}", answer.body);
        assert!(answer.body.contains("[REDACTED"), "{}", answer.body);
        assert_secured("a refusal", answer);
    }
    server.stop().await;
}
