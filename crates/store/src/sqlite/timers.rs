//! Durable timers: rows that become inbox events when due.
//!
//! Firing flips the row to `fired` and queues the event in one transaction,
//! and the event's dedup key `timer:<run>:<timer_id>` makes a second firing
//! impossible even if a row were ever reset by hand.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{Actor, AuditKind, Timestamp};
use rusqlite::{Connection, params};
use serde_json::json;
use sqlx::SqlitePool;

use super::rows::{TimerDbRow, convert};
use super::{audit, json_text, runs, sql_limit};
use crate::clock::rfc3339;
use crate::error::Result;
use crate::model::TimerRow;

pub(super) fn fire_due(conn: &Connection, now: Timestamp, limit: usize) -> Result<usize> {
    let due = conn
        .prepare_cached(
            "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
             WHERE status = 'scheduled' AND due_at <= ?1 \
             ORDER BY due_at, run_id, timer_id LIMIT ?2",
        )?
        .query_map(
            params![now.as_millis(), sql_limit(limit)],
            TimerDbRow::from_sqlite,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut fired = 0;
    for timer in convert::<_, TimerRow>(due)? {
        conn.prepare_cached(
            "UPDATE timers SET status = 'fired', fired_at = ?3 WHERE run_id = ?1 AND timer_id = ?2",
        )?
        .execute(params![
            timer.run_id.as_str(),
            timer.timer_id,
            now.as_millis()
        ])?;
        let event = json!({"type": "timer_fired", "timer_id": timer.timer_id, "at": now});
        let key = format!("timer:{}:{}", timer.run_id, timer.timer_id);
        if runs::insert_event(conn, &timer.run_id, &json_text(&event), Some(&key), now)? {
            fired += 1;
            let draft = AuditDraft {
                run_id: timer.run_id.to_string(),
                at: rfc3339(now),
                actor: Actor::System,
                kind: AuditKind::TimerFired,
                data: json!({"timerId": timer.timer_id, "nodeId": timer.node_id,
                             "dueAt": rfc3339(timer.due_at)}),
            };
            audit::append_drafts(conn, &timer.run_id, &[draft])?;
        }
    }
    Ok(fired)
}

pub(super) async fn next_due(pool: &SqlitePool) -> Result<Option<Timestamp>> {
    let due: Option<i64> =
        sqlx::query_scalar("SELECT MIN(due_at) FROM timers WHERE status = 'scheduled'")
            .fetch_one(pool)
            .await?;
    Ok(due.map(Timestamp::from_millis))
}

pub(super) async fn for_run(pool: &SqlitePool, run_id: &str) -> Result<Vec<TimerRow>> {
    let rows: Vec<TimerDbRow> = sqlx::query_as(
        "SELECT run_id, timer_id, node_id, due_at, status, fired_at FROM timers \
         WHERE run_id = ?1 ORDER BY due_at, timer_id",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    convert(rows)
}
