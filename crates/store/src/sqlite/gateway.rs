//! Policy sets, halts, artifacts and single-use escalations.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::Timestamp;
use serde_json::Value;
use sqlx::{FromRow, SqliteConnection, SqlitePool};

use super::rows::{ApprovalDbRow, approval_columns, convert};
use super::{audit, ops, runs, work};
use crate::GLOBAL_STREAM;
use crate::clock::wall_clock;
use crate::error::{Error, Result};
use crate::gateway::{ArtifactRow, HaltRow, HaltScope, NewPolicySet, PolicySetRow};
use crate::model::{ApprovalRow, CompleteWork, NewApproval, Op};

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

impl From<PolicyDbRow> for PolicySetRow {
    fn from(r: PolicyDbRow) -> Self {
        Self {
            version: r.version,
            text: r.text,
            sha256: r.sha256,
            status: r.status,
            note: r.note,
            created_by: r.created_by,
            created_at: Timestamp::from_millis(r.created_at),
            published_by: r.published_by,
            published_at: r.published_at.map(Timestamp::from_millis),
        }
    }
}

macro_rules! policy_columns {
    () => {
        "version, text, sha256, status, note, created_by, created_at, published_by, published_at"
    };
}

pub(super) async fn create_policy_set(
    conn: &mut SqliteConnection,
    new: NewPolicySet,
) -> Result<PolicySetRow> {
    let version: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM policy_sets")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO policy_sets (version, text, sha256, status, note, created_by, created_at) \
         VALUES (?1, ?2, ?3, 'draft', ?4, ?5, ?6)",
    )
    .bind(version)
    .bind(&new.text)
    .bind(&new.sha256)
    .bind(&new.note)
    .bind(&new.created_by)
    .bind(new.at.as_millis())
    .execute(&mut *conn)
    .await?;
    audit::append(&mut *conn, GLOBAL_STREAM, vec![new.audit]).await?;
    get_policy_set_conn(conn, version)
        .await?
        .ok_or_else(|| Error::invalid("the policy set vanished while it was written"))
}

pub(super) async fn publish_policy_set(
    conn: &mut SqliteConnection,
    version: i64,
    by: &str,
    at: Timestamp,
    audit_draft: AuditDraft,
) -> Result<PolicySetRow> {
    let changed = sqlx::query(
        "UPDATE policy_sets SET status = 'published', published_by = ?2, published_at = ?3 \
         WHERE version = ?1 AND status = 'draft'",
    )
    .bind(version)
    .bind(by)
    .bind(at.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let row = get_policy_set_conn(conn, version).await?;
    match (changed, row) {
        (1, Some(row)) => {
            audit::append(&mut *conn, GLOBAL_STREAM, vec![audit_draft]).await?;
            Ok(row)
        }
        (_, Some(_)) => Err(Error::Conflict {
            reason: format!("policy set {version} is already published"),
        }),
        (_, None) => Err(Error::NotFound {
            what: "policy set",
            id: version.to_string(),
        }),
    }
}

async fn get_policy_set_conn(
    conn: &mut SqliteConnection,
    version: i64,
) -> Result<Option<PolicySetRow>> {
    let row: Option<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets WHERE version = ?1"
    ))
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(Into::into))
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
    Ok(row.map(Into::into))
}

pub(super) async fn list_policy_sets(pool: &SqlitePool) -> Result<Vec<PolicySetRow>> {
    let rows: Vec<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets ORDER BY version DESC"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub(super) async fn active_policy_set(pool: &SqlitePool) -> Result<Option<PolicySetRow>> {
    let row: Option<PolicyDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        policy_columns!(),
        " FROM policy_sets WHERE status = 'published' ORDER BY version DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

pub(super) async fn set_halt(
    conn: &mut SqliteConnection,
    halt: HaltRow,
    audit_draft: AuditDraft,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO gateway_halts (scope, target, reason, halted_by, halted_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (scope, target) DO UPDATE SET reason = excluded.reason, \
           halted_by = excluded.halted_by, halted_at = excluded.halted_at",
    )
    .bind(halt.scope.as_str())
    .bind(&halt.target)
    .bind(&halt.reason)
    .bind(&halt.halted_by)
    .bind(halt.halted_at.as_millis())
    .execute(&mut *conn)
    .await?;
    audit::append(&mut *conn, GLOBAL_STREAM, vec![audit_draft]).await
}

pub(super) async fn clear_halt(
    conn: &mut SqliteConnection,
    scope: HaltScope,
    target: &str,
    audit_draft: AuditDraft,
) -> Result<bool> {
    let removed = sqlx::query("DELETE FROM gateway_halts WHERE scope = ?1 AND target = ?2")
        .bind(scope.as_str())
        .bind(target)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed > 0 {
        audit::append(&mut *conn, GLOBAL_STREAM, vec![audit_draft]).await?;
    }
    Ok(removed > 0)
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
         ORDER BY halted_at, scope, target",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
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
        })
        .collect()
}

