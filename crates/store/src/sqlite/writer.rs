//! Group commit: one writer thread runs every write, many per transaction.
//!
//! With `synchronous=FULL` every `COMMIT` waits for an fsync of the WAL,
//! about a millisecond on ordinary disks, and SQLite admits one writer at a
//! time. One transaction per call therefore caps the whole system near a
//! thousand writes per second, and concurrent callers spend their time
//! sleeping in `busy_timeout` rather than writing. Instead, each write call
//! becomes a request to a single writer (a thread with its own connection).
//! It takes every request queued at that moment, runs them in one
//! `BEGIN IMMEDIATE` transaction, commits once, and only then answers the
//! callers:
//!
//! - each call is still atomic on its own: one that fails leaves no trace
//!   and the others commit without it (see [`group`] for how);
//! - nobody hears "done" before the fsync that made their write durable;
//! - if the `COMMIT` fails, nothing of the group was written and every call
//!   of the group gets the error;
//! - the calls of one group were all in flight at once, so the order the
//!   group runs them in is one valid serial order; a caller that awaits one
//!   call before making the next always sees them in separate groups.
//!
//! If the transaction becomes unusable midway (SQLite rolls back the whole
//! transaction on some I/O errors, and then a savepoint is gone), the group
//! is abandoned: every call in it is answered with an error and nothing of it
//! was written, and the connection is closed rather than reused. A caller
//! must treat that error like a crash before its write: the leases and dedup
//! keys make the retry safe.
//!
//! The writer talks to SQLite directly (rusqlite) rather than through the
//! async pool, which runs each statement on a worker thread of its own:
//! handing every statement to that thread and back would cost the one serial
//! stage of the system more than the SQL itself.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// The most calls one transaction takes, so that one group's latency stays
/// bounded when the queue is long.
const MAX_GROUP: usize = 1024;

/// Statements the writer keeps prepared; more than it has distinct ones.
const STATEMENT_CACHE: usize = 128;

/// Where a call's result goes, with the call itself: its input is dropped
/// by the caller, not by the one serial thread.
type Reply<T, F> = oneshot::Sender<(Result<T>, F)>;

/// One write call waiting for the writer.
enum Request {
    /// A write.
    Call(Box<dyn Job>),
    /// Stop: finish what is queued before, close the connection, refuse
    /// everything after.
    Close(oneshot::Sender<()>),
}

/// A write with its caller waiting.
trait Job: Send {
    /// Runs the write on the writer's connection and keeps its result; true
    /// when it succeeded. A job may run twice (see [`group`]): the second run
    /// replaces the first one's result.
    fn run(&mut self, conn: &Connection) -> bool;

    /// Forgets the result of a run that was rolled back.
    fn forget(&mut self);

    /// Answers the caller: with the call's own result when its group
    /// committed (`None`), with an error when it did not. A call that failed
    /// on its own keeps its own error; it left nothing behind either way.
    fn answer(self: Box<Self>, group_failed: Option<&str>);
}

struct Write<T, F> {
    op: F,
    reply: Reply<T, F>,
    result: Option<Result<T>>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.op)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn forget(&mut self) {
        self.result = None;
    }

    fn answer(self: Box<Self>, group_failed: Option<&str>) {
        let result = match (group_failed, self.result) {
            (Some(why), Some(Ok(_)) | None) => Err(not_written(why)),
            (None, None) => Err(not_written("the call was not run")),
            (_, Some(result)) => result,
        };
        // The caller may have gone away; the outcome stands.
        let _ = self.reply.send((result, self.op));
    }
}

/// How the writer opens its connection.
#[derive(Debug, Clone)]
pub(super) struct WriterOptions {
    /// The database file (already created and migrated).
    pub(super) path: PathBuf,
    /// How long to wait for the write lock held by another process.
    pub(super) busy_timeout: Duration,
}

/// The handle callers submit writes through. Cloning shares the one writer.
#[derive(Clone)]
pub(super) struct Writer {
    requests: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the writer's connection and starts the writer on a thread of
    /// its own. It ends when the last handle is dropped.
    pub(super) fn start(options: WriterOptions) -> Result<Self> {
        // Opened here, once, so a file that cannot be written fails the
        // store's `open` rather than its first write.
        let conn = open(&options)?;
        let (requests, queue) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("agentwerke-store-writer".to_owned())
            .spawn(move || run(options, conn, queue))
            .map_err(|error| Error::Open {
                reason: format!("cannot start the writer: {error}"),
            })?;
        Ok(Self { requests })
    }

    /// Runs `op` in the next group and returns its result once the group
    /// has committed.
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        self.request(op).await
    }

    /// Queues `op` now and returns the future of its result; queueing
    /// several before awaiting any puts them in one group.
    pub(super) fn request<T, F>(&self, op: F) -> impl Future<Output = Result<T>> + use<T, F>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            op,
            reply,
            result: None,
        };
        let queued = self.requests.send(Request::Call(Box::new(write))).is_ok();
        async move {
            if !queued {
                return Err(closed());
            }
            answer
                .await
                .map_or_else(|_| Err(closed()), |(result, _)| result)
        }
    }

    /// Runs what is already queued, then closes the writer's connection;
    /// every later write fails. Returns once the connection is closed.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send(Request::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }
}

fn closed() -> Error {
    Error::Database("the store is closed".into())
}

fn not_written(why: &str) -> Error {
    Error::Database(format!("the write was not committed: {why}").into())
}

