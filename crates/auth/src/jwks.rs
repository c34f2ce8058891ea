//! The identity provider's signing keys: discovered, fetched, cached, and
//! refreshed when a token names a key we do not have.
//!
//! Refreshes are rate-limited by the `now` the caller passes in (the same
//! clock that checks `exp`), so a flood of tokens with invented `kid`s costs
//! the provider at most one request per interval. Only one refresh runs at a
//! time; callers that queue behind it see its result. When keys cannot be
//! fetched, or are older than their maximum age and cannot be refreshed,
//! verification fails closed with `auth.jwks_unavailable`.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use reqwest::Url;
use serde_json::Value;
use tokio::sync::Mutex;

use agentwerke_types::Timestamp;

use crate::config::{OidcConfig, SigningAlg, check_fetch_url};
use crate::discovery;
use crate::error::{Error, SetupError};
use crate::fetch::Fetcher;

/// One usable verification key.
#[derive(Clone)]
struct VerifyKey {
    kid: Option<String>,
    alg: SigningAlg,
    key: DecodingKey,
}

/// The keys from the last successful fetch.
#[derive(Default)]
struct KeySet {
    keys: Vec<VerifyKey>,
    fetched_at: Option<Timestamp>,
}

impl KeySet {
    fn is_fresh(&self, now: Timestamp, max_age_ms: i64) -> bool {
        self.fetched_at
            .is_some_and(|at| now.as_millis().saturating_sub(at.as_millis()) < max_age_ms)
    }

    /// The key for `kid` and `alg`. A token without `kid` is matched only if
    /// exactly one key fits its algorithm: guessing among several would make
    /// key choice depend on list order.
    fn find(&self, kid: Option<&str>, alg: SigningAlg) -> Option<DecodingKey> {
        let mut fitting = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.as_deref() == kid));
        let first = fitting.next()?;
        match (kid, fitting.next()) {
            (None, Some(_)) => None,
            _ => Some(first.key.clone()),
        }
    }
}

/// State owned by whoever is refreshing.
#[derive(Default)]
struct RefreshState {
    last_attempt: Option<Timestamp>,
    discovered_url: Option<Url>,
}

