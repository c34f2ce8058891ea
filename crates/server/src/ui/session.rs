//! Browser sessions: who is signed in, kept on the server.
//!
//! A session is a random id in a cookie (HttpOnly, SameSite=Strict, Secure
//! when the page came over TLS) that names a [`Session`] kept in the store:
//! the principal it acts as, its CSRF token and when it ends. Nothing about
//! the user is in the cookie, so it cannot be forged or widened. The store
//! keeps only the id's SHA-256, so reading the database does not let anyone
//! act as a signed-in user; and because the store keeps them, a restart
//! signs no one out and every server on one database knows every session.

use std::sync::Arc;

use agentwerke_auth::Principal;
use agentwerke_store::Store;
use agentwerke_store::sessions::SessionRow;
use agentwerke_types::Timestamp;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "aw_session";
/// The sign-in form's cookie, paired with the form's hidden field, so a
/// page on another site cannot sign a browser in (login CSRF).
pub(crate) const SIGNIN_COOKIE: &str = "aw_signin";
/// How long a session lasts from sign-in, in seconds.
pub(crate) const SESSION_SECS: i64 = 8 * 60 * 60;
/// How long a sign-in form stays valid, in seconds.
pub(crate) const SIGNIN_SECS: i64 = 10 * 60;

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

/// Every live session, in the store. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Sessions(Arc<dyn Store>);

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions kept in `store`.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }

    /// Opens a session for `principal` at `now`; its id and the session.
    pub(crate) async fn open(
        &self,
        principal: Principal,
        now: Timestamp,
    ) -> agentwerke_store::Result<(String, Session)> {
        let id = random_token();
        let session = Session {
            principal,
            csrf: random_token(),
            expires_at: Timestamp::from_millis(now.as_millis() + SESSION_SECS * 1000),
        };
        let principal = serde_json::to_string(&session.principal).map_err(|e| {
            agentwerke_store::Error::Corrupt {
                what: format!("a session's principal: {e}"),
            }
        })?;
        let row = SessionRow {
            id_hash: id_hash(&id),
            principal,
            csrf: session.csrf.clone(),
            expires_at: session.expires_at,
        };
        self.0.open_session(row, now).await?;
        Ok((id, session))
    }

    /// The live session `id` names at `now`.
    pub(crate) async fn get(
        &self,
        id: &str,
        now: Timestamp,
    ) -> agentwerke_store::Result<Option<Session>> {
        let Some(row) = self.0.get_session(&id_hash(id), now).await? else {
            return Ok(None);
        };
        let principal =
            serde_json::from_str(&row.principal).map_err(|e| agentwerke_store::Error::Corrupt {
                what: format!("a session's principal: {e}"),
            })?;
        Ok(Some(Session {
            principal,
            csrf: row.csrf,
            expires_at: row.expires_at,
        }))
    }

    /// Ends session `id`.
    pub(crate) async fn close(&self, id: &str) -> agentwerke_store::Result<()> {
        self.0.close_session(&id_hash(id)).await
    }
}

/// What the store knows a session by: the SHA-256 of its id, hex.
fn id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
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

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("aw.db").display());
        let store = agentwerke_store::SqliteStore::open(&url)
            .await
            .expect("store");
        (dir, Arc::new(store))
    }

    #[tokio::test]
    async fn a_session_ends_at_its_expiry_and_at_sign_out() {
        let (_dir, store) = store().await;
        let sessions = Sessions::new(store.clone());
        let start = Timestamp::from_millis(1_000_000);
        let (id, session) = sessions.open(ada(), start).await.unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(id, session.csrf);
        let just_before = Timestamp::from_millis(session.expires_at.as_millis() - 1);
        let live = sessions.get(&id, just_before).await.unwrap().unwrap();
        assert_eq!((live.principal, live.csrf), (ada(), session.csrf.clone()));
        assert!(
            sessions
                .get(&id, session.expires_at)
                .await
                .unwrap()
                .is_none()
        );

        let (id, _) = sessions.open(ada(), start).await.unwrap();
        sessions.close(&id).await.unwrap();
        assert!(sessions.get(&id, start).await.unwrap().is_none());
        assert!(
            sessions
                .get("not-a-session", start)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_store_knows_a_session_by_its_ids_hash_only() {
        let (_dir, store) = store().await;
        let sessions = Sessions::new(store.clone());
        let start = Timestamp::from_millis(1_000_000);
        let (id, _) = sessions.open(ada(), start).await.unwrap();
        assert!(store.get_session(&id, start).await.unwrap().is_none());
        let row = store
            .get_session(&id_hash(&id), start)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.id_hash.len(), 64);
        assert_ne!(row.id_hash, id);
        // Another server on the same store knows the session.
        let other = Sessions::new(store);
        assert_eq!(
            other.get(&id, start).await.unwrap().unwrap().principal,
            ada()
        );
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
