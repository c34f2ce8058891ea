//! Signing keys: derivation from a seed, key ids, and the key file format.
//!
//! Generating a key needs randomness, which this crate does not touch: the
//! caller draws 32 random bytes and passes them to [`signing_key_from_seed`].
//!
//! # Key file
//!
//! The CLI stores the evidence signing key in the data folder (mode 0600) as
//! a small JSON document:
//!
//! ```json
//! {
//!   "algorithm": "ed25519",
//!   "keyId": "1a2b3c4d5e6f7a8b",
//!   "publicKey": "<base64, 32 bytes>",
//!   "seed": "<base64, 32 bytes>"
//! }
//! ```
//!
//! Only `algorithm` and `seed` are needed to sign. `keyId` and `publicKey`
//! are there for people (which key is this?) and, when present, must agree
//! with the seed, so a damaged file is refused rather than silently signing
//! under a different key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::canonical::sha256_hex;
use crate::error::Error;
use crate::integrity::ALGORITHM;

/// The Ed25519 key whose secret is `seed`.
pub fn signing_key_from_seed(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

/// First 16 hex digits of SHA-256 of the 32 public key bytes: short enough
/// to read aloud, long enough not to collide between a site's keys.
pub fn key_id(key: &VerifyingKey) -> String {
    let mut id = sha256_hex(key.as_bytes());
    id.truncate(16);
    id
}

/// The public key as standard base64 (with padding).
pub fn encode_public_key(key: &VerifyingKey) -> String {
    STANDARD.encode(key.as_bytes())
}

/// Parses [`encode_public_key`]'s output; surrounding whitespace is ignored.
pub fn decode_public_key(text: &str) -> Result<VerifyingKey, Error> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| Error::InvalidPublicKey(e.to_string()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| Error::InvalidPublicKey(format!("{} bytes, expected 32", b.len())))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| Error::InvalidPublicKey(e.to_string()))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyFile {
    algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    seed: String,
}

/// The key file for `key` (pretty JSON with a trailing newline).
pub fn encode_key_file(key: &SigningKey) -> String {
    let verifying = key.verifying_key();
    let file = KeyFile {
        algorithm: ALGORITHM.to_owned(),
        key_id: Some(key_id(&verifying)),
        public_key: Some(encode_public_key(&verifying)),
        seed: STANDARD.encode(key.to_bytes()),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("a struct of strings serialises");
    text.push('\n');
    text
}

/// Reads a key file written by [`encode_key_file`].
pub fn decode_key_file(text: &str) -> Result<SigningKey, Error> {
    let file: KeyFile =
        serde_json::from_str(text).map_err(|e| Error::InvalidKeyFile(e.to_string()))?;
    if file.algorithm != ALGORITHM {
        return Err(Error::UnsupportedAlgorithm(file.algorithm));
    }
    let seed = STANDARD
        .decode(file.seed.trim())
        .map_err(|e| Error::InvalidKeyFile(format!("seed: {e}")))?;
    let seed: [u8; 32] = seed.try_into().map_err(|b: Vec<u8>| {
        Error::InvalidKeyFile(format!("seed is {} bytes, expected 32", b.len()))
    })?;
    let key = signing_key_from_seed(seed);
    let verifying = key.verifying_key();
    let computed = key_id(&verifying);
    if let Some(recorded) = file.key_id.filter(|id| *id != computed) {
        return Err(Error::KeyFileMismatch { computed, recorded });
    }
    if let Some(recorded) = file
        .public_key
        .filter(|pk| pk.trim() != encode_public_key(&verifying))
    {
        return Err(Error::KeyFileMismatch { computed, recorded });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_16_hex_digits_of_the_public_key_hash() {
        let key = signing_key_from_seed([7; 32]).verifying_key();
        let id = key_id(&key);
        assert_eq!(id.len(), 16);
        assert!(sha256_hex(key.as_bytes()).starts_with(&id));
        assert_ne!(id, key_id(&signing_key_from_seed([8; 32]).verifying_key()));
    }

    #[test]
    fn public_keys_round_trip_through_base64() {
        let key = signing_key_from_seed([1; 32]).verifying_key();
        let text = encode_public_key(&key);
        assert_eq!(decode_public_key(&format!(" {text}\n")), Ok(key));
        assert!(matches!(
            decode_public_key("AAAA"),
            Err(Error::InvalidPublicKey(_))
        ));
        assert!(matches!(
            decode_public_key("not base64!"),
            Err(Error::InvalidPublicKey(_))
        ));
    }

    #[test]
    fn key_files_round_trip() {
        let key = signing_key_from_seed([42; 32]);
        let text = encode_key_file(&key);
        assert!(text.contains("\"algorithm\": \"ed25519\""));
        assert!(text.contains(&key_id(&key.verifying_key())));
        let back = decode_key_file(&text).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
        // The minimal form is enough.
        let minimal = format!(
            r#"{{"algorithm":"ed25519","seed":"{}"}}"#,
            STANDARD.encode([42; 32])
        );
        assert_eq!(decode_key_file(&minimal).unwrap().to_bytes(), [42; 32]);
    }

    #[test]
    fn damaged_key_files_are_refused() {
        let text = encode_key_file(&signing_key_from_seed([42; 32]));
        let other_seed = STANDARD.encode([43; 32]);
        let original_seed = STANDARD.encode([42; 32]);
        assert!(matches!(
            decode_key_file(&text.replace(&original_seed, &other_seed)),
            Err(Error::KeyFileMismatch { .. })
        ));
        assert!(matches!(
            decode_key_file(&text.replace("ed25519", "rsa")),
            Err(Error::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            decode_key_file("{}"),
            Err(Error::InvalidKeyFile(_))
        ));
        assert!(matches!(
            decode_key_file(r#"{"algorithm":"ed25519","seed":"AAAA"}"#),
            Err(Error::InvalidKeyFile(_))
        ));
    }
}
