//! Policy sets, halts, artifacts and single-use escalations.

use agentwerke_types::{Timestamp, ToolCallId};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{FromRow, SqlitePool};

use super::rows::{ApprovalDbRow, approval_columns, convert, from_sqlite, named};
use crate::MAX_PAGE;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::gateway::{ArtifactRow, HaltRow, HaltScope, PolicySetRow};
use crate::model::{ApprovalRow, Page, PageRequest};

#[derive(FromRow)]
struct PolicyDbRow {
    version: i64,
    text: String,
    sha256: String,
    status: String,
    note: Option<String>,
    created_by: String,
    created_at: i64,
    published_by: Option<String>,
    published_at: Option<i64>,
}

from_sqlite!(PolicyDbRow {
    version,
    text,
    sha256,
    status,
    note,
    created_by,
    created_at,
    published_by,
    published_at,
});

impl TryFrom<PolicyDbRow> for PolicySetRow {
    type Error = Error;

    fn try_from(r: PolicyDbRow) -> Result<Self> {
        Ok(Self {
            version: r.version,
            text: r.text,
            sha256: r.sha256,
            status: named(&r.status, || format!("policy_sets.status of {}", r.version))?,
            note: r.note,
            created_by: r.created_by,
            created_at: Timestamp::from_millis(r.created_at),
            published_by: r.published_by,
            published_at: r.published_at.map(Timestamp::from_millis),
        })
    }
}

macro_rules! policy_columns {
    () => {
        "version, text, sha256, status, note, created_by, created_at, published_by, published_at"
    };
}

/// Inserts draft `version`, which must be the next number: a concurrent
/// draft that took it refuses this one.
pub(super) fn draft_policy_set(
    conn: &Connection,
    version: i64,
    new: &NewPolicySet<'_>,
    at: Timestamp,
) -> Result<PolicySetRow> {
    let next: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM policy_sets")?
        .query_row([], |row| row.get(0))?;
    if version != next {
        return Err(Error::Conflict {
            reason: format!("policy set {version} is not the next draft (that is {next})"),
        });
    }
    conn.prepare_cached(
        "INSERT INTO policy_sets (version, text, sha256, status, note, created_by, created_at) \
         VALUES (?1, ?2, ?3, 'draft', ?4, ?5, ?6)",
    )?
    .execute(params![
        version,
        new.text,
        new.sha256,
        new.note,
        new.created_by,
        at.as_millis(),
    ])?;
    policy_set_on(conn, version)?
        .ok_or_else(|| Error::invalid("the policy set vanished while it was written"))
}

/// A draft's columns, borrowed from the row that writes it.
pub(super) struct NewPolicySet<'a> {
    pub(super) text: &'a str,
    pub(super) sha256: &'a str,
    pub(super) note: Option<&'a str>,
    pub(super) created_by: &'a str,
}

/// Publishes a draft; one that is published already is a `Conflict`.
pub(super) fn publish_policy_set(
    conn: &Connection,
    version: i64,
    by: &str,
    at: Timestamp,
) -> Result<PolicySetRow> {
    let changed = conn
        .prepare_cached(
            "UPDATE policy_sets SET status = 'published', published_by = ?2, published_at = ?3 \
             WHERE version = ?1 AND status = 'draft'",
        )?
        .execute(params![version, by, at.as_millis()])?;
    match (changed, policy_set_on(conn, version)?) {
        (1, Some(row)) => Ok(row),
        (_, Some(_)) => Err(Error::Conflict {
            reason: format!("policy set {version} is already published"),
        }),
        (_, None) => Err(Error::NotFound {
            what: "policy set",
            id: version.to_string(),
        }),
    }
}

/// One policy set, read inside the writer's transaction.
fn policy_set_on(conn: &Connection, version: i64) -> Result<Option<PolicySetRow>> {
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            policy_columns!(),
            " FROM policy_sets WHERE version = ?1"
        ))?
        .query_row([version], PolicyDbRow::from_sqlite)
        .optional()?;
    row.map(PolicySetRow::try_from).transpose()
}

pub(super) async fn get_policy_set(
    pool: &SqlitePool,
    version: i64,
) -> Result<Option<PolicySetRow>> {
    let row: Option<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets WHERE version = ?1"
    ))
    .bind(version)
    .fetch_optional(pool)
    .await?;
    row.map(PolicySetRow::try_from).transpose()
}

pub(super) async fn list_policy_sets(pool: &SqlitePool) -> Result<Vec<PolicySetRow>> {
    let rows: Vec<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets ORDER BY version DESC"
    ))
    .fetch_all(pool)
    .await?;
    convert(rows)
}

