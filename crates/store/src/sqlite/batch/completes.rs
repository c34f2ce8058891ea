//! Work completions in bulk; see the [batch](super) module for the scheme.
//!
//! Planned: a completion of pending work whose dedup key is unused and whose
//! audit drafts name its run. Repeats, cancelled or unknown work and every
//! other case go through [`work::complete`], which decides them one by one.

use std::collections::{HashMap, HashSet};

use agentwerke_evidence::chain::ChainHead;
use serde_json::{Value, json};
use sqlx::{FromRow, SqliteConnection};

use super::commits::insert_records;
use super::{Broken, Savepoint, end, finish_fast, mismatch, savepoint, unplan_shared};
use crate::clock::wall_clock;
use crate::error::Result;
use crate::model::CompleteWork;
use crate::sqlite::{audit, json_text, work};

/// Completes `calls`, each all-or-nothing, and returns their results in
/// order (true: the result event was queued).
pub(in crate::sqlite) async fn write(
    conn: &mut SqliteConnection,
    calls: Vec<CompleteWork>,
) -> Result<Vec<Result<bool>>, Broken> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let mut planned: Vec<bool> = calls
        .iter()
        .map(|c| c.audit.iter().all(|d| d.run_id == c.run_id))
        .collect();
    unplan_shared(
        &mut planned,
        calls
            .iter()
            .map(|c| vec![format!("{}\n{}", c.run_id, c.work_id), c.dedup_key.clone()])
            .collect(),
    );
    let heads = match plan_with_reads(conn, &calls, &mut planned).await {
        Ok(heads) => heads,
        Err(error) => {
            tracing::warn!(%error, "planning batched completions failed; writing them one by one");
            planned.fill(false);
            HashMap::new()
        }
    };
    let fast_done = if planned.contains(&true) {
        savepoint(conn, Savepoint::Fast).await?;
        let written = write_planned(conn, &calls, &planned, heads).await;
        finish_fast(conn, "work completions", written).await?
    } else {
        false
    };
    let mut results = Vec::with_capacity(calls.len());
    for (call, planned) in calls.into_iter().zip(planned) {
        if planned && fast_done {
            results.push(Ok(true));
            continue;
        }
        savepoint(conn, Savepoint::One).await?;
        let result = work::complete(conn, call).await;
        end(conn, Savepoint::One, result.is_ok()).await?;
        results.push(result);
    }
    Ok(results)
}

#[derive(FromRow)]
struct WorkState {
    run_id: String,
    work_id: String,
    status: String,
    lease_owner: Option<String>,
}

fn pairs<'a>(calls: impl Iterator<Item = &'a CompleteWork>) -> String {
    let pairs: Vec<Value> = calls.map(|c| json!([c.run_id, c.work_id])).collect();
    json_text(&Value::Array(pairs))
}

async fn plan_with_reads(
    conn: &mut SqliteConnection,
    calls: &[CompleteWork],
    planned: &mut [bool],
) -> Result<HashMap<String, ChainHead>> {
    let chosen: Vec<&CompleteWork> = calls
        .iter()
        .zip(planned.iter())
        .filter_map(|(c, planned)| planned.then_some(c))
        .collect();
    if chosen.is_empty() {
        return Ok(HashMap::new());
    }
    let states: Vec<WorkState> = sqlx::query_as(
        "SELECT run_id, work_id, status, lease_owner FROM work \
         WHERE (run_id, work_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))",
    )
    .bind(pairs(chosen.iter().copied()))
    .fetch_all(&mut *conn)
    .await?;
    let states: HashMap<(String, String), WorkState> = states
        .into_iter()
        .map(|s| ((s.run_id.clone(), s.work_id.clone()), s))
        .collect();
    let keys = Value::from(
        chosen
            .iter()
            .map(|c| c.dedup_key.as_str())
            .collect::<Vec<_>>(),
    );
    let used: HashSet<String> = sqlx::query_scalar(
        "SELECT dedup_key FROM inbox WHERE dedup_key IN (SELECT value FROM json_each(?1))",
    )
    .bind(json_text(&keys))
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    for (call, planned) in calls.iter().zip(planned.iter_mut()) {
        if !*planned {
            continue;
        }
        let state = states.get(&(call.run_id.clone(), call.work_id.clone()));
        *planned = state.is_some_and(|s| s.status == "pending") && !used.contains(&call.dedup_key);
        if *planned && state.is_some_and(|s| s.lease_owner.as_deref() != Some(call.owner.as_str()))
        {
            tracing::info!(
                run_id = call.run_id,
                work_id = call.work_id,
                owner = call.owner,
                "work completed by an executor whose lease was taken over"
            );
        }
    }
    audit::heads(
        conn,
        calls
            .iter()
            .zip(planned.iter())
            .filter_map(|(c, planned)| planned.then_some(c.run_id.as_str())),
    )
    .await
}

async fn write_planned(
    conn: &mut SqliteConnection,
    calls: &[CompleteWork],
    planned: &[bool],
    mut heads: HashMap<String, ChainHead>,
) -> Result<()> {
    let now = wall_clock().as_millis();
    let chosen: Vec<&CompleteWork> = calls
        .iter()
        .zip(planned)
        .filter_map(|(c, planned)| planned.then_some(c))
        .collect();
    let events: Vec<Value> = chosen
        .iter()
        .map(|c| json!([c.run_id, json_text(&c.result_event), c.dedup_key]))
        .collect();
    let queued = sqlx::query(
        "INSERT INTO inbox (run_id, event, dedup_key, created_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, ?2 FROM json_each(?1) ORDER BY key",
    )
    .bind(json_text(&Value::Array(events)))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if queued.rows_affected() != chosen.len() as u64 {
        return Err(mismatch(
            "result events",
            chosen.len(),
            queued.rows_affected(),
        ));
    }
    let done = sqlx::query(
        "UPDATE work SET status = 'done', lease_owner = NULL, lease_until = NULL, \
           completed_at = ?2, updated_at = ?2 \
         WHERE (run_id, work_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1)) \
           AND status = 'pending'",
    )
    .bind(pairs(chosen.iter().copied()))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != chosen.len() as u64 {
        return Err(mismatch("work update", chosen.len(), done.rows_affected()));
    }
    let records: Vec<Value> = chosen
        .iter()
        .flat_map(|c| {
            c.records
                .iter()
                .map(|(kind, data)| json!([c.run_id, kind, json_text(data)]))
        })
        .collect();
    insert_records(conn, records, now).await?;
    let records = audit::chain_all(
        &mut heads,
        chosen.iter().flat_map(|c| c.audit.iter().cloned()),
    );
    audit::insert_all(conn, &records).await
}
