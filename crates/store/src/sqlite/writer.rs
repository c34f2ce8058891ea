//! Group commit: one writer thread runs every write, many per transaction.
//!
//! With `synchronous=FULL` every `COMMIT` waits for an fsync of the WAL,
//! about a millisecond on ordinary disks, and SQLite admits one writer at a
//! time. One transaction per call therefore caps the whole system near a
//! thousand writes per second, and concurrent callers spend their time
//! sleeping in `busy_timeout` rather than writing. Instead, each write call
//! becomes a request to a single writer (a thread with its own connection).
//! It takes every request queued at that moment, runs them in one `BEGIN IMMEDIATE` transaction,
//! commits once, and only then answers the callers:
//!
//! - each call is still atomic on its own: it runs in its own savepoint (or,
//!   for the hot calls, as part of a [`batch`](super::batch) that falls back
//!   to exactly that), so one that fails leaves no trace and the others
//!   commit without it;
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

use std::future::Future;
use std::pin::Pin;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::batch::{self, Broken, Savepoint, creates::NewRunCall};
use crate::error::{Error, Result};
use crate::model::{ApprovalRow, Commit, CompleteWork, Decide};

/// The most calls one transaction takes, so that one group's latency stays
/// bounded when the queue is long.
const MAX_GROUP: usize = 1024;

/// A boxed future borrowing the writer's connection.
pub(super) type Step<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// Where a call's result goes.
pub(super) type Reply<T> = oneshot::Sender<Result<T>>;

/// One write call waiting for the writer.
pub(super) enum Request {
    /// Any write, run alone in its savepoint.
    One(Box<dyn Job>),
    /// `create_run`, batched with the others of its group.
    CreateRun(Box<NewRunCall>, Reply<()>),
    /// `commit_run`, batched.
    Commit(Box<Commit>, Reply<()>),
    /// `complete_work`, batched.
    Complete(Box<CompleteWork>, Reply<bool>),
    /// `decide_approval`, batched.
    Decide(Box<Decide>, Reply<ApprovalRow>),
    /// Stop: finish what is queued before, close the connection, refuse
    /// everything after.
    Close(oneshot::Sender<()>),
}

/// A write that is run alone, with the caller waiting for it.
pub(super) trait Job: Send {
    /// Runs the write on the writer's connection (inside its savepoint).
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> Step<'c, Answer>;

    /// Answers the caller without running: the write never happened.
    fn refuse(self: Box<Self>, why: &str);
}

/// Sends a held result: `None` when its group committed, the reason when
/// it did not.
type Deliver = Box<dyn FnOnce(Option<&str>) + Send>;

/// A call's result, held until the group's fate is known.
pub(super) struct Answer {
    ok: bool,
    send: Deliver,
}

impl Answer {
    fn new<T: Send + 'static>(result: Result<T>, reply: Reply<T>) -> Self {
        Self {
            ok: result.is_ok(),
            send: Box::new(move |group_failed: Option<&str>| {
                let result = match (group_failed, result) {
                    (Some(why), Ok(_)) => Err(not_written(why)),
                    (_, result) => result,
                };
                // The caller may have gone away; the outcome stands.
                let _ = reply.send(result);
            }),
        }
    }

    /// Answers the caller: with the call's own result when the group
    /// committed (`None`), with an error when it did not.
    fn send(self, group_failed: Option<&str>) {
        (self.send)(group_failed);
    }
}

struct Write<T, F> {
    op: F,
    reply: Reply<T>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> Step<'c, Result<T>> + Send + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> Step<'c, Answer> {
        let Write { op, reply } = *self;
        Box::pin(async move { Answer::new(op(conn).await, reply) })
    }

