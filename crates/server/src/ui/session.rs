//! Browser sessions: who is signed in, kept on the server.
//!
//! A session is a random id in a cookie (HttpOnly, SameSite=Strict, Secure
//! when the page came over TLS) that names a [`Session`] held in memory:
//! the principal it acts as, its CSRF token and when it ends. Nothing about
//! the user is in the cookie, so it cannot be forged or widened; a restart
//! forgets every session and signs everyone out (documented in the README).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use agentwerke_auth::Principal;
use agentwerke_types::Timestamp;
use axum::http::{HeaderMap, header};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "aw_session";
/// The sign-in form's cookie, paired with the form's hidden field, so a
/// page on another site cannot sign a browser in (login CSRF).
pub(crate) const SIGNIN_COOKIE: &str = "aw_signin";
/// How long a session lasts from sign-in, in seconds.
pub(crate) const SESSION_SECS: i64 = 8 * 60 * 60;
/// How long a sign-in form stays valid, in seconds.
pub(crate) const SIGNIN_SECS: i64 = 10 * 60;
/// The most sessions kept at once; beyond it the one ending soonest goes,
/// so repeated sign-ins cannot grow memory without bound.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Who the session acts as; role checks read its roles.
    pub(crate) principal: Principal,
    /// The token every form of this session carries; a POST without it is
    /// refused.
    pub(crate) csrf: String,
    /// When it ends.
    pub(crate) expires_at: Timestamp,
}

/// Every live session, by id. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    /// Opens a session for `principal` at `now`; its id and the session.
    pub(crate) fn open(&self, principal: Principal, now: Timestamp) -> (String, Session) {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            expires_at: Timestamp::from_millis(now.as_millis() + SESSION_SECS * 1000),
        };
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|_, s| s.expires_at > now);
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(id, _)| id.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session `id` names at `now`; an ended one is forgotten.
    pub(crate) fn get(&self, id: &str, now: Timestamp) -> Option<Session> {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match all.get(id) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                all.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id`.
    pub(crate) fn close(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// 32 random bytes from the operating system, as hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The OS random source failing is not something a session can be
    // opened without; there is no weaker fallback on purpose.
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// Compares two tokens in time independent of where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The value of cookie `name` in the request, if sent.
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Whether the page came over TLS: a TLS-terminating proxy in front says so
/// with `X-Forwarded-Proto: https`. Trusting it can only add `Secure`.
pub(crate) fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure over
/// TLS; `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use agentwerke_auth::Role;
    use axum::http::HeaderValue;

    use super::*;

    fn ada() -> Principal {
        Principal {
            subject: "ada".to_owned(),
            name: None,
            roles: vec![Role::Viewer],
            groups: Vec::new(),
            issuer: "agentwerke-dev".to_owned(),
            token_id: None,
        }
    }

    #[test]
    fn a_session_ends_at_its_expiry_and_at_sign_out() {
        let sessions = Sessions::default();
        let start = Timestamp::from_millis(1_000_000);
        let (id, session) = sessions.open(ada(), start);
        assert_eq!(id.len(), 64);
        assert_ne!(id, session.csrf);
        let just_before = Timestamp::from_millis(session.expires_at.as_millis() - 1);
        assert_eq!(sessions.get(&id, just_before).unwrap().principal, ada());
        assert!(sessions.get(&id, session.expires_at).is_none());
        assert!(
            sessions.get(&id, start).is_none(),
            "an ended session is gone"
        );

        let (id, _) = sessions.open(ada(), start);
        sessions.close(&id);
        assert!(sessions.get(&id, start).is_none());
        assert!(sessions.get("not-a-session", start).is_none());
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        assert_ne!(random_token(), random_token());
        assert!(same_token("abcd", "abcd"));
        assert!(!same_token("abcd", "abce"));
        assert!(!same_token("abcd", "abc"));
        assert!(!same_token("", "a"));
    }

    #[test]
    fn cookies_are_read_by_name_and_set_strict() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; aw_session=abc; x=y"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "aw_sessio"), None);
        assert_eq!(
            set_cookie(SESSION_COOKIE, "abc", "/", 60, false),
            "aw_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        assert!(set_cookie(SESSION_COOKIE, "abc", "/", 60, true).ends_with("; Secure"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_tls(&headers));
        assert!(!over_tls(&HeaderMap::new()));
    }
}
