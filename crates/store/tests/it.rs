//! Integration tests: the store contract (`contract/`) against real SQLite
//! files in temporary folders, plus what only SQLite can show (reopening a
//! file, guards enforced by the schema itself).

mod contract;

use std::sync::Arc;

use agentwerke_store::{SqliteStore, Store};
use agentwerke_types::ErrorCode;
use tempfile::TempDir;

/// A fresh database file in its own folder, removed on drop.
struct Db {
    dir: TempDir,
    store: SqliteStore,
}

impl Db {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&Self::url(&dir)).await.expect("open");
        Self { dir, store }
    }

    /// A URL whose folder does not exist yet: `open` must create it.
    fn url(dir: &TempDir) -> String {
        format!(
            "sqlite://{}",
            dir.path().join("nested/data/aw.db").display()
        )
    }

    fn dyn_store(&self) -> &dyn Store {
        &self.store
    }
}

/// One `#[tokio::test]` per contract check, each on its own database.
macro_rules! contract {
    ($($name:ident => $check:path),* $(,)?) => {
        mod sqlite_contract {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = Db::new().await;
                    $check(db.dyn_store()).await;
                }
            )*
        }
    };
}

contract! {
    workflow_versioning_and_publication => contract::workflows::versioning_and_publication,
    run_create_claim_commit => contract::runs::create_claim_commit,
    run_create_with_first_step_applied => contract::runs::create_with_first_step_applied,
    run_inbox_order_and_dedup => contract::runs::inbox_order_and_dedup,
    run_lease_expiry_and_reclaim => contract::runs::lease_expiry_and_reclaim,
    run_pagination => contract::runs::pagination,
    run_risk_level_only_rises => contract::runs::risk_level_only_rises,
    approval_pagination => contract::approvals::pagination,
    approval_artifacts_listed_and_risk_peak_raised => contract::approvals::artifacts_listed_and_risk_peak_raised,
    approval_decided_after_expiry => contract::approvals::decided_after_expiry,
    change_without_rows => contract::changes::without_rows,
    change_global => contract::changes::global,
    work_reclaim_and_complete_once => contract::work::reclaim_and_complete_once,
    work_lease_extended_only_by_its_claim => contract::work::lease_extended_only_by_its_claim,
    work_cancelled => contract::work::cancelled_work,
    work_held_by_the_kill_switch => contract::work::held_by_the_kill_switch,
    halts_page_in_order => contract::work::halts_page_in_order,
    timers_fire_once => contract::timers::fire_once,
    timers_read_one => contract::timers::read_one,
    messages_correlation_and_idempotency => contract::messages::correlation_and_idempotency,
    audit_chains_verify_after_many_ops => contract::audit::chains_verify_after_many_ops,
    audit_global_stream_pages_in_order => contract::audit::global_stream_pages_in_order,
    batch_commit_runs_keep_each_outcome => contract::batch::commit_runs_keep_each_outcome,
    steps_committed_only_when_nothing_moved => contract::steps::committed_only_when_nothing_moved,
    nodes_one_row_per_node => contract::nodes::one_row_per_node_as_its_tokens_left_it,
    audit_head_is_the_newest_seq => contract::audit::head_is_the_newest_seq,
    tool_calls_intent_then_outcome => contract::calls::intent_then_outcome,
    tool_calls_approval_used_with_the_intent => contract::calls::approval_used_with_the_intent,
    tool_calls_artifact_writes_keyed_by_call => contract::calls::artifact_writes_keyed_by_call,
    halts_set_and_lifted => contract::halts::set_and_lifted,
    policy_sets_drafted_and_published => contract::policies::drafted_and_published,
    step_end_settles_open_calls => contract::steps_end::completed_step_settles_open_calls,
    step_end_repeated_writes_nothing => contract::steps_end::second_end_writes_nothing,
    step_end_paused_opens_its_approval => contract::steps_end::paused_step_opens_its_approval,
    step_end_asking_opens_its_question => contract::steps_end::asking_step_opens_its_question,
    step_end_of_cancelled_work => contract::steps_end::cancelled_work_keeps_only_its_records,
    step_end_hold_of_closed_work => contract::steps_end::hold_of_closed_work_writes_nothing,
    secrets_created_rotated_and_deleted => contract::secrets::created_rotated_and_deleted,
    secrets_only_in_a_global_change => contract::secrets::only_in_a_global_change,
    sessions_kept_until_they_end => contract::sessions::kept_until_they_end,
    usage_adds_up_per_work_and_run => contract::usage::turns_add_up_per_work_and_run_once_each,
    usage_of_an_unknown_run => contract::usage::a_turn_of_an_unknown_run_is_not_found,
}

