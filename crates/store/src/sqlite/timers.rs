//! Durable timers: rows that become inbox events when due.
//!
//! The store only reads which timers are due and flips one to `fired` as a
//! row of a command's change; the runtime's fire-timer planner builds the
//! engine event (with the dedup key `timer:<run>:<timer_id>`, which makes a
//! second firing impossible even if a row were ever reset by hand) and the
//! audit record.

use agentwerke_types::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::rows::{TimerDbRow, convert};
use super::sql_limit;
use crate::error::{Error, Result};
use crate::model::TimerRow;

/// Scheduled timers due by `now`, in due order; firing one is a command's
/// [`Row::FireTimer`](crate::Row::FireTimer).
pub(super) async fn due(pool: &SqlitePool, now: Timestamp, limit: usize) -> Result<Vec<TimerRow>> {
    let rows: Vec<TimerDbRow> = sqlx::query_as(
        "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
         WHERE status = 'scheduled' AND due_at <= ?1 \
         ORDER BY due_at, run_id, timer_id LIMIT ?2",
    )
    .bind(now.as_millis())
    .bind(sql_limit(limit))
    .fetch_all(pool)
    .await?;
    convert(rows)
}

/// Marks `run_id`'s timer fired at `at` if it is scheduled and due then;
/// the row as it now is. Refused with `Conflict` when it was fired or
/// cancelled before or is not due, `NotFound` when there is no such timer.
pub(super) fn fire(
    conn: &Connection,
    run_id: &str,
    timer_id: &str,
    at: Timestamp,
) -> Result<TimerDbRow> {
    let fired = conn
        .prepare_cached(
            "UPDATE timers SET status = 'fired', fired_at = ?3 \
             WHERE run_id = ?1 AND timer_id = ?2 AND status = 'scheduled' AND due_at <= ?3",
        )?
        .execute(params![run_id, timer_id, at.as_millis()])?;
    let row = conn
        .prepare_cached(
            "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
             WHERE run_id = ?1 AND timer_id = ?2",
        )?
        .query_row(params![run_id, timer_id], TimerDbRow::from_sqlite)
        .optional()?
        .ok_or_else(|| Error::NotFound {
            what: "timer",
            id: format!("{run_id}/{timer_id}"),
        })?;
    if fired == 0 {
        return Err(Error::conflict(format!(
            "timer '{timer_id}' of run '{run_id}' is not a scheduled timer due by then"
        )));
    }
    Ok(row)
}

pub(super) async fn next_due(pool: &SqlitePool) -> Result<Option<Timestamp>> {
    let due: Option<i64> =
        sqlx::query_scalar("SELECT MIN(due_at) FROM timers WHERE status = 'scheduled'")
            .fetch_one(pool)
            .await?;
    Ok(due.map(Timestamp::from_millis))
}

pub(super) async fn for_run(pool: &SqlitePool, run_id: &str) -> Result<Vec<TimerRow>> {
    let rows: Vec<TimerDbRow> = sqlx::query_as(
        "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
         WHERE run_id = ?1 ORDER BY due_at, timer_id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    convert(rows)
}

/// One of `run_id`'s timers, by its id within the run.
pub(super) async fn get(
    pool: &SqlitePool,
    run_id: &str,
    timer_id: &str,
) -> Result<Option<TimerRow>> {
    let row: Option<TimerDbRow> = sqlx::query_as(
        "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
         WHERE run_id = ?1 AND timer_id = ?2",
    )
    .bind(run_id)
    .bind(timer_id)
    .fetch_optional(pool)
    .await?;
    row.map(TimerRow::try_from).transpose()
}
