//! The rows an engine step writes, inside its commit's transaction.
//!
//! Inserts are idempotent per natural key (`(run, work_id)`, `(run,
//! timer_id)`): if a commit is ever retried with the same ops, or the engine
//! re-emits an effect, the run moves on instead of failing forever on a
//! unique constraint. Cancels and closes only touch rows still open.

use agentwerke_types::{ApprovalStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::json_text;
use super::rows::{RecordRow, convert};
use crate::error::{Error, Result};
use crate::model::{EvidenceRecord, NewApproval, Op};
use agentwerke_evidence::Record;

/// The JSON text an op writes, if any: made by the caller of a hot write
/// before it is queued, so the writer does not serialise it.
pub(super) fn json_of(op: &Op) -> Option<String> {
    match op {
        Op::InsertWork { payload, .. } => Some(payload.as_str().to_owned()),
        Op::OpenApproval { approval } => Some(json_text(&approval.request)),
        Op::Record(record) => record_body(record).ok(),
        _ => None,
    }
}

/// Writes one op for `run_id`, with its JSON from [`json_of`] when the
/// caller made it (`None`: made here). `now` stamps bookkeeping columns.
pub(super) fn apply(
    conn: &Connection,
    run_id: &str,
    op: &Op,
    made: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let at = now.as_millis();
    let json = || made.map_or_else(|| json_of(op).unwrap_or_default(), str::to_owned);
    match op {
        Op::InsertWork { work_id, kind, .. } => {
            conn.prepare_cached(
                "INSERT INTO work (run_id, work_id, kind, payload, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) \
                 ON CONFLICT (run_id, work_id) DO NOTHING",
            )?
            .execute(params![run_id, work_id.as_str(), kind, json(), at])?;
        }
        Op::CancelWork { work_id } => {
            conn.prepare_cached(
                "UPDATE work SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                   updated_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'pending'",
            )?
            .execute(params![run_id, work_id.as_str(), at])?;
        }
        Op::ReopenWork { work_id } => {
            conn.prepare_cached(
                "UPDATE work SET status = 'pending', lease_owner = NULL, lease_until = NULL, \
                   completed_at = NULL, updated_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'done'",
            )?
            .execute(params![run_id, work_id.as_str(), at])?;
        }
        Op::OpenApproval { approval } => open_approval(conn, run_id, approval, &json(), at)?,
        Op::CloseQuestions { work_id } => super::questions::close(conn, run_id, work_id)?,
        Op::CloseApproval { work_id, status } => {
            if !matches!(status, ApprovalStatus::Cancelled | ApprovalStatus::Expired) {
                return Err(Error::invalid(format!(
                    "an approval closes as 'cancelled' or 'expired', not '{status}'"
                )));
            }
            conn.prepare_cached(
                "UPDATE approvals SET status = ?3, updated_at = ?4 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'pending'",
            )?
            .execute(params![run_id, work_id.as_str(), status.as_str(), at])?;
        }
        Op::AwaitMessage {
            work_id,
            message_name,
            correlation_key,
        } => {
            conn.prepare_cached(
                "INSERT INTO message_waits (run_id, work_id, message_name, correlation_key, \
                   status, created_at) VALUES (?1, ?2, ?3, ?4, 'open', ?5) \
                 ON CONFLICT (run_id, work_id) DO UPDATE SET \
                   message_name = excluded.message_name, \
                   correlation_key = excluded.correlation_key, status = 'open', closed_at = NULL",
            )?
            .execute(params![
                run_id,
                work_id.as_str(),
                message_name,
                correlation_key,
                at
            ])?;
        }
        Op::StopAwaitingMessage { work_id } => {
            conn.prepare_cached(
                "UPDATE message_waits SET status = 'closed', closed_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'open'",
            )?
            .execute(params![run_id, work_id.as_str(), at])?;
        }
        Op::ScheduleTimer {
            timer_id,
            due_at,
            node_id,
        } => {
            conn.prepare_cached(
                "INSERT INTO timers (run_id, timer_id, node_id, due_at, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, 'scheduled', ?5) \
                 ON CONFLICT (run_id, timer_id) DO NOTHING",
            )?
            .execute(params![run_id, timer_id, node_id, due_at.as_millis(), at])?;
        }
        Op::CancelTimer { timer_id } => {
            conn.prepare_cached(
                "UPDATE timers SET status = 'cancelled' \
                 WHERE run_id = ?1 AND timer_id = ?2 AND status = 'scheduled'",
            )?
            .execute(params![run_id, timer_id])?;
        }
        Op::Record(record) => {
            let body = match made {
                Some(body) => body.to_owned(),
                None => record_body(record)?,
            };
            insert_record(conn, run_id, record.kind(), &body, now)?;
        }
        Op::TrackNode {
            node_id,
            state,
            entered,
            at,
        } => super::nodes::track(conn, run_id, node_id, *state, *entered, *at)?,
    }
    Ok(())
}

/// Opens `approval`; see [`NewApproval::list_run_artifacts`] for the
/// artifact list the statement itself may add to the request.
fn open_approval(
    conn: &Connection,
    run_id: &str,
    approval: &NewApproval,
    request: &str,
    at: i64,
) -> Result<()> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, \
               expires_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, \
               CASE WHEN ?9 THEN json_set(?6, '$.artifacts', json(( \
                 SELECT json_group_array(json_object('name', path, 'sha256', sha256, \
                   'size', size, 'mediaType', media_type)) \
                 FROM (SELECT path, sha256, size, media_type FROM artifact_paths \
                       WHERE run_id = ?2 ORDER BY path)))) \
               ELSE ?6 END, \
               'pending', ?7, ?8, ?8) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            approval.id.as_str(),
            run_id,
            approval.work_id.as_str(),
            approval.node_id,
            approval.kind.as_str(),
            request,
            approval.expires_at.map(Timestamp::as_millis),
            at,
            approval.list_run_artifacts,
        ])?;
    if inserted == 0 {
        // Same id again: fine if it is the same approval of this run (a
        // retried commit), a conflict otherwise.
        let owner: Option<String> = conn
            .prepare_cached("SELECT run_id FROM approvals WHERE id = ?1 AND work_id = ?2")?
            .query_row(
                params![approval.id.as_str(), approval.work_id.as_str()],
                |row| row.get(0),
            )
            .optional()?;
        if owner.as_deref() != Some(run_id) {
            return Err(Error::conflict(format!(
                "approval id '{}' is already taken",
                approval.id
            )));
        }
    }
    Ok(())
}

/// The JSON text of an evidence record's body, as the `records` table keeps
/// it next to the record's kind ([`Record::stored`]).
pub(super) fn record_body(record: &Record) -> Result<String> {
    let (_, body) = record.stored().map_err(|_| {
        Error::invalid(format!(
            "the {} evidence record cannot be written as JSON",
            record.kind()
        ))
    })?;
    Ok(json_text(&body))
}

/// Stores one evidence record; `data` is its body's JSON text.
pub(super) fn insert_record(
    conn: &Connection,
    run_id: &str,
    kind: &str,
    data: &str,
    at: Timestamp,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO records (run_id, kind, data, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![run_id, kind, data, at.as_millis()])?;
    Ok(())
}

/// A run's evidence records in write order.
pub(super) async fn records(pool: &SqlitePool, run_id: &str) -> Result<Vec<EvidenceRecord>> {
    let rows: Vec<RecordRow> = sqlx::query_as(
        "SELECT id, kind, data, created_at FROM records WHERE run_id = ?1 ORDER BY id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    convert(rows)
}