/// One page of policy sets, newest first; the cursor names the last version
/// of the page before (as its timestamp part).
pub(super) async fn page_policy_sets(
    pool: &SqlitePool,
    request: PageRequest,
) -> Result<Page<PolicySetRow>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let before = match request.cursor.as_deref() {
        Some(token) => Cursor::decode(token)?.at.as_millis(),
        None => i64::MAX,
    };
    let rows: Vec<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets WHERE version < ?1 ORDER BY version DESC LIMIT ?2"
    ))
    .bind(before)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<PolicySetRow> = convert(rows)?;
    Ok(cursor::page(items, limit, |p: &PolicySetRow| {
        (Timestamp::from_millis(p.version), String::new())
    }))
}

pub(super) async fn active_policy_set(pool: &SqlitePool) -> Result<Option<PolicySetRow>> {
    let row: Option<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets WHERE status = 'published' ORDER BY version DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    row.map(PolicySetRow::try_from).transpose()
}

/// Who holds the lease of a step the kill switch stopped; its lease never
/// runs out, so only lifting the halt ([`clear_halt`]) frees it.
pub(super) const KILL_SWITCH: &str = "kill-switch";

/// Halts a scope, or re-halts it with a new reason. A target that does not
/// fit its scope (one for `global`, none for `agent` or `workflow`) is
/// refused: such a halt would cover nothing, or be lifted by nobody.
pub(super) fn set_halt(conn: &Connection, halt: &HaltRow) -> Result<HaltRow> {
    if (halt.scope == HaltScope::Global) != halt.target.is_empty() {
        return Err(Error::invalid(format!(
            "a {} halt {}",
            halt.scope.as_str(),
            if halt.scope == HaltScope::Global {
                "names no target"
            } else {
                "names its target"
            }
        )));
    }
    conn.prepare_cached(
        "INSERT INTO gateway_halts (scope, target, reason, halted_by, halted_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (scope, target) DO UPDATE SET reason = excluded.reason, \
           halted_by = excluded.halted_by, halted_at = excluded.halted_at",
    )?
    .execute(params![
        halt.scope.as_str(),
        halt.target,
        halt.reason,
        halt.halted_by,
        halt.halted_at.as_millis(),
    ])?;
    Ok(halt.clone())
}

/// Lifts the halt of `scope` and `target` and frees every step the kill
/// switch held; the halt as it was. `Conflict`, and nothing written, when
/// no such halt is in force.
pub(super) fn clear_halt(conn: &Connection, scope: HaltScope, target: &str) -> Result<HaltRow> {
    let lifted: Option<HaltDbRow> = conn
        .prepare_cached(
            "DELETE FROM gateway_halts WHERE scope = ?1 AND target = ?2 \
             RETURNING scope, target, reason, halted_by, halted_at",
        )?
        .query_row(params![scope.as_str(), target], |row| {
            Ok(HaltDbRow {
                scope: row.get(0)?,
                target: row.get(1)?,
                reason: row.get(2)?,
                halted_by: row.get(3)?,
                halted_at: row.get(4)?,
            })
        })
        .optional()?;
    let Some(lifted) = lifted else {
        let of = if target.is_empty() {
            String::new()
        } else {
            format!(" of '{target}'")
        };
        return Err(Error::Conflict {
            reason: format!("no {} halt{of} is in force", scope.as_str()),
        });
    };
    // Every held step is freed; one another halt still covers is held
    // again by the executor that claims it (`Row::HoldWork`).
    conn.prepare_cached(
        "UPDATE work SET lease_owner = NULL, lease_until = NULL \
         WHERE status = 'pending' AND lease_owner = ?1",
    )?
    .execute([KILL_SWITCH])?;
    HaltRow::try_from(lifted)
}

/// Whether a halt covers a step of `agent` in `workflow_id`: the global
/// one, its agent's or its workflow's. Read inside the writer's transaction
/// that holds the step, so a halt lifted a moment ago is not seen.
pub(super) fn halted(conn: &Connection, agent: &str, workflow_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM gateway_halts WHERE scope = 'global' \
               OR (scope = 'agent' AND target = ?1) OR (scope = 'workflow' AND target = ?2))",
        )?
        .query_row(params![agent, workflow_id], |row| row.get(0))?)
}

#[derive(FromRow)]
struct HaltDbRow {
    scope: String,
    target: String,
    reason: String,
    halted_by: String,
    halted_at: i64,
}

