//! Workflow versioning and immutability.

use agentwerke_store::{GLOBAL_STREAM, PageRequest, Store};
use agentwerke_types::WorkflowStatus;

use super::support::{code_of, import, t};

/// Versions count up per workflow, re-imports of an unchanged draft do not
/// duplicate it, and publishing is idempotent.
pub(crate) async fn versioning_and_publication(store: &dyn Store) {
    let v1 = store
        .create_workflow_version(import("wf", "a"))
        .await
        .unwrap();
    assert_eq!((v1.version, v1.status.as_str()), (1, "draft"));
    assert_eq!(v1.diagnostics[0]["code"], "bpmn.unused");

    let again = store
        .create_workflow_version(import("wf", "a"))
        .await
        .unwrap();
    assert_eq!(
        again, v1,
        "same document as the latest draft returns that draft"
    );

    let v2 = store
        .create_workflow_version(import("wf", "b"))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(store.latest_published("wf").await.unwrap(), None);

    let p1 = store
        .publish_workflow_version("wf", 1, "user:bob", t(5))
        .await
        .unwrap();
    assert_eq!(p1.status, WorkflowStatus::Published);
    assert_eq!(p1.published_by.as_deref(), Some("user:bob"));
    assert_eq!(p1.published_at, Some(t(5)));
    assert_eq!(
        p1.bpmn_xml, v1.bpmn_xml,
        "publishing never changes the document"
    );

    let twice = store
        .publish_workflow_version("wf", 1, "user:eve", t(9))
        .await
        .unwrap();
    assert_eq!(
        twice, p1,
        "publishing twice is idempotent and keeps the first publication"
    );
    assert_eq!(
        store.latest_published("wf").await.unwrap(),
        Some(p1.clone())
    );

    let p2 = store
        .publish_workflow_version("wf", 2, "user:bob", t(6))
        .await
        .unwrap();
    assert_eq!(
        store.latest_published("wf").await.unwrap(),
        Some(p2.clone())
    );

    // The latest version is published, so the same document becomes a new draft.
    let v3 = store
        .create_workflow_version(import("wf", "b"))
        .await
        .unwrap();
    assert_eq!((v3.version, v3.status.as_str()), (3, "draft"));

    let first = store
        .page_versions(
            "wf",
            PageRequest {
                limit: 2,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2],
        "newest first, the limit applied"
    );
    let rest = store
        .page_versions(
            "wf",
            PageRequest {
                limit: 2,
                cursor: first.next_cursor,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(rest.next_cursor, None, "the last page names no next one");
    assert_eq!(store.get_version("wf", 2).await.unwrap(), Some(p2));
    assert_eq!(store.get_version("wf", 4).await.unwrap(), None);

    store
        .create_workflow_version(import("other", "x"))
        .await
        .unwrap();
    let summaries = store.list_workflows().await.unwrap();
    assert_eq!(summaries.len(), 2);
    let wf = &summaries[1];
    assert_eq!(summaries[0].id, "other");
    assert_eq!(
        (wf.id.as_str(), wf.latest_version, wf.published_version),
        ("wf", 3, Some(2))
    );
    assert_eq!(store.get_workflow("wf").await.unwrap().as_ref(), Some(wf));
    assert_eq!(store.get_workflow("nope").await.unwrap(), None);

    assert_eq!(
        code_of(
            store
                .publish_workflow_version("wf", 9, "user:bob", t(7))
                .await
        ),
        "store.not_found"
    );

    let global = store.audit_log(GLOBAL_STREAM).await.unwrap();
    let kinds: Vec<_> = global.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "workflow.version_imported",
            "workflow.version_imported",
            "workflow.version_published",
            "workflow.version_published",
            "workflow.version_imported",
            "workflow.version_imported",
        ]
    );
    assert_eq!(global[2].data["version"], 1);
}