mod sqlite {
    use agentwerke_store::GLOBAL_STREAM;
    use sqlx::Connection;

    use super::*;
    use crate::contract;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_approval_decisions_have_one_winner() {
        // Repeated: a race that passes once can still be a race.
        for _ in 0..5 {
            let db = Db::new().await;
            let store: Arc<dyn Store> = Arc::new(db.store.clone());
            contract::approvals::concurrent_decisions(store).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn questions_are_answered_once() {
        for _ in 0..3 {
            let db = Db::new().await;
            contract::questions::ask_and_answer_once(Arc::new(db.store.clone())).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_completions_each_count_once() {
        for _ in 0..3 {
            let db = Db::new().await;
            contract::batch::concurrent_completions(Arc::new(db.store.clone())).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creations_fail_alone() {
        for _ in 0..3 {
            let db = Db::new().await;
            contract::batch::concurrent_creations(Arc::new(db.store.clone())).await;
        }
    }

    /// Writes are answered only once durable, and a closed store takes no
    /// more: what was acknowledged before `close` is there after reopening.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledged_writes_survive_close_and_later_writes_fail() {
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        db.store.close().await;
        let late = contract::support::queue(
            db.dyn_store(),
            "run-1",
            serde_json::json!({"late": true}),
            None,
            None,
        )
        .await;
        assert!(late.is_err(), "a closed store writes nothing");
        let reopened = SqliteStore::open(&Db::url(&db.dir)).await.expect("reopen");
        let claimed = reopened
            .claim_runs("a", contract::support::t(20), 1_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].events.len(), 1, "only the start event");
    }

    /// Two stores on one file (two servers on one database) see the same
    /// web UI sessions, and a reopened file still has them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_are_shared_by_stores_on_one_file() {
        let db = Db::new().await;
        let other = SqliteStore::open(&Db::url(&db.dir)).await.expect("open");
        let row = agentwerke_store::sessions::SessionRow {
            id_hash: "hash".to_owned(),
            principal: "{}".to_owned(),
            csrf: "token".to_owned(),
            expires_at: contract::support::t(1_000),
        };
        db.store
            .open_session(row.clone(), contract::support::t(0))
            .await
            .unwrap();
        let seen = other.get_session("hash", contract::support::t(1)).await;
        assert_eq!(seen.unwrap(), Some(row));
        other.close_session("hash").await.unwrap();
        let gone = db.store.get_session("hash", contract::support::t(1)).await;
        assert_eq!(gone.unwrap(), None);
    }

    /// `BEGIN IMMEDIATE` plus `busy_timeout` makes concurrent writers queue:
    /// none fails with SQLITE_BUSY halfway through its transaction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_queue_instead_of_failing() {
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        let store: Arc<dyn Store> = Arc::new(db.store.clone());
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let audit = contract::support::draft(
                        "run-1",
                        "run.cancel_requested",
                        serde_json::json!({"n": n}),
                    );
                    contract::support::queue(
                        store.as_ref(),
                        "run-1",
                        serde_json::json!({"n": n}),
                        None,
                        Some(audit),
                    )
                    .await
                })
            })
            .collect();
        for writer in writers {
            assert!(writer.await.unwrap().unwrap());
        }
        let log = store.audit_log("run-1").await.unwrap();
        assert_eq!(log.len(), 33);
        agentwerke_evidence::chain::verify_chain(&log).expect("one chain, no forks");
    }

    #[tokio::test]
    async fn timers_survive_a_restart() {
        let db = Db::new().await;
        contract::timers::schedule_two(db.dyn_store()).await;
        db.store.close().await;
        assert!(db.store.health().await.is_err(), "closed means closed");
        let reopened = SqliteStore::open(&Db::url(&db.dir)).await.expect("reopen");
        contract::timers::still_scheduled(&reopened).await;
    }

    #[tokio::test]
    async fn reopening_keeps_everything_and_migrations_are_idempotent() {
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        db.store.close().await;
        let reopened = SqliteStore::open(&Db::url(&db.dir)).await.expect("reopen");
        assert!(reopened.get_run("run-1").await.unwrap().is_some());
        assert_eq!(reopened.audit_log(GLOBAL_STREAM).await.unwrap().len(), 2);
        reopened.health().await.unwrap();
    }

    /// A database made before approvals could gate a passed budget keeps
    /// its approvals through the migration that lets them (0011 rebuilds
    /// the table), and takes the new kind afterwards.
    #[tokio::test]
    async fn approvals_made_before_budget_escalations_survive_the_migration() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before");
        std::fs::create_dir(&before).unwrap();
        let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&migrations).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.as_str() < "0011" {
                std::fs::copy(&path, before.join(&name)).unwrap();
            }
        }
        let url = Db::url(&dir);
        std::fs::create_dir_all(dir.path().join("nested/data")).unwrap();
        let mut raw = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&mut raw)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO workflows VALUES ('wf', 'wf', 0, 0)",
            "INSERT INTO workflow_versions VALUES ('wf', 1, 'wf', 'draft', '<x/>', 'h', '[]', 'a', 0, NULL, NULL)",
            "INSERT INTO runs (id, workflow_id, workflow_version, bpmn_sha256, status, state, \
               requested_by, inputs, created_at, updated_at) \
             VALUES ('run-1', 'wf', 1, 'h', 'running', '{}', 'alice', '{}', 0, 0)",
            "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, \
               created_at, updated_at, consumed_at) \
             VALUES ('ap-1', 'run-1', 'w1', 'N', 'tool_escalation', '{\"tool\":\"t\"}', 'approved', 1, 2, 3)",
        ] {
            sqlx::query(sql).execute(&mut raw).await.expect(sql);
        }
        let refused = sqlx::query(
            "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, created_at, updated_at) \
             VALUES ('ap-2', 'run-1', 'w1', 'N', 'budget_escalation', '{}', 'pending', 4, 4)",
        )
        .execute(&mut raw)
        .await;
        assert!(refused.is_err(), "the old schema knows no budget approvals");
        raw.close().await.unwrap();

        let store = SqliteStore::open(&url).await.expect("migrated");
        let kept = store.get_approval("ap-1").await.unwrap().expect("kept");
        assert_eq!(kept.kind, agentwerke_types::ApprovalKind::ToolEscalation);
        assert_eq!(kept.request["tool"], "t");
        assert_eq!(kept.consumed_at.map(|t| t.as_millis()), Some(3));
        let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, created_at, updated_at) \
             VALUES ('ap-2', 'run-1', 'w1', 'N', 'budget_escalation', '{}', 'pending', 4, 4)",
        )
        .execute(&mut raw)
        .await
        .expect("the new kind");
        let pending = store.approvals_for_run("run-1").await.unwrap();
        assert_eq!(pending.len(), 2);
    }

    /// The schema itself refuses to change published versions or audit rows,
    /// whoever connects.
    #[tokio::test]
    async fn schema_guards_published_versions_and_the_audit_log() {
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        let mut raw = sqlx::SqliteConnection::connect(&Db::url(&db.dir))
            .await
            .unwrap();
        for sql in [
            "UPDATE workflow_versions SET bpmn_xml = 'x' WHERE workflow_id = 'wf' AND version = 1",
            "DELETE FROM workflow_versions WHERE workflow_id = 'wf'",
            "UPDATE audit_log SET kind = 'forged'",
            "DELETE FROM audit_log",
        ] {
            let error = sqlx::query(sql).execute(&mut raw).await.expect_err(sql);
            assert!(error.to_string().contains("agentwerke."), "{sql}: {error}");
        }
    }

    /// Rows as earlier versions wrote them (kind column, JSON body without
    /// `kind`) read back as typed records; a row that does not parse fails
    /// the whole read, naming the row but not its body, instead of being
    /// left out of the run's evidence.
    #[tokio::test]
    async fn stored_records_read_typed_and_an_unreadable_one_fails_the_read() {
        const STORED: &str = include_str!("../../evidence/tests/fixtures/stored_records.jsonl");
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        let mut raw = sqlx::SqliteConnection::connect(&Db::url(&db.dir))
            .await
            .unwrap();
        let insert = "INSERT INTO records (run_id, kind, data, created_at) VALUES (?1, ?2, ?3, 0)";
        let mut kinds = Vec::new();
        for line in STORED.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let kind = row["kind"].as_str().unwrap().to_owned();
            sqlx::query(insert)
                .bind("run-1")
                .bind(&kind)
                .bind(row["data"].to_string())
                .execute(&mut raw)
                .await
                .unwrap();
            kinds.push(kind);
        }
        let records = db.store.records("run-1").await.unwrap();
        let read: Vec<&str> = records.iter().map(|r| r.record.kind()).collect();
        assert_eq!(read, kinds);

        for (kind, body) in [
            ("tool_call", r#"{"tool": "hunter2"}"#),
            ("tool_exec", r#"{"tool": "git"}"#),
        ] {
            sqlx::query("DELETE FROM records WHERE kind IN ('tool_exec') OR data LIKE '%hunter2%'")
                .execute(&mut raw)
                .await
                .unwrap();
            let id = sqlx::query(insert)
                .bind("run-1")
                .bind(kind)
                .bind(body)
                .execute(&mut raw)
                .await
                .unwrap()
                .last_insert_rowid();
            let error = db.store.records("run-1").await.unwrap_err();
            assert_eq!(error.code(), "store.corrupt", "{kind}");
            let message = error.to_string();
            assert!(message.contains(&format!("records row {id}")), "{message}");
            assert!(message.contains(kind), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[tokio::test]
    async fn plain_paths_open_and_in_memory_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/plain.db");
        let store = SqliteStore::open(&path.display().to_string())
            .await
            .unwrap();
        store.health().await.unwrap();
        assert!(path.exists());
        contract::support::one_run(&store, "wf", "run-1").await;
        assert!(store.get_run("run-1").await.unwrap().is_some());
        // The writer and the readers are separate connections; a private
        // in-memory database would give each its own empty one.
        for url in ["sqlite::memory:", "sqlite://file.db?mode=memory"] {
            let error = SqliteStore::open(url).await.unwrap_err();
            assert_eq!(error.code(), "store.open", "{url}");
            assert!(error.to_string().contains("in-memory"), "{url}: {error}");
        }
    }

    /// The database holds run inputs: its folder, the file and the
    /// write-ahead log are the owner's alone. A clean close leaves the
    /// database whole in its one file.
    #[tokio::test]
    async fn a_new_database_is_private_and_a_clean_close_empties_the_log() {
        use std::os::unix::fs::PermissionsExt;
        let db = Db::new().await;
        contract::support::one_run(db.dyn_store(), "wf", "run-1").await;
        let data = db.dir.path().join("nested/data");
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&db.dir.path().join("nested")), 0o700);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("aw.db")), 0o600);
        let wal = data.join("aw.db-wal");
        assert_eq!(mode(&wal), 0o600);
        assert!(
            std::fs::metadata(&wal).unwrap().len() > 0,
            "writes go to the log first"
        );

        db.store.close().await;
        let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert_eq!(left, 0, "the log was checkpointed into the database file");
        let reopened = SqliteStore::open(&Db::url(&db.dir)).await.expect("reopen");
        assert!(reopened.get_run("run-1").await.unwrap().is_some());
    }

    /// Until another database is supported, its URL is refused, not taken
    /// as a file name (which made a folder called `postgres:`).
    #[tokio::test]
    async fn other_databases_are_refused_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("postgres://{}/agentwerke", dir.path().display());
        let error = SqliteStore::open(&url).await.unwrap_err();
        assert_eq!(error.code(), "store.open");
        assert!(error.to_string().contains("only SQLite"), "{error}");
        assert!(
            !error.to_string().contains("postgres://"),
            "the URL is not echoed"
        );
        let relative = SqliteStore::open("postgres://db.example/agentwerke").await;
        assert!(relative.is_err());
        assert!(!std::path::Path::new("postgres:").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
