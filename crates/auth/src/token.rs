//! Splitting a compact JWS into its parts and checking its registered claims.
//!
//! We parse the header ourselves instead of through `jsonwebtoken::Header`
//! so that `alg: none`, HMAC names and unknown names all reach one check and
//! fail as `auth.algorithm_not_allowed`, rather than some of them failing
//! earlier as a parse error with a different code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::Error;

/// Largest token accepted. Generous for providers that put many groups in
/// the token, small enough that parsing untrusted input stays cheap.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A token split into its parts, not yet verified. Nothing in it may be
/// trusted except to choose which key source to ask.
#[derive(Debug)]
pub(crate) struct UnverifiedToken<'a> {
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    /// The base64url signature.
    pub(crate) signature: &'a str,
    /// The header's `alg`.
    pub(crate) alg: String,
    /// The header's `kid`, if any.
    pub(crate) kid: Option<String>,
    /// The payload claims.
    pub(crate) claims: Map<String, Value>,
}

impl UnverifiedToken<'_> {
    /// The unverified `iss`, used only to pick the key source.
    pub(crate) fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The signature bytes.
    pub(crate) fn signature_bytes(&self) -> Result<Vec<u8>, Error> {
        URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| malformed("signature is not base64url"))
    }
}

fn malformed(reason: &'static str) -> Error {
    Error::MalformedToken { reason }
}

fn decode_object(part: &str, what: &'static str) -> Result<Map<String, Value>, Error> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(what)),
    }
}

/// Splits `token` into header, claims and signature.
pub(crate) fn split(token: &str) -> Result<UnverifiedToken<'_>, Error> {
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::MissingToken);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let header_map = decode_object(header, "header is not base64url JSON")?;
    let claims = decode_object(payload, "payload is not base64url JSON")?;
    // RFC 7515 §4.1.11: a recipient that does not understand a critical
    // extension must reject the token. We understand none.
    if header_map.contains_key("crit") {
        return Err(malformed("critical header extensions are not supported"));
    }
    let alg = match header_map.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        Some(_) => return Err(Error::AlgorithmNotAllowed),
        None => return Err(malformed("header has no alg")),
    };
    let kid = match header_map.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(UnverifiedToken {
        signing_input,
        signature,
        alg,
        kid,
        claims,
    })
}

/// What the claims of a verified token must satisfy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) now_secs: i64,
    pub(crate) leeway_secs: i64,
}

/// A NumericDate: integer or fractional seconds (RFC 7519 §2).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(malformed("a time claim is not a number")),
    }
}

/// Checks `iss`, `exp`, `nbf`, `iat`, `aud` and `sub`, in that order. Call
/// only after the signature is verified, so an attacker learns nothing from
/// which claim failed on a forged token.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expected: Expected<'_>,
) -> Result<(), Error> {
    let Expected {
        issuer,
        audience,
        now_secs,
        leeway_secs,
    } = expected;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return Err(Error::WrongIssuer);
    }
    let exp = numeric_date(claims, "exp")?.ok_or(malformed("token has no exp"))?;
    if now_secs >= exp.saturating_add(leeway_secs) {
        return Err(Error::Expired);
    }
    for name in ["nbf", "iat"] {
        if let Some(t) = numeric_date(claims, name)?
            && t > now_secs.saturating_add(leeway_secs)
        {
            return Err(Error::NotYetValid);
        }
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !audience_ok {
        return Err(Error::WrongAudience);
    }
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err(malformed("token has no sub")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const EXPECTED: Expected<'static> = Expected {
        issuer: "iss",
        audience: "aud",
        now_secs: 1000,
        leeway_secs: 60,
    };

    #[test]
    fn split_finds_the_parts() {
        let token = format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "RS256", "kid": "k1"})),
            b64(&json!({"iss": "x"}))
        );
        let t = split(&token).unwrap();
        assert_eq!(t.alg, "RS256");
        assert_eq!(t.kid.as_deref(), Some("k1"));
        assert_eq!(t.issuer(), Some("x"));
        assert_eq!(t.signature, "c2ln");
        assert_eq!(t.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn split_rejects_bad_shapes() {
        assert_eq!(split("  ").unwrap_err(), Error::MissingToken);
        for bad in [
            "abc",
            "a.b",
            "a.b.c.d.e",
            "!!.!!.!!",
            &"a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            let err = split(bad).unwrap_err();
            assert!(
                matches!(err, Error::MalformedToken { .. }),
                "{bad:.20}: {err:?}"
            );
        }
        let numeric_alg = format!("{}.{}.", b64(&json!({"alg": 1})), b64(&json!({})));
        assert_eq!(split(&numeric_alg).unwrap_err(), Error::AlgorithmNotAllowed);
        let crit = format!(
            "{}.{}.",
            b64(&json!({"alg": "RS256", "crit": ["x"]})),
            b64(&json!({}))
        );
        assert!(matches!(
            split(&crit).unwrap_err(),
            Error::MalformedToken { .. }
        ));
    }

    #[test]
    fn claims_within_leeway_pass() {
        let c = claims(
            json!({"iss": "iss", "aud": ["x", "aud"], "sub": "s", "exp": 950, "nbf": 1050, "iat": 1050.5}),
        );
        check_claims(&c, EXPECTED).unwrap();
    }

    #[test]
    fn each_claim_failure_has_its_code() {
        let base = json!({"iss": "iss", "aud": "aud", "sub": "s", "exp": 2000});
        let with = |k: &str, v: Value| {
            let mut c = claims(base.clone());
            c.insert(k.to_owned(), v);
            check_claims(&c, EXPECTED).unwrap_err()
        };
        assert_eq!(with("iss", json!("other")), Error::WrongIssuer);
        assert_eq!(with("exp", json!(940)), Error::Expired);
        assert_eq!(with("nbf", json!(1061)), Error::NotYetValid);
        assert_eq!(with("iat", json!(1061)), Error::NotYetValid);
        assert_eq!(with("aud", json!(["other"])), Error::WrongAudience);
        assert!(matches!(
            with("exp", json!("soon")),
            Error::MalformedToken { .. }
        ));
        assert!(matches!(
            with("sub", json!("")),
            Error::MalformedToken { .. }
        ));
        let mut no_exp = claims(base);
        no_exp.remove("exp");
        assert!(matches!(
            check_claims(&no_exp, EXPECTED),
            Err(Error::MalformedToken { .. })
        ));
    }
}
