//! Keyed fingerprints: how the Settings API and the audit tell values apart
//! without showing them.
//!
//! A plain hash of a short secret (a PIN, a six-word password) can be
//! brute-forced offline from the audit log; an HMAC under a server key
//! cannot without that key. Sixteen hex digits (64 bits) are plenty to see
//! that a value changed and too few to serve as a stand-in for it.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::Error;
use crate::key::{KeyMaterial, KeyProvider};
use crate::value::SecretValue;

/// What every fingerprint starts with: the algorithm, so that a later one
/// can be told apart.
pub const FINGERPRINT_PREFIX: &str = "hmac-sha256:";
const FINGERPRINT_HEX_DIGITS: usize = 16;

/// `hmac-sha256:` and the first 16 hex digits of HMAC-SHA256(server key, value).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The text, e.g. `hmac-sha256:9f2c4e1a0b7d3c55`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Computes fingerprints under the server's fingerprint key.
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    key: KeyMaterial,
}

impl Fingerprinter {
    /// A fingerprinter with the provider's fingerprint key.
    pub fn new(keys: &dyn KeyProvider) -> Result<Self, Error> {
        Ok(Self::with_key(keys.fingerprint_key()?))
    }

    /// A fingerprinter with `key`.
    pub fn with_key(key: KeyMaterial) -> Self {
        Self { key }
    }

    /// The fingerprint of `value`.
    pub fn fingerprint(&self, value: &SecretValue) -> Fingerprint {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.bytes())
            .expect("HMAC takes any key length");
        mac.update(value.expose().as_bytes());
        let tag = mac.finalize().into_bytes();
        let digits = hex::encode(&tag[..FINGERPRINT_HEX_DIGITS / 2]);
        Fingerprint(format!("{FINGERPRINT_PREFIX}{digits}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> SecretValue {
        SecretValue::new(text.to_owned()).unwrap()
    }

    #[test]
    fn is_stable_for_one_key_and_differs_across_keys() {
        let one = Fingerprinter::with_key(KeyMaterial::from_bytes([1; 32]));
        let again = Fingerprinter::with_key(KeyMaterial::from_bytes([1; 32]));
        let other = Fingerprinter::with_key(KeyMaterial::from_bytes([2; 32]));
        let secret = value("correct horse battery staple");
        let print = one.fingerprint(&secret);
        assert_eq!(print, again.fingerprint(&secret));
        assert_ne!(print, other.fingerprint(&secret));
        assert_ne!(
            print,
            one.fingerprint(&value("correct horse battery stapler"))
        );
        assert!(print.as_str().starts_with("hmac-sha256:"));
        assert_eq!(print.as_str().len(), "hmac-sha256:".len() + 16);
        assert!(
            print.as_str()["hmac-sha256:".len()..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
        );
    }

    /// Pinned against an independent computation: `printf abc | openssl
    /// dgst -sha256 -mac HMAC -macopt hexkey:0101...01` (32 bytes of 0x01)
    /// prints 73860612aa6aadf6...
    #[test]
    fn is_the_hmac_prefix() {
        let one = Fingerprinter::with_key(KeyMaterial::from_bytes([1; 32]));
        assert_eq!(
            one.fingerprint(&value("abc")).as_str(),
            "hmac-sha256:73860612aa6aadf6"
        );
    }
}
