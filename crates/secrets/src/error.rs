//! Everything that can go wrong with a secret, each with a stable code.
//!
//! No variant carries a secret value: an error is logged, returned to API
//! clients and may end up in an audit record, so it names the secret, the
//! file or the variable, never what they hold.

use std::io;
use std::path::PathBuf;

use agentwerke_types::ErrorCode;

/// A secret-handling error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A secret name that is not `[A-Za-z][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid secret name '{name}': {reason}")]
    InvalidName {
        /// The name offered (shortened when long).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Configuration text that is not `secret:NAME`. The text is not
    /// repeated: a value pasted where a reference belongs is a secret.
    #[error("invalid secret reference: {reason}")]
    InvalidReference {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A deployment definition that is not `env:VARIABLE` or
    /// `file:/absolute/path`. The text is not repeated, for the same reason.
    #[error("invalid secret location: {reason}")]
    InvalidLocation {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value larger than [`crate::MAX_VALUE_BYTES`].
    #[error("secret value is {len} bytes; at most {max} are accepted")]
    ValueTooLarge {
        /// Its size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An empty value (deleting a secret is a separate operation).
    #[error("secret value is empty")]
    ValueEmpty,
    /// A key file that group or others may read or write.
    #[error(
        "{} is readable or writable by other users (mode {mode:o}); run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    KeyFileInsecure {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key that is not 32 bytes in standard base64.
    #[error("the key from {origin} is unusable: {reason}")]
    KeyInvalid {
        /// Where the key came from (a path or `environment variable NAME`).
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key that deployment configuration names but that is not there.
    #[error("the key from {origin} is missing")]
    KeyMissing {
        /// Where the key was looked for.
        origin: String,
    },
    /// Reading or creating a key file failed.
    #[error("cannot use key file {}: {source}", path.display())]
    KeyFileIo {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// Stored bytes that are not an envelope this version understands.
    #[error("sealed secret is malformed: {0}")]
    EnvelopeInvalid(&'static str),
    /// An envelope of a format version this build does not know.
    #[error("sealed secret has unsupported format '{0}'")]
    EnvelopeUnsupported(String),
    /// The envelope was sealed under a key the key provider does not have.
    #[error("sealed secret was encrypted with key {0}, which is not available")]
    UnknownKey(String),
    /// Authentication failed: the wrong key, another secret's ciphertext,
    /// or tampered bytes.
    #[error("sealed secret '{name}' does not decrypt (wrong key, wrong name or altered)")]
    DecryptFailed {
        /// The secret it was opened as.
        name: String,
    },
}

impl ErrorCode for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::InvalidName { .. } => "secret.invalid_name",
            Error::InvalidReference { .. } => "secret.invalid_reference",
            Error::InvalidLocation { .. } => "secret.invalid_location",
            Error::ValueTooLarge { .. } => "secret.value_too_large",
            Error::ValueEmpty => "secret.value_empty",
            Error::KeyFileInsecure { .. } => "secret.key.file_insecure",
            Error::KeyInvalid { .. } => "secret.key.invalid",
            Error::KeyMissing { .. } => "secret.key.missing",
            Error::KeyFileIo { .. } => "secret.key.io",
            Error::Random(_) => "secret.key.random_unavailable",
            Error::EnvelopeInvalid(_) => "secret.envelope.invalid",
            Error::EnvelopeUnsupported(_) => "secret.envelope.unsupported",
            Error::UnknownKey(_) => "secret.envelope.unknown_key",
            Error::DecryptFailed { .. } => "secret.envelope.decrypt_failed",
        }
    }
}

/// `text` cut to a length fit for an error message (names and references
/// come from users and may be huge).
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}
