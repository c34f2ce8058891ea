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
fn replaces_values_under_passphrase_credential_and_connection_string_keys() {
    let mut value = json!({
        "keyPassphrase": "open sesame",
        "credential": {"user": "u"},
        "DATABASE_CONNECTION_STRING": "Server=db;User=u;Pwd=p",
        "credentialName": "prod",
        "connections": 3
    });
    redact_value(&mut value, &[]);
    assert_eq!(
        value,
        json!({
            "keyPassphrase": "[REDACTED]",
            "credential": "[REDACTED]",
            "DATABASE_CONNECTION_STRING": "[REDACTED]",
            "credentialName": "prod",
            "connections": 3
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

const RSA_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq0vXkUu1\nq8h0X3aF9gq2Xn0E5YV\n-----END RSA PRIVATE KEY-----";

#[test]
fn replaces_whole_pem_private_keys() {
    let keys = [
        RSA_KEY.to_owned(),
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHg3\n-----END PRIVATE KEY-----".to_owned(),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----".to_owned(),
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,9F\n\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----".to_owned(),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----".to_owned(),
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----".to_owned(),
        // As it appears inside serialised JSON: escaped line breaks.
        RSA_KEY.replace('\n', "\\n"),
        // Pasted on one line.
        RSA_KEY.replace('\n', " "),
    ];
    for key in keys {
        assert_eq!(
            r(&format!("key: {key} done")),
            "key: [REDACTED] done",
            "{key}"
        );
        assert!(has_private_key(&key));
    }
}

#[test]
fn a_pem_key_without_its_footer_is_redacted_to_the_end() {
    let cut = "see -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt\nAAAA";
    assert_eq!(r(cut), "see [REDACTED]");
}

#[test]
fn public_pem_blocks_are_kept() {
    let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----";
    let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    assert_eq!(r(public), public);
    assert_eq!(r(cert), cert);
    assert!(!has_private_key(public));
    // Two keys and a certificate between them: each key goes, the
    // certificate stays.
    let mixed = format!("{RSA_KEY}\n{cert}\n{RSA_KEY}");
    assert_eq!(r(&mixed), format!("[REDACTED]\n{cert}\n[REDACTED]"));
}

#[test]
fn finds_private_keys_anywhere_in_a_value() {
    assert!(value_has_private_key(&json!({"a": [{"b": RSA_KEY}]})));
    assert!(value_has_private_key(&json!({ RSA_KEY: 1 })));
    assert!(!value_has_private_key(
        &json!({"a": "-----BEGIN CERTIFICATE-----"})
    ));
}

#[test]
fn replaces_passwords_in_connection_strings() {
    let cases = [
        (
            "postgres://app:s3cr3t@db.internal:5432/app",
            "postgres://app:[REDACTED]@db.internal:5432/app",
        ),
        (
            "postgresql://app:p@ss@db/app",
            "postgresql://app:[REDACTED]@db/app",
        ),
        (
            "mysql://root:hunter2@127.0.0.1/x",
            "mysql://root:[REDACTED]@127.0.0.1/x",
        ),
        (
            "mongodb+srv://u:pw123@cluster0.mongodb.net/?retryWrites=true",
            "mongodb+srv://u:[REDACTED]@cluster0.mongodb.net/?retryWrites=true",
        ),
        (
            "redis://:authpass@cache:6379/0",
            "redis://:[REDACTED]@cache:6379/0",
        ),
        (
            "amqp://guest:guestpw@mq:5672/vhost",
            "amqp://guest:[REDACTED]@mq:5672/vhost",
        ),
        (
            r#"{"url":"https://bot:tok3n@example.com/x"}"#,
            r#"{"url":"https://bot:[REDACTED]@example.com/x"}"#,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(r(text), expected, "{text}");
    }
    for kept in [
        "postgres://app@db/app",
        "ssh://git@github.com:22/org/repo",
        "https://example.com:8443/path@v2",
        "see http://localhost:3000",
    ] {
        assert_eq!(r(kept), kept);
    }
}

#[test]
fn replaces_cloud_provider_keys() {
    let cases = [
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [REDACTED]",
        ),
        (
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "AWS_SECRET_ACCESS_KEY=[REDACTED]\n",
        ),
        (
            r#""SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""#,
            r#""SecretAccessKey": "[REDACTED]""#,
        ),
        (
            "maps key AIzaSyA-1234567890abcdefghijklmnopqrstu end",
            "maps key [REDACTED] end",
        ),
        (
            "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKl and xoxp-1-2-3-abcdefabcdef",
            "slack [REDACTED] and [REDACTED]",
        ),
        (
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc rk_live_abcdefghijklmnop1234",
            "stripe [REDACTED] [REDACTED]",
        ),
        (
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=Eby8vdM02xNOcqFl+qUwJ/K==;EndpointSuffix=core.windows.net",
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=[REDACTED];EndpointSuffix=core.windows.net",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(r(text), expected, "{text}");
    }
    let mut value = json!({"AccountKey": "Eby8vdM02xNOcqFl", "accountName": "acme"});
    redact_value(&mut value, &[]);
    assert_eq!(
        value,
        json!({"AccountKey": "[REDACTED]", "accountName": "acme"})
    );
}

#[test]
fn ordinary_text_is_not_shredded() {
    let texts = [
        "The token budget was exceeded; we count tokens per step.",
        "inputTokens and outputTokens are reported per call",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "artifact 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 stored",
        "Ask the user about the AIza prefix, sk_live_ and xoxb- in prose.",
        "-----BEGIN PUBLIC KEY----- is not a secret",
        "a risk of 25 (production_target) on /workspace/production/notes.md",
        "http://example.com:8080/a?b=c#d",
        "secretName: prod-db",
    ];
    for text in texts {
        assert_eq!(r(text), text);
    }
}

#[test]
fn new_shapes_are_idempotent() {
    let text = format!(
        "{RSA_KEY} postgres://u:pw@h/x AIzaSyA-1234567890abcdefghijklmnopqrstu \
         xoxb-123456789012-abc sk_live_4eC39HqLyjWDarjtT1zdp7dc AccountKey=abc==;x"
    );
    let once = r(&text);
    assert_eq!(r(&once), once);
    for leaked in ["MIIEow", ":pw@", "AIzaSy", "xoxb-1", "sk_live_4e", "abc=="] {
        assert!(!once.contains(leaked), "{leaked} in {once}");
    }
}

#[test]
fn a_redactor_replaces_known_values_in_one_pass() {
    let redactor = Redactor::new(["hunter2-horse", "ab", "hunter2-horse-longer"]);
    assert_eq!(redactor.len(), 2);
    assert_eq!(
        redactor.redact_str("x hunter2-horse-longer y hunter2-horse z"),
        "x [REDACTED] y [REDACTED] z"
    );
    let mut value = json!({"note": "hunter2-horse", "hunter2-horse": [RSA_KEY, "ab"]});
    redactor.redact_value(&mut value);
    assert_eq!(
        value,
        json!({"note": "[REDACTED]", "[REDACTED]": ["[REDACTED]", "ab"]})
    );
    assert!(redactor.contains_known("..hunter2-horse.."));
    assert!(!redactor.contains_known("hunter2"));
    assert!(redactor.value_contains_known(&json!({"a": {"hunter2-horse": 1}})));
    assert!(!redactor.value_contains_known(&json!({"a": "nothing"})));
    assert!(!format!("{redactor:?}").contains("hunter2"));
}

#[test]
fn a_rotation_seen_by_every_clone_keeps_the_old_value_redacted() {
    let redactor = Redactor::new(["old-value-1"]);
    let on_hot_path = redactor.clone();
    redactor.add(["new-value-2"]);
    assert_eq!(
        on_hot_path.redact_str("old-value-1 then new-value-2"),
        "[REDACTED] then [REDACTED]"
    );
    // Adding a known value again changes nothing.
    redactor.add(["new-value-2"]);
    assert_eq!(on_hot_path.len(), 2);
}

#[test]
fn a_redactor_with_no_values_still_redacts_shapes_and_ignores_the_marker() {
    let redactor = Redactor::new(["REDACTED", "[REDACTED]"]);
    assert!(redactor.is_empty());
    let once = redactor.redact_str("password=abc sk-abcdefghijklmnopqrstuv");
    assert_eq!(once, "password=[REDACTED] [REDACTED]");
    assert_eq!(redactor.redact_str(&once), once);
    assert_eq!(redact_str(&once, &["REDACTED"]), once);
}
