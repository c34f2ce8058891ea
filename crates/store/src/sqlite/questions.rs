//! The run conversation: blocking questions an agent asks a human and their
//! one answer each.
//!
//! This module writes the `questions` table only; asking (with the work row)
//! and answering (with the resuming event and audit record) are put
//! together in `txn`. The answer is a compare-and-set
//! (`WHERE status = 'open'`): of two concurrent answers exactly one wins.

use agentwerke_types::{QuestionId, QuestionStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{SqliteExecutor, SqlitePool};

use super::rows::{QuestionDbRow, convert, question_columns};
use crate::MAX_PAGE;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::model::{NewQuestion, Page, PageRequest, QuestionFilter, QuestionRow};

/// Opens `question` for `run_id`; `Conflict` when its id is taken.
pub(super) fn open(
    conn: &Connection,
    run_id: &str,
    question: &NewQuestion,
) -> Result<QuestionDbRow> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO questions (id, run_id, work_id, node_id, agent, question, status, \
               asked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            question.id.as_str(),
            run_id,
            question.work_id.as_str(),
            question.node_id,
            question.agent,
            question.question,
            question.asked_at.as_millis(),
        ])?;
    if inserted == 0 {
        return Err(Error::conflict(format!(
            "question id '{}' is already taken",
            question.id
        )));
    }
    read(conn, &question.id)
}

fn read(conn: &Connection, id: &QuestionId) -> Result<QuestionDbRow> {
    conn.prepare_cached(concat!(
        "SELECT ",
        question_columns!(),
        " FROM questions WHERE id = ?1"
    ))?
    .query_row([id.as_str()], QuestionDbRow::from_sqlite)
    .optional()?
    .ok_or_else(|| Error::not_found("question", id.as_str()))
}

/// Records the one answer to an open question; `AlreadyAnswered` when it is
/// no longer open.
pub(super) fn answer(
    conn: &Connection,
    id: &QuestionId,
    answer: &str,
    answered_by: &str,
    at: Timestamp,
) -> Result<QuestionDbRow> {
    let answered = conn
        .prepare_cached(
            "UPDATE questions SET status = 'answered', answer = ?2, answered_by = ?3, \
               answered_at = ?4 \
             WHERE id = ?1 AND status = 'open'",
        )?
        .execute(params![id.as_str(), answer, answered_by, at.as_millis()])?;
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE id = ?1"
        ))?
        .query_row([id.as_str()], QuestionDbRow::from_sqlite)
        .optional()?
        .ok_or_else(|| Error::not_found("question", id.as_str()))?;
    if answered == 0 {
        let row = QuestionRow::try_from(row)?;
        return Err(Error::AlreadyAnswered {
            id: row.id.into_string(),
            status: row.status.as_str().to_owned(),
        });
    }
    Ok(row)
}

/// Closes the open questions of one attempt unanswered.
pub(super) fn close(conn: &Connection, run_id: &str, work_id: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE questions SET status = 'cancelled' \
         WHERE run_id = ?1 AND work_id = ?2 AND status = 'open'",
    )?
    .execute(params![run_id, work_id])?;
    Ok(())
}

pub(super) async fn list<'e>(
    conn: impl SqliteExecutor<'e>,
    filter: QuestionFilter,
) -> Result<Vec<QuestionRow>> {
    // One statement per filter shape, so each can use its index.
    let query = match (&filter.status, &filter.run_id) {
        (Some(_), None) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE status = ?1 ORDER BY asked_at, id"
        )),
        (None, Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE run_id = ?2 ORDER BY asked_at, id"
        )),
        (Some(_), Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE run_id = ?2 AND status = ?1 ORDER BY asked_at, id"
        )),
        (None, None) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions ORDER BY asked_at, id"
        )),
    };
    let rows: Vec<QuestionDbRow> = query
        .bind(filter.status.map(QuestionStatus::as_str))
        .bind(filter.run_id)
        .fetch_all(conn)
        .await?;
    convert(rows)
}

/// One page of questions, oldest first; like approvals, one statement per
/// filter shape with the cursor as a range and the limit in the query.
pub(super) async fn page(
    pool: &SqlitePool,
    filter: QuestionFilter,
    request: PageRequest,
) -> Result<Page<QuestionRow>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let (after_at, after_id) = Cursor::after(request.cursor.as_deref())?;
    let query = match (&filter.status, &filter.run_id) {
        (Some(_), None) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE status = ?1 AND (asked_at, id) > (?3, ?4) \
              ORDER BY asked_at, id LIMIT ?5"
        )),
        (None, Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE run_id = ?2 AND (asked_at, id) > (?3, ?4) \
              ORDER BY asked_at, id LIMIT ?5"
        )),
        (Some(_), Some(_)) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE run_id = ?2 AND status = ?1 AND (asked_at, id) > (?3, ?4) \
              ORDER BY asked_at, id LIMIT ?5"
        )),
        (None, None) => sqlx::query_as(concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE (asked_at, id) > (?3, ?4) ORDER BY asked_at, id LIMIT ?5"
        )),
    };
    let rows: Vec<QuestionDbRow> = query
        .bind(filter.status.map(QuestionStatus::as_str))
        .bind(filter.run_id)
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?;
    let items: Vec<QuestionRow> = convert(rows)?;
    Ok(cursor::page(items, limit, |q| {
        (q.asked_at, q.id.to_string())
    }))
}

pub(super) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<QuestionRow>> {
    let row: Option<QuestionDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        question_columns!(),
        " FROM questions WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(QuestionRow::try_from).transpose()
}
