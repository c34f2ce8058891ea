//! Run creations in bulk; see the [batch](super) module for the scheme.
//!
//! Planned: a new run id on a published version whose hash matches, with an
//! audit draft for that run. Anything else goes through [`runs::create`],
//! which gives the single call's error.

use std::collections::{HashMap, HashSet};

use agentwerke_evidence::chain::{AuditDraft, ChainHead};
use serde_json::{Value, json};
use sqlx::{FromRow, SqliteConnection};

use super::{Broken, Savepoint, end, finish_fast, mismatch, savepoint, unplan_shared};
use crate::error::Result;
use crate::model::NewRun;
use crate::sqlite::{audit, json_text, runs};

/// One `create_run` call.
#[derive(Debug)]
pub(in crate::sqlite) struct NewRunCall {
    /// The run.
    pub(in crate::sqlite) run: NewRun,
    /// Its first inbox event.
    pub(in crate::sqlite) start_event: Value,
    /// Its first audit record.
    pub(in crate::sqlite) audit: AuditDraft,
}

/// Creates `calls`' runs, each all-or-nothing, and returns their results in
/// order.
pub(in crate::sqlite) async fn write(
    conn: &mut SqliteConnection,
    calls: Vec<NewRunCall>,
) -> Result<Vec<Result<()>>, Broken> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let mut planned: Vec<bool> = calls
        .iter()
        .map(|c| c.audit.run_id == c.run.run_id)
        .collect();
    unplan_shared(
        &mut planned,
        calls.iter().map(|c| vec![c.run.run_id.as_str()]).collect(),
    );
    let heads = match plan_with_reads(conn, &calls, &mut planned).await {
        Ok(heads) => heads,
        Err(error) => {
            tracing::warn!(%error, "planning batched run creations failed; writing them one by one");
            planned.fill(false);
            HashMap::new()
        }
    };
    let fast_done = if planned.contains(&true) {
        savepoint(conn, Savepoint::Fast).await?;
        let written = write_planned(conn, &calls, &planned, heads).await;
        finish_fast(conn, "run creations", written).await?
    } else {
        false
    };
    let mut results = Vec::with_capacity(calls.len());
    for (call, planned) in calls.into_iter().zip(planned) {
        if planned && fast_done {
            results.push(Ok(()));
            continue;
        }
        savepoint(conn, Savepoint::One).await?;
        let result = runs::create(conn, call.run, call.start_event, call.audit).await;
        end(conn, Savepoint::One, result.is_ok()).await?;
        results.push(result);
    }
    Ok(results)
}

#[derive(FromRow)]
struct Version {
    workflow_id: String,
    version: i64,
    status: String,
    bpmn_sha256: String,
}

async fn plan_with_reads(
    conn: &mut SqliteConnection,
    calls: &[NewRunCall],
    planned: &mut [bool],
) -> Result<HashMap<String, ChainHead>> {
    let chosen: Vec<&NewRun> = calls
        .iter()
        .zip(planned.iter())
        .filter_map(|(c, planned)| planned.then_some(&c.run))
        .collect();
    if chosen.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: Vec<Value> = chosen
        .iter()
        .map(|r| json!([r.workflow_id, r.version]))
        .collect();
    // Only the columns the check needs: the version's XML stays on disk.
    let versions: Vec<Version> = sqlx::query_as(
        "SELECT workflow_id, version, status, bpmn_sha256 FROM workflow_versions \
         WHERE (workflow_id, version) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?1))",
    )
    .bind(json_text(&Value::Array(wanted)))
    .fetch_all(&mut *conn)
    .await?;
    let publishable: HashSet<(String, i64, String)> = versions
        .into_iter()
        .filter(|v| v.status == "published")
        .map(|v| (v.workflow_id, v.version, v.bpmn_sha256))
        .collect();
    let ids = Value::from(chosen.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>());
    let existing: HashSet<String> =
        sqlx::query_scalar("SELECT id FROM runs WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(json_text(&ids))
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    for (call, planned) in calls.iter().zip(planned.iter_mut()) {
        let run = &call.run;
        *planned = *planned
            && !existing.contains(&run.run_id)
            && publishable.contains(&(
                run.workflow_id.clone(),
                run.version,
                run.bpmn_sha256.clone(),
            ));
    }
    audit::heads(
        conn,
        calls
            .iter()
            .zip(planned.iter())
            .filter_map(|(c, planned)| planned.then_some(c.run.run_id.as_str())),
    )
    .await
}

async fn write_planned(
    conn: &mut SqliteConnection,
    calls: &[NewRunCall],
    planned: &[bool],
    mut heads: HashMap<String, ChainHead>,
) -> Result<()> {
    let chosen: Vec<&NewRunCall> = calls
        .iter()
        .zip(planned)
        .filter_map(|(c, planned)| planned.then_some(c))
        .collect();
    let rows: Vec<Value> = chosen
        .iter()
        .map(|c| {
            let run = &c.run;
            json!([
                run.run_id,
                run.workflow_id,
                run.version,
                run.bpmn_sha256,
                run.status,
                json_text(&run.state),
                run.requested_by,
                json_text(&run.inputs),
                run.at.as_millis()
            ])
        })
        .collect();
    let inserted = sqlx::query(
        "INSERT INTO runs (id, workflow_id, workflow_version, bpmn_sha256, status, state, \
           state_version, requested_by, inputs, created_at, updated_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, 0, \
                value ->> 6, value ->> 7, value ->> 8, value ->> 8 \
           FROM json_each(?1) ORDER BY key",
    )
    .bind(json_text(&Value::Array(rows)))
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() != chosen.len() as u64 {
        return Err(mismatch(
            "run insert",
            chosen.len(),
            inserted.rows_affected(),
        ));
    }
    let events: Vec<Value> = chosen
        .iter()
        .map(|c| {
            json!([
                c.run.run_id,
                json_text(&c.start_event),
                c.run.at.as_millis()
            ])
        })
        .collect();
    sqlx::query(
        "INSERT INTO inbox (run_id, event, dedup_key, created_at) \
         SELECT value ->> 0, value ->> 1, NULL, value ->> 2 FROM json_each(?1) ORDER BY key",
    )
    .bind(json_text(&Value::Array(events)))
    .execute(&mut *conn)
    .await?;
    let records = audit::chain_all(&mut heads, chosen.iter().map(|c| c.audit.clone()));
    audit::insert_all(conn, &records).await
}
