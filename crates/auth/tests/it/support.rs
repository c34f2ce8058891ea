//! Test helpers: fixed clock, hand-crafted tokens, test keys and a fake
//! OpenID provider served over real HTTP on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use agentwerke_auth::{AuthConfig, OidcConfig, Verifier};
use agentwerke_types::Timestamp;

/// A fixed "now" (2027-01-15) so tests never read the clock.
pub(crate) const NOW_SECS: i64 = 1_800_000_000;

pub(crate) fn at(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs * 1000)
}

pub(crate) fn now() -> Timestamp {
    at(NOW_SECS)
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled by hand, with whatever header and signature we like.
pub(crate) fn craft(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

/// The parts of a compact token.
pub(crate) fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// The decoded payload of a token.
pub(crate) fn payload(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(token)[1]).unwrap()).unwrap()
}

/// A private key used to sign test tokens, with its public JWK.
pub(crate) struct TestKey {
    pub(crate) kid: String,
    pub(crate) alg: Algorithm,
    encoding: EncodingKey,
    pub(crate) jwk: Value,
}

impl TestKey {
    fn new(kid: &str, alg: Algorithm, encoding: EncodingKey) -> Self {
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&encoding, alg).unwrap()).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    pub(crate) fn rsa_a(kid: &str) -> Self {
        let pem = include_bytes!("../keys/rsa-a.pem");
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem).unwrap(),
        )
    }

    pub(crate) fn rsa_b(kid: &str) -> Self {
        let pem = include_bytes!("../keys/rsa-b.pem");
        Self::new(
            kid,
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem).unwrap(),
        )
    }

    pub(crate) fn ec_a(kid: &str) -> Self {
        let pem = include_bytes!("../keys/ec-a.pem");
        Self::new(
            kid,
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem).unwrap(),
        )
    }

    /// Signs `claims` with this key, naming `kid` in the header.
    pub(crate) fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

pub(crate) const AUDIENCE: &str = "agentwerke-api";

/// Claims a typical OIDC provider (Keycloak-shaped) would issue.
pub(crate) fn oidc_claims(issuer: &str, now_secs: i64) -> Value {
    json!({
        "iss": issuer,
        "aud": ["account", AUDIENCE],
        "sub": "user-1",
        "name": "Ada Lovelace",
        "jti": "tok-1",
        "iat": now_secs,
        "nbf": now_secs,
        "exp": now_secs + 300,
        "realm_access": {"roles": ["offline_access", "operator"]},
    })
}

/// What the fake provider serves and has seen.
pub(crate) struct IdpState {
    pub(crate) issuer: String,
    pub(crate) discovery_issuer: Option<String>,
    pub(crate) keys: Vec<Value>,
    pub(crate) jwks_status: StatusCode,
    pub(crate) jwks_body: Option<String>,
    pub(crate) delay: Option<Duration>,
    pub(crate) discovery_hits: usize,
    pub(crate) jwks_hits: usize,
}

/// A fake OpenID provider on 127.0.0.1: discovery at
/// `/.well-known/openid-configuration`, keys at `/jwks`.
pub(crate) struct FakeIdp {
    pub(crate) issuer: String,
    pub(crate) state: Arc<Mutex<IdpState>>,
}

impl FakeIdp {
    pub(crate) async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}/realms/test");
        let state = Arc::new(Mutex::new(IdpState {
            issuer: issuer.clone(),
            discovery_issuer: None,
            keys,
            jwks_status: StatusCode::OK,
            jwks_body: None,
            delay: None,
            discovery_hits: 0,
            jwks_hits: 0,
        }));
        let app = Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                get(discovery),
            )
            .route("/realms/test/jwks", get(jwks))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { issuer, state }
    }

    pub(crate) fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut IdpState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub(crate) fn hits(&self) -> (usize, usize) {
        self.with(|s| (s.discovery_hits, s.jwks_hits))
    }

    pub(crate) fn config(&self) -> OidcConfig {
        let mut oidc = OidcConfig::new(&self.issuer, AUDIENCE);
        oidc.roles_claim = "realm_access.roles".to_owned();
        oidc.http_timeout_secs = 1;
        oidc
    }

    pub(crate) fn verifier(&self) -> Verifier {
        verifier_for(self.config())
    }
}

pub(crate) fn verifier_for(oidc: OidcConfig) -> Verifier {
    let config = AuthConfig {
        oidc: Some(oidc),
        ..AuthConfig::default()
    };
    Verifier::new(&config, None).unwrap()
}

async fn discovery(State(state): State<Arc<Mutex<IdpState>>>) -> Response {
    let mut s = state.lock().unwrap();
    s.discovery_hits += 1;
    let issuer = s
        .discovery_issuer
        .clone()
        .unwrap_or_else(|| s.issuer.clone());
    let jwks_uri = format!("{}/jwks", s.issuer);
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{}/auth", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
    }))
    .into_response()
}

async fn jwks(State(state): State<Arc<Mutex<IdpState>>>) -> Response {
    let (status, body, delay) = {
        let mut s = state.lock().unwrap();
        s.jwks_hits += 1;
        let body = s
            .jwks_body
            .clone()
            .unwrap_or_else(|| json!({"keys": s.keys}).to_string());
        (s.jwks_status, body, s.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (status, body).into_response();
    if status.is_redirection() {
        response
            .headers_mut()
            .insert("location", "/realms/test/jwks".parse().unwrap());
    }
    response
}

/// A loopback port with nothing listening on it.
pub(crate) async fn dead_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
