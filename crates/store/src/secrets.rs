//! Secrets as the store keeps them: a sealed envelope per name, which only
//! the server opens, and a description that never holds it.
//!
//! The store never sees a value: what it keeps is the text
//! `agentwerke_secrets::SecretCipher::seal` returned, and the keyed
//! fingerprint. [`SecretRow`] is what reaches the Settings API and has no
//! field for the envelope; [`SealedSecretRow`] is read only by the server,
//! to open the values at start and after a change.

use agentwerke_types::Timestamp;
use serde::Serialize;

/// A stored secret, described: name, fingerprint and who changed it when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRow {
    /// The secret's name (`SecretName` rules).
    pub name: String,
    /// The keyed fingerprint of its value (`hmac-sha256:…`).
    pub fingerprint: String,
    /// Who stored it first.
    pub created_by: String,
    /// When it was stored first.
    pub created_at: Timestamp,
    /// Who last set it.
    pub updated_by: String,
    /// When it was last set.
    pub updated_at: Timestamp,
}

/// A stored secret's envelope, for the server to open. Not serializable:
/// it never goes into an answer.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecretRow {
    /// The secret's name, bound into the envelope.
    pub name: String,
    /// The envelope (`v1:<key id>:<base64>`).
    pub sealed: String,
}

impl std::fmt::Debug for SealedSecretRow {
    /// The name only: an envelope in a log helps nobody.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecretRow")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
