//! Bearer token verification.
//!
//! The order of checks is the security argument:
//! 1. split the token (shape, size) without trusting anything in it;
//! 2. pick the source by the unverified `iss`: the development key for
//!    `agentwerke-dev`, the OIDC provider for its exact issuer, nothing
//!    otherwise. The source, not the header, fixes which algorithms and keys
//!    are possible, so a header saying `none` or `HS256` cannot change how
//!    the signature is checked (algorithm confusion);
//! 3. verify the signature with the source's key;
//! 4. only then check `iss`, `exp`, `nbf`, `iat`, `aud`, `sub` and roles.

use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};
use jsonwebtoken::errors::ErrorKind;

use agentwerke_types::Timestamp;

use crate::config::{AuthConfig, OidcConfig, SigningAlg};
use crate::dev_key::{DEV_AUDIENCE, DEV_ISSUER, DevKey};
use crate::error::{Error, SetupError};
use crate::jwks::Jwks;
use crate::principal::Principal;
use crate::sign_in::SignInClient;
use crate::token::{self, Expected, UnverifiedToken};

/// The claim development tokens keep their roles in.
const DEV_ROLES_CLAIM: &str = "roles";

/// The public half of the development key.
struct DevSource {
    key: VerifyingKey,
    key_id: String,
}

/// A configured OIDC provider, its key cache, and the web UI's client at
/// it, when configured.
pub(crate) struct OidcSource {
    pub(crate) config: OidcConfig,
    jwks: Jwks,
    pub(crate) sign_in: Option<SignInClient>,
}

/// Verifies bearer tokens against the configured sources. Create one at
/// start-up and share it (`Arc<Verifier>`); it caches the provider's keys.
pub struct Verifier {
    dev: Option<DevSource>,
    pub(crate) oidc: Option<OidcSource>,
    pub(crate) leeway_secs: i64,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("dev_key_id", &self.dev.as_ref().map(|d| &d.key_id))
            .field("oidc_issuer", &self.oidc.as_ref().map(|o| &o.config.issuer))
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier. `dev_key` is required when development auth is
    /// enabled and ignored otherwise, so a key file lying around never makes
    /// development tokens valid by itself. No network IO happens here.
    pub fn new(config: &AuthConfig, dev_key: Option<&DevKey>) -> Result<Self, SetupError> {
        config.validate()?;
        let dev = match (config.dev.enabled, dev_key) {
            (false, _) => None,
            (true, Some(key)) => Some(DevSource {
                key: key.verifying_key(),
                key_id: key.key_id().to_owned(),
            }),
            (true, None) => {
                return Err(SetupError::Config(
                    "dev.enabled is true but no development key was loaded".to_owned(),
                ));
            }
        };
        let oidc = match &config.oidc {
            Some(oidc) => Some(OidcSource {
                config: oidc.clone(),
                jwks: Jwks::new(oidc)?,
                sign_in: SignInClient::new(oidc)?,
            }),
            None => None,
        };
        let leeway_secs = i64::try_from(config.leeway_secs).unwrap_or(i64::MAX);
        Ok(Self {
            dev,
            oidc,
            leeway_secs,
        })
    }

    /// Whether development tokens are accepted.
    pub fn dev_enabled(&self) -> bool {
        self.dev.is_some()
    }

    /// Verifies a bearer token (without the `Bearer ` prefix; see
    /// [`bearer_token`]) at time `now` and returns who sent it.
    pub async fn verify(&self, token: &str, now: Timestamp) -> Result<Principal, Error> {
        let token = token::split(token)?;
        let now_secs = now.as_millis().div_euclid(1000);
        let issuer = token.issuer().ok_or(Error::WrongIssuer)?;
        let (expected, roles_claim) = if issuer == DEV_ISSUER {
            let dev = self.dev.as_ref().ok_or(Error::DevTokensDisabled)?;
            verify_dev_signature(dev, &token)?;
            let expected = Expected {
                issuer: DEV_ISSUER,
                audience: DEV_AUDIENCE,
                now_secs,
                leeway_secs: self.leeway_secs,
            };
            (expected, DEV_ROLES_CLAIM)
        } else if let Some(oidc) = self.oidc.as_ref().filter(|o| o.config.issuer == issuer) {
            verify_oidc_signature(oidc, &token, now).await?;
            let config = &oidc.config;
            let expected = Expected {
                issuer: &config.issuer,
                audience: &config.audience,
                now_secs,
                leeway_secs: self.leeway_secs,
            };
            (expected, config.roles_claim.as_str())
        } else {
            return Err(Error::WrongIssuer);
        };
        token::check_claims(&token.claims, expected)?;
        Principal::from_claims(&token.claims, roles_claim)
    }