/// Cached JWKS for one OIDC issuer.
pub(crate) struct Jwks {
    issuer: String,
    configured_url: Option<Url>,
    allowed: Vec<SigningAlg>,
    fetcher: Fetcher,
    min_interval_ms: i64,
    max_age_ms: i64,
    current: RwLock<Arc<KeySet>>,
    refresh: Mutex<RefreshState>,
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

impl Jwks {
    pub(crate) fn new(config: &OidcConfig) -> Result<Self, SetupError> {
        let configured_url = match &config.jwks_url {
            Some(url) => Some(check_fetch_url("oidc.jwks-url", url)?),
            None => None,
        };
        Ok(Self {
            issuer: config.issuer.clone(),
            configured_url,
            allowed: config.allowed_algs.clone(),
            fetcher: Fetcher::new(
                Duration::from_secs(config.http_timeout_secs),
                config.max_response_bytes,
            )?,
            min_interval_ms: secs_to_ms(config.jwks_refresh_min_interval_secs),
            max_age_ms: secs_to_ms(config.jwks_max_age_secs),
            current: RwLock::default(),
            refresh: Mutex::default(),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The verification key for a token's `kid` and algorithm, fetching the
    /// key set if it is missing, stale, or lacks the key (rate-limited).
    pub(crate) async fn key(
        &self,
        kid: Option<&str>,
        alg: SigningAlg,
        now: Timestamp,
    ) -> Result<DecodingKey, Error> {
        let fresh = |set: &KeySet| set.is_fresh(now, self.max_age_ms);
        let set = self.snapshot();
        if fresh(&set)
            && let Some(key) = set.find(kid, alg)
        {
            return Ok(key);
        }
        let mut state = self.refresh.lock().await;
        // Someone may have refreshed while we waited for the lock.
        let set = self.snapshot();
        if fresh(&set)
            && let Some(key) = set.find(kid, alg)
        {
            return Ok(key);
        }
        let rate_limited = state
            .last_attempt
            .is_some_and(|t| now.as_millis().saturating_sub(t.as_millis()) < self.min_interval_ms);
        if rate_limited {
            return Err(if fresh(&set) {
                Error::UnknownKey
            } else {
                Error::JwksUnavailable {
                    reason: "the last fetch failed; retrying later".to_owned(),
                }
            });
        }
        state.last_attempt = Some(now);
        let set = self.fetch(&mut state, now).await?;
        set.find(kid, alg).ok_or(Error::UnknownKey)
    }

    /// Fetches the key set now, ignoring the cache and the rate limit, so the
    /// server can fail at start-up instead of on the first request.
    pub(crate) async fn refresh_now(&self, now: Timestamp) -> Result<usize, Error> {
        let mut state = self.refresh.lock().await;
        state.last_attempt = Some(now);
        Ok(self.fetch(&mut state, now).await?.keys.len())
    }

    async fn fetch(&self, state: &mut RefreshState, now: Timestamp) -> Result<Arc<KeySet>, Error> {
        let unavailable = |reason: String| Error::JwksUnavailable { reason };
        let url = match (&self.configured_url, &state.discovered_url) {
            (Some(url), _) | (None, Some(url)) => url.clone(),
            (None, None) => {
                let url = self.discover().await.map_err(unavailable)?;
                state.discovered_url = Some(url.clone());
                url
            }
        };
        let doc = self.fetcher.get_json(&url).await.map_err(unavailable)?;
        let Some(entries) = doc.get("keys").and_then(Value::as_array) else {
            return Err(unavailable(format!("{url} is not a JWK set")));
        };
        let keys: Vec<VerifyKey> = entries
            .iter()
            .filter_map(|e| usable_key(e, &self.allowed))
            .collect();
        let set = Arc::new(KeySet {
            keys,
            fetched_at: Some(now),
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = set.clone();
        Ok(set)
    }

    /// Reads `jwks_uri` from the discovery document.
    async fn discover(&self) -> Result<Url, String> {
        Ok(discovery::discover(&self.fetcher, &self.issuer)
            .await?
            .jwks_uri)
    }
}

/// Turns one JWK into a verification key if it is a signing key for an
/// allowed algorithm whose key type matches that algorithm. Anything else
/// (encryption keys, HMAC secrets, other curves, unparseable entries) is
/// skipped, so one odd key cannot break the whole set.
fn usable_key(entry: &Value, allowed: &[SigningAlg]) -> Option<VerifyKey> {
    let jwk: Jwk = serde_json::from_value(entry.clone()).ok()?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => SigningAlg::RS256,
        (AlgorithmParameters::EllipticCurve(p), None | Some(KeyAlgorithm::ES256))
            if p.curve == EllipticCurve::P256 =>
        {
            SigningAlg::ES256
        }
        _ => return None,
    };
    if !allowed.contains(&alg) {
        return None;
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id,
        alg,
        key,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ALL: [SigningAlg; 2] = [SigningAlg::RS256, SigningAlg::ES256];

    fn rsa(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": "AQAB", "e": "AQAB"})
    }

    #[test]
    fn only_signing_keys_of_matching_type_are_used() {
        assert!(usable_key(&rsa("a"), &ALL).is_some());
        let mut enc = rsa("a");
        enc["use"] = json!("enc");
        assert!(usable_key(&enc, &ALL).is_none());
        let mut mislabelled = rsa("a");
        mislabelled["alg"] = json!("ES256");
        assert!(usable_key(&mislabelled, &ALL).is_none());
        let hmac = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"});
        assert!(usable_key(&hmac, &ALL).is_none());
        let p384 = json!({"kty": "EC", "crv": "P-384", "x": "AQAB", "y": "AQAB"});
        assert!(usable_key(&p384, &ALL).is_none());
        assert!(usable_key(&rsa("a"), &[SigningAlg::ES256]).is_none());
        assert!(usable_key(&json!({"kty": "weird"}), &ALL).is_none());
    }

    #[test]
    fn a_token_without_kid_needs_exactly_one_candidate() {
        let key = |kid: &str| usable_key(&rsa(kid), &ALL).unwrap();
        let one = KeySet {
            keys: vec![key("a")],
            fetched_at: Some(Timestamp(0)),
        };
        assert!(one.find(None, SigningAlg::RS256).is_some());
        assert!(one.find(Some("b"), SigningAlg::RS256).is_none());
        assert!(one.find(Some("a"), SigningAlg::ES256).is_none());
        let two = KeySet {
            keys: vec![key("a"), key("b")],
            fetched_at: Some(Timestamp(0)),
        };
        assert!(two.find(None, SigningAlg::RS256).is_none());
        assert!(two.find(Some("b"), SigningAlg::RS256).is_some());
    }

    #[test]
    fn freshness_uses_the_given_clock() {
        let set = KeySet {
            keys: vec![],
            fetched_at: Some(Timestamp(1_000)),
        };
        assert!(set.is_fresh(Timestamp(1_500), 1_000));
        assert!(!set.is_fresh(Timestamp(2_000), 1_000));
        assert!(!KeySet::default().is_fresh(Timestamp(0), 1_000));
    }
}
