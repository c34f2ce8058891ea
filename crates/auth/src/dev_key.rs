//! The local development signing key and the tokens it mints.
//!
//! One Ed25519 key lives in the data folder as a PKCS#8 PEM file (the same
//! format `openssl genpkey -algorithm ed25519` writes). Whoever can read that
//! file can mint an Admin token, so it is created with mode 0600 and a file
//! that group or others can read is refused rather than silently fixed: a
//! loose mode means the key may already have leaked.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::TryRngCore;
use serde_json::json;

use agentwerke_types::Timestamp;

use crate::error::SetupError;
use crate::role::Role;

/// `iss` of every development token.
pub const DEV_ISSUER: &str = "agentwerke-dev";
/// `aud` of every development token.
pub const DEV_AUDIENCE: &str = "agentwerke";

/// DER prefix of an Ed25519 PKCS#8 v1 private key (RFC 8410): the 32-byte
/// seed follows it.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";
/// A PEM Ed25519 key is about 120 bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The development signing key.
pub struct DevKey {
    signing: SigningKey,
    key_id: String,
}

impl fmt::Debug for DevKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevKey")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl DevKey {
    /// A key from a 32-byte Ed25519 seed (tests and key import).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let public = signing.verifying_key().to_bytes();
        // The public key is public; a prefix of it names the key in `kid`
        // so that a token from an older dev key fails as `unknown_key`.
        let key_id = format!("dev-{}", &URL_SAFE_NO_PAD.encode(public)[..16]);
        Self { signing, key_id }
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, io::Error> {
        let mut seed = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut seed)
            .map_err(io::Error::other)?;
        Ok(Self::from_seed(seed))
    }

    /// Loads the key at `path`, or creates it (mode 0600, parent folders
    /// 0700) if the file does not exist. Refuses a file readable or writable
    /// by group or others.
    pub fn load_or_create(path: &Path) -> Result<Self, SetupError> {
        let io_err = |source| SetupError::KeyFileIo {
            path: path.to_owned(),
            source,
        };
        match fs::metadata(path) {
            Ok(_) => Self::load(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match Self::create(path) {
                Ok(key) => Ok(key),
                // Another process created it between our two calls.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(path),
                Err(e) => Err(io_err(e)),
            },
            Err(e) => Err(io_err(e)),
        }
    }

    /// Loads an existing key file, checking its mode on the opened handle so
    /// the file checked is the file read.
    pub fn load(path: &Path) -> Result<Self, SetupError> {
        let io_err = |source| SetupError::KeyFileIo {
            path: path.to_owned(),
            source,
        };
        let invalid = |reason| SetupError::KeyFileInvalid {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(invalid("not a regular file"));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SetupError::KeyFileInsecure {
                path: path.to_owned(),
                mode,
            });
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|_| invalid("not UTF-8 text"))?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(invalid("file is too large"));
        }
        let seed = parse_pem(&text).map_err(invalid)?;
        Ok(Self::from_seed(seed))
    }

    fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let key = Self::generate()?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(key.to_pem().as_bytes())?;
        file.sync_all()?;
        Ok(key)
    }

    /// The `kid` this key puts in token headers.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    fn to_pem(&self) -> String {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&self.signing.to_bytes());
        format!("{PEM_BEGIN}\n{}\n{PEM_END}\n", STANDARD.encode(der))
    }
}

fn parse_pem(text: &str) -> Result<[u8; 32], &'static str> {
    let body = text
        .trim()
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.strip_suffix(PEM_END))
        .ok_or("expected a PEM `PRIVATE KEY` block")?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).map_err(|_| "invalid base64")?;
    let seed = der
        .strip_prefix(&PKCS8_ED25519_PREFIX)
        .ok_or("not an Ed25519 PKCS#8 v1 key")?;
    seed.try_into().map_err(|_| "wrong key length")
}

/// Mints a development token: EdDSA-signed, `iss` [`DEV_ISSUER`], `aud`
/// [`DEV_AUDIENCE`], valid from `now` for `ttl`, with a random `jti`.
pub fn mint_dev_token(
    key: &DevKey,
    subject: &str,
    roles: &[Role],
    ttl: Duration,
    now: Timestamp,
) -> String {
    mint_dev_token_with_groups(key, subject, roles, &[], ttl, now)
}

/// [`mint_dev_token`] whose roles claim also names `groups` (as an identity
/// provider would list its groups), for approvals that ask for one.
pub fn mint_dev_token_with_groups(
    key: &DevKey,
    subject: &str,
    roles: &[Role],
    groups: &[String],
    ttl: Duration,
    now: Timestamp,
) -> String {
    let iat = now.as_millis().div_euclid(1000);
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let jti: [u8; 16] = rand::random();
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": key.key_id });
    let claims = json!({
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": subject,
        "roles": roles
            .iter()
            .map(|r| r.as_str())
            .chain(groups.iter().map(String::as_str))
            .collect::<Vec<_>>(),
        "iat": iat,
        "nbf": iat,
        "exp": iat.saturating_add(ttl_secs),
        "jti": URL_SAFE_NO_PAD.encode(jti),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.signing.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips() {
        let key = DevKey::from_seed([7; 32]);
        let seed = parse_pem(&key.to_pem()).unwrap();
        assert_eq!(seed, [7; 32]);
    }

    #[test]
    fn debug_hides_the_key() {
        let key = DevKey::from_seed([7; 32]);
        let text = format!("{key:?}");
        assert!(text.contains(key.key_id()));
        assert!(!text.contains("signing"));
    }

    #[test]
    fn parse_rejects_other_keys() {
        assert!(parse_pem("hello").is_err());
        let wrong = format!("{PEM_BEGIN}\n{}\n{PEM_END}", STANDARD.encode([0u8; 48]));
        assert!(parse_pem(&wrong).is_err());
    }
}
