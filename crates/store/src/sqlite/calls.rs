//! The tool-call journal (see [`crate::calls`]).

use agentwerke_types::{Timestamp, ToolCallStatus};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{FromRow, SqlitePool};

use super::parse_json;
use super::rows::{from_sqlite, named};
use crate::calls::{Begun, ToolCallIntent, ToolCallOutcome, ToolCallRow};
use crate::error::{Error, Result};

macro_rules! call_columns {
    () => {
        "call_id, run_id, work_id, attempt, tool, args_hash, arguments, status, executions, \
         approval_id, result, started_at, finished_at"
    };
}

#[derive(FromRow)]
struct CallDbRow {
    call_id: String,
    run_id: String,
    work_id: String,
    attempt: i64,
    tool: String,
    args_hash: String,
    arguments: String,
    status: String,
    executions: i64,
    approval_id: Option<String>,
    result: Option<String>,
    started_at: i64,
    finished_at: Option<i64>,
}

from_sqlite!(CallDbRow {
    call_id,
    run_id,
    work_id,
    attempt,
    tool,
    args_hash,
    arguments,
    status,
    executions,
    approval_id,
    result,
    started_at,
    finished_at,
});

impl TryFrom<CallDbRow> for ToolCallRow {
    type Error = Error;

    fn try_from(r: CallDbRow) -> Result<Self> {
        let id = r.call_id.clone();
        Ok(Self {
            arguments: parse_json(&r.arguments, || format!("tool_calls.arguments of {id}"))?,
            result: r
                .result
                .as_deref()
                .map(|text| parse_json(text, || format!("tool_calls.result of {id}")))
                .transpose()?,
            status: named(&r.status, || format!("tool_calls.status of {id}"))?,
            call_id: r.call_id.into(),
            run_id: r.run_id.into(),
            work_id: r.work_id.into(),
            attempt: u32::try_from(r.attempt).unwrap_or_default(),
            tool: r.tool,
            args_hash: r.args_hash,
            executions: u32::try_from(r.executions).unwrap_or_default(),
            approval_id: r.approval_id.map(Into::into),
            started_at: Timestamp::from_millis(r.started_at),
            finished_at: r.finished_at.map(Timestamp::from_millis),
        })
    }
}

fn row_on(conn: &Connection, call_id: &str) -> Result<Option<ToolCallRow>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        call_columns!(),
        " FROM tool_calls WHERE call_id = ?1"
    ))?
    .query_row([call_id], CallDbRow::from_sqlite)
    .optional()?
    .map(ToolCallRow::try_from)
    .transpose()
}

/// The journal's row for the call `intent` begins, if it was begun before;
/// `Conflict` when that was for another tool or other arguments.
pub(super) fn earlier(conn: &Connection, intent: &ToolCallIntent) -> Result<Option<ToolCallRow>> {
    let earlier = row_on(conn, &intent.call_id)?;
    if let Some(row) = &earlier
        && (row.tool != intent.tool || row.args_hash != intent.args_hash)
    {
        return Err(Error::Conflict {
            reason: format!(
                "tool call {} was begun for {} with arguments {}, not {} with arguments {}",
                intent.call_id, row.tool, row.args_hash, intent.tool, intent.args_hash
            ),
        });
    }
    Ok(earlier)
}

/// Records a call's start: a first start inserts it, a start whose outcome
/// was lost (`earlier`, still `started`) counts one more execution.
pub(super) fn start(
    conn: &Connection,
    intent: &ToolCallIntent,
    earlier: Option<ToolCallRow>,
) -> Result<Begun> {
    let executions = match earlier {
        Some(row) => {
            conn.prepare_cached(
                "UPDATE tool_calls SET executions = executions + 1, \
                   approval_id = COALESCE(?2, approval_id) WHERE call_id = ?1",
            )?
            .execute(params![
                intent.call_id.as_str(),
                intent.approval_id.as_ref().map(|a| a.as_str())
            ])?;
            row.executions + 1
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO tool_calls (call_id, run_id, work_id, attempt, tool, args_hash, \
                   arguments, status, executions, approval_id, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'started', 1, ?8, ?9)",
            )?
            .execute(params![
                intent.call_id.as_str(),
                intent.run_id.as_str(),
                intent.work_id.as_str(),
                intent.attempt,
                intent.tool,
                intent.args_hash,
                intent.arguments.as_str(),
                intent.approval_id.as_ref().map(|a| a.as_str()),
                intent.at.as_millis(),
            ])?;
            1
        }
    };
    Ok(Begun::Started { executions })
}

/// Records a started call's outcome; false (nothing written) when the call
/// was never begun or is settled already.
pub(super) fn finish(conn: &Connection, outcome: &ToolCallOutcome) -> Result<bool> {
    if outcome.status == ToolCallStatus::Started {
        return Err(Error::invalid(
            "a tool call's outcome cannot be 'started': that is its intent",
        ));
    }
    let changed = conn
        .prepare_cached(
            "UPDATE tool_calls SET status = ?2, result = ?3, finished_at = ?4 \
             WHERE call_id = ?1 AND status = 'started'",
        )?
        .execute(params![
            outcome.call_id.as_str(),
            outcome.status.as_str(),
            outcome.result.as_str(),
            outcome.at.as_millis(),
        ])?;
    Ok(changed == 1)
}

/// Settles every call of a run's work still `started` as `abandoned`
/// ([`Row::AbandonCalls`](crate::Row::AbandonCalls)); the ids it settled,
/// in the order they were begun.
pub(super) fn abandon(
    conn: &Connection,
    run_id: &str,
    work_id: &str,
    at: Timestamp,
) -> Result<Vec<String>> {
    let mut settled = conn
        .prepare_cached(
            "UPDATE tool_calls SET status = 'abandoned', finished_at = ?3 \
             WHERE run_id = ?1 AND work_id = ?2 AND status = 'started' \
             RETURNING rowid, call_id",
        )?
        .query_map(params![run_id, work_id, at.as_millis()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // RETURNING has no defined order.
    settled.sort_unstable();
    Ok(settled.into_iter().map(|(_, id)| id).collect())
}

/// A run's journal, in the order the calls were first begun.
pub(super) async fn for_run(pool: &SqlitePool, run_id: &str) -> Result<Vec<ToolCallRow>> {
    let rows: Vec<CallDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        call_columns!(),
        " FROM tool_calls WHERE run_id = ?1 ORDER BY rowid"
    ))
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ToolCallRow::try_from).collect()
}
