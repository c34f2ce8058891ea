//! Development tokens: minting, verification and every way to get them wrong.

use std::time::Duration;

use agentwerke_types::ErrorCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use agentwerke_auth::{
    AuthConfig, DEV_AUDIENCE, DEV_ISSUER, DevKey, Error, Role, Verifier, mint_dev_token,
};

use crate::support::{NOW_SECS, at, b64, craft, now, parts, payload};

const SEED: [u8; 32] = [9; 32];
const HOUR: Duration = Duration::from_secs(3600);

fn key() -> DevKey {
    DevKey::from_seed(SEED)
}

fn dev_verifier(key: &DevKey) -> Verifier {
    let mut config = AuthConfig::default();
    config.dev.enabled = true;
    Verifier::new(&config, Some(key)).unwrap()
}

/// Signs arbitrary claims with the dev key through jsonwebtoken, to build
/// tokens `mint_dev_token` would never produce.
fn sign_dev(key: &DevKey, claims: &Value) -> String {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&SEED);
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.key_id().to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).unwrap()
}

fn dev_claims(roles: Value) -> Value {
    json!({
        "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "sub": "dev-user", "roles": roles,
        "iat": NOW_SECS, "nbf": NOW_SECS, "exp": NOW_SECS + 60,
    })
}

async fn verify(token: &str) -> Result<agentwerke_auth::Principal, Error> {
    let key = key();
    dev_verifier(&key).verify(token, now()).await
}

#[tokio::test]
async fn round_trip() {
    let key = key();
    let token = mint_dev_token(&key, "ada", &[Role::Approver, Role::Viewer], HOUR, now());
    let p = dev_verifier(&key).verify(&token, now()).await.unwrap();
    assert_eq!(p.subject, "ada");
    assert_eq!(p.roles, vec![Role::Viewer, Role::Approver]);
    assert_eq!(p.issuer, DEV_ISSUER);
    assert_eq!(p.name, None);
    assert!(p.token_id.is_some());

    let claims = payload(&token);
    assert_eq!(claims["aud"], DEV_AUDIENCE);
    assert_eq!(claims["iat"], NOW_SECS);
    assert_eq!(claims["nbf"], NOW_SECS);
    assert_eq!(claims["exp"], NOW_SECS + 3600);
    assert_eq!(claims["roles"], json!(["Approver", "Viewer"]));
    let other = mint_dev_token(&key, "ada", &[Role::Viewer], HOUR, now());
    assert_ne!(payload(&other)["jti"], claims["jti"], "jti is random");
}

#[tokio::test]
async fn expiry_and_not_before_respect_the_leeway() {
    let key = key();
    let v = dev_verifier(&key);
    let token = mint_dev_token(&key, "ada", &[Role::Viewer], HOUR, now());
    v.verify(&token, at(NOW_SECS + 3600 + 59)).await.unwrap();
    assert_eq!(
        v.verify(&token, at(NOW_SECS + 3600 + 60))
            .await
            .unwrap_err(),
        Error::Expired
    );
    assert!(v.verify(&token, at(NOW_SECS - 60)).await.is_ok());
    assert_eq!(
        v.verify(&token, at(NOW_SECS - 61)).await.unwrap_err(),
        Error::NotYetValid
    );

    let mut future = dev_claims(json!(["Viewer"]));
    future["nbf"] = json!(NOW_SECS + 600);
    future["exp"] = json!(NOW_SECS + 1200);
    assert_eq!(
        v.verify(&sign_dev(&key, &future), now()).await.unwrap_err(),
        Error::NotYetValid
    );
}

#[tokio::test]
async fn a_token_from_another_key_is_refused() {
    let other = DevKey::from_seed([1; 32]);
    let theirs = mint_dev_token(&other, "mallory", &[Role::Admin], HOUR, now());
    // Its `kid` names a key we do not have.
    assert_eq!(verify(&theirs).await.unwrap_err(), Error::UnknownKey);

    // With our kid in the header, the signature cannot match.
    let ours = mint_dev_token(&key(), "mallory", &[Role::Admin], HOUR, now());
    let p_ours = parts(&ours);
    let p_theirs = parts(&theirs);
    let spliced = format!("{}.{}.{}", p_ours[0], p_theirs[1], p_theirs[2]);
    assert_eq!(verify(&spliced).await.unwrap_err(), Error::BadSignature);
}

#[tokio::test]
async fn a_tampered_payload_breaks_the_signature() {
    let token = mint_dev_token(&key(), "ada", &[Role::Viewer], HOUR, now());
    let mut claims = payload(&token);
    claims["roles"] = json!(["Admin"]);
    let p = parts(&token);
    let tampered = format!("{}.{}.{}", p[0], b64(claims.to_string()), p[2]);
    assert_eq!(verify(&tampered).await.unwrap_err(), Error::BadSignature);

    let truncated_sig = format!("{}.{}.{}", p[0], p[1], &p[2][..20]);
    assert_eq!(
        verify(&truncated_sig).await.unwrap_err(),
        Error::BadSignature
    );
}

