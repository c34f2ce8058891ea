//! What a verifier can find wrong with a pack, one variant per finding.
//!
//! Each message names *where* the pack disagrees with what was signed
//! (`run.steps[2]`, `auditLog[4] (seq 5)`, `integrity.signature`), because a
//! report that only says "invalid" sends the auditor hunting.

use agentwerke_types::ErrorCode;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::chain::ChainError;
use crate::pack::SCHEMA_VERSION;

/// One finding of [`crate::verify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The bytes are not JSON.
    #[error("malformed JSON at line {line}, column {column}: {message}")]
    MalformedJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's complaint.
        message: String,
    },
    /// The JSON is not shaped like a v1 pack (missing or unexpected keys,
    /// wrong types).
    #[error("{0}")]
    InvalidShape(String),
    /// `schemaVersion` is not one this verifier reads.
    #[error("schemaVersion unsupported: {found} (this verifier reads '{SCHEMA_VERSION}')")]
    UnsupportedSchema {
        /// The value found, as JSON.
        found: String,
    },
    /// There is no `integrity` block: nothing vouches for the content.
    #[error("integrity missing: the pack is not signed")]
    Unsigned,
    /// `integrity.algorithm` is not `ed25519`.
    #[error("integrity.algorithm unsupported: {found} (expected \"ed25519\")")]
    UnsupportedAlgorithm {
        /// The value found, as JSON.
        found: String,
    },
    /// `integrity.publicKey` does not decode to an Ed25519 key.
    #[error("integrity.publicKey is not a base64 Ed25519 public key: {reason}")]
    InvalidPublicKey {
        /// Why.
        reason: String,
    },
    /// `integrity.keyId` is not the id of `integrity.publicKey`.
    #[error(
        "integrity.keyId {declared} does not match integrity.publicKey (whose key id is {computed})"
    )]
    KeyIdMismatch {
        /// The declared key id, as JSON.
        declared: String,
        /// The id of the public key in the pack.
        computed: String,
    },
    /// The pack was signed by a key other than the one the caller trusts.
    #[error("signing key {key_id} is not the trusted key {trusted_key_id}")]
    UntrustedKey {
        /// Id of the key in the pack.
        key_id: String,
        /// Id of the trusted key.
        trusted_key_id: String,
    },
    /// The signature does not verify.
    #[error("integrity.signature invalid: {reason}")]
    InvalidSignature {
        /// Why, naming what the signature covers.
        reason: String,
    },
    /// A section or item differs from its signed digest.
    #[error("{path} was altered (digest mismatch)")]
    DigestMismatch {
        /// `workflow`, `run`, `run.steps[2]`, `approvals[0]` ...
        path: String,
    },
    /// An array section has a different number of items than was signed.
    #[error("{section}: item added/removed (signed {signed} items, found {found})")]
    ItemCountChanged {
        /// `approvals`, `run.steps` ...
        section: String,
        /// Items signed.
        signed: usize,
        /// Items present.
        found: usize,
    },
    /// An item whose digest is not among the signed ones.
    #[error("{path} is not in the signed pack (added or altered)")]
    UnsignedItem {
        /// `approvals[3]` ...
        path: String,
    },
    /// A signed item that is no longer present.
    #[error("{section}: signed item {index} is missing (removed or altered)")]
    MissingItem {
        /// `approvals` ...
        section: String,
        /// Its index when signed.
        index: usize,
    },
    /// A prompt's text does not hash to its `sha256`.
    #[error("prompts[{index}].sha256 does not match its text")]
    PromptDigestMismatch {
        /// Index in `prompts`.
        index: usize,
    },
    /// The audit hash chain is broken.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl ErrorCode for Problem {
    fn code(&self) -> &'static str {
        match self {
            Problem::MalformedJson { .. } => "evidence.pack.malformed_json",
            Problem::InvalidShape(_) => "evidence.pack.invalid_shape",
            Problem::UnsupportedSchema { .. } => "evidence.pack.unsupported_schema",
            Problem::Unsigned => "evidence.integrity.missing",
            Problem::UnsupportedAlgorithm { .. } => "evidence.integrity.unsupported_algorithm",
            Problem::InvalidPublicKey { .. } => "evidence.integrity.invalid_public_key",
            Problem::KeyIdMismatch { .. } => "evidence.integrity.key_id_mismatch",
            Problem::UntrustedKey { .. } => "evidence.integrity.untrusted_key",
            Problem::InvalidSignature { .. } => "evidence.integrity.invalid_signature",
            Problem::DigestMismatch { .. } => "evidence.integrity.digest_mismatch",
            Problem::ItemCountChanged { .. } => "evidence.integrity.item_count_changed",
            Problem::UnsignedItem { .. } => "evidence.integrity.unsigned_item",
            Problem::MissingItem { .. } => "evidence.integrity.missing_item",
            Problem::PromptDigestMismatch { .. } => "evidence.pack.prompt_digest_mismatch",
            Problem::Chain(e) => e.code(),
        }
    }
}

/// Serialises as `{"code": ..., "message": ...}` for API and CLI output.
impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Problem", 2)?;
        s.serialize_field("code", self.code())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}
