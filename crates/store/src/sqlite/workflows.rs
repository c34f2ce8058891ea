//! Workflows and their versions.
//!
//! An import names the version it creates and is refused when that is no
//! longer the workflow's next number, so of two concurrent imports one
//! wins and the other is planned again. Published rows are also guarded by
//! triggers: not even a hand-written `UPDATE` changes them.

use agentwerke_types::{Timestamp, WorkflowStatus};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::SqlitePool;

use super::rows::{SummaryRow, VersionRow, convert, version_columns};
use crate::MAX_PAGE;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::model::{NewWorkflowVersion, Page, PageRequest, WorkflowSummary, WorkflowVersion};

/// A workflow with its newest and newest published version numbers.
macro_rules! summary {
    () => {
        "SELECT w.id, w.name, w.created_at, w.updated_at, \
       (SELECT MAX(version) FROM workflow_versions v WHERE v.workflow_id = w.id) AS latest_version, \
       (SELECT MAX(version) FROM workflow_versions v \
         WHERE v.workflow_id = w.id AND v.status = 'published') AS published_version \
     FROM workflows w"
    };
}

/// Inserts draft `number` of a workflow, creating the workflow on its first
/// import. `number` must be the workflow's next: a concurrent import that
/// took it refuses this one.
pub(super) fn create_version(
    conn: &Connection,
    number: i64,
    new: &NewWorkflowVersion,
    at: Timestamp,
) -> Result<WorkflowVersion> {
    let next: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE workflow_id = ?1",
        )?
        .query_row([&new.workflow_id], |row| row.get(0))?;
    if number != next {
        return Err(Error::Conflict {
            reason: format!(
                "version {number} of workflow '{}' is not the next (that is {next})",
                new.workflow_id
            ),
        });
    }
    let at = at.as_millis();
    conn.prepare_cached(
        "INSERT INTO workflows (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
    )?
    .execute(params![new.workflow_id, new.name, at])?;
    conn.prepare_cached(
        "INSERT INTO workflow_versions (workflow_id, version, name, status, bpmn_xml, \
         bpmn_sha256, diagnostics, created_by, created_at) \
         VALUES (?1, ?2, ?3, 'draft', ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        new.workflow_id,
        number,
        new.name,
        new.bpmn_xml,
        new.bpmn_sha256,
        new.diagnostics.as_str(),
        new.created_by,
        at,
    ])?;
    version_on(conn, &new.workflow_id, number)?
        .ok_or_else(|| Error::not_found("workflow version", &new.workflow_id))
}

/// Publishes a draft version; one that is published already is a
/// `Conflict` (published rows are also guarded by a trigger).
pub(super) fn publish(
    conn: &Connection,
    workflow_id: &str,
    number: i64,
    by: &str,
    at: Timestamp,
) -> Result<WorkflowVersion> {
    let found = version_on(conn, workflow_id, number)?
        .ok_or_else(|| Error::not_found("workflow version", format!("{workflow_id}@{number}")))?;
    if found.status == WorkflowStatus::Published {
        return Err(Error::Conflict {
            reason: format!("version {number} of workflow '{workflow_id}' is already published"),
        });
    }
    let updated = conn
        .prepare_cached(
            "UPDATE workflow_versions SET status = 'published', published_by = ?3, \
               published_at = ?4 \
             WHERE workflow_id = ?1 AND version = ?2",
        )?
        .execute(params![workflow_id, number, by, at.as_millis()]);
    if let Err(error) = &updated
        && error.to_string().contains("agentwerke.immutable_version")
    {
        return Err(Error::ImmutableVersion {
            workflow_id: workflow_id.to_owned(),
            version: number,
        });
    }
    updated?;
    conn.prepare_cached("UPDATE workflows SET updated_at = MAX(updated_at, ?2) WHERE id = ?1")?
        .execute(params![workflow_id, at.as_millis()])?;
    version_on(conn, workflow_id, number)?
        .ok_or_else(|| Error::not_found("workflow version", format!("{workflow_id}@{number}")))
}

/// One version, read inside the writer's transaction.
fn version_on(conn: &Connection, id: &str, number: i64) -> Result<Option<WorkflowVersion>> {
    conn.prepare_cached(concat!(
        "SELECT ",
        version_columns!(),
        " FROM workflow_versions WHERE workflow_id = ?1 AND version = ?2"
    ))?
    .query_row(params![id, number], VersionRow::from_sqlite)
    .optional()?
    .map(WorkflowVersion::try_from)
    .transpose()
}

/// One page of workflows by id; the cursor names the last id of the page
/// before (its timestamp part is 0).
pub(super) async fn page(pool: &SqlitePool, request: PageRequest) -> Result<Page<WorkflowSummary>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let (after_at, after_id) = Cursor::after(request.cursor.as_deref())?;
    let rows: Vec<SummaryRow> = sqlx::query_as(concat!(
        summary!(),
        " WHERE (0, w.id) > (?1, ?2) ORDER BY w.id LIMIT ?3"
    ))
    .bind(after_at)
    .bind(after_id)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let items = rows.into_iter().map(WorkflowSummary::from).collect();
    Ok(cursor::page(items, limit, |w: &WorkflowSummary| {
        (Timestamp::from_millis(0), w.id.clone())
    }))
}

pub(super) async fn list(pool: &SqlitePool) -> Result<Vec<WorkflowSummary>> {
    let rows: Vec<SummaryRow> = sqlx::query_as(concat!(summary!(), " ORDER BY w.id"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(WorkflowSummary::from).collect())
}

pub(super) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<WorkflowSummary>> {
    let row: Option<SummaryRow> = sqlx::query_as(concat!(summary!(), " WHERE w.id = ?1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(WorkflowSummary::from))
}

/// One page of a workflow's versions, newest first; the cursor is the last
/// version read.
pub(super) async fn page_versions(
    pool: &SqlitePool,
    id: &str,
    request: PageRequest,
) -> Result<Page<WorkflowVersion>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let before = match request.cursor.as_deref() {
        Some(token) => Cursor::decode(token)?.at.as_millis(),
        None => i64::MAX,
    };
    let rows: Vec<VersionRow> = sqlx::query_as(concat!(
        "SELECT ",
        version_columns!(),
        " FROM workflow_versions WHERE workflow_id = ?1 AND version < ?2",
        " ORDER BY version DESC LIMIT ?3"
    ))
    .bind(id)
    .bind(before)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<WorkflowVersion> = convert(rows)?;
    Ok(cursor::page(items, limit, |v: &WorkflowVersion| {
        (Timestamp::from_millis(v.version), String::new())
    }))
}

pub(super) async fn version(
    pool: &SqlitePool,
    id: &str,
    number: i64,
) -> Result<Option<WorkflowVersion>> {
    let row: Option<VersionRow> = sqlx::query_as(concat!(
        "SELECT ",
        version_columns!(),
        " FROM workflow_versions WHERE workflow_id = ?1 AND version = ?2"
    ))
    .bind(id)
    .bind(number)
    .fetch_optional(pool)
    .await?;
    row.map(WorkflowVersion::try_from).transpose()
}

pub(super) async fn latest_published(
    pool: &SqlitePool,
    id: &str,
) -> Result<Option<WorkflowVersion>> {
    let row: Option<VersionRow> = sqlx::query_as(concat!(
        "SELECT ",
        version_columns!(),
        " FROM workflow_versions WHERE workflow_id = ?1 AND status = 'published' \
          ORDER BY version DESC LIMIT 1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(WorkflowVersion::try_from).transpose()
}
