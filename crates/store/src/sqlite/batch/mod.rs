//! Set-based writes for the calls that arrive in bulk.
//!
//! The [`writer`](super::writer) hands each kind of hot call (run creations,
//! engine commits, work completions, approval decisions) over as one batch.
//! Each batch module writes its calls the same way:
//!
//! 1. **Plan.** Check in memory and with a few set-based reads which calls are
//!    the plain case: the checks a single call would make all pass, and no
//!    two calls in the batch touch the same row. Only those take the fast
//!    path.
//! 2. **Fast path.** Write all planned calls with one statement per table
//!    (rows passed as a JSON array to `json_each`), inside a savepoint. Every
//!    statement's row count is checked; if anything is off, or a statement
//!    fails, the savepoint is rolled back and those calls go the slow way.
//! 3. **Slow path.** Every other call runs alone through the ordinary
//!    single-call function, in its own savepoint, exactly as it would outside
//!    a batch, so it fails (or succeeds) with the same error and effect.
//!
//! Statements cost a round trip to SQLite's thread each; a batch of 64
//! commits costs about ten instead of about six hundred. The slow path keeps
//! every rule in one place: the fast path is only ever an equivalent shortcut
//! for calls that the plan proved need no decision beyond "write it".
//!
//! Calls in one batch were concurrent (the writer only ever groups calls that
//! are in flight together), so any order among them is a valid serial order.

pub(super) mod commits;
pub(super) mod completes;
pub(super) mod creates;
pub(super) mod decides;

use std::collections::HashMap;
use std::hash::Hash;

use sqlx::SqliteConnection;

use crate::error::{Error, Result};

/// The transaction can no longer be used (SQLite rolled it back, or a
/// savepoint command failed); the whole group must be abandoned.
#[derive(Debug)]
pub(super) struct Broken(pub(super) String);

/// Starts the savepoint `name`.
pub(super) async fn savepoint(conn: &mut SqliteConnection, name: Savepoint) -> Result<(), Broken> {
    sqlx::raw_sql(name.begin())
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(|error| Broken(error.to_string()))
}

/// Ends the savepoint `name`: keeps its writes when `keep`, undoes them
/// otherwise. Returns `keep`.
pub(super) async fn end(
    conn: &mut SqliteConnection,
    name: Savepoint,
    keep: bool,
) -> Result<bool, Broken> {
    let sql = if keep { name.release() } else { name.undo() };
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map(|_| keep)
        .map_err(|error| Broken(error.to_string()))
}

/// The savepoints the writer uses; never nested in one another.
#[derive(Debug, Clone, Copy)]
pub(super) enum Savepoint {
    /// Around one call.
    One,
    /// Around a batch's fast path.
    Fast,
}

impl Savepoint {
    fn begin(self) -> &'static str {
        match self {
            Savepoint::One => "SAVEPOINT one",
            Savepoint::Fast => "SAVEPOINT fast",
        }
    }

    fn release(self) -> &'static str {
        match self {
            Savepoint::One => "RELEASE one",
            Savepoint::Fast => "RELEASE fast",
        }
    }

    fn undo(self) -> &'static str {
        match self {
            Savepoint::One => "ROLLBACK TO one; RELEASE one",
            Savepoint::Fast => "ROLLBACK TO fast; RELEASE fast",
        }
    }
}

/// Ends a fast path begun with `savepoint(conn, Savepoint::Fast)`: keeps
/// its writes when they all succeeded, undoes them otherwise. True when they
/// stand; false when the planned calls must take the slow path.
pub(super) async fn finish_fast(
    conn: &mut SqliteConnection,
    kind: &str,
    written: Result<()>,
) -> Result<bool, Broken> {
    if let Err(error) = &written {
        tracing::warn!(kind, %error, "batched write fell back to one call at a time");
    }
    end(conn, Savepoint::Fast, written.is_ok()).await
}

/// Unplans every planned item that shares a key with another planned item
/// (or repeats one of its own), so calls that touch the same row run one
/// after the other on the slow path. `keys[i]` are item `i`'s keys.
pub(super) fn unplan_shared<K: Eq + Hash>(planned: &mut [bool], keys: Vec<Vec<K>>) {
    let mut count: HashMap<&K, usize> = HashMap::new();
    for (item, keys) in keys.iter().enumerate() {
        if planned[item] {
            for key in keys {
                *count.entry(key).or_default() += 1;
            }
        }
    }
    for (item, keys) in keys.iter().enumerate() {
        if keys
            .iter()
            .any(|key| count.get(key).is_some_and(|n| *n > 1))
        {
            planned[item] = false;
        }
    }
}

/// The error a fast path reports when a statement changed an unexpected
/// number of rows; it only ever triggers the fall-back.
pub(super) fn mismatch(what: &str, expected: usize, changed: u64) -> Error {
    Error::conflict(format!(
        "batched {what} changed {changed} rows, not {expected}"
    ))
}
