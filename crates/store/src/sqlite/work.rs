//! Agent work: claimed under a lease, completed exactly once.
//!
//! An executor that dies mid-step loses its lease when it expires and the
//! work is claimed again (`attempt_count` counts claims). Both executions may
//! finish; the work row's status lets only the first completion through,
//! and the second is refused with `WorkClosed`, writing nothing.

use agentwerke_types::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::rows::{WorkRow, convert, work_columns};
use super::sql_limit;
use crate::change::WorkEnd;
use crate::error::{Error, Result};
use crate::model::{JsonText, WorkItem};

pub(super) fn claim(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<WorkRow>> {
    // The partial index holds only pending work; without `INDEXED BY` the
    // planner prefers walking every work row ever written in id order.
    let mut rows = conn
        .prepare_cached(concat!(
            "UPDATE work SET lease_owner = ?2, lease_until = ?3, \
               attempt_count = attempt_count + 1, updated_at = ?1 \
             WHERE id IN (SELECT id FROM work INDEXED BY work_pending WHERE status = 'pending' \
                            AND (lease_until IS NULL OR lease_until <= ?1) \
                          ORDER BY id LIMIT ?4) \
             RETURNING ",
            work_columns!()
        ))?
        .query_map(
            params![
                now.as_millis(),
                owner,
                now.plus_millis(lease_ms.max(0)).as_millis(),
                sql_limit(limit),
            ],
            WorkRow::from_sqlite,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // RETURNING has no defined order; callers get the oldest first. The
    // payloads are parsed by the caller (`convert`), off the writer's thread.
    rows.sort_by_key(WorkRow::id);
    Ok(rows)
}

pub(super) fn extend_lease(
    conn: &Connection,
    run_id: &str,
    work_id: &str,
    owner: &str,
    claim: i64,
    now: Timestamp,
    lease_ms: i64,
) -> Result<()> {
    // The claim number, not only the owner: a process whose lapsed lease it
    // took over itself must not keep the older execution alive.
    let extended = conn
        .prepare_cached(
            "UPDATE work SET lease_until = ?4, updated_at = ?5 \
             WHERE run_id = ?1 AND work_id = ?2 AND lease_owner = ?3 AND attempt_count = ?6 \
               AND status = 'pending'",
        )?
        .execute(params![
            run_id,
            work_id,
            owner,
            now.plus_millis(lease_ms.max(0)).as_millis(),
            now.as_millis(),
            claim,
        ])?;
    if extended == 0 {
        return Err(Error::LeaseLost {
            run_id: run_id.to_owned(),
        });
    }
    Ok(())
}

/// The status of a run's work, read in the writer's transaction.
fn status_of(conn: &Connection, run_id: &str, work_id: &str) -> Result<(String, Option<String>)> {
    conn.prepare_cached("SELECT status, lease_owner FROM work WHERE run_id = ?1 AND work_id = ?2")?
        .query_row(params![run_id, work_id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?
        .ok_or_else(|| Error::not_found("work", format!("{run_id}/{work_id}")))
}

/// Marks pending work done with `resume` kept for its next claim
/// ([`Row::CompleteWork`](crate::Row::CompleteWork)), no longer held (the
/// step ended, so its hold was released): `WorkClosed` when it
/// is done already, `Cancelled` (nothing written) when the run cancelled it.
pub(super) fn complete(
    conn: &Connection,
    run_id: &str,
    work_id: &str,
    owner: &str,
    resume: Option<&JsonText>,
    at: Timestamp,
) -> Result<WorkEnd> {
    let (status, lease_owner) = status_of(conn, run_id, work_id)?;
    match status.as_str() {
        "pending" => {}
        "cancelled" => return Ok(WorkEnd::Cancelled),
        _ => {
            return Err(Error::WorkClosed {
                id: format!("{run_id}/{work_id}"),
                status,
            });
        }
    }
    if lease_owner.as_deref() != Some(owner) {
        tracing::info!(
            run_id,
            work_id,
            owner,
            "work completed by an executor whose lease was taken over"
        );
    }
    conn.prepare_cached(
        "UPDATE work SET status = 'done', lease_owner = NULL, lease_until = NULL, \
           resume = ?3, held = 0, completed_at = ?4, updated_at = ?4 \
         WHERE run_id = ?1 AND work_id = ?2",
    )?
    .execute(params![
        run_id,
        work_id,
        resume.map(JsonText::as_str),
        at.as_millis()
    ])?;
    Ok(WorkEnd::Completed)
}

/// Puts pending work back in the queue with `resume`
/// ([`Row::HoldWork`](crate::Row::HoldWork)): leased to `held_by` for good
/// when a halt still covers it, free to be claimed when `None`. Either way
/// it is marked held, so its next claim tells the run it was released.
/// `WorkClosed` when it is no longer pending.
pub(super) fn hold(
    conn: &Connection,
    run_id: &str,
    work_id: &str,
    held_by: Option<&str>,
    resume: Option<&JsonText>,
    at: Timestamp,
) -> Result<WorkEnd> {
    let (status, _) = status_of(conn, run_id, work_id)?;
    if status != "pending" {
        return Err(Error::WorkClosed {
            id: format!("{run_id}/{work_id}"),
            status,
        });
    }
    conn.prepare_cached(
        "UPDATE work SET lease_owner = ?3, lease_until = ?4, resume = ?5, held = 1, \
           updated_at = ?6 \
         WHERE run_id = ?1 AND work_id = ?2",
    )?
    .execute(params![
        run_id,
        work_id,
        held_by,
        held_by.map(|_| i64::MAX),
        resume.map(JsonText::as_str),
        at.as_millis(),
    ])?;
    Ok(if held_by.is_some() {
        WorkEnd::Held
    } else {
        WorkEnd::Released
    })
}

pub(super) async fn pending_for_run(pool: &SqlitePool, run_id: &str) -> Result<Vec<WorkItem>> {
    let rows: Vec<WorkRow> = sqlx::query_as(concat!(
        "SELECT ",
        work_columns!(),
        " FROM work WHERE run_id = ?1 AND status = 'pending' ORDER BY id"
    ))
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    convert(rows)
}
