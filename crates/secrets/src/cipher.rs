//! Encryption at rest: XChaCha20-Poly1305 in a versioned envelope.
//!
//! Why this construction:
//! - XChaCha20-Poly1305 has a 192-bit nonce, so a fresh random nonce per
//!   value is safe for any number of values under one key (no counter to
//!   keep across processes), and it is constant-time without AES hardware.
//! - The secret's name is bound as associated data: a ciphertext copied to
//!   another secret's row does not decrypt, so a database writer cannot make
//!   one secret serve as another.
//! - The envelope names its format version and its key's id, so the key can
//!   be rotated (and the format changed) while old rows still open.
//!
//! The envelope is text, fit for a `TEXT` column:
//! `v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Key, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::key::{KeyMaterial, KeyProvider};
use crate::name::SecretName;
use crate::value::SecretValue;

/// The envelope format this build writes.
pub const ENVELOPE_VERSION: &str = "v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A secret as stored: the envelope text. Safe to persist and to print.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Takes envelope text read back from storage (checked when opened).
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of the key this value was sealed with (`None` if malformed),
    /// so a rotation can find the rows still under an old key.
    pub fn key_id(&self) -> Option<&str> {
        self.parts().ok().map(|(_, key_id, _)| key_id)
    }

    fn parts(&self) -> Result<(&str, &str, &str), Error> {
        let mut parts = self.0.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(version), Some(key_id), Some(body)) => Ok((version, key_id, body)),
            _ => Err(Error::EnvelopeInvalid("expected version:key:ciphertext")),
        }
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl FromStr for SealedSecret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Seals and opens secret values with the keys of a [`KeyProvider`].
#[derive(Debug, Clone)]
pub struct SecretCipher {
    keys: Arc<dyn KeyProvider>,
}

impl SecretCipher {
    /// A cipher using `keys`.
    pub fn new(keys: Arc<dyn KeyProvider>) -> Self {
        Self { keys }
    }

    /// Encrypts `value` for the secret `name` under the current key, with a
    /// fresh random nonce.
    pub fn seal(&self, name: &SecretName, value: &SecretValue) -> Result<SealedSecret, Error> {
        let key = self.keys.encryption_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| Error::Random(e.to_string()))?;
        let aad = associated_data(name);
        let ciphertext = cipher(&key)
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::EnvelopeInvalid("encryption failed"))?;
        let mut body = nonce.to_vec();
        body.extend_from_slice(&ciphertext);
        Ok(SealedSecret(format!(
            "{ENVELOPE_VERSION}:{}:{}",
            key.id(),
            STANDARD.encode(body)
        )))
    }

    /// Decrypts `sealed` as the secret `name`. Fails if it was sealed for
    /// another name, under a key the provider does not have, or altered.
    pub fn open(&self, name: &SecretName, sealed: &SealedSecret) -> Result<SecretValue, Error> {
        let (version, key_id, body) = sealed.parts()?;
        if version != ENVELOPE_VERSION {
            return Err(Error::EnvelopeUnsupported(crate::error::shorten(version)));
        }
        let body = STANDARD
            .decode(body)
            .map_err(|_| Error::EnvelopeInvalid("the ciphertext is not base64"))?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::EnvelopeInvalid("the ciphertext is too short"));
        }
        let key = self.keys.decryption_key(key_id)?;
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
        let aad = associated_data(name);
        let failed = || Error::DecryptFailed {
            name: name.to_string(),
        };
        let plain = Zeroizing::new(
            cipher(&key)
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| failed())?,
        );
        let text = std::str::from_utf8(&plain).map_err(|_| failed())?;
        SecretValue::new(text.to_owned())
    }
}

fn cipher(key: &KeyMaterial) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::<XChaCha20Poly1305>::from(*key.bytes()))
}

/// What each ciphertext is bound to: the format and the secret's name.
fn associated_data(name: &SecretName) -> String {
    format!("agentwerke-secret:{ENVELOPE_VERSION}:{name}")
}

#[cfg(test)]
#[path = "cipher_tests.rs"]
mod tests;
