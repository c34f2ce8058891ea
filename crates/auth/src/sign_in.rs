//! Signing a browser in through the identity provider: OpenID Connect's
//! authorization code flow with PKCE (RFC 7636, `S256`).
//!
//! [`Verifier::begin_sign_in`] makes an attempt's three secrets and the
//! provider's authorization URL: `state` ties the provider's answer to the
//! attempt, `nonce` ties the ID token to it, and the PKCE verifier proves
//! at the token endpoint that whoever redeems the code started the
//! attempt, so a code stolen on its way back is worth nothing. The server
//! keeps the attempt on its side; [`Verifier::finish_sign_in`] exchanges
//! the code and verifies the ID token with the keys, checks and role
//! mapping a bearer token gets, with the UI client as the audience and
//! the attempt's nonce on top.

use std::fmt;
use std::time::Duration;

use agentwerke_secrets::SecretRef;
use agentwerke_types::{ErrorCode, Timestamp};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use reqwest::Url;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::config::{OidcConfig, check_fetch_url};
use crate::discovery::{Discovery, discover};
use crate::error::{Error, SetupError};
use crate::fetch::Fetcher;
use crate::principal::Principal;
use crate::token::{self, Expected};
use crate::verifier::{Verifier, verify_oidc_signature};

/// One sign-in in progress: what the server keeps until the provider sends
/// the browser back. Never shown, never logged (its `Debug` says nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct SignInAttempt {
    state: String,
    nonce: String,
    code_verifier: String,
}

impl SignInAttempt {
    /// The `state` the provider must send back with the code.
    pub fn state(&self) -> &str {
        &self.state
    }
}

impl fmt::Debug for SignInAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInAttempt").finish_non_exhaustive()
    }
}

/// A sign-in begun: the attempt to keep and where to send the browser.
#[derive(Debug)]
pub struct SignInStart {
    /// Kept by the server, bound to the browser.
    pub attempt: SignInAttempt,
    /// The provider's authorization endpoint with the attempt's
    /// parameters.
    pub authorization_url: String,
}

/// Why a sign-in through the identity provider failed. Messages never
/// quote a code, a token, the verifier or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// No `oidc.client-id` is configured.
    #[error("signing in through the identity provider is not configured (oidc.client-id)")]
    NotConfigured,
    /// The provider's discovery document or token endpoint cannot be used.
    #[error("the identity provider cannot be reached for sign-in: {reason}")]
    ProviderUnavailable {
        /// Transport or shape failure, never a token or code.
        reason: String,
    },
    /// The token endpoint refused the code (expired, used, or the PKCE
    /// verifier does not match its challenge).
    #[error("the identity provider refused to exchange the sign-in code ({error})")]
    CodeRefused {
        /// The OAuth error code it answered (`invalid_grant`, ...).
        error: String,
    },
    /// The ID token failed verification (signature, issuer, audience,
    /// expiry, roles).
    #[error("the identity provider's ID token was refused: {0}")]
    BadIdToken(Error),
    /// The ID token was issued for another sign-in attempt.
    #[error("the ID token was not issued for this sign-in attempt (its nonce differs)")]
    WrongNonce,
}

impl SignInError {
    /// Every code [`SignInError`] can return.
    pub const CODES: [&'static str; 5] = [
        "signin.not_configured",
        "signin.provider_unavailable",
        "signin.code_refused",
        "signin.bad_id_token",
        "signin.wrong_nonce",
    ];

    /// Whether the failure is the provider's availability, not the
    /// browser's answer (HTTP 503 rather than a refusal).
    pub const fn is_unavailable(&self) -> bool {
        matches!(self, SignInError::ProviderUnavailable { .. })
            || matches!(self, SignInError::BadIdToken(e) if e.is_unavailable())
    }
}

impl ErrorCode for SignInError {
    fn code(&self) -> &'static str {
        match self {
            SignInError::NotConfigured => "signin.not_configured",
            SignInError::ProviderUnavailable { .. } => "signin.provider_unavailable",
            SignInError::CodeRefused { .. } => "signin.code_refused",
            SignInError::BadIdToken(_) => "signin.bad_id_token",
            SignInError::WrongNonce => "signin.wrong_nonce",
        }
    }
}

/// The web UI's client at the provider, with the provider's endpoints as
/// last discovered.
pub(crate) struct SignInClient {
    client_id: String,
    redirect_url: Url,
    scopes: String,
    fetcher: Fetcher,
    max_age_ms: i64,
    min_interval_ms: i64,
    discovered: Mutex<Discovered>,
}

/// The last discovery, and when it was last tried.
#[derive(Default)]
struct Discovered {
    document: Option<(Discovery, Timestamp)>,
    last_attempt: Option<Timestamp>,
}

