//! The global commands' side of the door: the kill switch, policy sets and
//! workflow versions belong to no run, so they have no engine event, no
//! evidence and no step, only rows and audit records on the global stream
//! ([`Stream::Global`]).
//!
//! Their compare-and-sets lose to a concurrent write of the same kind (two
//! imports planned the same next version, two publications of one draft);
//! the loser is planned again on what the winner left, as it would have
//! been had it come second. So two concurrent imports get consecutive
//! versions, and a second publication answers as a publication that came
//! late does: the version unchanged, or the policy set's conflict.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{Change, Committed, Delivered, PageRequest, Row, Store, Stream, Written};

use super::{
    Ctx, DeleteSecret, DraftPolicy, Error, Halt, ImportWorkflow, PublishPolicy, PublishWorkflow,
    Resume, SetSecret, Submitted, delete_secret, draft_policy, halt, import_workflow,
    publish_policy, publish_workflow, resume, set_secret,
};

/// How often a global command is planned before a lost compare-and-set is
/// answered as the conflict it is. Each round has a winner, so only more
/// than this many concurrent writers of one kind can exhaust it.
const ATTEMPTS: usize = 4;

/// What a global command writes, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub enum GlobalPlan {
    /// Rows and their audit records, committed together on the global
    /// stream.
    Write {
        /// The typed rows, each a compare-and-set on the state the plan saw.
        rows: Vec<Row>,
        /// The global audit records; the store stamps the chain.
        audit: Vec<AuditDraft>,
    },
    /// Nothing to write: what the command asks for is so already (a
    /// document re-imported onto its own draft, a version published
    /// again). Answered with the row as the snapshot read it.
    Unchanged(Box<Written>),
}

pub(super) async fn halt(
    store: &dyn Store,
    command: Halt,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        halt::plan(command.clone(), ctx)
    })
    .await
}

