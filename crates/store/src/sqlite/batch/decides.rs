//! Approval decisions in bulk; see the [batch](super) module for the scheme.
//!
//! Planned: a valid decision on a pending approval whose audit draft names
//! the approval's run. Decided, unknown or contested approvals go through
//! [`approvals::decide`], which gives the single call's answer.

use std::collections::HashMap;

use agentwerke_evidence::chain::ChainHead;
use serde_json::{Value, json};
use sqlx::{FromRow, SqliteConnection};

use super::{Broken, Savepoint, end, finish_fast, mismatch, savepoint, unplan_shared};
use crate::error::{Error, Result};
use crate::model::{ApprovalRow, Decide};
use crate::sqlite::approvals::{self, DECISIONS};
use crate::sqlite::rows::{ApprovalDbRow, approval_columns};
use crate::sqlite::{audit, json_text};

/// Decides `calls`, each all-or-nothing, and returns their results in order.
pub(in crate::sqlite) async fn write(
    conn: &mut SqliteConnection,
    calls: Vec<Decide>,
) -> Result<Vec<Result<ApprovalRow>>, Broken> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let mut planned: Vec<bool> = calls
        .iter()
        .map(|c| DECISIONS.contains(&c.decision.as_str()))
        .collect();
    unplan_shared(
        &mut planned,
        calls.iter().map(|c| vec![c.id.as_str()]).collect(),
    );
    let heads = match plan_with_reads(conn, &calls, &mut planned).await {
        Ok(heads) => heads,
        Err(error) => {
            tracing::warn!(%error, "planning batched decisions failed; writing them one by one");
            planned.fill(false);
            HashMap::new()
        }
    };
    let mut decided = HashMap::new();
    let fast_done = if planned.contains(&true) {
        savepoint(conn, Savepoint::Fast).await?;
        let written = write_planned(conn, &calls, &planned, heads).await;
        let written = match written {
            Ok(rows) => {
                decided = rows;
                Ok(())
            }
            Err(error) => Err(error),
        };
        finish_fast(conn, "approval decisions", written).await?
    } else {
        false
    };
    let mut results = Vec::with_capacity(calls.len());
    for (call, planned) in calls.into_iter().zip(planned) {
        if planned && fast_done {
            let row = decided
                .remove(&call.id)
                .ok_or_else(|| Error::not_found("approval", &call.id));
            results.push(row);
            continue;
        }
        savepoint(conn, Savepoint::One).await?;
        let result = approvals::decide(conn, call).await;
        end(conn, Savepoint::One, result.is_ok()).await?;
        results.push(result);
    }
    Ok(results)
}

#[derive(FromRow)]
struct Pending {
    id: String,
    run_id: String,
    status: String,
}

fn ids<'a>(calls: impl Iterator<Item = &'a Decide>) -> String {
    json_text(&Value::from(
        calls.map(|c| c.id.as_str()).collect::<Vec<_>>(),
    ))
}

async fn plan_with_reads(
    conn: &mut SqliteConnection,
    calls: &[Decide],
    planned: &mut [bool],
) -> Result<HashMap<String, ChainHead>> {
    let chosen = calls
        .iter()
        .zip(planned.iter())
        .filter_map(|(c, planned)| planned.then_some(c));
    let found: Vec<Pending> = sqlx::query_as(
        "SELECT id, run_id, status FROM approvals WHERE id IN (SELECT value FROM json_each(?1))",
    )
    .bind(ids(chosen))
    .fetch_all(&mut *conn)
    .await?;
    let found: HashMap<String, Pending> = found.into_iter().map(|p| (p.id.clone(), p)).collect();
    for (call, planned) in calls.iter().zip(planned.iter_mut()) {
        *planned = *planned
            && found
                .get(&call.id)
                .is_some_and(|p| p.status == "pending" && p.run_id == call.audit.run_id);
    }
    audit::heads(
        conn,
        calls
            .iter()
            .zip(planned.iter())
            .filter_map(|(c, planned)| planned.then_some(c.audit.run_id.as_str())),
    )
    .await
}

async fn write_planned(
    conn: &mut SqliteConnection,
    calls: &[Decide],
    planned: &[bool],
    mut heads: HashMap<String, ChainHead>,
) -> Result<HashMap<String, ApprovalRow>> {
    let chosen: Vec<&Decide> = calls
        .iter()
        .zip(planned)
        .filter_map(|(c, planned)| planned.then_some(c))
        .collect();
    let decisions: Vec<Value> = chosen
        .iter()
        .map(|c| json!([c.id, c.decision, c.comment, c.decided_by, c.at.as_millis()]))
        .collect();
    // Compare-and-set on 'pending', as the single call does. The `+` keeps
    // the planner from walking every pending approval (by the status index)
    // and scanning the batch for each: the batch drives, by primary key.
    let updated = sqlx::query(
        "UPDATE approvals SET status = u.value ->> 1, decision = u.value ->> 1, \
           comment = u.value ->> 2, decided_by = u.value ->> 3, decided_at = u.value ->> 4, \
           updated_at = u.value ->> 4 \
         FROM json_each(?1) AS u \
         WHERE approvals.id = u.value ->> 0 AND +approvals.status = 'pending'",
    )
    .bind(json_text(&Value::Array(decisions)))
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != chosen.len() as u64 {
        return Err(mismatch(
            "approval update",
            chosen.len(),
            updated.rows_affected(),
        ));
    }
    let rows: Vec<ApprovalDbRow> = sqlx::query_as(concat!(
        "SELECT ",
        approval_columns!(),
        " FROM approvals WHERE id IN (SELECT value FROM json_each(?1))"
    ))
    .bind(ids(chosen.iter().copied()))
    .fetch_all(&mut *conn)
    .await?;
    let rows: HashMap<String, ApprovalRow> = rows
        .into_iter()
        .map(|row| ApprovalRow::try_from(row).map(|row| (row.id.clone(), row)))
        .collect::<Result<_>>()?;
    let mut events = Vec::with_capacity(chosen.len());
    for call in &chosen {
        let row = rows
            .get(&call.id)
            .ok_or_else(|| Error::not_found("approval", &call.id))?;
        events.push(json!([
            row.run_id,
            json_text(&call.event),
            format!("approval:{}", row.id),
            call.at.as_millis()
        ]));
    }
    // Like the single call, a key already taken queues nothing and is no error.
    sqlx::query(
        "INSERT INTO inbox (run_id, event, dedup_key, created_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 \
           FROM json_each(?1) WHERE true ORDER BY key \
         ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(json_text(&Value::Array(events)))
    .execute(&mut *conn)
    .await?;
    let records = audit::chain_all(&mut heads, chosen.iter().map(|c| c.audit.clone()));
    audit::insert_all(conn, &records).await?;
    Ok(rows)
}
