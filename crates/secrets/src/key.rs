//! Keys: the key-encryption key that seals stored secrets and the server key
//! that makes fingerprints, both behind [`KeyProvider`].
//!
//! The two keys are separate on purpose: the fingerprint key must outlive a
//! rotation of the encryption key (old and new fingerprints of a secret stay
//! comparable), and a leak of one does not give away the other.
//!
//! A key is 32 random bytes written as standard base64 (what
//! `openssl rand -base64 32` prints), so the same text works in a file, an
//! environment variable or a Kubernetes secret.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::key_file;
use crate::location::{Environment, SecretLocation};

/// Bytes in a key.
pub const KEY_LEN: usize = 32;

/// 32 bytes of key, zeroed on drop; `Debug` shows only its id.
#[derive(Clone)]
pub struct KeyMaterial {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: String,
}

impl KeyMaterial {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let bytes = Zeroizing::new(bytes);
        // A hash of a 256-bit random key reveals nothing usable; its prefix
        // names the key in each envelope so a rotation can find the old one.
        let digest = Sha256::new()
            .chain_update(b"agentwerke-secrets key id\0")
            .chain_update(bytes.as_slice())
            .finalize();
        let id = format!("k{}", hex::encode(&digest[..6]));
        Self { bytes, id }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| Error::Random(e.to_string()))?;
        Ok(Self::from_bytes(*bytes))
    }

    /// Parses the base64 text of a key (surrounding whitespace ignored);
    /// `origin` names where it came from in the error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::KeyInvalid {
            origin: origin.to_owned(),
            reason,
        };
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| invalid("not standard base64"))?,
        );
        let bytes: [u8; KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| invalid("not 32 bytes (make one with: openssl rand -base64 32)"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key as base64 text, for writing a new key file.
    pub(crate) fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }

    /// The raw bytes, for the cipher and the MAC.
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// A short public name for the key (a hash prefix, never the key).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where the keys come from: the seam a KMS plugs into.
///
/// The encryption key wraps stored secrets; the fingerprint key is the
/// server key for [`crate::Fingerprinter`]. A provider that rotates
/// encryption keys returns the newest from [`KeyProvider::encryption_key`]
/// and still finds older ones by id in [`KeyProvider::decryption_key`].
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The key new values are sealed with.
    fn encryption_key(&self) -> Result<KeyMaterial, Error>;

    /// The key with id `id`, for opening values sealed under it.
    fn decryption_key(&self, id: &str) -> Result<KeyMaterial, Error> {
        let key = self.encryption_key()?;
        if key.id() == id {
            Ok(key)
        } else {
            Err(Error::UnknownKey(id.to_owned()))
        }
    }

    /// The server key that fingerprints are computed with.
    fn fingerprint_key(&self) -> Result<KeyMaterial, Error>;
}

/// File name of the encryption key in the data folder.
pub const ENCRYPTION_KEY_FILE: &str = "secrets-encryption.key";
/// File name of the fingerprint key in the data folder.
pub const FINGERPRINT_KEY_FILE: &str = "secrets-fingerprint.key";

/// Keys held in memory, loaded once at start from the data folder or from
/// where deployment configuration says.
#[derive(Debug, Clone)]
pub struct LocalKeys {
    encryption: KeyMaterial,
    fingerprint: KeyMaterial,
}

impl LocalKeys {
    /// Keys given directly.
    pub fn new(encryption: KeyMaterial, fingerprint: KeyMaterial) -> Self {
        Self {
            encryption,
            fingerprint,
        }
    }

    /// The default: [`ENCRYPTION_KEY_FILE`] and [`FINGERPRINT_KEY_FILE`] in
    /// `data_dir`, each created on first use (mode 0600, written whole
    /// before it appears) and refused when group or others may read it.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, Error> {
        Ok(Self::new(
            key_file::load_or_create(&data_dir.join(ENCRYPTION_KEY_FILE))?,
            key_file::load_or_create(&data_dir.join(FINGERPRINT_KEY_FILE))?,
        ))
    }

    /// Keys from where deployment configuration says (`env:VARIABLE` or
    /// `file:/path`), read now. A named key that is not there is an error,
    /// never a reason to make a new one: data sealed under the configured
    /// key would become unreadable.
    pub fn from_locations(
        encryption: &SecretLocation,
        fingerprint: &SecretLocation,
        env: &dyn Environment,
    ) -> Result<Self, Error> {
        Ok(Self::new(encryption.load(env)?, fingerprint.load(env)?))
    }
}

impl KeyProvider for LocalKeys {
    fn encryption_key(&self) -> Result<KeyMaterial, Error> {
        Ok(self.encryption.clone())
    }

    fn fingerprint_key(&self) -> Result<KeyMaterial, Error> {
        Ok(self.fingerprint.clone())
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    #[test]
    fn parses_base64_keys_and_names_them_by_hash() {
        let text = STANDARD.encode([7u8; 32]);
        let key = KeyMaterial::parse(&format!("{text}\n"), "test").unwrap();
        assert_eq!(key.bytes(), &[7u8; 32]);
        assert_eq!(key.id(), KeyMaterial::from_bytes([7; 32]).id());
        assert_ne!(key.id(), KeyMaterial::from_bytes([8; 32]).id());
        assert!(!format!("{key:?}").contains(&text));
    }

    #[test]
    fn refuses_keys_of_the_wrong_size_or_encoding() {
        for text in ["not base64!", &STANDARD.encode([1u8; 16]), ""] {
            let error = KeyMaterial::parse(text, "AGENTWERKE_KEY").unwrap_err();
            assert_eq!(error.code(), "secret.key.invalid");
            assert!(error.to_string().contains("AGENTWERKE_KEY"));
        }
    }

    #[test]
    fn generated_keys_differ() {
        let (a, b) = (
            KeyMaterial::generate().unwrap(),
            KeyMaterial::generate().unwrap(),
        );
        assert_ne!(a.bytes(), b.bytes());
    }
}
