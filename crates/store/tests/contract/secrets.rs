//! Stored secrets: a sealed envelope is created, rotated and deleted, each a
//! compare-and-set on the fingerprint the plan saw, with its global audit
//! record in the same transaction; reads describe a secret without its
//! envelope, and only `sealed_secrets` hands the envelopes out.

use agentwerke_store::{GLOBAL_STREAM, Row, Store, Written};
use serde_json::json;

use super::support::{code_of, draft, global, t};

fn put(name: &str, sealed: &str, fingerprint: &str, previous: Option<&str>, by: &str) -> Row {
    Row::PutSecret {
        name: name.to_owned(),
        sealed: sealed.to_owned(),
        fingerprint: fingerprint.to_owned(),
        previous: previous.map(str::to_owned),
        by: by.to_owned(),
    }
}

fn record(kind: &str) -> Vec<agentwerke_evidence::chain::AuditDraft> {
    vec![draft(GLOBAL_STREAM, kind, json!({"name": "api_key"}))]
}

/// Created, rotated and deleted: each answer names the secret and the
/// fingerprint it replaced, and writes its record. A stale fingerprint is a
/// conflict, a deletion of nothing is `not_found`, and neither writes.
pub(crate) async fn created_rotated_and_deleted(store: &dyn Store) {
    let created = global(
        store,
        t(1),
        vec![put("api_key", "v1:k:AAAA", "hmac-sha256:01", None, "ada")],
        record("secret.set"),
    )
    .await
    .unwrap();
    let Written::SecretPut { secret, previous } = &created.rows[0] else {
        panic!("a put answers with the secret: {:?}", created.rows);
    };
    assert_eq!(previous, &None);
    assert_eq!(
        (secret.name.as_str(), secret.fingerprint.as_str()),
        ("api_key", "hmac-sha256:01")
    );
    assert_eq!(
        (secret.created_by.as_str(), secret.created_at),
        ("ada", t(1))
    );
    assert_eq!(
        (secret.updated_by.as_str(), secret.updated_at),
        ("ada", t(1))
    );
    assert_eq!(created.audit.map(|h| h.seq), Some(1));

    // Planned on a state that is gone: nothing written.
    for stale in [None, Some("hmac-sha256:ff")] {
        let refused = global(
            store,
            t(2),
            vec![put("api_key", "v1:k:BBBB", "hmac-sha256:02", stale, "bob")],
            record("secret.rotated"),
        )
        .await;
        assert_eq!(code_of(refused), "store.conflict", "{stale:?}");
    }

    let rotated = global(
        store,
        t(3),
        vec![put(
            "api_key",
            "v1:k:CCCC",
            "hmac-sha256:03",
            Some("hmac-sha256:01"),
            "bob",
        )],
        record("secret.rotated"),
    )
    .await
    .unwrap();
    let Written::SecretPut { secret, previous } = &rotated.rows[0] else {
        panic!("a put answers with the secret");
    };
    assert_eq!(previous.as_deref(), Some("hmac-sha256:01"));
    assert_eq!(secret.fingerprint, "hmac-sha256:03");
    assert_eq!(
        (secret.created_by.as_str(), secret.created_at),
        ("ada", t(1))
    );
    assert_eq!(
        (secret.updated_by.as_str(), secret.updated_at),
        ("bob", t(3))
    );
    assert_eq!(
        rotated.audit.map(|h| h.seq),
        Some(2),
        "the refusals wrote no record"
    );

    global(
        store,
        t(4),
        vec![put("other", "v1:k:DDDD", "hmac-sha256:04", None, "ada")],
        record("secret.set"),
    )
    .await
    .unwrap();
    let listed = store.secrets().await.unwrap();
    let names: Vec<_> = listed.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api_key", "other"], "by name");
    assert_eq!(
        store.get_secret("api_key").await.unwrap().as_ref(),
        Some(secret)
    );
    assert_eq!(store.get_secret("absent").await.unwrap(), None);
    let sealed = store.sealed_secrets().await.unwrap();
    let sealed: Vec<_> = sealed
        .iter()
        .map(|s| (s.name.as_str(), s.sealed.as_str()))
        .collect();
    assert_eq!(sealed, [("api_key", "v1:k:CCCC"), ("other", "v1:k:DDDD")]);
    let described = serde_json::to_string(&listed).unwrap();
    assert!(!described.contains("v1:k:"), "no envelope in a description");

    let delete = |fingerprint: &str| Row::DeleteSecret {
        name: "api_key".to_owned(),
        fingerprint: fingerprint.to_owned(),
    };
    let stale = global(
        store,
        t(5),
        vec![delete("hmac-sha256:01")],
        record("secret.deleted"),
    )
    .await;
    assert_eq!(code_of(stale), "store.conflict");
    let deleted = global(
        store,
        t(5),
        vec![delete("hmac-sha256:03")],
        record("secret.deleted"),
    )
    .await
    .unwrap();
    assert!(
        matches!(&deleted.rows[0], Written::SecretDeleted(s) if s.fingerprint == "hmac-sha256:03"),
        "{:?}",
        deleted.rows
    );
    let again = global(
        store,
        t(6),
        vec![delete("hmac-sha256:03")],
        record("secret.deleted"),
    )
    .await;
    assert_eq!(code_of(again), "store.not_found");
    let names: Vec<_> = store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["other"]);
    let kinds: Vec<_> = store
        .audit_log(GLOBAL_STREAM)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "secret.set",
            "secret.rotated",
            "secret.set",
            "secret.deleted"
        ]
    );
}

/// Secret rows belong to the global stream: a run's change naming one is
/// refused.
pub(crate) async fn only_in_a_global_change(store: &dyn Store) {
    super::support::one_run(store, "wf", "run-1").await;
    let refused = store
        .commit(agentwerke_store::Change {
            stream: agentwerke_store::Stream::Run("run-1".into()),
            at: t(10),
            rows: vec![put("api_key", "v1:k:AAAA", "hmac-sha256:01", None, "ada")],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await;
    assert_eq!(code_of(refused), "store.invalid_input");
    assert!(store.secrets().await.unwrap().is_empty());
}
