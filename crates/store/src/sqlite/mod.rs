//! The SQLite implementation of [`Store`].
//!
//! SQLite has one writer at a time. Every write transaction starts with
//! `BEGIN IMMEDIATE`, which takes the write lock up front: concurrent writers
//! queue on `busy_timeout` instead of failing with `SQLITE_BUSY` halfway
//! through, and a read-then-write inside the transaction (the audit chain
//! head, an approval's status) can never be invalidated by another writer.
//! Reads go straight to the pool and see the last committed snapshot (WAL).
//!
//! Each area's SQL lives in its own module; a PostgreSQL implementation gets
//! a sibling `postgres` module with the same layout.

mod approvals;
mod audit;
mod messages;
mod ops;
mod rows;
mod runs;
mod timers;
mod work;
mod workflows;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use agentwerke_evidence::chain::{AuditDraft, AuditRecord};
use agentwerke_types::Timestamp;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::{Error, Result};
use crate::model::{
    ApprovalFilter, ApprovalRow, ClaimedRun, Commit, CompleteWork, Decide, Delivery,
    DeliveryOutcome, EvidenceRecord, NewRun, NewWorkflowVersion, Page, RunFilter, RunRow, TimerRow,
    WorkItem, WorkflowSummary, WorkflowVersion,
};
use crate::store::Store;

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per file: WAL readers run in parallel, writers queue.
const MAX_CONNECTIONS: u32 = 8;

/// The embedded migrations; applied by [`SqliteStore::open`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A [`Store`] on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its folder when missing) and migrates the
    /// database at `url_or_path`: a `sqlite://` URL or a plain file path.
    pub async fn open(url_or_path: &str) -> Result<Self> {
        let options = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path).map_err(|_| Error::Open {
                reason: "the database URL is not a valid sqlite:// URL".to_owned(),
            })?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            create_folder(parent)?;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|error| Error::Open {
                reason: error.to_string(),
            })?;
        Self::migrated(pool).await
    }

    /// A private in-memory database on a single connection, for quick tests.
    /// Prefer [`SqliteStore::open`] on a temporary file: it exercises WAL and
    /// concurrent connections like production does.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|error| Error::Open {
                reason: error.to_string(),
            })?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self> {
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail. Lets a test reopen the
    /// same file the way a restarted process would.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn create_folder(folder: &Path) -> Result<()> {
    std::fs::create_dir_all(folder).map_err(|error| Error::Open {
        reason: format!("cannot create the folder {}: {error}", folder.display()),
    })
}

/// Starts a write transaction holding SQLite's write lock (see module docs).
pub(crate) async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
}

/// JSON columns are TEXT written by serde_json.
pub(crate) fn json_text(value: &Value) -> String {
    value.to_string()
}

/// Parses a JSON column, naming it when it does not parse.
pub(crate) fn parse_json(text: &str, what: impl FnOnce() -> String) -> Result<Value> {
    serde_json::from_str(text).map_err(|_| Error::Corrupt { what: what() })
}

/// A length or limit as the `INTEGER` SQLite binds.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_workflow_version(&self, new: NewWorkflowVersion) -> Result<WorkflowVersion> {
        workflows::create_version(&self.pool, new).await
    }

    async fn publish_workflow_version(
        &self,
        workflow_id: &str,
        version: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<WorkflowVersion> {
        workflows::publish(&self.pool, workflow_id, version, by, at).await
    }

    async fn list_workflows(&self) -> Result<Vec<WorkflowSummary>> {
        workflows::list(&self.pool).await
    }

    async fn get_workflow(&self, id: &str) -> Result<Option<WorkflowSummary>> {
        workflows::get(&self.pool, id).await
    }

    async fn list_versions(&self, id: &str) -> Result<Vec<WorkflowVersion>> {
        workflows::versions(&self.pool, id).await
    }

    async fn get_version(&self, id: &str, version: i64) -> Result<Option<WorkflowVersion>> {
        workflows::version(&mut *self.pool.acquire().await?, id, version).await
    }

    async fn latest_published(&self, id: &str) -> Result<Option<WorkflowVersion>> {
        workflows::latest_published(&self.pool, id).await
    }

    async fn create_run(&self, run: NewRun, start_event: Value, audit: AuditDraft) -> Result<()> {
        runs::create(&self.pool, run, start_event, audit).await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRow>> {
        runs::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn list_runs(&self, filter: RunFilter) -> Result<Page<RunRow>> {
        runs::list(&self.pool, filter).await
    }

    async fn enqueue_event(
        &self,
        run_id: &str,
        event: Value,
        dedup_key: Option<String>,
        audit: Option<AuditDraft>,
    ) -> Result<bool> {
        runs::enqueue(&self.pool, run_id, event, dedup_key, audit).await
    }

    async fn claim_runs(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>> {
        runs::claim(&self.pool, owner, now, lease_ms, limit).await
    }

    async fn commit_run(&self, commit: Commit) -> Result<()> {
        runs::commit(&self.pool, commit).await
    }

    async fn claim_work(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>> {
        work::claim(&self.pool, owner, now, lease_ms, limit).await
    }

    async fn extend_work_lease(
        &self,
        run_id: &str,
        work_id: &str,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<()> {
        work::extend_lease(&self.pool, run_id, work_id, owner, now, lease_ms).await
    }

    async fn complete_work(&self, done: CompleteWork) -> Result<bool> {
        work::complete(&self.pool, done).await
    }

    async fn pending_work_for_run(&self, run_id: &str) -> Result<Vec<WorkItem>> {
        work::pending_for_run(&self.pool, run_id).await
    }

    async fn fire_due_timers(&self, now: Timestamp, limit: usize) -> Result<usize> {
        timers::fire_due(&self.pool, now, limit).await
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        timers::next_due(&self.pool).await
    }

    async fn timers_for_run(&self, run_id: &str) -> Result<Vec<TimerRow>> {
        timers::for_run(&self.pool, run_id).await
    }

    async fn list_approvals(&self, filter: ApprovalFilter) -> Result<Vec<ApprovalRow>> {
        approvals::list(&self.pool, filter).await
    }

    async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRow>> {
        approvals::get(&mut *self.pool.acquire().await?, id).await
    }

    async fn decide_approval(&self, decide: Decide) -> Result<ApprovalRow> {
        approvals::decide(&self.pool, decide).await
    }

    async fn approvals_for_run(&self, run_id: &str) -> Result<Vec<ApprovalRow>> {
        approvals::list(
            &self.pool,
            ApprovalFilter {
                status: None,
                run_id: Some(run_id.to_owned()),
            },
        )
        .await
    }

    async fn deliver_message(&self, delivery: Delivery) -> Result<DeliveryOutcome> {
        messages::deliver(&self.pool, delivery).await
    }

    async fn audit_log(&self, run_id: &str) -> Result<Vec<AuditRecord>> {
        audit::log(&self.pool, run_id).await
    }

    async fn records(&self, run_id: &str) -> Result<Vec<EvidenceRecord>> {
        ops::records(&self.pool, run_id).await
    }

    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
