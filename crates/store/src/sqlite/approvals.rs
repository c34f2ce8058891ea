//! Approval requests and their one decision.
//!
//! The decision is a compare-and-set (`WHERE status = 'pending'` and not
//! expired) inside a write transaction, so of two concurrent decisions
//! exactly one changes the row; the other sees zero rows changed and gets
//! `AlreadyDecided` (or `Expired`). The winner's inbox event and audit
//! record commit with the decision (see `txn`).

use agentwerke_types::{ApprovalDecision, ApprovalId, ApprovalStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{SqliteExecutor, SqlitePool};

use super::rows::{ApprovalDbRow, approval_columns, convert};
use crate::MAX_PAGE;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::model::{ApprovalFilter, ApprovalRow, Page, PageRequest};

pub(super) async fn list<'e>(
    conn: impl SqliteExecutor<'e>,
    filter: ApprovalFilter,
) -> Result<Vec<ApprovalRow>> {
    // One statement per filter shape, so each can use its index (approval
    // inboxes are polled; a generic `?1 IS NULL OR ...` would scan the table).
    let query = match (&filter.status, &filter.run_id) {
        (Some(_), None) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE status = ?1 ORDER BY created_at, id"
        )),
        (None, Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE run_id = ?2 ORDER BY created_at, id"
        )),
        (Some(_), Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE run_id = ?2 AND status = ?1 ORDER BY created_at, id"
        )),
        (None, None) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals ORDER BY created_at, id"
        )),
    };
    let rows: Vec<ApprovalDbRow> = query
        .bind(filter.status.map(ApprovalStatus::as_str))
        .bind(filter.run_id)
        .fetch_all(conn)
        .await?;
    convert(rows)
}

/// One page of approvals, oldest first. Each filter shape has its own
/// statement so it walks its index from the cursor on (`(created_at, id) >
/// cursor` is a range on `approvals_by_status` / `approvals_by_run`), and the
/// limit is part of the query, so a page costs its size, not the table's.
pub(super) async fn page(
    pool: &SqlitePool,
    filter: ApprovalFilter,
    request: PageRequest,
) -> Result<Page<ApprovalRow>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let (after_at, after_id) = Cursor::after(request.cursor.as_deref())?;
    let query = match (&filter.status, &filter.run_id) {
        (Some(_), None) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE status = ?1 AND (created_at, id) > (?3, ?4) \
              ORDER BY created_at, id LIMIT ?5"
        )),
        (None, Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE run_id = ?2 AND (created_at, id) > (?3, ?4) \
              ORDER BY created_at, id LIMIT ?5"
        )),
        (Some(_), Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE run_id = ?2 AND status = ?1 AND (created_at, id) > (?3, ?4) \
              ORDER BY created_at, id LIMIT ?5"
        )),
        (None, None) => sqlx::query_as(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE (created_at, id) > (?3, ?4) ORDER BY created_at, id LIMIT ?5"
        )),
    };
    let rows: Vec<ApprovalDbRow> = query
        .bind(filter.status.map(ApprovalStatus::as_str))
        .bind(filter.run_id)
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    let items: Vec<ApprovalRow> = convert(rows)?;
    Ok(cursor::page(items, limit, |a| {
        (a.created_at, a.id.to_string())
    }))
}

pub(super) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<ApprovalRow>> {
    let row: Option<ApprovalDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(ApprovalRow::try_from).transpose()
}

/// Decides a pending approval whose time has not run out at `at`. The
/// expiry is part of the statement's condition, so a decision can never
/// land on an approval that expired, even one the expiry loop has not
/// marked yet. On zero rows the row is read to say why.
pub(super) fn decide(
    conn: &Connection,
    id: &ApprovalId,
    decision: ApprovalDecision,
    comment: Option<&str>,
    decided_by: &str,
    at: Timestamp,
) -> Result<ApprovalDbRow> {
    let decided = conn
        .prepare_cached(
            "UPDATE approvals SET status = ?2, decision = ?2, comment = ?3, decided_by = ?4, \
               decided_at = ?5, updated_at = ?5 \
             WHERE id = ?1 AND status = 'pending' AND (expires_at IS NULL OR expires_at > ?5)",
        )?
        .execute(params![
            id.as_str(),
            decision.as_str(),
            comment,
            decided_by,
            at.as_millis(),
        ])?;
    let row = read(conn, id)?;
    if decided == 0 {
        return Err(refusal(row, at));
    }
    Ok(row)
}

/// Marks a pending approval whose time ran out by `at` expired.
pub(super) fn expire(conn: &Connection, id: &ApprovalId, at: Timestamp) -> Result<ApprovalDbRow> {
    let expired = conn
        .prepare_cached(
            "UPDATE approvals SET status = 'expired', updated_at = ?2 \
             WHERE id = ?1 AND status = 'pending' AND expires_at IS NOT NULL \
               AND expires_at <= ?2",
        )?
        .execute(params![id.as_str(), at.as_millis()])?;
    let row = read(conn, id)?;
    if expired == 0 {
        return Err(match row.status.as_str() {
            "pending" => Error::conflict(format!("approval '{id}' is not due to expire")),
            _ => Error::AlreadyDecided {
                id: row.id,
                status: row.status,
            },
        });
    }
    Ok(row)
}

/// Why a decision changed no row: the approval expired (marked so, or due
/// and not yet marked), or it is no longer pending.
fn refusal(row: ApprovalDbRow, at: Timestamp) -> Error {
    let due = row.expires_at().is_some_and(|due| due <= at.as_millis());
    match row.status.as_str() {
        "expired" => Error::Expired { id: row.id },
        "pending" if due => Error::Expired { id: row.id },
        _ => Error::AlreadyDecided {
            id: row.id,
            status: row.status,
        },
    }
}

/// One approval, read in the writer's transaction.
pub(super) fn read(conn: &Connection, id: &ApprovalId) -> Result<ApprovalDbRow> {
    conn.prepare_cached(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE id = ?1"
    ))?
    .query_row([id.as_str()], ApprovalDbRow::from_sqlite)
    .optional()?
    .ok_or_else(|| Error::not_found("approval", id.as_str()))
}

/// Marks an approved escalation of `run_id` used; false when it was not
/// approved or was already used (so a second execution of the same approval
/// is refused). Called only with the intent of the call it lets run
/// (`txn::begin_tool_call`), in the same transaction.
pub(super) fn consume_escalation(
    conn: &Connection,
    approval_id: &str,
    run_id: &str,
    at: Timestamp,
) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE approvals SET consumed_at = ?3, updated_at = ?3 \
             WHERE id = ?1 AND run_id = ?2 AND kind = 'tool_escalation' AND status = 'approved' \
               AND consumed_at IS NULL",
        )?
        .execute(params![approval_id, run_id, at.as_millis()])?;
    Ok(changed == 1)
}
