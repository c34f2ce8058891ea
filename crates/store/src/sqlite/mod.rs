//! The SQLite implementation of [`Store`].
//!
//! SQLite has one writer at a time, so this store has exactly one: every
//! write call is a request to the [`writer`] thread, which runs the requests
//! queued at that moment in one `BEGIN IMMEDIATE` transaction, each call its
//! own all-or-nothing unit, and commits them together (group commit: one
//! fsync for many calls). The write lock is
//! taken up front, so a read-then-write inside a call (the audit chain head,
//! an approval's status) can never be invalidated by another writer; another
//! process writing the same file queues on `busy_timeout`. Reads go straight
//! to the pool (sqlx) and see the last committed snapshot (WAL); writes are
//! plain functions on the writer's own connection (rusqlite).
//!
//! Each area's SQL lives in its own module; a PostgreSQL implementation gets
//! a sibling `postgres` module with the same layout.

mod approvals;
mod audit;
mod calls;
mod gateway;
mod messages;
mod nodes;
mod ops;
mod questions;
mod rows;
mod runs;
mod secrets;
mod sessions;
mod timers;
mod txn;
mod usage;
mod work;
mod workflows;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use agentwerke_evidence::chain::AuditRecord;
use agentwerke_types::{Timestamp, ToolCallId};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::calls::{Begun, ToolCallIntent, ToolCallOutcome, ToolCallRow};
use crate::change::{Change, Committed};
use crate::error::{Error, Result};
use crate::gateway::{ArtifactRow, HaltRow, PolicySetRow};
use crate::model::{
    ApprovalFilter, ApprovalRow, ClaimedRun, Commit, EvidenceRecord, Page, PageRequest,
    QuestionFilter, QuestionRow, RunFilter, RunRow, TimerRow, WorkItem, WorkflowSummary,
    WorkflowVersion,
};
use crate::secrets::{SealedSecretRow, SecretRow};
use crate::store::Store;
use writer::{Writer, WriterOptions};

/// How long a writer waits for the write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per file: WAL readers run in parallel, writers queue.
const MAX_CONNECTIONS: u32 = 8;

/// The embedded migrations; applied by [`SqliteStore::open`].
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The page size of new database files (see [`SqliteStore::open`]).
const PAGE_SIZE: u32 = 8192;

/// A [`Store`] on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
}

impl SqliteStore {
    /// Opens (creating the file and its folder when missing) and migrates the
    /// database at `url_or_path`: a `sqlite://` URL or a plain file path.
    pub async fn open(url_or_path: &str) -> Result<Self> {
        if url_or_path.contains(":memory:") || url_or_path.contains("mode=memory") {
            return Err(Error::Open {
                reason: "an in-memory database cannot be used: the writer and the readers \
                         are separate connections and need one file to share"
                    .to_owned(),
            });
        }
        if !url_or_path.starts_with("sqlite:") && url_or_path.contains("://") {
            return Err(Error::Open {
                reason: "only SQLite is supported: the URL names another kind of database \
                         (use a sqlite:// URL or a file path)"
                    .to_owned(),
            });
        }
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
        create_private_file(options.get_filename())?;
        // 8 KiB pages, for files created from now on (a file keeps the page
        // size it was made with). Each write touches about the same number
        // of pages whatever their size, so fewer, larger pages cost the one
        // writer less: measured with the throughput bench, its CPU per run
        // fell by about a tenth against 4 KiB at the same bytes written.
        let options = options
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A local file has no connection to lose: skip the ping that
            // would otherwise cost every acquire a round trip.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(|error| Error::Open {
                reason: error.to_string(),
            })?;
        MIGRATOR.run(&pool).await?;
        let writer = Writer::start(WriterOptions {
            path: options.get_filename().to_owned(),
            busy_timeout: BUSY_TIMEOUT,
        })?;
        Ok(Self { pool, writer })
    }

    /// The journal mode and `synchronous` level as a connection of this store
    /// reports them, e.g. `journal_mode=wal, synchronous=FULL`. Read back from
    /// SQLite rather than restated, so diagnostics and benchmarks show what
    /// durability is really in force.
    pub async fn durability(&self) -> Result<String> {
        let (mode, level) = self
            .writer
            .write(|conn| {
                let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
                let level: i64 = conn.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
                Ok((mode, level))
            })
            .await?;
        let level = match level {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            3 => "EXTRA",
            _ => "unknown",
        };
        Ok(format!("journal_mode={mode}, synchronous={level}"))
    }

    /// Closes every connection; later calls fail. The readers close first,
    /// so the writer's last act can copy the whole write-ahead log into the
    /// database file and empty it: after a clean stop the database is one
    /// self-contained file. Lets a test reopen the same file the way a
    /// restarted process would.
    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }
}

