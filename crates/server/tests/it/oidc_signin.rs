//! Signing in to the web UI through the identity provider, over HTTP
//! against a fake provider that speaks the real wire formats: the code
//! flow with PKCE opens a session with the token's roles, and each way an
//! answer can be wrong is refused with a page and no session.

use agentwerke_secrets::{SecretLocation, SecretName};
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};

use crate::fake_idp::{CLIENT_ID, FakeIdp};
use crate::harness::{TestServer, Vars};
use crate::ui::{Answer, Browser};

const CLIENT_SECRET: &str = "ui-client-secret-5a1d9e";

/// A server whose UI client at `idp` is confidential, its secret kept in
/// deployment configuration (`secret:ui_client` from an environment
/// variable).
async fn serve(idp: &FakeIdp) -> TestServer {
    idp.with(|i| i.client_secret = Some(CLIENT_SECRET.to_owned()));
    TestServer::start_with_oidc(
        |url| {
            let mut oidc = idp.config(url);
            oidc.client_secret = Some("secret:ui_client".to_owned());
            oidc
        },
        vec![(
            SecretName::parse("ui_client").expect("name"),
            SecretLocation::Env("UI_CLIENT_SECRET".to_owned()),
        )],
        Vars(vec![(
            "UI_CLIENT_SECRET".to_owned(),
            CLIENT_SECRET.to_owned(),
        )]),
    )
    .await
}

/// `GET /signin/oidc`: where the browser is sent (the provider's
/// authorization URL), checking the attempt cookie on the way.
async fn begin(browser: &mut Browser) -> String {
    let answer = browser.get("/signin/oidc").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let cookie = answer
        .headers
        .get(SET_COOKIE)
        .expect("an attempt cookie")
        .to_str()
        .expect("text");
    assert!(cookie.starts_with("aw_oidc="), "{cookie}");
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/signin/oidc",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    location(&answer)
}

/// The provider's answer to the authorization request: the callback URL
/// it sends the browser back to, as a path on the server.
async fn consent(server: &TestServer, authorize: &str) -> String {
    let http = Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("client");
    let response = http.get(authorize).send().await.expect("authorize");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = response.headers()[LOCATION]
        .to_str()
        .expect("text")
        .to_owned();
    back.strip_prefix(&server.url)
        .unwrap_or_else(|| panic!("{back} is not the server's callback"))
        .to_owned()
}

fn location(answer: &Answer) -> String {
    answer.headers[LOCATION].to_str().expect("text").to_owned()
}

/// The callback path with its `state` replaced.
fn with_state(callback: &str, state: &str) -> String {
    let (path, query) = callback.split_once('?').expect("a query");
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("state="))
        .collect();
    format!("{path}?{}&state={state}", kept.join("&"))
}

/// Asserts `answer` is a refusal page saying `says`, opening no session.
fn assert_refused(answer: &Answer, status: StatusCode, says: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(answer.body.contains(says), "{says}: {}", answer.body);
    assert!(
        answer
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap_or_default().starts_with("aw_session=")),
        "no session"
    );
}

async fn assert_signed_out(browser: &mut Browser) {
    let page = browser.get("/runs").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&page), "/signin");
}