pub(super) async fn resume(
    store: &dyn Store,
    command: Resume,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let snapshot = resume::Snapshot {
            halts: store.halts().await?,
        };
        resume::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(super) async fn draft_policy(
    store: &dyn Store,
    command: DraftPolicy,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let newest = store.page_policy_sets(newest()).await?.items;
        let snapshot = draft_policy::Snapshot {
            newest: newest.first().map(|set| set.version),
        };
        draft_policy::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(super) async fn publish_policy(
    store: &dyn Store,
    command: PublishPolicy,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let snapshot = publish_policy::Snapshot {
            policy_set: store.get_policy_set(command.version).await?,
        };
        publish_policy::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(crate) async fn import_workflow(
    store: &dyn Store,
    command: ImportWorkflow,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let newest = store.page_versions(&command.workflow_id, newest()).await?;
        let snapshot = import_workflow::Snapshot {
            newest: newest.items.into_iter().next(),
        };
        import_workflow::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(crate) async fn publish_workflow(
    store: &dyn Store,
    command: PublishWorkflow,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let snapshot = publish_workflow::Snapshot {
            version: store
                .get_version(&command.workflow_id, command.version)
                .await?,
        };
        publish_workflow::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(super) async fn set_secret(
    store: &dyn Store,
    command: SetSecret,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let snapshot = set_secret::Snapshot {
            current: store.get_secret(command.name.as_str()).await?,
        };
        set_secret::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

pub(super) async fn delete_secret(
    store: &dyn Store,
    command: DeleteSecret,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let command = &command;
    commit(store, ctx, move || async move {
        let snapshot = delete_secret::Snapshot {
            current: store.get_secret(command.name.as_str()).await?,
        };
        delete_secret::plan(&snapshot, command.clone(), ctx)
    })
    .await
}

/// The first page of one item: the newest of a list kept newest first.
fn newest() -> PageRequest {
    PageRequest {
        limit: 1,
        cursor: None,
    }
}

/// Reads the snapshot and plans (`plan`), commits on the global stream as
/// of `ctx.at`, and plans again when a concurrent write won a
/// compare-and-set, up to [`ATTEMPTS`] times.
async fn commit<F, Planned>(store: &dyn Store, ctx: &Ctx<'_>, plan: F) -> Result<Submitted, Error>
where
    F: Fn() -> Planned,
    Planned: Future<Output = Result<GlobalPlan, Error>>,
{
    let mut attempt = 1;
    loop {
        let (rows, audit) = match plan().await? {
            GlobalPlan::Unchanged(row) => {
                let committed = Committed {
                    rows: vec![*row],
                    delivered: Delivered::Dropped,
                    audit: None,
                };
                return Ok(Submitted {
                    committed,
                    event: None,
                });
            }
            GlobalPlan::Write { rows, audit } => (rows, audit),
        };
        let change = Change {
            stream: Stream::Global,
            at: ctx.at,
            rows,
            event: None,
            audit,
            records: Vec::new(),
        };
        match store.commit(change).await {
            Ok(committed) => {
                return Ok(Submitted {
                    committed,
                    event: None,
                });
            }
            Err(agentwerke_store::Error::Conflict { .. }) if attempt < ATTEMPTS => attempt += 1,
            Err(error) => return Err(Error::from_store(error)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use agentwerke_store::{SqliteStore, WorkflowVersion};
    use agentwerke_types::{Timestamp, WorkflowStatus};
    use serde_json::json;

    use super::*;

    /// Imports and publishes `xml` as workflow `id` through the commands,
    /// as an admin at `at`: the published version.
    pub(crate) async fn published(
        store: &dyn Store,
        id: &str,
        xml: &str,
        at: Timestamp,
    ) -> WorkflowVersion {
        let ctx = Ctx {
            at,
            redactor: crate::command::no_secrets(),
        };
        let import = ImportWorkflow {
            workflow_id: id.to_owned(),
            name: id.to_owned(),
            bpmn_xml: xml.to_owned(),
            diagnostics: json!([]),
            by: "admin".to_owned(),
        };
        let draft = import_workflow(store, import, &ctx).await.expect("import");
        let version = draft.committed.workflow_version().expect("a draft").version;
        let publish = PublishWorkflow {
            workflow_id: id.to_owned(),
            version,
            by: "admin".to_owned(),
        };
        let published = publish_workflow(store, publish, &ctx)
            .await
            .expect("publish");
        published
            .committed
            .workflow_version()
            .expect("the version")
            .clone()
    }

    /// Concurrent imports of one workflow each get their own version: the
    /// ones that lost the race for a number are planned again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_imports_get_consecutive_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("global.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let imports: Vec<_> = (0..ATTEMPTS)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let ctx = Ctx {
                        at: Timestamp::from_millis(0),
                        redactor: crate::command::no_secrets(),
                    };
                    let import = ImportWorkflow {
                        workflow_id: "wf".to_owned(),
                        name: "wf".to_owned(),
                        bpmn_xml: format!("<definitions id=\"d{n}\"/>"),
                        diagnostics: json!([]),
                        by: "admin".to_owned(),
                    };
                    import_workflow(store.as_ref(), import, &ctx).await
                })
            })
            .collect();
        let mut versions = Vec::new();
        for import in imports {
            let submitted = import.await.unwrap().expect("every import is stored");
            versions.push(submitted.committed.workflow_version().unwrap().version);
        }
        versions.sort_unstable();
        assert_eq!(versions, [1, 2, 3, 4]);
        let mut recorded: Vec<_> = store
            .audit_log(agentwerke_store::GLOBAL_STREAM)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.data["version"].as_i64().unwrap())
            .collect();
        recorded.sort_unstable();
        assert_eq!(recorded, [1, 2, 3, 4], "one record per import, none lost");
    }

    /// Concurrent puts of one new secret: one creates it, the others lose
    /// the compare-and-set and are planned again as rotations, so the
    /// audit chain reads as a serial history of fingerprints.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_secret_puts_read_as_one_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("global.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let puts: Vec<_> = (0..ATTEMPTS)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let ctx = Ctx {
                        at: Timestamp::from_millis(0),
                        redactor: crate::command::no_secrets(),
                    };
                    let set = SetSecret {
                        name: agentwerke_secrets::SecretName::parse("api_key").unwrap(),
                        sealed: format!("v1:k:{n}"),
                        fingerprint: serde_json::from_value(json!(format!("hmac-sha256:{n}")))
                            .unwrap(),
                        by: "admin".to_owned(),
                    };
                    set_secret(store.as_ref(), set, &ctx).await
                })
            })
            .collect();
        for put in puts {
            put.await.unwrap().expect("every put is stored");
        }
        let log = store
            .audit_log(agentwerke_store::GLOBAL_STREAM)
            .await
            .unwrap();
        let kinds: Vec<&str> = log.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "secret.set",
                "secret.rotated",
                "secret.rotated",
                "secret.rotated"
            ]
        );
        for pair in log.windows(2) {
            assert_eq!(
                pair[1].data["previousFingerprint"], pair[0].data["fingerprint"],
                "each rotation starts from the fingerprint before it"
            );
        }
        let stored = store.get_secret("api_key").await.unwrap().unwrap();
        assert_eq!(json!(stored.fingerprint), log[3].data["fingerprint"]);
    }

    /// A publication that comes second answers with the version as the
    /// first left it and writes nothing.
    #[tokio::test]
    async fn a_second_publication_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("global.db").display().to_string();
        let store = SqliteStore::open(&path).await.unwrap();
        let at = Timestamp::from_millis(5);
        let first = published(&store, "wf", "<definitions/>", at).await;
        assert_eq!(first.status, WorkflowStatus::Published);
        let later = Ctx {
            at: Timestamp::from_millis(9),
            redactor: crate::command::no_secrets(),
        };
        let again = PublishWorkflow {
            workflow_id: "wf".to_owned(),
            version: first.version,
            by: "eve".to_owned(),
        };
        let again = publish_workflow(&store, again, &later).await.unwrap();
        assert_eq!(again.committed.workflow_version(), Some(&first));
        assert_eq!(again.committed.audit, None, "no record written");
        assert_eq!(
            store
                .audit_log(agentwerke_store::GLOBAL_STREAM)
                .await
                .unwrap()
                .len(),
            2
        );
    }
}
