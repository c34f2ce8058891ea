//! Agent work: claimed under a lease, completed exactly once.
//!
//! An executor that dies mid-step loses its lease when it expires and the
//! work is claimed again (`attempt_count` counts claims). Both executions may
//! finish; the result event's dedup key lets only the first completion
//! through, and the second is a no-op that reports `false`.

use agentwerke_evidence::chain::SealedDraft;
use agentwerke_types::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::audit::Chain;
use super::rows::{WorkRow, convert, work_columns};
use super::runs::StepCall;
use super::{audit, json_text, ops, runs, sql_limit};
use crate::clock::wall_clock;
use crate::error::{Error, Result};
use crate::model::{CompleteWork, Delivered, JsonText, WorkItem};

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
    now: Timestamp,
    lease_ms: i64,
) -> Result<()> {
    let extended = conn
        .prepare_cached(
            "UPDATE work SET lease_until = ?4, updated_at = ?5 \
             WHERE run_id = ?1 AND work_id = ?2 AND lease_owner = ?3 AND status = 'pending'",
        )?
        .execute(params![
            run_id,
            work_id,
            owner,
            now.plus_millis(lease_ms.max(0)).as_millis(),
            now.as_millis(),
        ])?;
    if extended == 0 {
        return Err(Error::LeaseLost {
            run_id: run_id.to_owned(),
        });
    }
    Ok(())
}

/// A completion with its JSON written and its audit drafts sealed by the
/// caller, so the writer only binds and hashes.
pub(super) struct CompleteCall {
    done: CompleteWork,
    result_event: String,
    records: Vec<String>,
    audit: Vec<SealedDraft>,
    step: Option<StepCall>,
}

impl CompleteCall {
    pub(super) fn new(mut done: CompleteWork) -> Result<Self> {
        Ok(Self {
            step: done.step.take().map(StepCall::new),
            result_event: json_text(&done.result_event),
            records: done
                .records
                .iter()
                .map(ops::record_body)
                .collect::<Result<_>>()?,
            audit: audit::seal(std::mem::take(&mut done.audit)),
            done,
        })
    }

    pub(super) fn run_id(&self) -> &str {
        &self.done.run_id
    }
}

pub(super) fn complete(conn: &Connection, call: &CompleteCall) -> Result<Delivered> {
    let done = &call.done;
    let (status, lease_owner): (String, Option<String>) = conn
        .prepare_cached("SELECT status, lease_owner FROM work WHERE run_id = ?1 AND work_id = ?2")?
        .query_row(
            params![done.run_id.as_str(), done.work_id.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::not_found("work", format!("{}/{}", done.run_id, done.work_id)))?;
    if status == "done" {
        // Completed before (by this or a reclaiming executor): nothing to add.
        return Ok(Delivered::Dropped);
    }
    let now = wall_clock();
    if status == "cancelled" {
        // The run moved on; what the agent did still happened, so keep it.
        store_evidence(conn, &mut Chain::new(conn, &done.run_id), call, now)?;
        return Ok(Delivered::Dropped);
    }
    if lease_owner.as_deref() != Some(done.owner.as_str()) {
        tracing::info!(
            run_id = done.run_id.as_str(),
            work_id = done.work_id.as_str(),
            owner = done.owner,
            "work completed by an executor whose lease was taken over"
        );
    }
    runs::deliver(
        conn,
        &mut Chain::new(conn, &done.run_id),
        &call.result_event,
        Some(&done.dedup_key),
        call.step.as_ref(),
        now,
        |chain| {
            conn.prepare_cached(
                "UPDATE work SET status = 'done', lease_owner = NULL, lease_until = NULL, \
                   resume = NULL, completed_at = ?3, updated_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2",
            )?
            .execute(params![
                done.run_id.as_str(),
                done.work_id.as_str(),
                now.as_millis()
            ])?;
            store_evidence(conn, chain, call, now)
        },
    )
}

/// Keeps where a paused step stands with its work row, for its next claim.
pub(super) fn keep_resume(
    conn: &Connection,
    call: &CompleteCall,
    resume: Option<&JsonText>,
) -> Result<()> {
    let done = &call.done;
    conn.prepare_cached("UPDATE work SET resume = ?3 WHERE run_id = ?1 AND work_id = ?2")?
        .execute(params![
            done.run_id.as_str(),
            done.work_id.as_str(),
            resume.map(JsonText::as_str)
        ])?;
    Ok(())
}

fn store_evidence(
    conn: &Connection,
    chain: &mut Chain<'_>,
    call: &CompleteCall,
    now: Timestamp,
) -> Result<()> {
    for (record, body) in call.done.records.iter().zip(&call.records) {
        ops::insert_record(conn, chain.stream(), record.kind(), body, now)?;
    }
    chain.append(&call.audit)
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