#[tokio::test]
async fn alg_none_is_refused_in_any_spelling() {
    let claims = dev_claims(json!(["Admin"]));
    for alg in ["none", "None", "NONE", "nOnE"] {
        for sig in ["", "AAAA"] {
            let token = craft(&json!({"alg": alg, "typ": "JWT"}), &claims, sig);
            assert_eq!(
                verify(&token).await.unwrap_err(),
                Error::AlgorithmNotAllowed,
                "{alg} {sig:?}"
            );
        }
    }
}

/// The classic confusion attack: sign with HMAC using the public key as the
/// secret, hoping the verifier feeds its public key to HMAC.
#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let key = key();
    let claims = dev_claims(json!(["Admin"]));
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let mut header = Header::new(alg);
        header.kid = Some(key.key_id().to_owned());
        let secret = EncodingKey::from_secret(&key.public_key());
        let token = jsonwebtoken::encode(&header, &claims, &secret).unwrap();
        assert_eq!(
            verify(&token).await.unwrap_err(),
            Error::AlgorithmNotAllowed,
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn roles_are_required_and_unknown_ones_ignored() {
    let key = key();
    let none = mint_dev_token(&key, "ada", &[], HOUR, now());
    assert_eq!(verify(&none).await.unwrap_err(), Error::NoRoles);

    let missing = {
        let mut c = dev_claims(json!(null));
        c.as_object_mut().unwrap().remove("roles");
        sign_dev(&key, &c)
    };
    assert_eq!(verify(&missing).await.unwrap_err(), Error::NoRoles);

    // Decision: unknown role names are ignored, not refused (providers mix
    // their own roles in); a token with only unknown roles has no roles.
    let only_unknown = sign_dev(&key, &dev_claims(json!(["superuser", "root"])));
    assert_eq!(verify(&only_unknown).await.unwrap_err(), Error::NoRoles);
    let mixed = sign_dev(&key, &dev_claims(json!(["superuser", "viewer", "ADMIN"])));
    assert_eq!(
        verify(&mixed).await.unwrap().roles,
        vec![Role::Viewer, Role::Admin]
    );
}

#[tokio::test]
async fn claim_checks_apply_to_dev_tokens() {
    let key = key();
    let mut wrong_aud = dev_claims(json!(["Viewer"]));
    wrong_aud["aud"] = json!("someone-else");
    assert_eq!(
        verify(&sign_dev(&key, &wrong_aud)).await.unwrap_err(),
        Error::WrongAudience
    );

    let mut no_sub = dev_claims(json!(["Viewer"]));
    no_sub.as_object_mut().unwrap().remove("sub");
    assert!(matches!(
        verify(&sign_dev(&key, &no_sub)).await.unwrap_err(),
        Error::MalformedToken { .. }
    ));
}

#[tokio::test]
async fn dev_tokens_need_dev_auth_enabled() {
    let key = key();
    let token = mint_dev_token(&key, "ada", &[Role::Admin], HOUR, now());
    let disabled = Verifier::new(&AuthConfig::default(), Some(&key)).unwrap();
    assert_eq!(
        disabled.verify(&token, now()).await.unwrap_err(),
        Error::DevTokensDisabled
    );
}

#[tokio::test]
async fn missing_malformed_and_foreign_tokens() {
    assert_eq!(verify("").await.unwrap_err(), Error::MissingToken);
    for bad in ["garbage", "a.b.c", "e30.e30", "e30.e30.e30.e30"] {
        assert!(
            matches!(verify(bad).await.unwrap_err(), Error::MalformedToken { .. }),
            "{bad}"
        );
    }
    let mut foreign = dev_claims(json!(["Admin"]));
    foreign["iss"] = json!("https://evil.example");
    assert_eq!(
        verify(&sign_dev(&key(), &foreign)).await.unwrap_err(),
        Error::WrongIssuer
    );
    let mut no_iss = dev_claims(json!(["Admin"]));
    no_iss.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        verify(&sign_dev(&key(), &no_iss)).await.unwrap_err(),
        Error::WrongIssuer
    );
}

/// Error messages go to logs and clients; they must never carry the token
/// or any part of it.
#[tokio::test]
async fn error_messages_never_contain_the_token() {
    let key = key();
    let good = mint_dev_token(&key, "ada", &[Role::Viewer], HOUR, now());
    let p = parts(&good);
    let tokens = [
        good.clone(),
        format!("{}.{}.{}", p[0], p[1], &p[2][..30]),
        format!("{}.{}x.{}", p[0], p[1], p[2]),
        craft(&json!({"alg": "none"}), &payload(&good), ""),
        mint_dev_token(&key, "ada", &[], HOUR, now()),
        "not-a-token-but-secret-looking-0123456789".to_owned(),
    ];
    let v = dev_verifier(&key);
    for (i, token) in tokens.iter().enumerate() {
        let when = if i == 0 { at(NOW_SECS + 7200) } else { now() };
        let err = v.verify(token, when).await.unwrap_err();
        let message = format!("{err} {err:?}");
        for piece in token.split('.').filter(|s| s.len() > 8) {
            assert!(
                !message.contains(piece),
                "{} leaks token text: {message}",
                err.code()
            );
        }
    }
}
