//! Approval requests and their one decision.
//!
//! The decision is a compare-and-set (`WHERE status = 'pending'`) inside a
//! write transaction, so of two concurrent decisions exactly one changes the
//! row; the other sees zero rows changed and gets `AlreadyDecided`. The
//! winner's inbox event and audit record commit with the decision.

use agentwerke_evidence::chain::SealedDraft;
use agentwerke_types::ApprovalStatus;
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{SqliteExecutor, SqlitePool};

use super::audit::Chain;
use super::rows::{ApprovalDbRow, approval_columns, convert};
use super::runs::StepCall;
use super::{json_text, runs};
use crate::MAX_PAGE;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::model::{ApprovalFilter, ApprovalRow, Decide, Delivered, Page, PageRequest};

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

/// A decision with its event written and its audit draft sealed by the
/// caller, so the writer only binds and hashes.
pub(super) struct DecideCall {
    decide: Decide,
    event: String,
    audit: [SealedDraft; 1],
    step: Option<StepCall>,
}

impl DecideCall {
    pub(super) fn new(mut decide: Decide) -> Self {
        Self {
            step: decide.step.take().map(StepCall::new),
            event: json_text(&decide.event),
            audit: [SealedDraft::new(decide.audit.clone())],
            decide,
        }
    }
}

/// Decides the approval; returns its row still as text, for the caller to
/// parse off the writer's thread.
pub(super) fn decide(conn: &Connection, call: &DecideCall) -> Result<(ApprovalDbRow, Delivered)> {
    let decide = &call.decide;
    let decided = conn
        .prepare_cached(
            "UPDATE approvals SET status = ?2, decision = ?2, comment = ?3, decided_by = ?4, \
               decided_at = ?5, updated_at = ?5 \
             WHERE id = ?1 AND status = 'pending'",
        )?
        .execute(params![
            decide.id.as_str(),
            decide.decision.as_str(),
            decide.comment,
            decide.decided_by,
            decide.at.as_millis(),
        ])?;
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            approval_columns!(),
            " FROM approvals WHERE id = ?1"
        ))?
        .query_row([decide.id.as_str()], ApprovalDbRow::from_sqlite)
        .optional()?
        .ok_or_else(|| Error::not_found("approval", &decide.id))?;
    if decided == 0 {
        return Err(Error::AlreadyDecided {
            id: row.id,
            status: row.status,
        });
    }
    let mut chain = Chain::new(conn, &row.run_id);
    chain.append(&call.audit)?;
    let key = format!("approval:{}", row.id);
    let delivered = runs::deliver(
        conn,
        &mut chain,
        &call.event,
        &key,
        call.step.as_ref(),
        decide.at,
        |_| Ok(()),
    )?;
    Ok((row, delivered))
}
