//! Runs, their inboxes, and the claim/commit cycle.
//!
//! Lease model: `claim` stamps `lease_owner`/`lease_until` on runs with
//! unprocessed events; `commit` succeeds only for the lease owner at the
//! `state_version` it claimed, and releases the lease. Inbox rows are marked
//! processed in that same commit, so a crash anywhere before it leaves the
//! events unprocessed for the next claim, and a crash after it leaves nothing
//! to apply twice. An expired lease is only taken over by a new claim; until
//! then the old owner may still commit, which is safe because nobody else has
//! read the run's state since.

use std::collections::HashMap;

use agentwerke_evidence::chain::{AuditDraft, SealedDraft};
use agentwerke_types::{RiskLevel, RunStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use sqlx::{SqliteExecutor, SqlitePool};

use super::audit::Chain;
use super::rows::{RunDbRow, convert, run_columns};
use super::{audit, ops, parse_json, sql_limit};
use crate::MAX_EVENTS_PER_CLAIM;
use crate::MAX_PAGE;
use crate::change::CreatedRun;
use crate::clock::wall_clock;
use crate::cursor::{self, Cursor};
use crate::error::{Error, Result};
use crate::model::{
    AppliedStep, ClaimedRun, Commit, Delivered, InboxEvent, NewRun, Op, Page, RunFilter, RunRow,
};

/// A step's effects and audit records, with their JSON written and the
/// drafts sealed by the caller, so the writer only binds and hashes.
struct Effects {
    ops: Vec<Op>,
    ops_json: Vec<Option<String>>,
    audit: Vec<SealedDraft>,
}

impl Effects {
    fn new(ops: Vec<Op>, audit: Vec<AuditDraft>) -> Self {
        Self {
            ops_json: ops.iter().map(ops::json_of).collect(),
            ops,
            audit: audit::seal(audit),
        }
    }

    /// Takes a call's ops and audit drafts out of it, leaving both empty.
    fn take(ops: &mut Vec<Op>, audit: &mut Vec<AuditDraft>) -> Self {
        Self::new(std::mem::take(ops), std::mem::take(audit))
    }

    /// Writes the ops, then appends the audit records.
    fn write(&self, conn: &Connection, chain: &mut Chain<'_>, now: Timestamp) -> Result<()> {
        for (op, json) in self.ops.iter().zip(&self.ops_json) {
            ops::apply(conn, chain.stream(), op, json.as_deref(), now)?;
        }
        chain.append(&self.audit)
    }
}

/// Writes a run's state after a step; the step ends any lease on the run.
fn store_state(
    conn: &Connection,
    run_id: &str,
    state: &str,
    status: RunStatus,
    risk_level: Option<RiskLevel>,
    completed_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET state = ?2, status = ?3, state_version = state_version + 1, \
           risk_level = COALESCE(?4, risk_level), completed_at = COALESCE(?5, completed_at), \
           updated_at = ?6, lease_owner = NULL, lease_until = NULL \
         WHERE id = ?1",
    )?
    .execute(params![
        run_id,
        state,
        status.as_str(),
        risk_level.map(RiskLevel::as_str),
        completed_at.map(Timestamp::as_millis),
        now.as_millis(),
    ])?;
    Ok(())
}

