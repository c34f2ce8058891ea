//! OIDC tokens against a fake provider on 127.0.0.1 over real HTTP.

use std::time::Duration;

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use agentwerke_auth::{
    AuthConfig, DevKey, Error, OidcConfig, Role, SigningAlg, Verifier, mint_dev_token,
};

use crate::support::{
    FakeIdp, NOW_SECS, TestKey, at, b64, craft, dead_port, now, oidc_claims, parts, verifier_for,
};

fn unavailable(err: &Error) -> bool {
    matches!(err, Error::JwksUnavailable { .. })
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_through_discovery() {
    let rsa = TestKey::rsa_a("rsa-1");
    let ec = TestKey::ec_a("ec-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    let v = idp.verifier();
    let claims = oidc_claims(&idp.issuer, NOW_SECS);

    let p = v.verify(&rsa.sign(&claims), now()).await.unwrap();
    assert_eq!(p.subject, "user-1");
    assert_eq!(p.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(p.roles, vec![Role::Operator]);
    assert_eq!(p.issuer, idp.issuer);
    assert_eq!(p.token_id.as_deref(), Some("tok-1"));

    let p = v.verify(&ec.sign(&claims), at(NOW_SECS + 1)).await.unwrap();
    assert_eq!(p.roles, vec![Role::Operator]);
    assert_eq!(
        idp.hits(),
        (1, 1),
        "keys are cached after one discovery and one fetch"
    );
}

#[tokio::test]
async fn a_configured_jwks_url_skips_discovery() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let mut config = idp.config();
    config.jwks_url = Some(idp.jwks_url());
    let v = verifier_for(config);
    v.verify(&rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS)), now())
        .await
        .unwrap();
    assert_eq!(idp.hits(), (0, 1));
}

#[tokio::test]
async fn refresh_jwks_warms_the_cache() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![
        rsa.jwk.clone(),
        json!({"kty": "oct", "k": "c2VjcmV0"}),
    ])
    .await;
    let v = idp.verifier();
    assert_eq!(
        v.refresh_jwks(now()).await.unwrap(),
        1,
        "the HMAC key is skipped"
    );
    v.verify(&rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS)), now())
        .await
        .unwrap();
    assert_eq!(idp.hits(), (1, 1));
}

#[tokio::test]
async fn wrong_issuer_and_audience() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let v = idp.verifier();

    let mut claims = oidc_claims(&idp.issuer, NOW_SECS);
    claims["iss"] = json!(format!("{}/other", idp.issuer));
    assert_eq!(
        v.verify(&rsa.sign(&claims), now()).await.unwrap_err(),
        Error::WrongIssuer
    );
    assert_eq!(idp.hits(), (0, 0), "an untrusted issuer costs no fetch");

    let mut claims = oidc_claims(&idp.issuer, NOW_SECS);
    claims["aud"] = json!("some-other-api");
    assert_eq!(
        v.verify(&rsa.sign(&claims), now()).await.unwrap_err(),
        Error::WrongAudience
    );
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        v.verify(&rsa.sign(&claims), now()).await.unwrap_err(),
        Error::WrongAudience
    );
}

#[tokio::test]
async fn time_claims_and_roles() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let v = idp.verifier();
    let token = rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS));
    assert_eq!(
        v.verify(&token, at(NOW_SECS + 300 + 60)).await.unwrap_err(),
        Error::Expired
    );
    assert_eq!(
        v.verify(&token, at(NOW_SECS - 61)).await.unwrap_err(),
        Error::NotYetValid
    );

    let mut claims = oidc_claims(&idp.issuer, NOW_SECS);
    claims["realm_access"] = json!({"roles": ["offline_access", "uma_authorization"]});
    assert_eq!(
        v.verify(&rsa.sign(&claims), now()).await.unwrap_err(),
        Error::NoRoles
    );
}

#[tokio::test]
async fn forged_and_tampered_tokens_fail_the_signature() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let v = idp.verifier();
    let claims = oidc_claims(&idp.issuer, NOW_SECS);

    let forged = TestKey::rsa_b("unused").sign_as("rsa-1", &claims);
    assert_eq!(
        v.verify(&forged, now()).await.unwrap_err(),
        Error::BadSignature
    );

    let token = rsa.sign(&claims);
    let p = parts(&token);
    let mut promoted = claims.clone();
    promoted["realm_access"] = json!({"roles": ["admin"]});
    let tampered = format!("{}.{}.{}", p[0], b64(promoted.to_string()), p[2]);
    assert_eq!(
        v.verify(&tampered, now()).await.unwrap_err(),
        Error::BadSignature
    );
}