pub(super) async fn halts(pool: &SqlitePool) -> Result<Vec<HaltRow>> {
    let rows: Vec<HaltDbRow> = sqlx::query_as(
        "SELECT scope, target, reason, halted_by, halted_at FROM gateway_halts \
         ORDER BY halted_at, scope || ':' || target",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(HaltRow::try_from).collect()
}

/// One page of the halts in force, oldest first; the cursor is the last
/// halt's time and `scope:target`.
pub(super) async fn page_halts(pool: &SqlitePool, request: PageRequest) -> Result<Page<HaltRow>> {
    let limit = request.limit.clamp(1, MAX_PAGE);
    let (after_at, after_key) = Cursor::after(request.cursor.as_deref())?;
    let rows: Vec<HaltDbRow> = sqlx::query_as(
        "SELECT scope, target, reason, halted_by, halted_at FROM gateway_halts \
         WHERE (halted_at, scope || ':' || target) > (?1, ?2) \
         ORDER BY halted_at, scope || ':' || target LIMIT ?3",
    )
    .bind(after_at)
    .bind(after_key)
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(HaltRow::try_from)
        .collect::<Result<Vec<_>>>()?;
    Ok(cursor::page(items, limit, |h: &HaltRow| {
        (h.halted_at, format!("{}:{}", h.scope.as_str(), h.target))
    }))
}

impl TryFrom<HaltDbRow> for HaltRow {
    type Error = Error;

    fn try_from(r: HaltDbRow) -> Result<Self> {
        let scope = HaltScope::parse(&r.scope).ok_or_else(|| Error::Corrupt {
            what: format!("unknown halt scope '{}'", r.scope),
        })?;
        Ok(HaltRow {
            scope,
            target: r.target,
            reason: r.reason,
            halted_by: r.halted_by,
            halted_at: Timestamp::from_millis(r.halted_at),
        })
    }
}

/// Writes one `artifact.write` call's artifact, keyed by its call id: the
/// content by hash, the path pointed at it. A call id seen before writes
/// nothing and answers false, so a call run again after a crash cannot point
/// a path back at content a later call of the step replaced.
pub(super) fn put_artifact(
    conn: &Connection,
    meta: &ArtifactRow,
    content: &[u8],
    call_id: &ToolCallId,
    at: Timestamp,
) -> Result<bool> {
    let first = conn
        .prepare_cached(
            "INSERT INTO artifact_writes (call_id, run_id, path, sha256, written_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (call_id) DO NOTHING",
        )?
        .execute(params![
            call_id.as_str(),
            meta.run_id.as_str(),
            meta.path,
            meta.sha256,
            at.as_millis()
        ])?;
    if first == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO artifact_blobs (run_id, sha256, content, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (run_id, sha256) DO NOTHING",
    )?
    .execute(params![
        meta.run_id.as_str(),
        meta.sha256,
        content,
        at.as_millis()
    ])?;
    conn.prepare_cached(
        "INSERT INTO artifact_paths (run_id, path, sha256, size, media_type, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
           media_type = excluded.media_type, updated_at = excluded.updated_at",
    )?
    .execute(params![
        meta.run_id.as_str(),
        meta.path,
        meta.sha256,
        i64::try_from(meta.size).unwrap_or(i64::MAX),
        meta.media_type,
        at.as_millis(),
    ])?;
    Ok(true)
}

pub(super) async fn get_artifact(
    pool: &SqlitePool,
    run_id: &str,
    sha256: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT content FROM artifact_blobs WHERE run_id = ?1 AND sha256 = ?2")
            .bind(run_id)
            .bind(sha256)
            .fetch_optional(pool)
            .await?,
    )
}

#[derive(FromRow)]
struct ArtifactDbRow {
    run_id: String,
    path: String,
    sha256: String,
    size: i64,
    media_type: String,
}

pub(super) async fn find_artifact(
    pool: &SqlitePool,
    run_id: &str,
    path: &str,
) -> Result<Option<ArtifactRow>> {
    let row: Option<ArtifactDbRow> = sqlx::query_as(
        "SELECT run_id, path, sha256, size, media_type FROM artifact_paths \
         WHERE run_id = ?1 AND path = ?2",
    )
    .bind(run_id)
    .bind(path)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| ArtifactRow {
        run_id: r.run_id.into(),
        path: r.path,
        sha256: r.sha256,
        size: u64::try_from(r.size).unwrap_or_default(),
        media_type: r.media_type,
    }))
}

/// Pending approvals whose time ran out.
pub(super) async fn due_expiries(pool: &SqlitePool, now: Timestamp) -> Result<Vec<ApprovalRow>> {
    let rows: Vec<ApprovalDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= ?1 \
          ORDER BY expires_at, id LIMIT 100"
    ))
    .bind(now.as_millis())
    .fetch_all(pool)
    .await?;
    convert(rows)
}