/// Creates `run` at `at` on its published version, then writes its first
/// step's ops (their JSON from [`ops::json_of`], made by the caller). The
/// request's and the step's audit records are the change's, appended after.
pub(super) fn create(
    conn: &Connection,
    run: &NewRun,
    ops_json: &[Option<String>],
    at: Timestamp,
) -> Result<CreatedRun> {
    // Only what the check needs: not the version's document.
    let bpmn_sha256: String = conn
        .prepare_cached(
            "SELECT bpmn_sha256 FROM workflow_versions \
             WHERE workflow_id = ?1 AND version = ?2 AND status = 'published'",
        )?
        .query_row(params![run.workflow_id, run.version], |row| row.get(0))
        .optional()?
        .ok_or_else(|| {
            Error::not_found(
                "published workflow version",
                format!("{}@{}", run.workflow_id, run.version),
            )
        })?;
    if bpmn_sha256 != run.bpmn_sha256 {
        return Err(Error::conflict(format!(
            "run '{}' names a BPMN hash that workflow '{}' version {} does not have",
            run.run_id, run.workflow_id, run.version
        )));
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (id, workflow_id, workflow_version, bpmn_sha256, status, state, \
             state_version, requested_by, inputs, created_at, updated_at, completed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?9, ?10) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            run.run_id.as_str(),
            run.workflow_id,
            run.version,
            run.bpmn_sha256,
            run.status.as_str(),
            run.state.as_str(),
            run.requested_by,
            run.inputs.as_str(),
            at.as_millis(),
            run.completed_at.map(Timestamp::as_millis),
        ])?;
    if inserted == 0 {
        return Err(Error::conflict(format!(
            "run '{}' already exists",
            run.run_id
        )));
    }
    for (op, json) in run.ops.iter().zip(ops_json) {
        ops::apply(conn, run.run_id.as_str(), op, json.as_deref(), at)?;
    }
    Ok(CreatedRun {
        id: run.run_id.clone(),
        workflow_id: run.workflow_id.clone(),
        workflow_version: run.version,
        bpmn_sha256,
        status: run.status,
        created_at: at,
    })
}

pub(super) async fn get<'e>(conn: impl SqliteExecutor<'e>, id: &str) -> Result<Option<RunRow>> {
    let row: Option<RunDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.map(RunRow::try_from).transpose()
}

pub(super) async fn list(pool: &SqlitePool, filter: RunFilter) -> Result<Page<RunRow>> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let after = filter.cursor.as_deref().map(Cursor::decode).transpose()?;
    let rows: Vec<RunDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM runs \
          WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR workflow_id = ?2) \
            AND (?3 IS NULL OR created_at < ?3 OR (created_at = ?3 AND id < ?4)) \
          ORDER BY created_at DESC, id DESC LIMIT ?5"
    ))
    .bind(filter.status.map(RunStatus::as_str))
    .bind(filter.workflow_id)
    .bind(after.as_ref().map(|c| c.at.as_millis()))
    .bind(after.map(|c| c.id))
    .bind(i64::from(limit) + 1)
    .fetch_all(pool)
    .await?;
    let items: Vec<RunRow> = convert(rows)?;
    Ok(cursor::page(items, limit, |run| {
        (run.created_at, run.id.to_string())
    }))
}

/// Fails with `NotFound` unless the run exists.
pub(super) fn require_run(conn: &Connection, run_id: &str) -> Result<()> {
    let found = conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .exists([run_id])?;
    found
        .then_some(())
        .ok_or_else(|| Error::not_found("run", run_id))
}

/// Inserts an inbox event (its JSON text) for an applier; false when
/// `dedup_key` is already taken.
pub(super) fn insert_event(
    conn: &Connection,
    run_id: &str,
    event: &str,
    dedup_key: Option<&str>,
    at: Timestamp,
) -> Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO inbox (run_id, event, dedup_key, created_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (dedup_key) DO NOTHING",
        )?
        .execute(params![run_id, event, dedup_key, at.as_millis()])?;
    Ok(inserted == 1)
}

