//! Signing in through the identity provider: OpenID Connect's
//! authorization code flow with PKCE, when `oidc.client-id` is configured.
//!
//! `GET /signin/oidc` begins an attempt (`agentwerke_auth` makes its
//! `state`, `nonce` and PKCE verifier), keeps it here, binds it to the
//! browser by a random id in a short-lived cookie, and sends the browser
//! to the provider. That cookie is `SameSite=Lax`, not `Strict`: the
//! provider sends the browser back by a top-level navigation from its own
//! site, on which a `Strict` cookie would not come back. It names an
//! attempt and grants nothing by itself.
//!
//! `GET /signin/oidc/callback` takes the attempt out (so an answer counts
//! once), checks its age and `state`, lets `agentwerke_auth` redeem the
//! code and verify the ID token, and opens a session as local sign-in
//! does. Any failure is a refusal page and no session; the code, the
//! tokens, the verifier and the client secret are never logged or shown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use agentwerke_auth::{SignInAttempt, SignInError};
use agentwerke_gateway::SecretResolver;
use agentwerke_types::{ErrorCode, Timestamp};
use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::secrets::StoreSecrets;
use crate::state::AppState;
use crate::ui::auth::{Chrome, UiError, render};
use crate::ui::session::{
    SESSION_COOKIE, SESSION_SECS, Sessions, cookie, over_tls, random_token, same_token, set_cookie,
};

/// The cookie naming this browser's sign-in attempt.
pub(crate) const ATTEMPT_COOKIE: &str = "aw_oidc";
/// How long a sign-in at the provider may take, in seconds.
pub(crate) const ATTEMPT_SECS: i64 = 10 * 60;
/// The most attempts kept at once; beyond it the one ending soonest goes,
/// so visits to `/signin/oidc` cannot grow memory without bound.
const MAX_ATTEMPTS: usize = 10_000;
/// Where the attempt cookie is sent: the two sign-in routes only.
const ATTEMPT_PATH: &str = "/signin/oidc";

/// A sign-in waiting for the provider's answer.
#[derive(Debug, Clone)]
struct Pending<A> {
    attempt: A,
    expires_at: Timestamp,
}

/// Every sign-in waiting for the provider, by the id in its browser's
/// cookie. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Attempts<A = SignInAttempt>(Arc<Mutex<HashMap<String, Pending<A>>>>);

impl<A> Default for Attempts<A> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<A> Attempts<A> {
    /// Keeps `attempt` from `now`; the id for the browser's cookie.
    fn keep(&self, attempt: A, now: Timestamp) -> String {
        let id = random_token();
        let pending = Pending {
            attempt,
            expires_at: Timestamp::from_millis(now.as_millis() + ATTEMPT_SECS * 1000),
        };
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, p| p.expires_at > now);
        if all.len() >= MAX_ATTEMPTS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, p)| p.expires_at)
                .map(|(id, _)| id.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), pending);
        id
    }

    /// Takes attempt `id` out at `now`: whatever the answer, it is used
    /// up.
    fn take(&self, id: &str, now: Timestamp) -> Result<A, Gone> {
        let pending = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
            .ok_or(Gone::Unknown)?;
        if pending.expires_at <= now {
            return Err(Gone::Expired);
        }
        Ok(pending.attempt)
    }
}

/// Why an answer has no attempt to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    /// Never kept, or already answered.
    Unknown,
    /// Kept longer ago than [`ATTEMPT_SECS`].
    Expired,
}

/// `GET /signin/oidc`: begins a sign-in and sends the browser to the
/// provider.
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(attempts): Extension<Attempts>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    let now = state.clock.now();
    let begun = state.verifier.begin_sign_in(now).await.map_err(refusal)?;
    let id = attempts.keep(begun.attempt, now);
    let mut response = Redirect::to(&begun.authorization_url).into_response();
    append_cookie(
        &mut response,
        &attempt_cookie(&id, ATTEMPT_SECS, over_tls(&headers)),
    );
    Ok(response)
}

/// The page that follows a sign-in to the start page.
#[derive(Template)]
#[template(path = "signin_done.html")]
struct Done {
    chrome: Chrome,
}