#[tokio::test]
async fn algorithm_confusion_is_refused() {
    let rsa = TestKey::rsa_a("rsa-1");
    let ec = TestKey::ec_a("ec-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    let v = idp.verifier();
    let claims = oidc_claims(&idp.issuer, NOW_SECS);

    // HMAC keyed with the published public key material.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".to_owned());
    for secret in [
        rsa.jwk["n"].as_str().unwrap().as_bytes(),
        rsa.jwk.to_string().as_bytes(),
    ] {
        let token =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap();
        assert_eq!(
            v.verify(&token, now()).await.unwrap_err(),
            Error::AlgorithmNotAllowed
        );
    }
    let none = craft(&json!({"alg": "none", "kid": "rsa-1"}), &claims, "");
    assert_eq!(
        v.verify(&none, now()).await.unwrap_err(),
        Error::AlgorithmNotAllowed
    );
    let ps256 = craft(&json!({"alg": "PS256", "kid": "rsa-1"}), &claims, "AAAA");
    assert_eq!(
        v.verify(&ps256, now()).await.unwrap_err(),
        Error::AlgorithmNotAllowed
    );

    // The header says ES256 but names the RSA key: no such (kid, alg) pair.
    let mismatched = ec.sign_as("rsa-1", &claims);
    assert_eq!(
        v.verify(&mismatched, now()).await.unwrap_err(),
        Error::UnknownKey
    );

    // An algorithm the provider publishes but we did not allow.
    let mut rs_only = idp.config();
    rs_only.allowed_algs = vec![SigningAlg::RS256];
    let strict = verifier_for(rs_only);
    assert_eq!(
        strict.verify(&ec.sign(&claims), now()).await.unwrap_err(),
        Error::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn key_rotation_refreshes_at_most_once_per_interval() {
    let old = TestKey::rsa_a("2027-01");
    let new = TestKey::rsa_b("2027-02");
    let idp = FakeIdp::start(vec![old.jwk.clone()]).await;
    let v = idp.verifier(); // minimum refresh interval: 30 s
    let t0 = NOW_SECS;
    v.verify(&old.sign(&oidc_claims(&idp.issuer, t0)), at(t0))
        .await
        .unwrap();
    assert_eq!(idp.hits(), (1, 1));

    // The provider rotates; a token from the new key arrives too soon.
    idp.with(|s| s.keys = vec![old.jwk.clone(), new.jwk.clone()]);
    let fresh = new.sign(&oidc_claims(&idp.issuer, t0));
    assert_eq!(
        v.verify(&fresh, at(t0 + 10)).await.unwrap_err(),
        Error::UnknownKey
    );
    assert_eq!(idp.hits(), (1, 1), "rate-limited: no fetch");

    // After the interval the unknown kid triggers one refresh.
    v.verify(&fresh, at(t0 + 31)).await.unwrap();
    assert_eq!(
        idp.hits(),
        (1, 2),
        "discovery is cached; only the JWKS is fetched"
    );

    // Invented kids cannot force more fetches within the interval.
    for i in 0..20 {
        let bogus = old.sign_as(&format!("bogus-{i}"), &oidc_claims(&idp.issuer, t0));
        assert_eq!(
            v.verify(&bogus, at(t0 + 40)).await.unwrap_err(),
            Error::UnknownKey
        );
    }
    assert_eq!(idp.hits(), (1, 2));

    // The old key is withdrawn; once the cache is past its maximum age the
    // keys are fetched again and the old key stops working.
    idp.with(|s| s.keys = vec![new.jwk.clone()]);
    let late = t0 + 3600 + 40;
    let old_token = old.sign(&oidc_claims(&idp.issuer, late));
    assert_eq!(
        v.verify(&old_token, at(late)).await.unwrap_err(),
        Error::UnknownKey
    );
    assert_eq!(idp.hits(), (1, 3));
    v.verify(&new.sign(&oidc_claims(&idp.issuer, late)), at(late + 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_without_kid_needs_a_single_candidate_key() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let v = idp.verifier();
    let claims = oidc_claims(&idp.issuer, NOW_SECS);
    let unnamed = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &{
        EncodingKey::from_rsa_pem(include_bytes!("../keys/rsa-a.pem")).unwrap()
    })
    .unwrap();
    v.verify(&unnamed, now()).await.unwrap();

    let two = FakeIdp::start(vec![rsa.jwk.clone(), TestKey::rsa_b("rsa-2").jwk]).await;
    let mut claims = claims;
    claims["iss"] = json!(two.issuer);
    let unnamed = craft(&json!({"alg": "RS256"}), &claims, "AAAA");
    assert_eq!(
        two.verifier().verify(&unnamed, now()).await.unwrap_err(),
        Error::UnknownKey
    );
}

#[tokio::test]
async fn provider_down_fails_closed() {
    let port = dead_port().await;
    let issuer = format!("http://127.0.0.1:{port}/realms/test");
    let v = verifier_for(OidcConfig::new(&issuer, "agentwerke-api"));
    let token = TestKey::rsa_a("rsa-1").sign(&oidc_claims(&issuer, NOW_SECS));
    let err = v.verify(&token, now()).await.unwrap_err();
    assert!(unavailable(&err), "{err:?}");
    assert!(err.is_unavailable());
    // Within the refresh interval we do not even retry, and still deny.
    assert!(unavailable(
        &v.verify(&token, at(NOW_SECS + 1)).await.unwrap_err()
    ));
}

#[tokio::test]
async fn bad_jwks_responses_fail_closed_and_recover() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let v = idp.verifier();
    let token = rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS));

    let cases: [(StatusCode, Option<String>); 4] = [
        (StatusCode::INTERNAL_SERVER_ERROR, None),
        (StatusCode::FOUND, None),
        (StatusCode::OK, Some("<html>not json</html>".to_owned())),
        (
            StatusCode::OK,
            Some(json!({"keys": [], "pad": "x".repeat(300 * 1024)}).to_string()),
        ),
    ];
    let mut t = NOW_SECS;
    for (status, body) in cases {
        idp.with(|s| {
            s.jwks_status = status;
            s.jwks_body = body;
        });
        t += 31;
        let err = v.verify(&token, at(t)).await.unwrap_err();
        assert!(unavailable(&err), "{status}: {err:?}");
    }
    idp.with(|s| {
        s.jwks_status = StatusCode::OK;
        s.jwks_body = None;
    });
    v.verify(&token, at(t + 31)).await.unwrap();
}

#[tokio::test]
async fn a_slow_provider_times_out() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    idp.with(|s| s.delay = Some(Duration::from_secs(5)));
    let v = idp.verifier(); // 1 s timeout
    let started = std::time::Instant::now();
    let err = v
        .verify(&rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS)), now())
        .await
        .unwrap_err();
    assert!(unavailable(&err), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    idp.with(|s| s.discovery_issuer = Some("https://impostor.example".to_owned()));
    let err = idp
        .verifier()
        .verify(&rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS)), now())
        .await
        .unwrap_err();
    assert!(unavailable(&err), "{err:?}");
}