impl SignInClient {
    /// The client `config` describes; `None` without `client-id`.
    pub(crate) fn new(config: &OidcConfig) -> Result<Option<Self>, SetupError> {
        let Some(client_id) = &config.client_id else {
            return Ok(None);
        };
        let redirect = config.redirect_url.as_deref().unwrap_or_default();
        let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(Some(Self {
            client_id: client_id.clone(),
            redirect_url: check_fetch_url("oidc.redirect-url", redirect)?,
            scopes: config.scopes.join(" "),
            fetcher: Fetcher::new(
                Duration::from_secs(config.http_timeout_secs),
                config.max_response_bytes,
            )?,
            max_age_ms: ms(config.jwks_max_age_secs),
            min_interval_ms: ms(config.jwks_refresh_min_interval_secs),
            discovered: Mutex::default(),
        }))
    }

    /// The provider's endpoints, discovered at most once per key-set
    /// lifetime, and retried at most once per refresh interval after a
    /// failure, so sign-in pages cannot make us hammer a provider that is
    /// down.
    async fn discovery(&self, issuer: &str, now: Timestamp) -> Result<Discovery, SignInError> {
        let mut discovered = self.discovered.lock().await;
        let age = |at: Timestamp| now.as_millis().saturating_sub(at.as_millis());
        if let Some((document, at)) = &discovered.document
            && age(*at) < self.max_age_ms
        {
            return Ok(document.clone());
        }
        if let Some(at) = discovered.last_attempt
            && age(at) < self.min_interval_ms
            && discovered.document.is_none()
        {
            return Err(unavailable("the last discovery failed; retrying later"));
        }
        discovered.last_attempt = Some(now);
        let document = discover(&self.fetcher, issuer)
            .await
            .map_err(|reason| SignInError::ProviderUnavailable { reason })?;
        discovered.document = Some((document.clone(), now));
        Ok(document)
    }
}

fn unavailable(reason: &str) -> SignInError {
    SignInError::ProviderUnavailable {
        reason: reason.to_owned(),
    }
}

