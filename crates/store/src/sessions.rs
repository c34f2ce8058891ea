//! Web UI sessions as the store keeps them, so every server on one
//! database knows them and a restart does not sign anyone out.
//!
//! A session is not a change to runs, workflows or policy and leaves no
//! audit record: it is the server's memory of who a browser signed in as,
//! kept here instead of in one process. The browser's session id never
//! reaches the store; the server passes its SHA-256 ([`SessionRow::id_hash`]).

use agentwerke_types::Timestamp;

/// One signed-in browser.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// The SHA-256 of the session id, hex: what finds the session.
    pub id_hash: String,
    /// The principal it acts as, as JSON.
    pub principal: String,
    /// The token every form of the session carries.
    pub csrf: String,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// Names the session by its hash only: the CSRF token stays out of logs.
impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("id_hash", &self.id_hash)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