#[tokio::test]
async fn both_sources_side_by_side() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    let dev_key = DevKey::from_seed([3; 32]);
    let dev_token = mint_dev_token(
        &dev_key,
        "local",
        &[Role::Admin],
        Duration::from_secs(60),
        now(),
    );

    let mut config = AuthConfig {
        oidc: Some(idp.config()),
        ..AuthConfig::default()
    };
    assert!(config.is_real_auth_configured());
    let oidc_only = Verifier::new(&config, Some(&dev_key)).unwrap();
    assert_eq!(
        oidc_only.verify(&dev_token, now()).await.unwrap_err(),
        Error::DevTokensDisabled
    );

    config.dev.enabled = true;
    let both = Verifier::new(&config, Some(&dev_key)).unwrap();
    assert_eq!(
        both.verify(&dev_token, now()).await.unwrap().roles,
        vec![Role::Admin]
    );
    let p = both
        .verify(&rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS)), now())
        .await
        .unwrap();
    assert_eq!(p.issuer, idp.issuer);
}

#[test]
fn plain_http_to_a_remote_provider_is_refused() {
    let config = AuthConfig {
        oidc: Some(OidcConfig::new("http://idp.example/realms/x", "aw")),
        ..AuthConfig::default()
    };
    let err = Verifier::new(&config, None).unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_one_fetch() {
    let rsa = TestKey::rsa_a("rsa-1");
    let idp = FakeIdp::start(vec![rsa.jwk.clone()]).await;
    idp.with(|s| s.delay = Some(Duration::from_millis(200)));
    let v = std::sync::Arc::new(idp.verifier());
    let token = rsa.sign(&oidc_claims(&idp.issuer, NOW_SECS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (v, token) = (v.clone(), token.clone());
        tasks.spawn(async move { v.verify(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(idp.hits(), (1, 1));
}