/// 32 bytes from the operating system's random source, base64url: a
/// `state`, a `nonce` or a PKCE verifier (43 characters, RFC 7636 §4.1).
fn random_secret() -> Result<String, SignInError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| unavailable("the operating system's random source failed"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE `S256` challenge of `verifier` (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Verifier {
    /// The issuer a browser may sign in through, when the web UI's client
    /// is configured.
    pub fn sign_in_issuer(&self) -> Option<&str> {
        self.oidc
            .as_ref()
            .filter(|o| o.sign_in.is_some())
            .map(|o| o.config.issuer.as_str())
    }

    /// The reference to the web UI client's secret, when it is a
    /// confidential client; the server reads the value when a sign-in
    /// completes.
    pub fn sign_in_client_secret(&self) -> Option<SecretRef> {
        self.oidc
            .as_ref()
            .filter(|o| o.sign_in.is_some())
            .and_then(|o| o.config.client_secret_ref())
    }

    /// Begins a sign-in at `now`: a new attempt and the URL of the
    /// provider's authorization endpoint (from discovery) asking for a
    /// code with the attempt's `state`, `nonce` and PKCE challenge.
    pub async fn begin_sign_in(&self, now: Timestamp) -> Result<SignInStart, SignInError> {
        let oidc = self.oidc.as_ref().ok_or(SignInError::NotConfigured)?;
        let client = oidc.sign_in.as_ref().ok_or(SignInError::NotConfigured)?;
        let discovery = client.discovery(&oidc.config.issuer, now).await?;
        let mut url = discovery
            .authorization_endpoint
            .ok_or_else(|| unavailable("the discovery document has no authorization_endpoint"))?;
        let attempt = SignInAttempt {
            state: random_secret()?,
            nonce: random_secret()?,
            code_verifier: random_secret()?,
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", client.redirect_url.as_str())
            .append_pair("scope", &client.scopes)
            .append_pair("state", &attempt.state)
            .append_pair("nonce", &attempt.nonce)
            .append_pair("code_challenge", &pkce_challenge(&attempt.code_verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(SignInStart {
            attempt,
            authorization_url: url.into(),
        })
    }

    /// Finishes `attempt` with the `code` the provider sent back: exchanges
    /// it at the token endpoint with the PKCE verifier (and the client
    /// secret, for a confidential client), then verifies the ID token.
    /// Checking `state` is the caller's, before this.
    pub async fn finish_sign_in(
        &self,
        attempt: &SignInAttempt,
        code: &str,
        client_secret: Option<&str>,
        now: Timestamp,
    ) -> Result<Principal, SignInError> {
        let oidc = self.oidc.as_ref().ok_or(SignInError::NotConfigured)?;
        let client = oidc.sign_in.as_ref().ok_or(SignInError::NotConfigured)?;
        let discovery = client.discovery(&oidc.config.issuer, now).await?;
        let token_endpoint = discovery
            .token_endpoint
            .as_ref()
            .ok_or_else(|| unavailable("the discovery document has no token_endpoint"))?;
        // The client secret goes in an HTTP Basic header where the
        // provider accepts one (RFC 6749 §2.3.1), else in the form.
        let (basic, in_form) = match client_secret {
            Some(secret) if discovery.basic_auth => (
                Some((form_encode(&client.client_id), form_encode(secret))),
                None,
            ),
            other => (None, other),
        };
        let form = token_form(client, attempt, code, in_form);
        let (status, answer) = client
            .fetcher
            .post_form(
                token_endpoint,
                form,
                basic.as_ref().map(|(u, p)| (u.as_str(), p.as_str())),
            )
            .await
            .map_err(|reason| SignInError::ProviderUnavailable { reason })?;
        if status != 200 {
            return Err(SignInError::CodeRefused {
                error: oauth_error(&answer, status),
            });
        }
        let id_token = answer
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable("the token endpoint answered without an id_token"))?;
        self.verify_id_token(id_token, &attempt.nonce, now).await
    }

    /// Verifies an ID token for the web UI's client: the provider's
    /// signature and the claims a bearer token must pass, with the UI
    /// client as the audience (and `azp`, when present), the attempt's
    /// `nonce`, and roles from `oidc.roles-claim` as the API maps them.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        nonce: &str,
        now: Timestamp,
    ) -> Result<Principal, SignInError> {
        let oidc = self.oidc.as_ref().ok_or(SignInError::NotConfigured)?;
        let client = oidc.sign_in.as_ref().ok_or(SignInError::NotConfigured)?;
        let bad = SignInError::BadIdToken;
        let token = token::split(id_token).map_err(bad)?;
        if token.issuer() != Some(oidc.config.issuer.as_str()) {
            return Err(bad(Error::WrongIssuer));
        }
        verify_oidc_signature(oidc, &token, now)
            .await
            .map_err(bad)?;
        let expected = Expected {
            issuer: &oidc.config.issuer,
            audience: &client.client_id,
            now_secs: now.as_millis().div_euclid(1000),
            leeway_secs: self.leeway_secs,
        };
        token::check_claims(&token.claims, expected).map_err(bad)?;
        // OpenID Connect Core §3.1.3.7: an authorized party, when named,
        // must be this client.
        if token
            .claims
            .get("azp")
            .is_some_and(|azp| azp.as_str() != Some(client.client_id.as_str()))
        {
            return Err(bad(Error::WrongAudience));
        }
        if token.claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(SignInError::WrongNonce);
        }
        Principal::from_claims(&token.claims, &oidc.config.roles_claim).map_err(bad)
    }
}

/// The token request's form (RFC 6749 §4.1.3, RFC 7636 §4.5).
fn token_form(
    client: &SignInClient,
    attempt: &SignInAttempt,
    code: &str,
    client_secret: Option<&str>,
) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", client.redirect_url.as_str())
        .append_pair("code_verifier", &attempt.code_verifier)
        .append_pair("client_id", &client.client_id);
    if let Some(secret) = client_secret {
        form.append_pair("client_secret", secret);
    }
    form.finish()
}

/// `text` form-encoded, as Basic credentials are before base64.
fn form_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The OAuth `error` of a refusal (RFC 6749 §5.2) when it is a plain code,
/// else the HTTP status: the answer is the provider's text and is shown.
fn oauth_error(answer: &Value, status: u16) -> String {
    answer
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| {
            (1..=64).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .map_or_else(|| format!("HTTP {status}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn secrets_are_random_and_long_enough_for_pkce() {
        let a = random_secret().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_secret().unwrap());
    }

    #[test]
    fn an_attempt_shows_nothing_of_itself() {
        let attempt = SignInAttempt {
            state: "s3cret-state".to_owned(),
            nonce: "n".to_owned(),
            code_verifier: "v".to_owned(),
        };
        assert_eq!(format!("{attempt:?}"), "SignInAttempt { .. }");
    }

    #[test]
    fn only_a_plain_oauth_error_code_is_repeated() {
        assert_eq!(
            oauth_error(&json!({"error": "invalid_grant"}), 400),
            "invalid_grant"
        );
        assert_eq!(oauth_error(&json!({"error": "<b>x</b>"}), 400), "HTTP 400");
        assert_eq!(oauth_error(&json!({}), 500), "HTTP 500");
    }

    #[test]
    fn error_codes_are_listed() {
        let all = [
            SignInError::NotConfigured,
            SignInError::ProviderUnavailable {
                reason: String::new(),
            },
            SignInError::CodeRefused {
                error: String::new(),
            },
            SignInError::BadIdToken(Error::Expired),
            SignInError::WrongNonce,
        ];
        assert_eq!(all.each_ref().map(|e| e.code()), SignInError::CODES);
        assert!(all[1].is_unavailable());
        assert!(!all[3].is_unavailable());
    }
}
