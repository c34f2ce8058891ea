//! Engine commits in bulk; see the [batch](super) module for the scheme.
//!
//! Planned: a commit whose lease and state version check out, whose inbox
//! rows are all still unprocessed and its own, whose ops only insert work,
//! open new approvals or store records, and whose audit drafts name its run.
//! Everything else (cancellations, timers, message waits, retried approval
//! ids, any failed check) goes through [`runs::commit`] one at a time.

use std::collections::HashMap;

use agentwerke_evidence::chain::ChainHead;
use serde_json::{Value, json};
use sqlx::{FromRow, SqliteConnection};

use super::{Broken, Savepoint, end, finish_fast, mismatch, savepoint, unplan_shared};
use crate::clock::wall_clock;
use crate::error::Result;
use crate::model::{Commit, Op};
use crate::sqlite::{audit, json_text, runs};

/// Writes `commits`, each all-or-nothing, and returns their results in order.
pub(in crate::sqlite) async fn write(
    conn: &mut SqliteConnection,
    commits: Vec<Commit>,
) -> Result<Vec<Result<()>>, Broken> {
    if commits.is_empty() {
        return Ok(Vec::new());
    }
    let mut planned = plan_in_memory(&commits);
    let heads = match plan_with_reads(conn, &commits, &mut planned).await {
        Ok(heads) => heads,
        Err(error) => {
            tracing::warn!(%error, "planning batched commits failed; writing them one by one");
            planned.fill(false);
            HashMap::new()
        }
    };
    let fast_done = if planned.contains(&true) {
        savepoint(conn, Savepoint::Fast).await?;
        let written = write_planned(conn, &commits, &planned, heads).await;
        finish_fast(conn, "commits", written).await?
    } else {
        false
    };
    let mut results = Vec::with_capacity(commits.len());
    for (commit, planned) in commits.into_iter().zip(planned) {
        if planned && fast_done {
            results.push(Ok(()));
            continue;
        }
        savepoint(conn, Savepoint::One).await?;
        let result = runs::commit(conn, commit).await;
        end(conn, Savepoint::One, result.is_ok()).await?;
        results.push(result);
    }
    Ok(results)
}

fn plan_in_memory(commits: &[Commit]) -> Vec<bool> {
    let mut planned: Vec<bool> = commits
        .iter()
        .map(|c| {
            c.ops.iter().all(|op| match op {
                Op::InsertWork { .. } | Op::Record { .. } => true,
                Op::OpenApproval { approval } => {
                    matches!(approval.kind.as_str(), "gate" | "tool_escalation")
                }
                _ => false,
            }) && c.audit.iter().all(|d| d.run_id == c.run_id)
        })
        .collect();
    unplan_shared(
        &mut planned,
        commits.iter().map(|c| vec![c.run_id.clone()]).collect(),
    );
    unplan_shared(
        &mut planned,
        commits
            .iter()
            .map(|c| c.processed_inbox_ids.clone())
            .collect(),
    );
    unplan_shared(
        &mut planned,
        commits.iter().map(|c| approval_ids(c).collect()).collect(),
    );
    planned
}

fn approval_ids(commit: &Commit) -> impl Iterator<Item = String> + '_ {
    commit.ops.iter().filter_map(|op| match op {
        Op::OpenApproval { approval } => Some(approval.id.clone()),
        _ => None,
    })
}

#[derive(FromRow)]
struct Lease {
    id: String,
    lease_owner: Option<String>,
    state_version: i64,
}

#[derive(FromRow)]
struct Unprocessed {
    id: i64,
    run_id: String,
}