    fn refuse(self: Box<Self>, why: &str) {
        let _ = self.reply.send(Err(not_written(why)));
    }
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
    /// Starts the writer on a thread of its own. It ends when the last
    /// handle is dropped.
    pub(super) fn start(source: Source) -> Result<Self> {
        let (requests, queue) = mpsc::unbounded_channel();
        // Its own thread and runtime: every statement is a round trip to
        // SQLite's thread, and on a shared runtime each answer would wait
        // behind whatever CPU-heavy task (engine steps, JSON) holds the
        // workers. The writer is the one serial stage; it must not queue.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| Error::Open {
                reason: format!("cannot start the writer: {error}"),
            })?;
        std::thread::Builder::new()
            .name("agentwerke-store-writer".to_owned())
            .spawn(move || runtime.block_on(run(source, queue)))
            .map_err(|error| Error::Open {
                reason: format!("cannot start the writer: {error}"),
            })?;
        Ok(Self { requests })
    }

    /// Runs `op` alone in the next group and returns its result once the
    /// group has committed.
    pub(super) async fn write<T, F>(&self, op: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> Step<'c, Result<T>> + Send + 'static,
    {
        self.request(|reply| Request::One(Box::new(Write { op, reply })))
            .await
    }

    /// Runs what is already queued, then closes the writer's connection;
    /// every later write fails. Returns once the connection is closed.
    pub(super) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send(Request::Close(done)).is_ok() {
            let _ = closed.await;
        }
    }

    /// Queues the request `make` builds now and returns the future of its
    /// result; queueing several before awaiting any puts them in one group.
    pub(super) fn request<T, M>(&self, make: M) -> impl Future<Output = Result<T>> + use<T, M>
    where
        T: Send + 'static,
        M: FnOnce(Reply<T>) -> Request,
    {
        let (reply, answer) = oneshot::channel::<Result<T>>();
        let queued = self.requests.send(make(reply)).is_ok();
        async move {
            if !queued {
                return Err(closed());
            }
            answer.await.unwrap_or_else(|_| Err(closed()))
        }
    }
}

fn closed() -> Error {
    Error::Database(sqlx::Error::PoolClosed)
}

fn not_written(why: &str) -> Error {
    Error::Database(sqlx::Error::Protocol(format!(
        "the write was not committed: {why}"
    )))
}

/// Where the writer's connection comes from.
pub(super) enum Source {
    /// Its own connection, opened with these options and reopened after a
    /// failure. Owning it keeps its page cache warm: no other connection
    /// writes, so nothing invalidates the pages it has read.
    Dedicated(Box<SqliteConnectOptions>),
    /// A connection borrowed from the pool for each group: an in-memory
    /// database exists only on its pool's one connection.
    Pool(SqlitePool),
}

async fn run(source: Source, mut queue: mpsc::UnboundedReceiver<Request>) {
    let mut own: Option<SqliteConnection> = None;
    let mut requests = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut requests, MAX_GROUP).await > 0 {
        let mut sorted = Sorted::new(std::mem::take(&mut requests));
        let closes = std::mem::take(&mut sorted.closes);
        if !sorted.is_empty() {
            write_group(&source, &mut own, sorted).await;
        }
        if !closes.is_empty() {
            if let Some(conn) = own.take() {
                let _ = conn.close().await;
            }
            queue.close();
            while let Some(request) = queue.recv().await {
                Sorted::new(vec![request]).refuse("the store is closed");
            }
            for done in closes {
                let _ = done.send(());
            }
            return;
        }
    }
}

/// Runs one group on the writer's connection, opening or dropping it as
/// needed.
async fn write_group(source: &Source, own: &mut Option<SqliteConnection>, sorted: Sorted) {
    match source {
        Source::Dedicated(options) => {
            let mut conn = match own.take() {
                Some(conn) => conn,
                None => match SqliteConnection::connect_with(options).await {
                    Ok(conn) => conn,
                    Err(error) => return start_failed(sorted, &error),
                },
            };
            if group(&mut conn, sorted).await {
                *own = Some(conn);
            }
        }
        Source::Pool(pool) => match pool.acquire().await {
            Ok(mut conn) => {
                if !group(&mut conn, sorted).await {
                    conn.close_on_drop();
                }
            }
            Err(error) => start_failed(sorted, &error),
        },
    }
}

/// The requests of one group, sorted by kind.
#[derive(Default)]
struct Sorted {
    creates: Vec<(NewRunCall, Reply<()>)>,
    commits: Vec<(Commit, Reply<()>)>,
    completes: Vec<(CompleteWork, Reply<bool>)>,
    decides: Vec<(Decide, Reply<ApprovalRow>)>,
    ones: Vec<Box<dyn Job>>,
    closes: Vec<oneshot::Sender<()>>,
}

impl Sorted {
    fn new(requests: Vec<Request>) -> Self {
        let mut sorted = Self::default();
        for request in requests {
            match request {
                Request::One(job) => sorted.ones.push(job),
                Request::CreateRun(call, reply) => sorted.creates.push((*call, reply)),
                Request::Commit(commit, reply) => sorted.commits.push((*commit, reply)),
                Request::Complete(done, reply) => sorted.completes.push((*done, reply)),
                Request::Decide(decide, reply) => sorted.decides.push((*decide, reply)),
                Request::Close(done) => sorted.closes.push(done),
            }
        }
        sorted
    }

