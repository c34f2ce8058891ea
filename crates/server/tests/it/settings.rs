//! The Settings API: secrets are set, rotated and deleted by an Admin,
//! listed with source, status and fingerprint, and their values are found
//! nowhere afterwards: not in an answer, not in the audit stream, not in
//! any byte of the data folder but the key files.

use agentwerke_auth::Role;
use agentwerke_secrets::{SecretLocation, SecretName};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{TestServer, Vars};

/// Every global audit record, oldest first, as an Admin reads them.
async fn global_audit(server: &TestServer) -> Vec<Value> {
    let page = server.get("/api/audit?limit=200", &server.admin()).await;
    page["items"].as_array().expect("items").clone()
}

/// How many times `needle` occurs in the files of the data folder, the key
/// files aside (the database, its write-ahead log, everything else).
pub(crate) fn occurrences_on_disk(server: &TestServer, needle: &str) -> usize {
    let mut found = 0;
    let mut folders = vec![server.dir.path().to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("data folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("secrets-") && name.ends_with(".key") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("file");
            found += bytes
                .windows(needle.len())
                .filter(|window| *window == needle.as_bytes())
                .count();
        }
    }
    found
}

async fn put(server: &TestServer, name: &str, value: &str, token: &str) -> (StatusCode, Value) {
    server
        .call(
            Method::PUT,
            &format!("/api/settings/secrets/{name}"),
            Some(token),
            Some(json!({"value": value})),
        )
        .await
}

#[tokio::test]
async fn a_secret_set_and_rotated_is_found_nowhere() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let first = format!("planted-{}", uuid_like());
    let second = format!("rotated-{}", uuid_like());

    let (status, created) = put(&server, "openai_api_key", &first, &admin).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "openai_api_key");
    assert_eq!(
        (&created["source"], &created["status"]),
        (&json!("store"), &json!("set"))
    );
    assert_eq!(created["updatedBy"], "admin");
    let old = created["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert!(old.starts_with("hmac-sha256:"), "{old}");

    let (status, rotated) = put(&server, "openai_api_key", &second, &admin).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    assert_ne!(new, old, "another value, another fingerprint");

    let settings = server.get("/api/settings", &admin).await;
    assert_eq!(settings["secrets"].as_array().map(Vec::len), Some(1));
    assert_eq!(settings["secrets"][0]["fingerprint"], new.as_str());

    let audit = global_audit(&server).await;
    let secret_records: Vec<&Value> = audit
        .iter()
        .filter(|r| r["kind"].as_str().is_some_and(|k| k.starts_with("secret.")))
        .collect();
    assert_eq!(secret_records.len(), 2, "{audit:#?}");
    assert_eq!(secret_records[0]["kind"], "secret.set");
    assert_eq!(secret_records[0]["data"]["fingerprint"], old.as_str());
    assert_eq!(secret_records[1]["kind"], "secret.rotated");
    assert_eq!(
        secret_records[1]["data"]["previousFingerprint"],
        old.as_str()
    );
    assert_eq!(secret_records[1]["data"]["fingerprint"], new.as_str());

    let answers = [created, rotated, settings, json!(audit)];
    for value in [&first, &second] {
        for answer in &answers {
            assert!(!answer.to_string().contains(value.as_str()), "{answer}");
        }
        assert_eq!(occurrences_on_disk(&server, value), 0, "on disk");
    }
    for key in ["secrets-encryption.key", "secrets-fingerprint.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.dir.path().join(key))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    server.stop().await;
}

/// A value set through the API is redacted at once from what the API
/// answers, and a rotated-out one stays redacted.
#[tokio::test]
async fn set_values_are_redacted_from_run_answers_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let old = format!("oldvalue-{}", uuid_like());
    let new = format!("newvalue-{}", uuid_like());
    assert_eq!(
        put(&server, "token", &old, &admin).await.0,
        StatusCode::CREATED
    );
    assert_eq!(put(&server, "token", &new, &admin).await.0, StatusCode::OK);

    let workflow = server
        .publish("hello-sdlc", crate::harness::HELLO_SDLC)
        .await;
    let run_id = server
        .start_run(&workflow, json!({"title": format!("{old} and {new}")}))
        .await;
    let run = server
        .get(&format!("/api/runs/{run_id}"), &server.operator())
        .await;
    let text = run.to_string();
    assert!(!text.contains(&old) && !text.contains(&new), "{run}");
    assert!(text.contains("[REDACTED]"), "{run}");
    server.stop().await;
}