/// Unplans the commits a single call would refuse or that need its care,
/// and returns the audit chain heads of the rest.
async fn plan_with_reads(
    conn: &mut SqliteConnection,
    commits: &[Commit],
    planned: &mut [bool],
) -> Result<HashMap<String, ChainHead>> {
    let chosen =
        |planned: &[bool]| -> Vec<usize> { (0..commits.len()).filter(|&i| planned[i]).collect() };
    let ids: Vec<&str> = chosen(planned)
        .into_iter()
        .map(|i| commits[i].run_id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let leases: Vec<Lease> = sqlx::query_as(
        "SELECT id, lease_owner, state_version FROM runs \
         WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_text(&Value::from(ids)))
    .fetch_all(&mut *conn)
    .await?;
    let leases: HashMap<String, Lease> = leases.into_iter().map(|l| (l.id.clone(), l)).collect();
    for i in chosen(planned) {
        let commit = &commits[i];
        planned[i] = leases.get(&commit.run_id).is_some_and(|lease| {
            lease.lease_owner.as_deref() == Some(commit.owner.as_str())
                && lease.state_version == commit.expected_state_version
        });
    }

    let inbox_ids: Vec<i64> = chosen(planned)
        .into_iter()
        .flat_map(|i| commits[i].processed_inbox_ids.iter().copied())
        .collect();
    if !inbox_ids.is_empty() {
        let open: Vec<Unprocessed> = sqlx::query_as(
            "SELECT id, run_id FROM inbox \
             WHERE id IN (SELECT value FROM json_each(?1)) AND processed_at IS NULL",
        )
        .bind(json_text(&Value::from(inbox_ids)))
        .fetch_all(&mut *conn)
        .await?;
        let open: HashMap<i64, String> = open.into_iter().map(|u| (u.id, u.run_id)).collect();
        for i in chosen(planned) {
            let commit = &commits[i];
            planned[i] = commit
                .processed_inbox_ids
                .iter()
                .all(|id| open.get(id) == Some(&commit.run_id));
        }
    }

    let approvals: Vec<String> = chosen(planned)
        .into_iter()
        .flat_map(|i| approval_ids(&commits[i]))
        .collect();
    if !approvals.is_empty() {
        let taken: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_text(&Value::from(approvals)))
        .fetch_all(&mut *conn)
        .await?;
        if !taken.is_empty() {
            for i in chosen(planned) {
                planned[i] = !approval_ids(&commits[i]).any(|id| taken.contains(&id));
            }
        }
    }

    audit::heads(
        conn,
        chosen(planned)
            .into_iter()
            .map(|i| commits[i].run_id.as_str()),
    )
    .await
}

/// Writes every planned commit with one statement per table.
async fn write_planned(
    conn: &mut SqliteConnection,
    commits: &[Commit],
    planned: &[bool],
    mut heads: HashMap<String, ChainHead>,
) -> Result<()> {
    let now = wall_clock().as_millis();
    let chosen: Vec<&Commit> = commits
        .iter()
        .zip(planned)
        .filter_map(|(c, planned)| planned.then_some(c))
        .collect();

    let states: Vec<Value> = chosen
        .iter()
        .map(|c| {
            json!([
                c.run_id,
                json_text(&c.state),
                c.status,
                c.risk_level,
                c.completed_at.map(|t| t.as_millis())
            ])
        })
        .collect();
    let updated = sqlx::query(
        "UPDATE runs SET state = u.value ->> 1, status = u.value ->> 2, \
           state_version = state_version + 1, risk_level = COALESCE(u.value ->> 3, risk_level), \
           completed_at = COALESCE(u.value ->> 4, completed_at), updated_at = ?2, \
           lease_owner = NULL, lease_until = NULL \
         FROM json_each(?1) AS u WHERE runs.id = u.value ->> 0",
    )
    .bind(json_text(&Value::Array(states)))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != chosen.len() as u64 {
        return Err(mismatch(
            "run update",
            chosen.len(),
            updated.rows_affected(),
        ));
    }

    let inbox_ids: Vec<i64> = chosen
        .iter()
        .flat_map(|c| c.processed_inbox_ids.iter().copied())
        .collect();
    if !inbox_ids.is_empty() {
        let marked = sqlx::query(
            "UPDATE inbox SET processed_at = ?2 \
             WHERE id IN (SELECT value FROM json_each(?1)) AND processed_at IS NULL",
        )
        .bind(json_text(&Value::from(inbox_ids.clone())))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if marked.rows_affected() != inbox_ids.len() as u64 {
            return Err(mismatch(
                "inbox update",
                inbox_ids.len(),
                marked.rows_affected(),
            ));
        }
    }

    let mut work = Vec::new();
    let mut approvals = Vec::new();
    let mut records = Vec::new();
    for commit in &chosen {
        for op in &commit.ops {
            match op {
                Op::InsertWork {
                    work_id,
                    kind,
                    payload,
                } => work.push(json!([commit.run_id, work_id, kind, json_text(payload)])),
                Op::OpenApproval { approval } => approvals.push(json!([
                    approval.id,
                    commit.run_id,
                    approval.work_id,
                    approval.node_id,
                    approval.kind,
                    json_text(&approval.request),
                    approval.expires_at.map(|t| t.as_millis())
                ])),
                Op::Record { kind, data } => {
                    records.push(json!([commit.run_id, kind, json_text(data)]));
                }
                // Planning leaves every other op to the one-by-one path.
                _ => return Err(mismatch("op kinds", 0, 1)),
            }
        }
    }
    if !work.is_empty() {
        // Idempotent per (run, work_id), like the single-call insert.
        sqlx::query(
            "INSERT INTO work (run_id, work_id, kind, payload, status, created_at, updated_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 'pending', ?2, ?2 \
               FROM json_each(?1) WHERE true ORDER BY key \
             ON CONFLICT (run_id, work_id) DO NOTHING",
        )
        .bind(json_text(&Value::Array(work)))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    if !approvals.is_empty() {
        let count = approvals.len();
        let inserted = sqlx::query(
            "INSERT INTO approvals (id, run_id, work_id, node_id, kind, request, status, \
               expires_at, created_at, updated_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                    'pending', value ->> 6, ?2, ?2 \
               FROM json_each(?1) ORDER BY key",
        )
        .bind(json_text(&Value::Array(approvals)))
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() != count as u64 {
            return Err(mismatch("approval insert", count, inserted.rows_affected()));
        }
    }
    insert_records(conn, records, now).await?;

    let records = audit::chain_all(
        &mut heads,
        chosen.iter().flat_map(|c| c.audit.iter().cloned()),
    );
    audit::insert_all(conn, &records).await
}

/// Stores evidence records `[run_id, kind, data_text]` in array order.
pub(super) async fn insert_records(
    conn: &mut SqliteConnection,
    records: Vec<Value>,
    now: i64,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO records (run_id, kind, data, created_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, ?2 FROM json_each(?1) ORDER BY key",
    )
    .bind(json_text(&Value::Array(records)))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
