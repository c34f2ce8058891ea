//! Agent work: claimed under a lease, completed exactly once.
//!
//! An executor that dies mid-step loses its lease when it expires and the
//! work is claimed again (`attempt_count` counts claims). Both executions may
//! finish; the result event's dedup key lets only the first completion
//! through, and the second is a no-op that reports `false`.

use agentwerke_types::Timestamp;
use sqlx::{FromRow, SqliteConnection, SqlitePool};

use super::rows::{WorkRow, convert, work_columns};
use super::{audit, ops, runs, sql_limit};
use crate::clock::wall_clock;
use crate::error::{Error, Result};
use crate::model::{CompleteWork, WorkItem};

pub(super) async fn claim(
    conn: &mut SqliteConnection,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<WorkRow>> {
    // One statement however many items: each is a round trip to SQLite.
    // The partial index holds only pending work; without `INDEXED BY` the
    // planner prefers walking every work row ever written in id order.
    let mut rows: Vec<WorkRow> = sqlx::query_as(concat!(
        "UPDATE work SET lease_owner = ?2, lease_until = ?3, \
           attempt_count = attempt_count + 1, updated_at = ?1 \
         WHERE id IN (SELECT id FROM work INDEXED BY work_pending WHERE status = 'pending' \
                        AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY id LIMIT ?4) \
         RETURNING ",
        work_columns!()
    ))
    .bind(now.as_millis())
    .bind(owner)
    .bind(now.plus_millis(lease_ms.max(0)).as_millis())
    .bind(sql_limit(limit))
    .fetch_all(&mut *conn)
    .await?;
    // RETURNING has no defined order; callers get the oldest first. The
    // payloads are parsed by the caller (`convert`), off the writer's thread.
    rows.sort_by_key(WorkRow::id);
    Ok(rows)
}

pub(super) async fn extend_lease(
    conn: &mut SqliteConnection,
    run_id: &str,
    work_id: &str,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
) -> Result<()> {
    let extended = sqlx::query(
        "UPDATE work SET lease_until = ?4, updated_at = ?5 \
         WHERE run_id = ?1 AND work_id = ?2 AND lease_owner = ?3 AND status = 'pending'",
    )
    .bind(run_id)
    .bind(work_id)
    .bind(owner)
    .bind(now.plus_millis(lease_ms.max(0)).as_millis())
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    if extended.rows_affected() == 0 {
        return Err(Error::LeaseLost {
            run_id: run_id.to_owned(),
        });
    }
    Ok(())
}

#[derive(FromRow)]
struct WorkState {
    status: String,
    lease_owner: Option<String>,
}

pub(super) async fn complete(conn: &mut SqliteConnection, done: CompleteWork) -> Result<bool> {
    let state: WorkState =
        sqlx::query_as("SELECT status, lease_owner FROM work WHERE run_id = ?1 AND work_id = ?2")
            .bind(&done.run_id)
            .bind(&done.work_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::not_found("work", format!("{}/{}", done.run_id, done.work_id)))?;
    if state.status == "done" {
        // Completed before (by this or a reclaiming executor): nothing to add.
        return Ok(false);
    }
    let now = wall_clock();
    if state.status == "cancelled" {
        // The run moved on; what the agent did still happened, so keep it.
        store_evidence(&mut *conn, &done, now).await?;
        return Ok(false);
    }
    if state.lease_owner.as_deref() != Some(done.owner.as_str()) {
        tracing::info!(
            run_id = done.run_id,
            work_id = done.work_id,
            owner = done.owner,
            "work completed by an executor whose lease was taken over"
        );
    }
    let queued = runs::insert_event(
        &mut *conn,
        &done.run_id,
        &done.result_event,
        Some(&done.dedup_key),
        now,
    )
    .await?;
    if !queued {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE work SET status = 'done', lease_owner = NULL, lease_until = NULL, \
           completed_at = ?3, updated_at = ?3 \
         WHERE run_id = ?1 AND work_id = ?2",
    )
    .bind(&done.run_id)
    .bind(&done.work_id)
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    store_evidence(&mut *conn, &done, now).await?;
    Ok(true)
}

async fn store_evidence(
    conn: &mut sqlx::SqliteConnection,
    done: &CompleteWork,
    now: Timestamp,
) -> Result<()> {
    for (kind, data) in &done.records {
        ops::insert_record(conn, &done.run_id, kind, data, now).await?;
    }
    audit::append(conn, &done.run_id, done.audit.clone()).await
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
