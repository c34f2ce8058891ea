//! Authentication and role authorisation for the Agentwerke HTTP API.
//!
//! A bearer token becomes a [`Principal`] (who, which roles, which issuer)
//! or an [`Error`] with a stable code; [`allows`] then says whether the
//! principal's roles grant the [`Permission`] an endpoint needs.
//!
//! Two token sources can be configured side by side:
//! - **development tokens**, EdDSA JWTs signed by a [`DevKey`] kept in the
//!   data folder (mode 0600), accepted only when `dev.enabled` is set;
//! - **OIDC access tokens** (RS256/ES256) from one identity provider, whose
//!   keys are discovered, fetched and cached over HTTPS.
//!
//! The same provider can sign a browser in to the web UI
//! ([`Verifier::begin_sign_in`], [`Verifier::finish_sign_in`]): the
//! authorization code flow with PKCE, its ID token checked by the same keys,
//! claims and role mapping, with the UI's client as the audience.
//!
//! Design decisions:
//! - The token source is chosen by the token's issuer, and the source alone
//!   decides which algorithm and key verify it. The header's `alg` must
//!   match, but never widens the choice, so `alg: none` and HMAC-with-the-
//!   public-key (algorithm confusion) fail as `auth.algorithm_not_allowed`.
//! - Everything fails closed: no token, no known role, no reachable key
//!   server all deny. Errors never echo the token or values read from it.
//! - Time comes in as an argument (`now`), as everywhere in Agentwerke, so
//!   expiry and JWKS rate limits are tested without sleeping.
//! - There is no HTTP framework dependency; the server maps [`Error`] to
//!   401/403/503 (see [`Error::is_forbidden`], [`Error::is_unavailable`]).
//!
//! ```
//! use std::time::Duration;
//!
//! use agentwerke_auth::{AuthConfig, DevKey, Permission, Role, Verifier, mint_dev_token};
//! use agentwerke_types::Timestamp;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = DevKey::from_seed([42; 32]);
//! let mut config = AuthConfig::default();
//! config.dev.enabled = true;
//! let verifier = Verifier::new(&config, Some(&key))?;
//!
//! let now = Timestamp::from_millis(1_700_000_000_000);
//! let token = mint_dev_token(&key, "ada", &[Role::Operator], Duration::from_secs(3600), now);
//! let principal = tokio::runtime::Runtime::new()?.block_on(verifier.verify(&token, now))?;
//!
//! assert_eq!(principal.subject, "ada");
//! assert!(principal.can(Permission::StartRun));
//! assert!(!principal.can(Permission::DecideApproval));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod config;
mod dev_key;
mod discovery;
mod error;
mod fetch;
mod jwks;
mod principal;
mod role;
mod sign_in;
mod token;
mod verifier;

pub use config::{AuthConfig, DevConfig, OidcConfig, SIGN_IN_CALLBACK_PATH, SigningAlg};
pub use dev_key::{DEV_AUDIENCE, DEV_ISSUER, DevKey, mint_dev_token, mint_dev_token_with_groups};
pub use error::{Error, SetupError};
pub use principal::Principal;
pub use role::{Permission, Role, allows};
pub use sign_in::{SignInAttempt, SignInError, SignInStart, pkce_challenge};
pub use verifier::{Verifier, bearer_token};
