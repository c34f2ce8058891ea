use serde_json::json;

use super::*;

fn r(text: &str) -> String {
    redact_str(text, &[])
}

#[test]
fn replaces_known_secrets_anywhere() {
    let mut value = json!({
        "note": "use hunter22 to log in",
        "list": ["xhunter22x", 3, null],
        "hunter22": "as a key, too"
    });
    redact_value(&mut value, &["hunter22", "ab"]);
    assert_eq!(
        value,
        json!({
            "note": "use [REDACTED] to log in",
            "list": ["x[REDACTED]x", 3, null],
            "[REDACTED]": "as a key, too"
        })
    );
}

#[test]
fn ignores_secrets_too_short_to_hide() {
    assert_eq!(redact_str("a cat", &["a", "ca"]), "a cat");
}

#[test]
fn replaces_bearer_and_basic_credentials() {
    assert_eq!(
        r("Authorization: Bearer abc.DEF-123_456~x"),
        "Authorization: Bearer [REDACTED]"
    );
    assert_eq!(r("basic dXNlcjpwYXNzd29yZA=="), "basic [REDACTED]");
    assert_eq!(r("a bearer of bad news"), "a bearer of bad news");
}

#[test]
fn replaces_api_keys_and_cloud_tokens() {
    assert_eq!(
        r("key sk-proj-abcdefghijklmnop1234 ok"),
        "key [REDACTED] ok"
    );
    assert_eq!(
        r("task-abcdefghijklmnopqrstu"),
        "task-abcdefghijklmnopqrstu"
    );
    assert_eq!(r("id=AKIAIOSFODNN7EXAMPLE,"), "id=[REDACTED],");
    assert_eq!(r("AKIAshort"), "AKIAshort");
    assert_eq!(
        r("ghp_abcdefghijklmnopqrstuvwxyz0123456789 and github_pat_11ABCDEFG0123456789_abcdefghij"),
        "[REDACTED] and [REDACTED]"
    );
}

#[test]
fn replaces_jwts() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    assert_eq!(r(&format!("token {jwt} end")), "token [REDACTED] end");
    assert_eq!(r("eyJust a word"), "eyJust a word");
}

#[test]
fn replaces_assigned_values() {
    assert_eq!(
        r("postgres://u@h/db?password=s3cr3t&sslmode=require"),
        "postgres://u@h/db?password=[REDACTED]&sslmode=require"
    );
    assert_eq!(r("DB_PASSWORD: 'pa ss'"), "DB_PASSWORD: '[REDACTED]'");
    assert_eq!(
        r(r#"{"client_secret": "abc123"}"#),
        r#"{"client_secret": "[REDACTED]"}"#
    );
    assert_eq!(r("inputTokens: 12"), "inputTokens: 12");
}

#[test]
fn replaces_values_under_secret_looking_keys() {
    let mut value = json!({
        "password": "x",
        "apiKey": 12345,
        "Authorization": {"scheme": "custom"},
        "github_token": "y",
        "refreshToken": null,
        "inputTokens": 5,
        "secretName": "prod-db",
        "nested": [{"db-password": "z"}]
    });
    redact_value(&mut value, &[]);
    assert_eq!(
        value,
        json!({
            "password": "[REDACTED]",
            "apiKey": "[REDACTED]",
            "Authorization": "[REDACTED]",
            "github_token": "[REDACTED]",
            "refreshToken": null,
            "inputTokens": 5,
            "secretName": "prod-db",
            "nested": [{"db-password": "[REDACTED]"}]
        })
    );
}

#[test]
fn leaves_plain_text_alone_and_is_idempotent() {
    let texts = [
        "Deploy the service to staging after tests pass.",
        "password=hunter2 and Bearer abcdefghijkl and sk-abcdefghijklmnopqrstuv",
        "ünïcödé password: 'é' AKIAIOSFODNN7EXAMPLE",
        "",
    ];
    assert_eq!(r(texts[0]), texts[0]);
    for text in texts {
        let once = redact_str(text, &["hunter2"]);
        assert_eq!(redact_str(&once, &["hunter2"]), once, "{text}");
        assert!(!once.contains("hunter2"));
    }
}
