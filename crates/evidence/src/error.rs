//! Errors from the fallible edges of the crate: decoding keys and key files,
//! formatting timestamps.
//!
//! Verification does not use this type: a verifier must list every problem
//! rather than stop at the first, so it returns a [`crate::VerifyReport`]
//! of [`crate::Problem`]s. The audit chain has its own [`crate::ChainError`].

use agentwerke_types::ErrorCode;

/// Why a key, key file or timestamp could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The text is not base64 of a 32-byte Ed25519 public key.
    #[error("not a base64 Ed25519 public key: {0}")]
    InvalidPublicKey(String),
    /// The key file is not the JSON format described in [`crate::keys`].
    #[error("not an evidence key file: {0}")]
    InvalidKeyFile(String),
    /// The key file names an algorithm this crate cannot sign with.
    #[error("unsupported key algorithm '{0}' (expected 'ed25519')")]
    UnsupportedAlgorithm(String),
    /// The key file's seed does not produce the public key it records: the
    /// file was edited or corrupted.
    #[error("key file is inconsistent: its seed yields key {computed}, but it records {recorded}")]
    KeyFileMismatch {
        /// Key id the seed yields.
        computed: String,
        /// Key id or public key the file records.
        recorded: String,
    },
    /// A timestamp lies outside the range RFC 3339 can express.
    #[error("timestamp {0}ms cannot be written as RFC 3339")]
    TimestampOutOfRange(i64),
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::InvalidPublicKey(_) => "evidence.key.invalid_public_key",
            Error::InvalidKeyFile(_) => "evidence.key.invalid_key_file",
            Error::UnsupportedAlgorithm(_) => "evidence.key.unsupported_algorithm",
            Error::KeyFileMismatch { .. } => "evidence.key.key_file_mismatch",
            Error::TimestampOutOfRange(_) => "evidence.time.out_of_range",
        }
    }
}