/// Opens a connection with the settings every write relies on.
fn open(options: &WriterOptions) -> Result<Connection> {
    let opened = Connection::open_with_flags(
        &options.path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|conn| {
        conn.busy_timeout(options.busy_timeout)?;
        // WAL is a property of the file, set when the pool opened it.
        // Durable on return from COMMIT; foreign keys as the schema declares;
        // the writer touches every hot page, so let it keep them (64 MiB).
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -65536)?;
        // Every call runs in a savepoint, whose undo copies of the pages it
        // touches would otherwise go to a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // One plan per statement, whatever is bound: without this, a bound
        // value the planner may compare with a partial index's condition
        // (such as a claim's `now`) re-prepares the statement on every call.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        Ok(conn)
    });
    opened.map_err(|error| Error::Open {
        reason: format!("cannot open the writer's connection: {error}"),
    })
}

fn run(options: WriterOptions, conn: Connection, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut conn = Some(conn);
    while let Some(first) = queue.blocking_recv() {
        let mut jobs = Vec::new();
        let mut closes = Vec::new();
        let mut next = Some(first);
        while let Some(request) = next {
            match request {
                Request::Call(job) => jobs.push(job),
                Request::Close(done) => closes.push(done),
            }
            next = if jobs.len() < MAX_GROUP && closes.is_empty() {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if !jobs.is_empty() {
            let usable = match conn.take().map_or_else(|| open(&options), Ok) {
                Ok(open) => group(&open, jobs).then_some(open),
                Err(error) => {
                    refuse(jobs, &error.to_string());
                    None
                }
            };
            conn = usable;
        }
        if !closes.is_empty() {
            if let Some(open) = conn.take() {
                checkpoint(open);
            }
            queue.close();
            while let Some(request) = queue.blocking_recv() {
                match request {
                    Request::Call(job) => job.answer(Some("the store is closed")),
                    Request::Close(done) => closes.push(done),
                }
            }
            for done in closes {
                let _ = done.send(());
            }
            return;
        }
    }
}

/// Copies the write-ahead log into the database file and truncates it, then
/// closes the connection. Everything in the log is already durable; this
/// only leaves the database whole in its one file after a clean stop.
fn checkpoint(conn: Connection) {
    let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0)
    });
    match done {
        Ok(0) => {}
        Ok(_) => tracing::warn!(
            "the write-ahead log was still in use at shutdown; it is replayed on the next start"
        ),
        Err(error) => {
            tracing::warn!(%error, "cannot checkpoint the write-ahead log at shutdown; it is replayed on the next start")
        }
    }
    if let Err((_, error)) = conn.close() {
        tracing::warn!(%error, "cannot close the writer's connection cleanly");
    }
}

fn refuse(jobs: Vec<Box<dyn Job>>, why: &str) {
    tracing::error!(reason = why, "a group of writes could not start");
    for job in jobs {
        job.answer(Some(why));
    }
}

/// Runs `sql` through the statement cache: the transaction and savepoint
/// commands run for every group, and parsing them each time would be most of
/// their cost.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Runs one group in one transaction and answers every call in it. False
/// when the connection must not be used again.
///
/// Calls almost never fail, and a savepoint around each one costs a copy of
/// every page it touches, so the group first runs without them. Only when a
/// call fails is that transaction rolled back and the group run again with
/// each call in its own savepoint; then a failed call is undone alone and
/// the others commit.
fn group(conn: &Connection, mut jobs: Vec<Box<dyn Job>>) -> bool {
    let failure = match run_all(conn, &mut jobs, false) {
        Ok(true) => commit(conn),
        Ok(false) => {
            for job in &mut jobs {
                job.forget();
            }
            match exec(conn, "ROLLBACK") {
                Err(error) => Some(format!("the rollback failed: {error}")),
                Ok(()) => match run_all(conn, &mut jobs, true) {
                    Ok(_) => commit(conn),
                    Err(why) => Some(why),
                },
            }
        }
        Err(why) => Some(why),
    };
    if let Some(why) = &failure {
        let _ = conn.execute_batch("ROLLBACK");
        tracing::error!(
            reason = why,
            calls = jobs.len(),
            "a group of writes was not committed"
        );
    }
    for job in jobs {
        job.answer(failure.as_deref());
    }
    failure.is_none()
}

/// Begins the group's transaction and runs its calls, each in a savepoint
/// when `savepoints`, otherwise stopping at the first failure. Ok(true) when
/// every call succeeded; Err when the transaction cannot go on.
fn run_all(conn: &Connection, jobs: &mut [Box<dyn Job>], savepoints: bool) -> Result<bool, String> {
    exec(conn, "BEGIN IMMEDIATE").map_err(|error| format!("no write transaction: {error}"))?;
    let broke = |error: rusqlite::Error| format!("the transaction broke off: {error}");
    let mut all_ok = true;
    for job in jobs {
        if !savepoints {
            if !job.run(conn) {
                return Ok(false);
            }
            continue;
        }
        exec(conn, "SAVEPOINT one").map_err(broke)?;
        if job.run(conn) {
            exec(conn, "RELEASE one").map_err(broke)?;
        } else {
            all_ok = false;
            exec(conn, "ROLLBACK TO one")
                .and_then(|()| exec(conn, "RELEASE one"))
                .map_err(broke)?;
        }
    }
    Ok(all_ok)
}

/// Commits the group's transaction; the reason when that failed.
fn commit(conn: &Connection) -> Option<String> {
    exec(conn, "COMMIT")
        .err()
        .map(|error| format!("the commit failed: {error}"))
}
