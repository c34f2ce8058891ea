//! ID tokens for the web UI's client, and the authorization request, against
//! a fake provider on 127.0.0.1.

use std::collections::HashMap;

use reqwest::Url;
use serde_json::{Value, json};

use agentwerke_auth::{Error, Role, SignInError, Verifier};

use crate::support::{FakeIdp, NOW_SECS, TestKey, now, oidc_claims, verifier_for};

const CLIENT: &str = "agentwerke-ui";
const NONCE: &str = "the-attempts-nonce";

fn sign_in_verifier(idp: &FakeIdp) -> Verifier {
    let mut oidc = idp.config();
    oidc.client_id = Some(CLIENT.to_owned());
    oidc.redirect_url = Some("https://aw.example/signin/oidc/callback".to_owned());
    verifier_for(oidc)
}

/// What the provider puts in an ID token for the UI client.
fn id_claims(idp: &FakeIdp) -> Value {
    let mut claims = oidc_claims(&idp.issuer, NOW_SECS);
    claims["aud"] = json!(CLIENT);
    claims["azp"] = json!(CLIENT);
    claims["nonce"] = json!(NONCE);
    claims
}

#[tokio::test]
async fn an_id_token_for_this_client_and_attempt_verifies_with_the_apis_roles() {
    let key = TestKey::rsa_a("k1");
    let idp = FakeIdp::start(vec![key.jwk.clone()]).await;
    let v = sign_in_verifier(&idp);
    assert_eq!(v.sign_in_issuer(), Some(idp.issuer.as_str()));
    let p = v
        .verify_id_token(&key.sign(&id_claims(&idp)), NONCE, now())
        .await
        .unwrap();
    assert_eq!(p.subject, "user-1");
    assert_eq!(p.roles, [Role::Operator]);
    assert_eq!(p.groups, ["offline_access"]);
}

async fn verify(
    v: &Verifier,
    key: &TestKey,
    claims: &Value,
) -> Result<agentwerke_auth::Principal, SignInError> {
    v.verify_id_token(&key.sign(claims), NONCE, now()).await
}

#[tokio::test]
async fn each_wrong_claim_is_refused() {
    let key = TestKey::rsa_a("k1");
    let idp = FakeIdp::start(vec![key.jwk.clone()]).await;
    let v = sign_in_verifier(&idp);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = id_claims(&idp);
        change(&mut claims);
        claims
    };
    let bad = SignInError::BadIdToken;
    let cases: [(&str, Value, SignInError); 8] = [
        (
            "the API's audience, not the UI client's",
            with(&|c| c["aud"] = json!("agentwerke-api")),
            bad(Error::WrongAudience),
        ),
        (
            "another authorized party",
            with(&|c| {
                c["aud"] = json!([CLIENT, "other"]);
                c["azp"] = json!("other");
            }),
            bad(Error::WrongAudience),
        ),
        (
            "another attempt's nonce",
            with(&|c| c["nonce"] = json!("another")),
            SignInError::WrongNonce,
        ),
        (
            "no nonce",
            with(&|c| {
                c.as_object_mut().unwrap().remove("nonce");
            }),
            SignInError::WrongNonce,
        ),
        (
            "another issuer",
            with(&|c| c["iss"] = json!("https://elsewhere.example")),
            bad(Error::WrongIssuer),
        ),
        (
            "expired",
            with(&|c| c["exp"] = json!(NOW_SECS - 3600)),
            bad(Error::Expired),
        ),
        (
            "no known role",
            with(&|c| c["realm_access"] = json!({"roles": ["offline_access"]})),
            bad(Error::NoRoles),
        ),
        ("unsigned", with(&|_| {}), bad(Error::AlgorithmNotAllowed)),
    ];
    for (what, claims, expected) in cases {
        let result = if what == "unsigned" {
            let token = crate::support::craft(&json!({"alg": "none"}), &claims, "");
            v.verify_id_token(&token, NONCE, now()).await
        } else {
            verify(&v, &key, &claims).await
        };
        assert_eq!(result.unwrap_err(), expected, "{what}");
    }
    let forged = TestKey::rsa_b("k1").sign(&id_claims(&idp));
    assert_eq!(
        v.verify_id_token(&forged, NONCE, now()).await.unwrap_err(),
        bad(Error::BadSignature)
    );
    let both = with(&|c| c["aud"] = json!([CLIENT, "other"]));
    verify(&v, &key, &both)
        .await
        .expect("several audiences, azp is this client");
}

#[tokio::test]
async fn the_authorization_request_asks_for_a_code_with_pkce() {
    let idp = FakeIdp::start(Vec::new()).await;
    let v = sign_in_verifier(&idp);
    let start = v.begin_sign_in(now()).await.unwrap();
    let url = Url::parse(&start.authorization_url).unwrap();
    assert_eq!(url.path(), "/realms/test/auth");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["client_id"], CLIENT);
    assert_eq!(
        params["redirect_uri"],
        "https://aw.example/signin/oidc/callback"
    );
    assert_eq!(params["scope"], "openid profile email");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["state"], start.attempt.state());
    for name in ["state", "nonce", "code_challenge"] {
        assert_eq!(params[name].len(), 43, "{name}");
    }
    let again = v.begin_sign_in(now()).await.unwrap();
    assert_ne!(again.attempt.state(), start.attempt.state());
    assert_eq!(idp.hits().0, 1, "discovery is kept");
    assert!(!format!("{:?}", start.attempt).contains(start.attempt.state()));
}

#[tokio::test]
async fn without_a_ui_client_there_is_no_sign_in() {
    let idp = FakeIdp::start(Vec::new()).await;
    let v = idp.verifier();
    assert_eq!(v.sign_in_issuer(), None);
    assert_eq!(
        v.begin_sign_in(now()).await.unwrap_err(),
        SignInError::NotConfigured
    );
}