    fn is_empty(&self) -> bool {
        self.creates.is_empty()
            && self.commits.is_empty()
            && self.completes.is_empty()
            && self.decides.is_empty()
            && self.ones.is_empty()
    }

    fn refuse(self, why: &str) {
        for done in self.closes {
            let _ = done.send(());
        }
        refuse_all(self.creates, why);
        refuse_all(self.commits, why);
        refuse_all(self.completes, why);
        refuse_all(self.decides, why);
        for job in self.ones {
            job.refuse(why);
        }
    }
}

fn refuse_all<I, T>(calls: Vec<(I, Reply<T>)>, why: &str) {
    for (_, reply) in calls {
        let _ = reply.send(Err(not_written(why)));
    }
}

/// Runs one group in one transaction and answers every call in it. False
/// when the connection must not be used again.
async fn group(conn: &mut SqliteConnection, sorted: Sorted) -> bool {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(error) => {
            start_failed(sorted, &error);
            return false;
        }
    };
    let mut answers = Vec::new();
    let ran = run_sorted(&mut tx, sorted, &mut answers).await;
    let failure = match ran {
        Err(Broken(why)) => Some(format!("the transaction broke off: {why}")),
        Ok(()) => tx
            .commit()
            .await
            .err()
            .map(|error| format!("the commit failed: {error}")),
    };
    if let Some(why) = &failure {
        tracing::error!(
            reason = why,
            calls = answers.len(),
            "a group of writes was not committed"
        );
    }
    for answer in answers {
        answer.send(failure.as_deref());
    }
    failure.is_none()
}

fn start_failed(sorted: Sorted, error: &sqlx::Error) {
    let why = format!("no write transaction: {error}");
    tracing::error!(reason = why, "a group of writes could not start");
    sorted.refuse(&why);
}

/// Runs every call of a group, collecting the answers. On `Broken`, the
/// calls not yet run are refused and the caller abandons the group.
async fn run_sorted(
    conn: &mut SqliteConnection,
    mut rest: Sorted,
    answers: &mut Vec<Answer>,
) -> Result<(), Broken> {
    // Creations first: later calls of the group may then see the new runs.
    let (calls, replies) = std::mem::take(&mut rest.creates).into_iter().unzip();
    let results = batch::creates::write(conn, calls).await;
    collect(results, replies, answers).inspect_err(|Broken(why)| {
        std::mem::take(&mut rest).refuse(why);
    })?;
    let (calls, replies) = std::mem::take(&mut rest.decides).into_iter().unzip();
    let results = batch::decides::write(conn, calls).await;
    collect(results, replies, answers).inspect_err(|Broken(why)| {
        std::mem::take(&mut rest).refuse(why);
    })?;
    let (calls, replies) = std::mem::take(&mut rest.completes).into_iter().unzip();
    let results = batch::completes::write(conn, calls).await;
    collect(results, replies, answers).inspect_err(|Broken(why)| {
        std::mem::take(&mut rest).refuse(why);
    })?;
    let (calls, replies) = std::mem::take(&mut rest.commits).into_iter().unzip();
    let results = batch::commits::write(conn, calls).await;
    collect(results, replies, answers).inspect_err(|Broken(why)| {
        std::mem::take(&mut rest).refuse(why);
    })?;
    let mut ones = std::mem::take(&mut rest.ones).into_iter();
    while let Some(job) = ones.next() {
        if let Err(Broken(why)) = batch::savepoint(conn, Savepoint::One).await {
            job.refuse(&why);
            for job in ones {
                job.refuse(&why);
            }
            return Err(Broken(why));
        }
        let answer = job.run(conn).await;
        let ended = batch::end(conn, Savepoint::One, answer.ok).await;
        answers.push(answer);
        if let Err(Broken(why)) = ended {
            for job in ones {
                job.refuse(&why);
            }
            return Err(Broken(why));
        }
    }
    Ok(())
}

/// Pairs a batch's results with their replies. A broken batch refuses its
/// own calls (none of them was written) and passes `Broken` on.
fn collect<T: Send + 'static>(
    results: Result<Vec<Result<T>>, Broken>,
    replies: Vec<Reply<T>>,
    answers: &mut Vec<Answer>,
) -> Result<(), Broken> {
    match results {
        Ok(results) => {
            answers.extend(
                results
                    .into_iter()
                    .zip(replies)
                    .map(|(result, reply)| Answer::new(result, reply)),
            );
            Ok(())
        }
        Err(Broken(why)) => {
            for reply in replies {
                let _ = reply.send(Err(not_written(&why)));
            }
            Err(Broken(why))
        }
    }
}