pub(super) async fn put_artifact(
    conn: &mut SqliteConnection,
    meta: ArtifactRow,
    content: Vec<u8>,
    at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO artifact_blobs (run_id, sha256, content, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (run_id, sha256) DO NOTHING",
    )
    .bind(&meta.run_id)
    .bind(&meta.sha256)
    .bind(content)
    .bind(at.as_millis())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO artifact_paths (run_id, path, sha256, size, media_type, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, \
           media_type = excluded.media_type, updated_at = excluded.updated_at",
    )
    .bind(&meta.run_id)
    .bind(&meta.path)
    .bind(&meta.sha256)
    .bind(i64::try_from(meta.size).unwrap_or(i64::MAX))
    .bind(&meta.media_type)
    .bind(at.as_millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
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
        run_id: r.run_id,
        path: r.path,
        sha256: r.sha256,
        size: u64::try_from(r.size).unwrap_or_default(),
        media_type: r.media_type,
    }))
}

/// Marks an approved escalation used; false when it was not approved or was
/// already used (so a second execution of the same approval is refused).
pub(super) async fn consume_escalation(
    conn: &mut SqliteConnection,
    approval_id: &str,
    at: Timestamp,
) -> Result<bool> {
    let changed = sqlx::query(
        "UPDATE approvals SET consumed_at = ?2, updated_at = ?2 \
         WHERE id = ?1 AND kind = 'tool_escalation' AND status = 'approved' \
           AND consumed_at IS NULL",
    )
    .bind(approval_id)
    .bind(at.as_millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Completes a step's execution as paused on an escalated tool call: the
/// work row is done (nothing claims it while a human decides), the run gets
/// its pause event, and the approval opens, all in one transaction.
pub(super) async fn pause_work(
    conn: &mut SqliteConnection,
    done: CompleteWork,
    approval: NewApproval,
) -> Result<bool> {
    let run_id = done.run_id.clone();
    if !work::complete(&mut *conn, done).await? {
        return Ok(false);
    }
    ops::apply(
        &mut *conn,
        &run_id,
        Op::OpenApproval { approval },
        wall_clock(),
    )
    .await?;
    Ok(true)
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

/// Expires one pending approval: an expiry is a decision nobody made, so the
/// run is told (`event`); for an escalation the step then runs again and the
/// gateway refuses the call. False when someone decided first.
pub(super) async fn expire(
    conn: &mut SqliteConnection,
    approval: &ApprovalRow,
    event: Value,
    audit_draft: AuditDraft,
) -> Result<bool> {
    let now = wall_clock().as_millis();
    let changed = sqlx::query(
        "UPDATE approvals SET status = 'expired', updated_at = ?2 \
         WHERE id = ?1 AND status = 'pending'",
    )
    .bind(&approval.id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    runs::insert_event(
        &mut *conn,
        &approval.run_id,
        &event,
        Some(&format!("expire:{}", approval.id)),
        Timestamp::from_millis(now),
    )
    .await?;
    audit::append(&mut *conn, &approval.run_id, vec![audit_draft]).await?;
    Ok(true)
}

/// Risk levels in order; the SQL below ranks by position in this list.
const RISK_LEVELS: [&str; 4] = ["low", "medium", "high", "critical"];

pub(super) async fn raise_risk_level(
    conn: &mut SqliteConnection,
    run_id: &str,
    level: &str,
) -> Result<()> {
    if !RISK_LEVELS.contains(&level) {
        return Err(Error::invalid(format!(
            "a risk level is one of {}, not '{level}'",
            RISK_LEVELS.join(", ")
        )));
    }
    sqlx::query(
        "UPDATE runs SET risk_level = ?2 WHERE id = ?1 AND \
           (CASE COALESCE(risk_level, '') WHEN 'low' THEN 1 WHEN 'medium' THEN 2 \
              WHEN 'high' THEN 3 WHEN 'critical' THEN 4 ELSE 0 END) < \
           (CASE ?2 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 \
              WHEN 'critical' THEN 4 ELSE 0 END)",
    )
    .bind(run_id)
    .bind(level)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