#[tokio::test]
async fn a_browser_signs_in_through_the_identity_provider_with_the_tokens_roles() {
    let idp = FakeIdp::start().await;
    let server = serve(&idp).await;
    let mut browser = Browser::new(&server);

    let signin = browser.get("/signin").await;
    assert!(
        signin
            .body
            .contains(&format!("Sign in with {}", idp.issuer)),
        "{}",
        signin.body
    );
    let authorize = begin(&mut browser).await;
    assert!(authorize.starts_with(&format!("{}/authorize?", idp.issuer)));
    let callback = consent(&server, &authorize).await;
    let asked = idp.with(|i| i.authorizations[0].clone());
    assert_eq!(asked["client_id"], CLIENT_ID);
    assert_eq!(asked["scope"], "openid profile email");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43);
    assert_eq!(
        asked["redirect_uri"],
        format!("{}/signin/oidc/callback", server.url)
    );
    assert_ne!(asked["state"], asked["nonce"]);

    let done = browser.get(&callback).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains(r#"http-equiv="refresh" content="0; url=/""#)
    );
    let cookies: Vec<&str> = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|c| c.to_str().expect("text"))
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("aw_session="))
        .expect("a session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("aw_oidc=;") && c.contains("Max-Age=0")),
        "the attempt cookie is deleted: {cookies:?}"
    );

    // The session acts with the role and group from the token's claim.
    let inbox = browser.get("/approvals").await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    assert!(
        inbox.body.contains("rita (Approver, release-manager)"),
        "{}",
        inbox.body
    );
    let runs = browser.get("/runs").await;
    assert!(
        !runs.body.contains("Start a run"),
        "an Approver may not start runs"
    );

    let handed_out = idp.with(|i| i.handed_out.clone());
    assert_eq!(handed_out.len(), 3, "a code, an ID token, an access token");
    for page in [&signin, &done, &inbox, &runs] {
        for secret in handed_out.iter().map(String::as_str).chain([CLIENT_SECRET]) {
            assert!(!page.body.contains(secret), "a page shows a secret");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_or_mismatched_answer_opens_no_session() {
    let idp = FakeIdp::start().await;
    let server = serve(&idp).await;

    // A state other than the attempt's: refused, and the attempt is used up.
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let forged = browser.get(&with_state(&callback, "not-the-state")).await;
    assert_refused(&forged, StatusCode::BAD_REQUEST, "its state differs");
    let after = browser.get(&callback).await;
    assert_refused(&after, StatusCode::BAD_REQUEST, "counts once");
    assert_signed_out(&mut browser).await;

    // A correct answer counts once.
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let first = browser.get(&callback).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let mut replayer = Browser::new(&server);
    begin(&mut replayer).await;
    let replayed = replayer.get(&callback).await;
    assert_refused(&replayed, StatusCode::BAD_REQUEST, "its state differs");

    // An answer without the browser's attempt cookie.
    let mut stranger = Browser::new(&server);
    let answer = stranger.get(&callback).await;
    assert_refused(&answer, StatusCode::BAD_REQUEST, "no sign-in in progress");
    assert_signed_out(&mut stranger).await;
    server.stop().await;
}

#[tokio::test]
async fn a_refusal_at_the_provider_is_explained() {
    let idp = FakeIdp::start().await;
    let server = serve(&idp).await;
    idp.with(|i| i.deny = true);
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let answer = browser.get(&callback).await;
    assert_refused(
        &answer,
        StatusCode::FORBIDDEN,
        "did not sign you in: access_denied (The user declined)",
    );
    assert_signed_out(&mut browser).await;
    server.stop().await;
}

#[tokio::test]
async fn an_id_token_for_another_attempt_or_client_is_refused() {
    let idp = FakeIdp::start().await;
    let server = serve(&idp).await;

    idp.with(|i| i.nonce = Some("another-attempts-nonce".to_owned()));
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let answer = browser.get(&callback).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "its nonce differs");
    assert_signed_out(&mut browser).await;

    idp.with(|i| {
        i.nonce = None;
        i.audience = Some("another-client".to_owned());
    });
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let answer = browser.get(&callback).await;
    assert_refused(
        &answer,
        StatusCode::UNAUTHORIZED,
        "the token audience does not include this API",
    );
    assert_signed_out(&mut browser).await;

    idp.with(|i| {
        i.audience = None;
        i.roles = vec!["offline_access".to_owned()];
    });
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let answer = browser.get(&callback).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, "carries no recognised role");
    server.stop().await;
}

/// A code issued for one attempt, brought back to another: the server
/// redeems it with the other attempt's verifier, which does not match the
/// code's challenge at the provider.
#[tokio::test]
async fn a_code_redeemed_with_another_attempts_verifier_is_refused() {
    let idp = FakeIdp::start().await;
    let server = serve(&idp).await;
    let mut victim = Browser::new(&server);
    let stolen = consent(&server, &begin(&mut victim).await).await;
    let mut attacker = Browser::new(&server);
    let own = consent(&server, &begin(&mut attacker).await).await;
    let own_state = own
        .split('&')
        .find_map(|pair| pair.strip_prefix("state="))
        .expect("a state")
        .to_owned();
    let injected = attacker.get(&with_state(&stolen, &own_state)).await;
    assert_refused(
        &injected,
        StatusCode::UNAUTHORIZED,
        "refused to exchange the sign-in code (invalid_grant)",
    );
    assert_eq!(idp.with(|i| i.pkce_failures), 1);
    assert_signed_out(&mut attacker).await;
    server.stop().await;
}

#[tokio::test]
async fn a_missing_client_secret_opens_no_session() {
    let idp = FakeIdp::start().await;
    idp.with(|i| i.client_secret = Some(CLIENT_SECRET.to_owned()));
    let server = TestServer::start_with_oidc(
        |url| {
            let mut oidc = idp.config(url);
            oidc.client_secret = Some("secret:ui_client".to_owned());
            oidc
        },
        Vec::new(),
        Vars::default(),
    )
    .await;
    let mut browser = Browser::new(&server);
    let callback = consent(&server, &begin(&mut browser).await).await;
    let answer = browser.get(&callback).await;
    assert_refused(
        &answer,
        StatusCode::SERVICE_UNAVAILABLE,
        "client secret, named ui_client, which is not available",
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_provider_client_there_is_no_provider_sign_in() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    let page = browser.get("/signin").await;
    assert!(!page.body.contains("sign-in-oidc"), "{}", page.body);
    let answer = browser.get("/signin/oidc").await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "not configured");
    server.stop().await;
}
