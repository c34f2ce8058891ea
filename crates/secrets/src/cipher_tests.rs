use agentwerke_types::ErrorCode;

use super::*;
use crate::key::LocalKeys;

fn keys(seed: u8) -> Arc<dyn KeyProvider> {
    Arc::new(LocalKeys::new(
        KeyMaterial::from_bytes([seed; 32]),
        KeyMaterial::from_bytes([seed.wrapping_add(100); 32]),
    ))
}

fn name(text: &str) -> SecretName {
    SecretName::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::new(text.to_owned()).unwrap()
}

#[test]
fn round_trips_and_never_stores_the_plaintext() {
    let cipher = SecretCipher::new(keys(1));
    let sealed = cipher
        .seal(&name("db_password"), &value("hunter2-pass"))
        .unwrap();
    assert!(sealed.as_str().starts_with("v1:k"), "{}", sealed.as_str());
    assert!(!sealed.as_str().contains("hunter2"));
    assert!(!format!("{sealed:?}").contains(sealed.as_str().rsplit(':').next().unwrap()));
    let opened = cipher.open(&name("db_password"), &sealed).unwrap();
    assert_eq!(opened.expose(), "hunter2-pass");
    let stored = SealedSecret::from_stored(sealed.as_str().to_owned());
    assert_eq!(
        cipher.open(&name("db_password"), &stored).unwrap().expose(),
        "hunter2-pass"
    );
}

#[test]
fn each_value_gets_its_own_nonce() {
    let cipher = SecretCipher::new(keys(1));
    let a = cipher.seal(&name("x"), &value("same-value")).unwrap();
    let b = cipher.seal(&name("x"), &value("same-value")).unwrap();
    assert_ne!(a, b);
    let nonce =
        |s: &SealedSecret| STANDARD.decode(s.parts().unwrap().2).unwrap()[..NONCE_LEN].to_vec();
    assert_ne!(nonce(&a), nonce(&b));
}

#[test]
fn a_ciphertext_moved_to_another_name_does_not_open() {
    let cipher = SecretCipher::new(keys(1));
    let sealed = cipher
        .seal(&name("github_token"), &value("ghp-value"))
        .unwrap();
    let error = cipher.open(&name("openai_key"), &sealed).unwrap_err();
    assert_eq!(error.code(), "secret.envelope.decrypt_failed");
    assert!(!error.to_string().contains("ghp-value"));
}

#[test]
fn another_key_or_altered_bytes_do_not_open() {
    let sealed = SecretCipher::new(keys(1))
        .seal(&name("x"), &value("value-1"))
        .unwrap();
    let other = SecretCipher::new(keys(2));
    assert_eq!(
        other.open(&name("x"), &sealed).unwrap_err().code(),
        "secret.envelope.unknown_key"
    );
    // The same key id with a different key (a forged id) fails to authenticate.
    let forged = sealed.as_str().replace(
        sealed.key_id().unwrap(),
        KeyMaterial::from_bytes([2; 32]).id(),
    );
    assert_eq!(
        other
            .open(&name("x"), &SealedSecret::from_stored(forged))
            .unwrap_err()
            .code(),
        "secret.envelope.decrypt_failed"
    );

    let cipher = SecretCipher::new(keys(1));
    let (version, key_id, body) = sealed.parts().unwrap();
    let mut bytes = STANDARD.decode(body).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let altered = format!("{version}:{key_id}:{}", STANDARD.encode(bytes));
    assert_eq!(
        cipher
            .open(&name("x"), &SealedSecret::from_stored(altered))
            .unwrap_err()
            .code(),
        "secret.envelope.decrypt_failed"
    );
}

#[test]
fn malformed_and_future_envelopes_are_refused() {
    let cipher = SecretCipher::new(keys(1));
    let sealed = cipher.seal(&name("x"), &value("value-1")).unwrap();
    let cases = [
        ("garbage".to_owned(), "secret.envelope.invalid"),
        (
            sealed.as_str().replacen("v1:", "v2:", 1),
            "secret.envelope.unsupported",
        ),
        (
            format!("v1:{}:not base64!", sealed.key_id().unwrap()),
            "secret.envelope.invalid",
        ),
        (
            format!("v1:{}:AAAA", sealed.key_id().unwrap()),
            "secret.envelope.invalid",
        ),
    ];
    for (text, code) in cases {
        let error = cipher
            .open(&name("x"), &SealedSecret::from_stored(text.clone()))
            .unwrap_err();
        assert_eq!(error.code(), code, "{text}");
    }
}