    /// Fetches the OIDC provider's keys now, so a wrong issuer or an
    /// unreachable provider shows at start-up. Returns how many usable keys
    /// were found; `Ok(0)` when no OIDC provider is configured.
    pub async fn refresh_jwks(&self, now: Timestamp) -> Result<usize, Error> {
        match &self.oidc {
            Some(oidc) => oidc.jwks.refresh_now(now).await,
            None => Ok(0),
        }
    }
}

/// Extracts the token from an `Authorization` header value. The scheme is
/// matched case-insensitively (RFC 9110 §11.1); anything but `Bearer` counts
/// as no token.
pub fn bearer_token(authorization: Option<&str>) -> Result<&str, Error> {
    let value = authorization.map(str::trim).unwrap_or_default();
    let (scheme, token) = value.split_once(' ').ok_or(Error::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Error::MissingToken);
    }
    Ok(token)
}

fn verify_dev_signature(dev: &DevSource, token: &UnverifiedToken<'_>) -> Result<(), Error> {
    if token.alg != "EdDSA" {
        return Err(Error::AlgorithmNotAllowed);
    }
    if token.kid.as_deref().is_some_and(|kid| kid != dev.key_id) {
        return Err(Error::UnknownKey);
    }
    let signature =
        Signature::from_slice(&token.signature_bytes()?).map_err(|_| Error::BadSignature)?;
    // Strict verification also rejects malleable and small-order signatures.
    dev.key
        .verify_strict(token.signing_input.as_bytes(), &signature)
        .map_err(|_| Error::BadSignature)
}

pub(crate) async fn verify_oidc_signature(
    oidc: &OidcSource,
    token: &UnverifiedToken<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    let alg = oidc
        .config
        .allowed_algs
        .iter()
        .copied()
        .find(|a| a.as_str() == token.alg)
        .ok_or(Error::AlgorithmNotAllowed)?;
    let key = oidc.jwks.key(token.kid.as_deref(), alg, now).await?;
    check_jws(token, &key, alg)
}

fn check_jws(
    token: &UnverifiedToken<'_>,
    key: &jsonwebtoken::DecodingKey,
    alg: SigningAlg,
) -> Result<(), Error> {
    match jsonwebtoken::crypto::verify(
        token.signature,
        token.signing_input.as_bytes(),
        key,
        alg.jwt(),
    ) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::BadSignature),
        Err(e) if matches!(e.kind(), ErrorKind::Base64(_)) => Err(Error::MalformedToken {
            reason: "signature is not base64url",
        }),
        Err(_) => Err(Error::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(Some("bearer   abc ")), Ok("abc"));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer  "),
            Some("Basic abc"),
            Some("abc"),
        ] {
            assert_eq!(bearer_token(bad), Err(Error::MissingToken), "{bad:?}");
        }
    }

    #[test]
    fn dev_enabled_needs_a_key_and_disabled_ignores_one() {
        let mut config = AuthConfig::default();
        config.dev.enabled = true;
        assert!(Verifier::new(&config, None).is_err());
        let key = DevKey::from_seed([1; 32]);
        assert!(Verifier::new(&config, Some(&key)).unwrap().dev_enabled());
        config.dev.enabled = false;
        assert!(!Verifier::new(&config, Some(&key)).unwrap().dev_enabled());
    }
}
