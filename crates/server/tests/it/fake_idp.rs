//! A fake OpenID provider on 127.0.0.1 speaking the real wire formats:
//! discovery, an authorization endpoint that consents at once and sends
//! the browser back with a code, a token endpoint that checks the PKCE
//! verifier against the challenge (and the client's Basic credentials)
//! and answers with a signed ID token, and its JWKS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentwerke_auth::{OidcConfig, pkce_challenge};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The UI's client at the fake provider.
pub(crate) const CLIENT_ID: &str = "agentwerke-ui";

/// What the fake provider does and has seen; tests change it to misbehave.
pub(crate) struct Idp {
    /// The user who consents.
    pub(crate) subject: String,
    /// The names in its `roles` claim.
    pub(crate) roles: Vec<String>,
    /// Answer the authorization request with `error=access_denied`.
    pub(crate) deny: bool,
    /// An `aud` other than the client id.
    pub(crate) audience: Option<String>,
    /// A `nonce` other than the one asked for.
    pub(crate) nonce: Option<String>,
    /// The client secret the token endpoint requires (HTTP Basic), if any.
    pub(crate) client_secret: Option<String>,
    /// The callback URL registered for the client.
    pub(crate) redirect_uri: String,
    /// Codes issued and not yet redeemed: their challenge, nonce and
    /// redirect URL.
    codes: HashMap<String, Issued>,
    /// Every authorization request's parameters.
    pub(crate) authorizations: Vec<HashMap<String, String>>,
    /// Token requests refused because the verifier did not match.
    pub(crate) pkce_failures: usize,
    /// Every value the provider handed out (codes, tokens), so a test can
    /// check that no page shows them.
    pub(crate) handed_out: Vec<String>,
}

struct Issued {
    challenge: String,
    nonce: String,
    redirect_uri: String,
}

/// A running fake provider.
pub(crate) struct FakeIdp {
    pub(crate) issuer: String,
    pub(crate) state: Arc<Mutex<Idp>>,
}

struct Shared {
    issuer: String,
    key: EncodingKey,
    jwk: Value,
    idp: Arc<Mutex<Idp>>,
}

impl FakeIdp {
    /// A provider with the UI's client registered (its callback URL is
    /// set by [`FakeIdp::config`]).
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let key = EncodingKey::from_rsa_pem(include_bytes!("../../../auth/tests/keys/rsa-a.pem"))
            .expect("the test key");
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).expect("a JWK"))
                .expect("JSON");
        jwk["kid"] = json!("idp-key-1");
        jwk["use"] = json!("sig");
        let idp = Arc::new(Mutex::new(Idp {
            subject: "rita".to_owned(),
            roles: vec!["approver".to_owned(), "release-manager".to_owned()],
            deny: false,
            audience: None,
            nonce: None,
            client_secret: None,
            redirect_uri: String::new(),
            codes: HashMap::new(),
            authorizations: Vec::new(),
            pkce_failures: 0,
            handed_out: Vec::new(),
        }));
        let shared = Arc::new(Shared {
            issuer: issuer.clone(),
            key,
            jwk,
            idp: idp.clone(),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { issuer, state: idp }
    }

    /// The configuration of the server at `server_url` for this provider,
    /// with the UI client, whose callback is registered here.
    pub(crate) fn config(&self, server_url: &str) -> OidcConfig {
        let redirect = format!("{server_url}/signin/oidc/callback");
        self.with(|idp| idp.redirect_uri.clone_from(&redirect));
        let mut oidc = OidcConfig::new(&self.issuer, "agentwerke-api");
        oidc.http_timeout_secs = 2;
        oidc.client_id = Some(CLIENT_ID.to_owned());
        oidc.redirect_url = Some(redirect);
        oidc
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Idp) -> R) -> R {
        f(&mut self.state.lock().expect("the provider's state"))
    }
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let issuer = &shared.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(json!({"keys": [shared.jwk]})).into_response()
}

/// Consents at once: back to the client with a code, or with
/// `access_denied` when told to deny.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut idp = shared.idp.lock().expect("state");
    idp.authorizations.push(params.clone());
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    let redirect_uri = param("redirect_uri");
    if param("client_id") != CLIENT_ID || redirect_uri != idp.redirect_uri {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    let state = form(&[("state", &param("state"))]);
    if idp.deny {
        let description = form(&[("error_description", "The user declined")]);
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&{description}&{state}"
        ))
        .into_response();
    }
    if param("response_type") != "code" || param("code_challenge_method") != "S256" {
        return (StatusCode::BAD_REQUEST, "PKCE S256 is required").into_response();
    }
    let code = format!("code-{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
    idp.handed_out.push(code.clone());
    idp.codes.insert(
        code.clone(),
        Issued {
            challenge: param("code_challenge"),
            nonce: param("nonce"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    Redirect::to(&format!("{redirect_uri}?code={code}&{state}")).into_response()
}

/// Redeems a code once, for the verifier whose challenge it was issued
/// with, from the client with its secret.
async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let refuse = |error: &str| {
        (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response()
    };
    let params: HashMap<String, String> = serde_urlencoded::from_str(&body).expect("a form");
    let param = |name: &str| params.get(name).cloned().unwrap_or_default();
    let mut idp = shared.idp.lock().expect("state");
    if let Some(secret) = &idp.client_secret {
        let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{secret}")));
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(expected.as_str())
        {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid_client"})),
            )
                .into_response();
        }
    }
    if param("grant_type") != "authorization_code" || param("client_id") != CLIENT_ID {
        return refuse("invalid_request");
    }
    let Some(issued) = idp.codes.remove(&param("code")) else {
        return refuse("invalid_grant");
    };
    if issued.redirect_uri != param("redirect_uri") {
        return refuse("invalid_grant");
    }
    if pkce_challenge(&param("code_verifier")) != issued.challenge {
        idp.pkce_failures += 1;
        return refuse("invalid_grant");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = json!({
        "iss": shared.issuer,
        "sub": idp.subject,
        "aud": idp.audience.clone().unwrap_or_else(|| CLIENT_ID.to_owned()),
        "azp": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": idp.nonce.clone().unwrap_or(issued.nonce),
        "name": "Rita Reviewer",
        "roles": idp.roles,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("idp-key-1".to_owned());
    let id_token = jsonwebtoken::encode(&header, &claims, &shared.key).expect("signed");
    let access_token = format!("at-{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
    idp.handed_out.push(id_token.clone());
    idp.handed_out.push(access_token.clone());
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("a form")
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("random");
    bytes
}
