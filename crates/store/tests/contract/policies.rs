//! Policy sets: drafts numbered one after another, published once; both
//! global rows of a [`Store::commit`](agentwerke_store::Store::commit).

use agentwerke_store::{Committed, GLOBAL_STREAM, PageRequest, Row, Store};
use agentwerke_types::WorkflowStatus;
use serde_json::json;

use super::support::{code_of, draft, global, t};

async fn draft_as(
    store: &dyn Store,
    version: i64,
    text: &str,
) -> agentwerke_store::Result<Committed> {
    let row = Row::DraftPolicySet {
        version,
        text: text.to_owned(),
        sha256: format!("sha-of-{text}"),
        note: Some(format!("note {version}")),
        created_by: "ada".to_owned(),
    };
    let record = draft(GLOBAL_STREAM, "policy.drafted", json!({"text": text}));
    global(store, t(version), vec![row], vec![record]).await
}

async fn publish(store: &dyn Store, version: i64, by: &str) -> agentwerke_store::Result<Committed> {
    let row = Row::PublishPolicySet {
        version,
        published_by: by.to_owned(),
    };
    let record = draft(
        GLOBAL_STREAM,
        "policy.published",
        json!({"version": version}),
    );
    global(store, t(10 + version), vec![row], vec![record]).await
}

/// A draft names its number and is refused when that is not the next one
/// (a concurrent draft took it); publishing is a compare-and-set from
/// draft; a refused change writes neither its row nor its record.
pub(crate) async fn drafted_and_published(store: &dyn Store) {
    let first = draft_as(store, 1, "permit-all").await.unwrap();
    let row = first.policy_set().expect("the draft").clone();
    assert_eq!(
        (row.version, row.status, row.sha256.as_str()),
        (1, WorkflowStatus::Draft, "sha-of-permit-all")
    );
    assert_eq!(
        (row.note.as_deref(), row.created_by.as_str(), row.created_at),
        (Some("note 1"), "ada", t(1))
    );
    assert_eq!(first.audit.as_ref().map(|h| h.seq), Some(1));

    assert_eq!(
        code_of(draft_as(store, 1, "forbid-all").await),
        "store.conflict",
        "version 1 is taken"
    );
    assert_eq!(
        code_of(draft_as(store, 3, "forbid-all").await),
        "store.conflict",
        "numbers are not skipped"
    );
    assert_eq!(store.get_policy_set(1).await.unwrap(), Some(row.clone()));
    draft_as(store, 2, "forbid-all").await.unwrap();
    assert_eq!(store.active_policy_set().await.unwrap(), None);

    let published = publish(store, 1, "bob").await.unwrap();
    let published = published.policy_set().expect("the set").clone();
    assert_eq!(published.status, WorkflowStatus::Published);
    assert_eq!(
        (published.published_by.as_deref(), published.published_at),
        (Some("bob"), Some(t(11)))
    );
    assert_eq!(
        published.text, row.text,
        "publishing never changes the text"
    );
    assert_eq!(
        store.active_policy_set().await.unwrap(),
        Some(published.clone())
    );

    assert_eq!(
        code_of(publish(store, 1, "eve").await),
        "store.conflict",
        "published once"
    );
    assert_eq!(
        store.get_policy_set(1).await.unwrap(),
        Some(published.clone()),
        "the first publication stands"
    );
    assert_eq!(code_of(publish(store, 9, "bob").await), "store.not_found");

    let page = store
        .page_policy_sets(PageRequest {
            limit: 10,
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.version).collect::<Vec<_>>(),
        [2, 1]
    );
    let kinds: Vec<String> = store
        .audit_log(GLOBAL_STREAM)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        ["policy.drafted", "policy.drafted", "policy.published"],
        "only the committed changes wrote their records"
    );
}
