//! Secrets for Agentwerke: names, references, encryption at rest, keyed
//! fingerprints, and values kept by deployment configuration.
//!
//! The design decision: a secret value is a [`SecretValue`] from the moment
//! it is read until the component that sends it exposes it, and nothing
//! else in this crate ever shows it. Its `Debug` and `Display` print
//! `[REDACTED]`, its memory is zeroed on drop, and no error carries it.
//! What the rest of the system sees is a [`SecretName`], a [`SecretRef`]
//! (`secret:NAME` in configuration), a [`SecretSource`], a [`SecretStatus`]
//! and a [`Fingerprint`].
//!
//! - [`SecretCipher`] seals values for the database: XChaCha20-Poly1305,
//!   a random nonce per value, the name bound as associated data, in a
//!   versioned envelope that names its key.
//! - [`KeyProvider`] is the seam for the key-encryption key and the
//!   fingerprint key. [`LocalKeys`] loads (or creates, mode 0600) key files
//!   in the data folder, or reads keys from where deployment configuration
//!   says; a KMS can implement the trait later.
//! - [`Fingerprinter`] computes `hmac-sha256:` fingerprints under the server
//!   key, so the audit can show that a value changed without giving
//!   anything to brute-force.
//! - [`SecretLocation`] reads a secret kept outside Agentwerke
//!   (`env:VARIABLE`, `file:/path`) at the last moment, answering
//!   `missing` or `unreadable` instead of failing.
//!
//! ```
//! use std::sync::Arc;
//! use agentwerke_secrets::{
//!     Fingerprinter, KeyMaterial, LocalKeys, SecretCipher, SecretName, SecretRef, SecretValue,
//! };
//!
//! let keys = Arc::new(LocalKeys::new(
//!     KeyMaterial::generate().unwrap(),
//!     KeyMaterial::generate().unwrap(),
//! ));
//! let reference = SecretRef::parse("secret:openai_api_key").unwrap();
//! let value = SecretValue::new("sk-example-value".to_owned()).unwrap();
//! assert_eq!(format!("{value:?}"), "SecretValue([REDACTED])");
//!
//! let cipher = SecretCipher::new(keys.clone());
//! let sealed = cipher.seal(reference.name(), &value).unwrap();
//! assert!(!sealed.as_str().contains("sk-example"));
//! assert_eq!(cipher.open(reference.name(), &sealed).unwrap().expose(), "sk-example-value");
//!
//! // Sealed for one name, it does not open as another.
//! let other = SecretName::parse("github_token").unwrap();
//! assert!(cipher.open(&other, &sealed).is_err());
//!
//! let print = Fingerprinter::new(keys.as_ref()).unwrap().fingerprint(&value);
//! assert!(print.as_str().starts_with("hmac-sha256:"));
//! ```
#![deny(missing_docs)]

mod cipher;
mod error;
mod fingerprint;
mod key;
mod key_file;
mod location;
mod name;
mod source;
mod value;

pub use cipher::{ENVELOPE_VERSION, SealedSecret, SecretCipher};
pub use error::Error;
pub use fingerprint::{FINGERPRINT_PREFIX, Fingerprint, Fingerprinter};
pub use key::{
    ENCRYPTION_KEY_FILE, FINGERPRINT_KEY_FILE, KEY_LEN, KeyMaterial, KeyProvider, LocalKeys,
};
pub use location::{Environment, ProcessEnvironment, Resolved, SecretLocation};
pub use name::{MAX_NAME_LEN, REFERENCE_PREFIX, SecretName, SecretRef};
pub use source::{SecretSource, SecretStatus};
pub use value::{MAX_VALUE_BYTES, SecretValue};

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use agentwerke_types::ErrorCode;

    use super::*;

    /// Codes are published: clients and dashboards match on them. This list
    /// changes only by adding.
    #[test]
    fn error_codes_are_stable() {
        let errors: [(Error, &str); 14] = [
            (
                Error::InvalidName {
                    name: String::new(),
                    reason: "",
                },
                "secret.invalid_name",
            ),
            (
                Error::InvalidReference { reason: "" },
                "secret.invalid_reference",
            ),
            (
                Error::InvalidLocation { reason: "" },
                "secret.invalid_location",
            ),
            (
                Error::ValueTooLarge { len: 2, max: 1 },
                "secret.value_too_large",
            ),
            (Error::ValueEmpty, "secret.value_empty"),
            (
                Error::KeyFileInsecure {
                    path: PathBuf::new(),
                    mode: 0o644,
                },
                "secret.key.file_insecure",
            ),
            (
                Error::KeyInvalid {
                    origin: String::new(),
                    reason: "",
                },
                "secret.key.invalid",
            ),
            (
                Error::KeyMissing {
                    origin: String::new(),
                },
                "secret.key.missing",
            ),
            (
                Error::KeyFileIo {
                    path: PathBuf::new(),
                    source: io::Error::other("x"),
                },
                "secret.key.io",
            ),
            (
                Error::Random(String::new()),
                "secret.key.random_unavailable",
            ),
            (Error::EnvelopeInvalid(""), "secret.envelope.invalid"),
            (
                Error::EnvelopeUnsupported(String::new()),
                "secret.envelope.unsupported",
            ),
            (
                Error::UnknownKey(String::new()),
                "secret.envelope.unknown_key",
            ),
            (
                Error::DecryptFailed {
                    name: String::new(),
                },
                "secret.envelope.decrypt_failed",
            ),
        ];
        for (error, code) in errors {
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn configured_keys_come_from_where_deployment_says() {
        let enc = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        let fp = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
        let env = [("AW_ENC_KEY", enc), ("AW_FP_KEY", fp)];
        let keys = LocalKeys::from_locations(
            &SecretLocation::parse("env:AW_ENC_KEY").unwrap(),
            &SecretLocation::parse("env:AW_FP_KEY").unwrap(),
            &env,
        )
        .unwrap();
        let expected = KeyMaterial::from_bytes([1; 32]);
        assert_eq!(keys.encryption_key().unwrap().id(), expected.id());
        assert_eq!(
            keys.fingerprint_key().unwrap().id(),
            KeyMaterial::from_bytes([2; 32]).id()
        );
        // A configured key that is absent is an error, never a fresh key.
        let error = LocalKeys::from_locations(
            &SecretLocation::parse("env:AW_ENC_KEY").unwrap(),
            &SecretLocation::parse("env:AW_NOT_SET").unwrap(),
            &env,
        )
        .unwrap_err();
        assert_eq!(error.code(), "secret.key.missing");
    }

    #[test]
    fn data_folder_keys_are_created_once_and_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let keys = LocalKeys::load_or_create(dir.path()).unwrap();
        let again = LocalKeys::load_or_create(dir.path()).unwrap();
        let enc = keys.encryption_key().unwrap();
        let fp = keys.fingerprint_key().unwrap();
        assert_ne!(enc.id(), fp.id());
        assert_eq!(enc.id(), again.encryption_key().unwrap().id());
        assert_eq!(fp.id(), again.fingerprint_key().unwrap().id());
        assert!(dir.path().join(ENCRYPTION_KEY_FILE).is_file());
        assert!(dir.path().join(FINGERPRINT_KEY_FILE).is_file());
    }
}