/// Creates the database's folder (and missing parents) readable by the
/// owner only: the database holds run inputs and outputs.
fn create_folder(folder: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .map_err(|error| Error::Open {
            reason: format!("cannot create the folder {}: {error}", folder.display()),
        })
}

/// Creates the database file empty with mode 0600 when it does not exist.
/// SQLite gives its `-wal` and `-shm` files the mode of the database file,
/// so they are owner-only too; left to SQLite, all three would be created
/// with the process umask (usually 0644).
fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(Error::Open {
            reason: format!("cannot create {}: {error}", path.display()),
        }),
    }
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
    async fn list_workflows(&self) -> Result<Vec<WorkflowSummary>> {
        workflows::list(&self.pool).await
    }

    async fn page_workflows(&self, page: PageRequest) -> Result<Page<WorkflowSummary>> {
        workflows::page(&self.pool, page).await
    }

    async fn get_workflow(&self, id: &str) -> Result<Option<WorkflowSummary>> {
        workflows::get(&self.pool, id).await
    }

    async fn page_versions(&self, id: &str, page: PageRequest) -> Result<Page<WorkflowVersion>> {
        workflows::page_versions(&self.pool, id, page).await
    }

    async fn get_version(&self, id: &str, version: i64) -> Result<Option<WorkflowVersion>> {
        workflows::version(&self.pool, id, version).await
    }

    async fn latest_published(&self, id: &str) -> Result<Option<WorkflowVersion>> {
        workflows::latest_published(&self.pool, id).await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRow>> {
        runs::get(&self.pool, id).await
    }

    async fn get_run_with_approvals(&self, id: &str) -> Result<Option<(RunRow, Vec<ApprovalRow>)>> {
        // One read transaction: both reads see the same WAL snapshot.
        let mut tx = self.pool.begin().await?;
        let Some(run) = runs::get(&mut *tx, id).await? else {
            return Ok(None);
        };
        let filter = ApprovalFilter {
            status: None,
            run_id: Some(id.to_owned()),
        };
        let approvals = approvals::list(&mut *tx, filter).await?;
        tx.commit().await?;
        Ok(Some((run, approvals)))
    }

    async fn list_runs(&self, filter: RunFilter) -> Result<Page<RunRow>> {
        runs::list(&self.pool, filter).await
    }

    async fn claim_runs(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>> {
        let owner = owner.to_owned();
        self.writer
            .write(move |conn| runs::claim(conn, &owner, now, lease_ms, limit))
            .await?
            .parse()
    }

    async fn commit_run(&self, commit: Commit) -> Result<()> {
        let call = runs::CommitCall::new(commit);
        self.writer
            .write(move |conn| runs::commit(conn, &call))
            .await
    }

    async fn commit_runs(&self, commits: Vec<Commit>) -> Vec<Result<()>> {
        // Queued together, so they land in the same group and share its fsync.
        let queued: Vec<_> = commits
            .into_iter()
            .map(|commit| {
                let call = runs::CommitCall::new(commit);
                self.writer.request(move |conn| runs::commit(conn, &call))
            })
            .collect();
        let mut results = Vec::with_capacity(queued.len());
        for result in queued {
            results.push(result.await);
        }
        results
    }

    async fn claim_work(
        &self,
        owner: &str,
        now: Timestamp,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>> {
        let owner = owner.to_owned();
        self.writer
            .write(move |conn| work::claim(conn, &owner, now, lease_ms, limit))
            .await
            .and_then(rows::convert)
    }

    async fn extend_work_lease(
        &self,
        run_id: &str,
        work_id: &str,
        owner: &str,
        claim: i64,
        now: Timestamp,
        lease_ms: i64,
    ) -> Result<()> {
        let (run_id, work_id, owner) = (run_id.to_owned(), work_id.to_owned(), owner.to_owned());
        self.writer
            .write(move |conn| {
                work::extend_lease(conn, &run_id, &work_id, &owner, claim, now, lease_ms)
            })
            .await
    }

    async fn pending_work_for_run(&self, run_id: &str) -> Result<Vec<WorkItem>> {
        work::pending_for_run(&self.pool, run_id).await
    }

    async fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<TimerRow>> {
        timers::due(&self.pool, now, limit).await
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

    async fn page_approvals(
        &self,
        filter: ApprovalFilter,
        page: PageRequest,
    ) -> Result<Page<ApprovalRow>> {
        approvals::page(&self.pool, filter, page).await
    }

    async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRow>> {
        approvals::get(&self.pool, id).await
    }

    async fn commit(&self, change: Change) -> Result<Committed> {
        let call = txn::ChangeCall::new(change)?;
        let (rows, delivered, audit) = self
            .writer
            .write(move |conn| txn::commit(conn, &call))
            .await?;
        txn::parse(rows, delivered, audit)
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

    async fn audit_log(&self, run_id: &str) -> Result<Vec<AuditRecord>> {
        audit::log(&self.pool, run_id).await
    }

    async fn audit_page(&self, stream: &str, after: u64, limit: u32) -> Result<Page<AuditRecord>> {
        audit::page(&self.pool, stream, after, limit).await
    }

    async fn records(&self, run_id: &str) -> Result<Vec<EvidenceRecord>> {
        ops::records(&self.pool, run_id).await
    }

    async fn list_policy_sets(&self) -> Result<Vec<PolicySetRow>> {
        gateway::list_policy_sets(&self.pool).await
    }

    async fn page_policy_sets(&self, page: PageRequest) -> Result<Page<PolicySetRow>> {
        gateway::page_policy_sets(&self.pool, page).await
    }

    async fn get_policy_set(&self, version: i64) -> Result<Option<PolicySetRow>> {
        gateway::get_policy_set(&self.pool, version).await
    }

    async fn active_policy_set(&self) -> Result<Option<PolicySetRow>> {
        gateway::active_policy_set(&self.pool).await
    }

    async fn halts(&self) -> Result<Vec<HaltRow>> {
        gateway::halts(&self.pool).await
    }

    async fn page_halts(&self, page: PageRequest) -> Result<Page<HaltRow>> {
        gateway::page_halts(&self.pool, page).await
    }

    async fn put_artifact(
        &self,
        meta: ArtifactRow,
        content: Vec<u8>,
        call_id: &ToolCallId,
        at: Timestamp,
    ) -> Result<bool> {
        let call_id = call_id.clone();
        self.writer
            .write(move |conn| gateway::put_artifact(conn, &meta, &content, &call_id, at))
            .await
    }

    async fn get_artifact(&self, run_id: &str, sha256: &str) -> Result<Option<Vec<u8>>> {
        gateway::get_artifact(&self.pool, run_id, sha256).await
    }

    async fn find_artifact(&self, run_id: &str, path: &str) -> Result<Option<ArtifactRow>> {
        gateway::find_artifact(&self.pool, run_id, path).await
    }

    async fn begin_tool_call(&self, intent: ToolCallIntent) -> Result<Begun> {
        self.writer
            .write(move |conn| txn::begin_tool_call(conn, &intent))
            .await
    }

    async fn finish_tool_call(&self, outcome: ToolCallOutcome) -> Result<bool> {
        self.writer
            .write(move |conn| calls::finish(conn, &outcome))
            .await
    }

    async fn tool_calls_for_run(&self, run_id: &str) -> Result<Vec<ToolCallRow>> {
        calls::for_run(&self.pool, run_id).await
    }

    async fn list_questions(&self, filter: QuestionFilter) -> Result<Vec<QuestionRow>> {
        questions::list(&self.pool, filter).await
    }

    async fn page_questions(
        &self,
        filter: QuestionFilter,
        page: PageRequest,
    ) -> Result<Page<QuestionRow>> {
        questions::page(&self.pool, filter, page).await
    }

    async fn get_question(&self, id: &str) -> Result<Option<QuestionRow>> {
        questions::get(&self.pool, id).await
    }

    async fn due_expiries(&self, now: Timestamp) -> Result<Vec<ApprovalRow>> {
        gateway::due_expiries(&self.pool, now).await
    }

    async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
    async fn get_timer(&self, run_id: &str, timer_id: &str) -> Result<Option<TimerRow>> {
        timers::get(&self.pool, run_id, timer_id).await
    }

    async fn secrets(&self) -> Result<Vec<SecretRow>> {
        secrets::list(&self.pool).await
    }

    async fn get_secret(&self, name: &str) -> Result<Option<SecretRow>> {
        secrets::get(&self.pool, name).await
    }

    async fn sealed_secrets(&self) -> Result<Vec<SealedSecretRow>> {
        secrets::sealed(&self.pool).await
    }

    async fn model_spend(&self, run_id: &str, work_id: &str) -> Result<crate::usage::SpendTotals> {
        usage::spend(&self.pool, run_id, work_id).await
    }

    async fn open_session(
        &self,
        session: crate::sessions::SessionRow,
        now: Timestamp,
    ) -> Result<()> {
        self.writer
            .write(move |conn| sessions::open(conn, &session, now))
            .await
    }

    async fn get_session(
        &self,
        id_hash: &str,
        now: Timestamp,
    ) -> Result<Option<crate::sessions::SessionRow>> {
        sessions::get(&self.pool, id_hash, now).await
    }

    async fn close_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_owned();
        self.writer
            .write(move |conn| sessions::close(conn, &id_hash))
            .await
    }

    async fn run_nodes(&self, run_id: &str) -> Result<Vec<crate::model::NodeRow>> {
        nodes::for_run(&self.pool, run_id).await
    }

    async fn audit_head(&self, stream: &str) -> Result<u64> {
        audit::head_seq(&self.pool, stream).await
    }
}
