//! The rows an engine step writes, inside its commit's transaction.
//!
//! Inserts are idempotent per natural key (`(run, work_id)`, `(run,
//! timer_id)`): if a commit is ever retried with the same ops, or the engine
//! re-emits an effect, the run moves on instead of failing forever on a
//! unique constraint. Cancels and closes only touch rows still open.

use agentwerke_types::Timestamp;
use serde_json::Value;
use sqlx::{SqliteConnection, SqlitePool};

use super::json_text;
use super::rows::{RecordRow, convert};
use crate::error::{Error, Result};
use crate::model::{EvidenceRecord, NewApproval, Op};

/// Writes one op for `run_id`. `now` stamps bookkeeping columns.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    run_id: &str,
    op: Op,
    now: Timestamp,
) -> Result<()> {
    let now = now.as_millis();
    match op {
        Op::InsertWork {
            work_id,
            kind,
            payload,
        } => {
            sqlx::query(
                "INSERT INTO work (run_id, work_id, kind, payload, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) \
                 ON CONFLICT (run_id, work_id) DO NOTHING",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(kind)
            .bind(json_text(&payload))
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::CancelWork { work_id } => {
            sqlx::query(
                "UPDATE work SET status = 'cancelled', lease_owner = NULL, lease_until = NULL, \
                   updated_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'pending'",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::ReopenWork { work_id } => {
            sqlx::query(
                "UPDATE work SET status = 'pending', lease_owner = NULL, lease_until = NULL, \
                   completed_at = NULL, updated_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'done'",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::OpenApproval { approval } => open_approval(conn, run_id, approval, now).await?,
        Op::CloseApproval { work_id, status } => {
            if !matches!(status.as_str(), "cancelled" | "expired") {
                return Err(Error::invalid(format!(
                    "an approval closes as 'cancelled' or 'expired', not '{status}'"
                )));
            }
            sqlx::query(
                "UPDATE approvals SET status = ?3, updated_at = ?4 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'pending'",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(status)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::AwaitMessage {
            work_id,
            message_name,
            correlation_key,
        } => {
            sqlx::query(
                "INSERT INTO message_waits (run_id, work_id, message_name, correlation_key, \
                   status, created_at) VALUES (?1, ?2, ?3, ?4, 'open', ?5) \
                 ON CONFLICT (run_id, work_id) DO UPDATE SET message_name = excluded.message_name, \
                   correlation_key = excluded.correlation_key, status = 'open', closed_at = NULL",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(message_name)
            .bind(correlation_key)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::StopAwaitingMessage { work_id } => {
            sqlx::query(
                "UPDATE message_waits SET status = 'closed', closed_at = ?3 \
                 WHERE run_id = ?1 AND work_id = ?2 AND status = 'open'",
            )
            .bind(run_id)
            .bind(work_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::ScheduleTimer {
            timer_id,
            due_at,
            node_id,
        } => {
            sqlx::query(
                "INSERT INTO timers (run_id, timer_id, node_id, due_at, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, 'scheduled', ?5) \
                 ON CONFLICT (run_id, timer_id) DO NOTHING",
            )
            .bind(run_id)
            .bind(timer_id)
            .bind(node_id)
            .bind(due_at.as_millis())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Op::CancelTimer { timer_id } => {
            sqlx::query(
                "UPDATE timers SET status = 'cancelled' \
                 WHERE run_id = ?1 AND timer_id = ?2 AND status = 'scheduled'",
            )
            .bind(run_id)
            .bind(timer_id)
            .execute(&mut *conn)
            .await?;
        }
        Op::Record { kind, data } => {
            insert_record(conn, run_id, &kind, &data, Timestamp::from_millis(now)).await?;
        }
    }
    Ok(())
}

async fn open_approval(
    conn: &mut SqliteConnection,
    run_id: &str,
    approval: NewApproval,
    now: i64,
) -> Result<()> {
    if !matches!(approval.kind.as_str(), "gate" | "tool_escalation") {
        return Err(Error::invalid(format!(
            "an approval is a 'gate' or a 'tool_escalation', not '{}'",
            approval.kind
        )));
    }
    let inserted = sqlx::query(
        "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, expires_at, \
           created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?8) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&approval.id)
    .bind(run_id)
    .bind(&approval.work_id)
    .bind(&approval.node_id)
    .bind(&approval.kind)
    .bind(json_text(&approval.request))
    .bind(approval.expires_at.map(Timestamp::as_millis))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        // Same id again: fine if it is the same approval of this run (a
        // retried commit), a conflict otherwise.
        let owner: Option<String> =
            sqlx::query_scalar("SELECT run_id FROM approvals WHERE id = ?1 AND work_id = ?2")
                .bind(&approval.id)
                .bind(&approval.work_id)
                .fetch_optional(&mut *conn)
                .await?;
        if owner.as_deref() != Some(run_id) {
            return Err(Error::conflict(format!(
                "approval id '{}' is already taken",
                approval.id
            )));
        }
    }
    Ok(())
}

/// Stores one evidence record.
pub(super) async fn insert_record(
    conn: &mut SqliteConnection,
    run_id: &str,
    kind: &str,
    data: &Value,
    at: Timestamp,
) -> Result<()> {
    sqlx::query("INSERT INTO records (run_id, kind, data, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(run_id)
        .bind(kind)
        .bind(json_text(data))
        .bind(at.as_millis())
        .execute(&mut *conn)
        .await?;
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