#[tokio::test]
async fn deleted_once_then_not_found() {
    let server = TestServer::start().await;
    let admin = server.admin();
    assert_eq!(
        put(&server, "gh", "ghvalue-123456", &admin).await.0,
        StatusCode::CREATED
    );
    let (status, _) = server
        .call(
            Method::DELETE,
            "/api/settings/secrets/gh",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = server
        .call(
            Method::DELETE,
            "/api/settings/secrets/gh",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "secret.not_found");
    let settings = server.get("/api/settings", &admin).await;
    assert_eq!(settings["secrets"], json!([]));
    let audit = global_audit(&server).await;
    let kinds: Vec<&str> = audit.iter().filter_map(|r| r["kind"].as_str()).collect();
    assert_eq!(kinds, ["secret.set", "secret.deleted"]);
    server.stop().await;
}

/// Bad input is refused with its code and nothing is stored.
#[tokio::test]
async fn bad_input_stores_nothing() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let too_large = "x".repeat(64 * 1024 + 1);
    for (name, value, status, code) in [
        (
            "a%2Fb",
            "v",
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret.invalid_name",
        ),
        (
            ".hidden",
            "v",
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret.invalid_name",
        ),
        (
            "a%20b",
            "v",
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret.invalid_name",
        ),
        (
            "ok",
            "",
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret.value_empty",
        ),
        (
            "ok",
            too_large.as_str(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "secret.value_too_large",
        ),
    ] {
        let (got, problem) = put(&server, name, value, &admin).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{name}"
        );
    }
    for role in [Role::Viewer, Role::Operator, Role::Approver] {
        let token = server.token("someone", &[role]);
        let (status, problem) = put(&server, "ok", "value-1234", &token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
        assert_eq!(problem["code"], "auth.forbidden");
        let (status, _) = server
            .call(Method::GET, "/api/settings", Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = server
            .call(
                Method::DELETE,
                "/api/settings/secrets/ok",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let settings = server.get("/api/settings", &admin).await;
    assert_eq!(settings["secrets"], json!([]));
    assert!(global_audit(&server).await.is_empty());
    server.stop().await;
}

/// Secrets deployment configuration keeps are listed with their source and
/// status, resolved at request time, and cannot be changed through the API.
#[tokio::test]
async fn configured_secrets_are_listed_and_not_writable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mounted = dir.path().join("github-token");
    std::fs::write(&mounted, "file-value-123456\n").expect("mount");
    let configured = vec![
        (
            SecretName::parse("llm_key").unwrap(),
            SecretLocation::parse("env:LLM_KEY").unwrap(),
        ),
        (
            SecretName::parse("github_token").unwrap(),
            SecretLocation::parse(&format!("file:{}", mounted.display())).unwrap(),
        ),
        (
            SecretName::parse("absent").unwrap(),
            SecretLocation::parse("env:NOT_SET").unwrap(),
        ),
    ];
    let vars = Vars(vec![("LLM_KEY".to_owned(), "env-value-123456".to_owned())]);
    let server = TestServer::start_with_secrets(configured, vars).await;
    let admin = server.admin();

    let settings = server.get("/api/settings", &admin).await;
    let entries = settings["secrets"].as_array().expect("secrets");
    let summary: Vec<(&str, &str, &str, bool)> = entries
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
                e["status"].as_str().unwrap(),
                e["fingerprint"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("absent", "env", "missing", false),
            ("github_token", "file", "set", true),
            ("llm_key", "env", "set", true),
        ]
    );
    let text = settings.to_string();
    assert!(
        !text.contains("env-value") && !text.contains("file-value"),
        "{text}"
    );

    std::fs::remove_file(&mounted).expect("unmount");
    let settings = server.get("/api/settings", &admin).await;
    assert_eq!(
        settings["secrets"][1]["status"], "missing",
        "read at request time"
    );

    let (status, problem) = put(&server, "llm_key", "other-value", &admin).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "secret.configured");
    let (status, problem) = server
        .call(
            Method::DELETE,
            "/api/settings/secrets/github_token",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "secret.configured");
    server.stop().await;
}

/// A value no earlier test or run could hold.
fn uuid_like() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a restarted server does at start: a keeper over the same database
/// and key files opens every stored secret and knows its value for
/// redaction. Under other keys nothing opens, and the refusal names the
/// secret, never its value.
#[tokio::test]
async fn stored_secrets_are_opened_at_start_and_only_with_their_keys() {
    use std::sync::Arc;

    use agentwerke_evidence::redact::Redactor;
    use agentwerke_secrets::LocalKeys;
    use agentwerke_server::SecretKeeper;
    use agentwerke_store::SqliteStore;

    let server = TestServer::start().await;
    let value = format!("kept-{}", uuid_like());
    let (status, _) = put(&server, "deploy_key", &value, &server.admin()).await;
    assert_eq!(status, StatusCode::CREATED);
    let store = SqliteStore::open(&format!(
        "sqlite://{}",
        server.dir.path().join("aw.db").display()
    ))
    .await
    .expect("the same database");
    let keeper = |keys: LocalKeys| {
        SecretKeeper::new(
            Arc::new(keys),
            Vec::new(),
            Arc::new(Vars::default()),
            Redactor::default(),
        )
        .expect("keeper")
    };

    let restarted = keeper(LocalKeys::load_or_create(server.dir.path()).expect("keys"));
    assert!(!restarted.redactor().contains_known(&value));
    assert_eq!(restarted.open_stored(&store).await.expect("opened"), 1);
    assert!(restarted.redactor().contains_known(&value));

    let elsewhere = tempfile::tempdir().expect("temp dir");
    let stranger = keeper(LocalKeys::load_or_create(elsewhere.path()).expect("keys"));
    let refused = stranger.open_stored(&store).await.expect_err("other keys");
    assert!(
        agentwerke_types::ErrorCode::code(&refused).starts_with("secret.envelope."),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(message.contains("deploy_key"), "{message}");
    assert!(!message.contains(&value), "{message}");
    assert!(!stranger.redactor().contains_known(&value));
    server.stop().await;
}

/// The keeper shares the gateway's redactor: a value set through the API
/// is refused in a tool call's arguments from the next call on, and a
/// rotated-out one still is.
#[tokio::test]
async fn the_gateway_refuses_a_set_value_in_arguments_at_once() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let old = format!("gw-old-{}", uuid_like());
    let new = format!("gw-new-{}", uuid_like());
    let evaluate = |content: &str| {
        json!({"tool": "artifact.write", "arguments": {"path": "a.md", "content": content},
               "agent": "release-assistant",
               "task": {"purposeType": "notes", "environment": "staging",
                        "permissionLevel": "read-write", "sandboxProfile": "repo-read"}})
    };
    let before = server
        .post("/api/gateway/evaluate", &admin, evaluate(&old))
        .await;
    assert_ne!(before["reason"], "secret_in_arguments", "{before}");

    assert_eq!(
        put(&server, "deploy", &old, &admin).await.0,
        StatusCode::CREATED
    );
    assert_eq!(put(&server, "deploy", &new, &admin).await.0, StatusCode::OK);
    for value in [&old, &new] {
        let decision = server
            .post("/api/gateway/evaluate", &admin, evaluate(value))
            .await;
        assert_eq!(
            (&decision["kind"], &decision["stage"], &decision["reason"]),
            (
                &json!("reject"),
                &json!("secrets"),
                &json!("secret_in_arguments")
            ),
            "{decision}"
        );
        assert!(!decision.to_string().contains(value.as_str()), "{decision}");
    }
    server.stop().await;
}

/// Another server on the same database: its keeper learns a secret set or
/// rotated elsewhere at its next refresh (a cheap look at names and
/// fingerprints), and its resolver sends the current value at once.
#[tokio::test]
async fn a_secret_set_by_another_server_is_known_and_sent_after_a_refresh() {
    use std::sync::Arc;

    use agentwerke_evidence::redact::Redactor;
    use agentwerke_gateway::SecretResolver;
    use agentwerke_secrets::{LocalKeys, SecretName};
    use agentwerke_server::{SecretKeeper, StoreSecrets};
    use agentwerke_store::{SqliteStore, Store};

    let server = TestServer::start().await;
    let admin = server.admin();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&format!(
            "sqlite://{}",
            server.dir.path().join("aw.db").display()
        ))
        .await
        .expect("the same database"),
    );
    let other = SecretKeeper::new(
        Arc::new(LocalKeys::load_or_create(server.dir.path()).expect("keys")),
        Vec::new(),
        Arc::new(Vars::default()),
        Redactor::default(),
    )
    .expect("keeper");
    assert!(
        other.refresh(store.as_ref()).await.expect("refresh"),
        "first look opens"
    );
    assert!(
        !other.refresh(store.as_ref()).await.expect("refresh"),
        "nothing changed"
    );

    let first = format!("elsewhere-{}", uuid_like());
    let second = format!("elsewhere-rotated-{}", uuid_like());
    let (_, created) = put(&server, "github_token", &first, &admin).await;
    assert!(other.refresh(store.as_ref()).await.expect("refresh"));
    assert!(other.redactor().contains_known(&first));

    let resolver = StoreSecrets::new(other.clone(), Arc::clone(&store));
    let name = SecretName::parse("github_token").expect("name");
    let resolved = resolver.resolve(&name).await.expect("resolved");
    assert_eq!(resolved.value.expose(), first);
    assert_eq!(resolved.fingerprint.as_str(), created["fingerprint"]);

    let (_, rotated) = put(&server, "github_token", &second, &admin).await;
    let resolved = resolver.resolve(&name).await.expect("resolved");
    assert_eq!(
        resolved.value.expose(),
        second,
        "the next call sends the new value"
    );
    assert_eq!(resolved.fingerprint.as_str(), rotated["fingerprint"]);
    assert!(other.refresh(store.as_ref()).await.expect("refresh"));
    assert!(other.redactor().contains_known(&second));
    assert!(
        other.redactor().contains_known(&first),
        "a rotated-out value stays known"
    );

    let missing = SecretName::parse("nobody_set_this").expect("name");
    let error = resolver.resolve(&missing).await.expect_err("missing");
    assert_eq!(
        error,
        agentwerke_gateway::Unavailable::Missing("nobody_set_this".to_owned())
    );
    server.stop().await;
}