/// Delivers `event` to the run `chain` belongs to: commits `step` with it
/// when nothing moved the run (see [`AppliedStep`]), and otherwise puts it
/// in the run's inbox for an applier. `between` writes what belongs after
/// the event and before its step; it does not run when the event is a
/// duplicate, which changes nothing.
///
/// A stepped event is not kept: the inbox holds events that wait, and one
/// that is applied at once never waits. Its repeat is refused before it gets
/// here by the caller's own compare-and-set (the work row's status for a
/// result, the approval's for a decision), and the audit chain records what
/// it did.
pub(super) fn deliver(
    conn: &Connection,
    chain: &mut Chain<'_>,
    event: &str,
    dedup_key: Option<&str>,
    step: Option<&StepCall>,
    at: Timestamp,
    between: impl FnOnce(&mut Chain<'_>) -> Result<()>,
) -> Result<Delivered> {
    let run_id = chain.stream();
    let step = match step {
        Some(call) if step_applies(conn, run_id, call, at)? => Some(call),
        _ => None,
    };
    if step.is_none() && !insert_event(conn, run_id, event, dedup_key, at)? {
        return Ok(Delivered::Dropped);
    }
    between(chain)?;
    let Some(call) = step else {
        return Ok(Delivered::Queued);
    };
    let step = &call.step;
    store_state(
        conn,
        run_id,
        step.state.as_str(),
        step.status,
        None,
        step.completed_at,
        at,
    )?;
    call.effects.write(conn, chain, at)?;
    Ok(Delivered::Stepped)
}

/// An [`AppliedStep`] with its JSON written and its audit drafts sealed by
/// the caller, so the writer only binds and hashes.
pub(super) struct StepCall {
    step: AppliedStep,
    effects: Effects,
}

impl StepCall {
    pub(super) fn new(mut step: AppliedStep) -> Self {
        Self {
            effects: Effects::take(&mut step.ops, &mut step.audit),
            step,
        }
    }
}

/// Whether `call`'s step may be committed now: the run is still at the
/// state version the step was computed from, nobody holds its lease, and no
/// event waits in its inbox.
fn step_applies(conn: &Connection, run_id: &str, call: &StepCall, now: Timestamp) -> Result<bool> {
    let (state_version, lease_owner, lease_until): (i64, Option<String>, Option<i64>) = conn
        .prepare_cached("SELECT state_version, lease_owner, lease_until FROM runs WHERE id = ?1")?
        .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?
        .ok_or_else(|| Error::not_found("run", run_id))?;
    let leased = lease_owner.is_some() && lease_until.is_some_and(|until| until > now.as_millis());
    if state_version != call.step.expected_state_version || leased {
        return Ok(false);
    }
    let waiting = conn
        .prepare_cached("SELECT 1 FROM inbox WHERE run_id = ?1 AND processed_at IS NULL")?
        .exists([run_id])?;
    Ok(!waiting)
}

/// What a claim read, still as text. The writer only reads and leases;
/// parsing the JSON happens in [`RawClaim::parse`], on the caller's thread,
/// so the one serial stage does no work it can hand off.
pub(super) struct RawClaim {
    runs: Vec<RunDbRow>,
    events: Vec<InboxRow>,
}

impl RawClaim {
    /// The claimed runs with their events, oldest first.
    pub(super) fn parse(self) -> Result<Vec<ClaimedRun>> {
        let mut events: HashMap<String, Vec<InboxEvent>> = HashMap::new();
        for row in self.events {
            let event = parse_json(&row.event, || format!("inbox.event of row {}", row.id))?;
            events
                .entry(row.run_id)
                .or_default()
                .push(InboxEvent { id: row.id, event });
        }
        self.runs
            .into_iter()
            .map(|row| {
                let run = RunRow::try_from(row)?;
                let events = events.remove(run.id.as_str()).unwrap_or_default();
                Ok(ClaimedRun { run, events })
            })
            .collect()
    }
}

pub(super) fn claim(
    conn: &Connection,
    owner: &str,
    now: Timestamp,
    lease_ms: i64,
    limit: usize,
) -> Result<RawClaim> {
    // Oldest waiting event first, so a busy run cannot starve the others.
    let runs = conn
        .prepare_cached(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs r \
              JOIN (SELECT run_id, MIN(id) AS first_event FROM inbox \
                     WHERE processed_at IS NULL GROUP BY run_id) pending \
                ON pending.run_id = r.id \
              WHERE r.lease_owner IS NULL OR r.lease_until <= ?1 OR r.lease_owner = ?2 \
              ORDER BY pending.first_event LIMIT ?3"
        ))?
        .query_map(
            params![now.as_millis(), owner, sql_limit(limit)],
            RunDbRow::from_sqlite,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let until = now.plus_millis(lease_ms.max(0)).as_millis();
    let mut lease =
        conn.prepare_cached("UPDATE runs SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1")?;
    // The oldest events of each run, at most MAX_EVENTS_PER_CLAIM per run.
    let mut pending = conn.prepare_cached(
        "SELECT id, event FROM inbox WHERE run_id = ?1 AND processed_at IS NULL \
         ORDER BY id LIMIT ?2",
    )?;
    let mut events = Vec::new();
    for run in &runs {
        lease.execute(params![run.id(), owner, until])?;
        let rows =
            pending.query_map(params![run.id(), sql_limit(MAX_EVENTS_PER_CLAIM)], |row| {
                Ok(InboxRow {
                    run_id: run.id().to_owned(),
                    id: row.get(0)?,
                    event: row.get(1)?,
                })
            })?;
        for row in rows {
            events.push(row?);
        }
    }
    Ok(RawClaim { runs, events })
}

struct InboxRow {
    run_id: String,
    id: i64,
    event: String,
}

/// An engine commit with its JSON written and its audit drafts sealed by
/// the caller, so the writer only binds and hashes.
pub(super) struct CommitCall {
    commit: Commit,
    effects: Effects,
}

impl CommitCall {
    pub(super) fn new(mut commit: Commit) -> Self {
        Self {
            effects: Effects::take(&mut commit.ops, &mut commit.audit),
            commit,
        }
    }
}

pub(super) fn commit(conn: &Connection, call: &CommitCall) -> Result<()> {
    let commit = &call.commit;
    let (lease_owner, state_version): (Option<String>, i64) = conn
        .prepare_cached("SELECT lease_owner, state_version FROM runs WHERE id = ?1")?
        .query_row([commit.run_id.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?
        .ok_or_else(|| Error::not_found("run", &commit.run_id))?;
    if lease_owner.as_deref() != Some(commit.owner.as_str()) {
        return Err(Error::LeaseLost {
            run_id: commit.run_id.to_string(),
        });
    }
    if state_version != commit.expected_state_version {
        return Err(Error::conflict(format!(
            "run '{}' is at state version {state_version}, not {}",
            commit.run_id, commit.expected_state_version
        )));
    }
    let now = wall_clock();
    store_state(
        conn,
        &commit.run_id,
        call.commit.state.as_str(),
        commit.status,
        commit.risk_level,
        commit.completed_at,
        now,
    )?;
    let mut mark = conn.prepare_cached(
        "UPDATE inbox SET processed_at = ?3 \
         WHERE id = ?1 AND run_id = ?2 AND processed_at IS NULL",
    )?;
    for id in &commit.processed_inbox_ids {
        if mark.execute(params![id, commit.run_id.as_str(), now.as_millis()])? != 1 {
            return Err(Error::conflict(format!(
                "inbox event {id} of run '{}' is unknown or already processed",
                commit.run_id
            )));
        }
    }
    call.effects
        .write(conn, &mut Chain::new(conn, &commit.run_id), now)
}

/// Raises a run's `risk_level` to `level` and its `risk_peak` to `peak`
/// (`(score, JSON)`) where each is higher; returns both as they now are.
pub(super) fn raise_risk(
    conn: &Connection,
    run_id: &str,
    level: &str,
    peak: Option<(u8, &str)>,
) -> Result<(Option<String>, Option<String>)> {
    if let Some((score, peak)) = peak {
        conn.prepare_cached(
            "UPDATE runs SET risk_peak = ?2 WHERE id = ?1 AND \
               COALESCE(json_extract(risk_peak, '$.score'), -1) < ?3",
        )?
        .execute(params![run_id, peak, score])?;
    }
    conn.prepare_cached(
        "UPDATE runs SET risk_level = ?2 WHERE id = ?1 AND \
           (CASE COALESCE(risk_level, '') WHEN 'low' THEN 1 WHEN 'medium' THEN 2 \
              WHEN 'high' THEN 3 WHEN 'critical' THEN 4 ELSE 0 END) < \
           (CASE ?2 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 \
              WHEN 'critical' THEN 4 ELSE 0 END)",
    )?
    .execute(params![run_id, level])?;
    Ok(conn
        .prepare_cached("SELECT risk_level, risk_peak FROM runs WHERE id = ?1")?
        .query_row([run_id], |row| Ok((row.get(0)?, row.get(1)?)))?)
}
