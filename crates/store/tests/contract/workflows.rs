//! Workflow versioning and immutability: imports and publications are
//! global rows of a [`Store::commit`](agentwerke_store::Store::commit).

use agentwerke_store::{Committed, GLOBAL_STREAM, PageRequest, Row, Store, WorkflowVersion};
use agentwerke_types::{Timestamp, WorkflowStatus};
use serde_json::json;

use super::support::{code_of, draft, global, import, t};

/// Imports `body` as `version` of `workflow_id` with its audit record.
async fn import_as(
    store: &dyn Store,
    workflow_id: &str,
    version: i64,
    body: &str,
) -> agentwerke_store::Result<Committed> {
    global(
        store,
        t(version),
        vec![Row::ImportWorkflowVersion {
            version,
            workflow: import(workflow_id, body),
        }],
        vec![draft(
            GLOBAL_STREAM,
            "workflow.version_imported",
            json!({"workflowId": workflow_id, "version": version}),
        )],
    )
    .await
}

/// Publishes `version` of `workflow_id` as `by` at `at` with its audit record.
async fn publish(
    store: &dyn Store,
    workflow_id: &str,
    version: i64,
    by: &str,
    at: Timestamp,
) -> agentwerke_store::Result<Committed> {
    global(
        store,
        at,
        vec![Row::PublishWorkflowVersion {
            workflow_id: workflow_id.to_owned(),
            version,
            published_by: by.to_owned(),
        }],
        vec![draft(
            GLOBAL_STREAM,
            "workflow.version_published",
            json!({"workflowId": workflow_id, "version": version}),
        )],
    )
    .await
}

fn written(committed: agentwerke_store::Result<Committed>) -> WorkflowVersion {
    committed
        .expect("committed")
        .workflow_version()
        .expect("a workflow version written")
        .clone()
}

/// Versions count up per workflow, an import that names a taken or skipped
/// number is refused, publishing is a compare-and-set from draft, and a
/// refused change writes neither its row nor its audit record.
pub(crate) async fn versioning_and_publication(store: &dyn Store) {
    let v1 = written(import_as(store, "wf", 1, "a").await);
    assert_eq!((v1.version, v1.status.as_str()), (1, "draft"));
    assert_eq!(v1.diagnostics[0]["code"], "bpmn.unused");
    assert_eq!((v1.created_by.as_str(), v1.created_at), ("ada", t(1)));

    // A concurrent import planned on the same newest version: refused.
    assert_eq!(
        code_of(import_as(store, "wf", 1, "b").await),
        "store.conflict"
    );
    assert_eq!(
        code_of(import_as(store, "wf", 3, "b").await),
        "store.conflict",
        "numbers are not skipped"
    );
    assert_eq!(
        store.get_version("wf", 1).await.unwrap(),
        Some(v1.clone()),
        "the refused imports changed nothing"
    );

    let v2 = written(import_as(store, "wf", 2, "b").await);
    assert_eq!(v2.version, 2);
    assert_eq!(store.latest_published("wf").await.unwrap(), None);

    let p1 = written(publish(store, "wf", 1, "bob", t(5)).await);
    assert_eq!(p1.status, WorkflowStatus::Published);
    assert_eq!(p1.published_by.as_deref(), Some("bob"));
    assert_eq!(p1.published_at, Some(t(5)));
    assert_eq!(
        p1.bpmn_xml, v1.bpmn_xml,
        "publishing never changes the document"
    );

    assert_eq!(
        code_of(publish(store, "wf", 1, "eve", t(9)).await),
        "store.conflict",
        "a published version is not published again"
    );
    assert_eq!(
        store.latest_published("wf").await.unwrap(),
        Some(p1.clone()),
        "the first publication stands"
    );

    let p2 = written(publish(store, "wf", 2, "bob", t(6)).await);
    assert_eq!(
        store.latest_published("wf").await.unwrap(),
        Some(p2.clone())
    );

    // The latest version is published, so the same document becomes a new draft.
    let v3 = written(import_as(store, "wf", 3, "b").await);
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

    written(import_as(store, "other", 1, "x").await);
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
        code_of(publish(store, "wf", 9, "bob", t(7)).await),
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
        ],
        "only the committed changes wrote their records"
    );
    assert_eq!(global[2].data["version"], 1);
}