/// `GET /signin/oidc/callback`: the provider's answer.
pub(crate) async fn callback(
    State(state): State<AppState>,
    Extension(attempts): Extension<Attempts>,
    Extension(sessions): Extension<Sessions>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let now = state.clock.now();
    let answer: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| {
        answer
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let id = cookie(&headers, ATTEMPT_COOKIE).ok_or_else(|| {
        refused(
            "This browser has no sign-in in progress: it was never started here, or cookies \
             are blocked. Start again from the sign-in page.",
        )
    })?;
    let attempt = attempts.take(id, now).map_err(|gone| match gone {
        Gone::Unknown => refused(
            "This sign-in was already completed or abandoned: an answer from the identity \
             provider counts once. Start again from the sign-in page.",
        ),
        Gone::Expired => refused(
            "This sign-in took longer than 10 minutes and has expired. Start again from the \
             sign-in page.",
        ),
    })?;
    if !param("state").is_some_and(|sent| same_token(sent, attempt.state())) {
        tracing::warn!("a sign-in answer did not carry its attempt's state; refused");
        return Err(refused(
            "The identity provider's answer does not belong to the sign-in this browser \
             started (its state differs), so no one was signed in. Start again from the \
             sign-in page.",
        ));
    }
    if let Some(error) = param("error") {
        return Err(UiError::page(
            StatusCode::FORBIDDEN,
            format!(
                "The identity provider did not sign you in: {}. No session was opened.",
                provider_error(error, param("error_description"))
            ),
        ));
    }
    let code = param("code").filter(|c| !c.is_empty()).ok_or_else(|| {
        refused("The identity provider's answer carries no code, so no one was signed in.")
    })?;
    let secret = client_secret(&state).await?;
    let principal = state
        .verifier
        .finish_sign_in(&attempt, code, secret.as_deref(), now)
        .await
        .map_err(refusal)?;
    tracing::info!(
        subject = %principal.subject,
        issuer = %principal.issuer,
        "signed in through the identity provider"
    );
    let (session_id, session) = sessions
        .open(principal, now)
        .await
        .map_err(ApiError::from)?;
    let tls = over_tls(&headers);
    // A page, not a redirect: the session cookie is SameSite=Strict, and a
    // redirect still counts as the provider's cross-site navigation, on
    // which the browser would not send it. The page's own step to `/` is
    // same-site.
    let mut response = render(&Done {
        chrome: Chrome::of(Some(&session), "signin"),
    });
    append_cookie(
        &mut response,
        &set_cookie(SESSION_COOKIE, &session_id, "/", SESSION_SECS, tls),
    );
    append_cookie(&mut response, &attempt_cookie("", 0, tls));
    Ok(response)
}

/// The UI client's secret, read now from the secret store so a rotation
/// applies to the next sign-in; `None` for a public client.
async fn client_secret(state: &AppState) -> Result<Option<String>, UiError> {
    let Some(reference) = state.verifier.sign_in_client_secret() else {
        return Ok(None);
    };
    let resolver = StoreSecrets::new(state.keeper.clone(), state.store.clone());
    match resolver.resolve(reference.name()).await {
        Ok(resolved) => Ok(Some(resolved.value.expose().to_owned())),
        Err(error) => {
            tracing::warn!(%error, "the web UI's client secret is unavailable");
            Err(UiError::page(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Signing in through the identity provider needs the web UI's client \
                     secret, named {}, which is not available ({error}). An Admin can set it \
                     in Settings.",
                    reference.name()
                ),
            ))
        }
    }
}

/// The provider's error code, and its description when short and plain;
/// both are the provider's words, shown escaped.
fn provider_error(error: &str, description: Option<&str>) -> String {
    let plain = |text: &str, max: usize| {
        (1..=max).contains(&text.len()) && text.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    };
    let code = if plain(error, 64) { error } else { "an error" };
    match description.filter(|d| plain(d, 300)) {
        Some(description) => format!("{code} ({description})"),
        None => code.to_owned(),
    }
}

/// A refused answer (400) with `message`.
fn refused(message: &str) -> UiError {
    UiError::page(StatusCode::BAD_REQUEST, message)
}

/// The page for a sign-in that `agentwerke_auth` refused.
fn refusal(error: SignInError) -> UiError {
    tracing::warn!(code = error.code(), %error, "a sign-in through the identity provider failed");
    let status = match &error {
        SignInError::NotConfigured => StatusCode::NOT_FOUND,
        e if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
        SignInError::BadIdToken(agentwerke_auth::Error::NoRoles) => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    UiError::page(
        status,
        format!("{error}. No session was opened; start again from the sign-in page."),
    )
}

/// The attempt cookie: HttpOnly, SameSite=Lax (see the module docs), for
/// the sign-in routes only, Secure over TLS; `max_age` 0 deletes it.
fn attempt_cookie(id: &str, max_age: i64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!(
        "{ATTEMPT_COOKIE}={id}; Path={ATTEMPT_PATH}; Max-Age={max_age}; HttpOnly; \
         SameSite=Lax{secure}"
    )
}

fn append_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = value.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_taken_once() {
        let attempts = Attempts::<&str>::default();
        let now = Timestamp::from_millis(1_000_000);
        let id = attempts.keep("attempt", now);
        assert_ne!(id, attempts.keep("another", now));
        assert_eq!(attempts.take(&id, now), Ok("attempt"));
        assert_eq!(attempts.take(&id, now), Err(Gone::Unknown), "counts once");
    }

    #[test]
    fn an_attempt_expires() {
        let attempts = Attempts::<&str>::default();
        let now = Timestamp::from_millis(1_000_000);
        let end = Timestamp::from_millis(now.as_millis() + ATTEMPT_SECS * 1000);
        let id = attempts.keep("attempt", now);
        let just_before = Timestamp::from_millis(end.as_millis() - 1);
        assert_eq!(attempts.take(&id, just_before), Ok("attempt"));
        let id = attempts.keep("attempt", now);
        assert_eq!(attempts.take(&id, end), Err(Gone::Expired));
        assert_eq!(attempts.take(&id, now), Err(Gone::Unknown), "and is gone");
    }

    #[test]
    fn the_attempt_cookie_is_lax_and_confined_to_sign_in() {
        assert_eq!(
            attempt_cookie("abc", 600, false),
            "aw_oidc=abc; Path=/signin/oidc; Max-Age=600; HttpOnly; SameSite=Lax"
        );
        assert!(attempt_cookie("abc", 600, true).ends_with("; Secure"));
    }

    #[test]
    fn only_plain_provider_words_are_repeated() {
        assert_eq!(provider_error("access_denied", None), "access_denied");
        assert_eq!(
            provider_error("access_denied", Some("The user said no")),
            "access_denied (The user said no)"
        );
        assert_eq!(provider_error("a\nb", Some("x\u{0}")), "an error");
    }
}
