//! Correlated message delivery, as a row of a command's change
//! ([`Row::DeliverMessage`](crate::Row::DeliverMessage)).
//!
//! The runtime's planner builds the event and the audit fact; this module
//! only finds the runs whose open waits match and queues the planned event
//! to each. The delivery is recorded with its outcome under its id in the
//! same transaction, so a repeated delivery (a retried webhook) returns the
//! first outcome and queues nothing. Waits are closed by the engine
//! (`StopAwaitingMessage`) when it consumes the message, not here: the
//! engine owns the semantics of a wait.

use agentwerke_types::{RunId, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::{audit, json_text, parse_json, runs};
use crate::change::MessageDelivery;
use crate::error::{Error, Result};
use crate::model::DeliveryOutcome;

/// Records `delivery` at `at` and queues its event to every run with an
/// open matching wait, with its fact in each run's chain.
pub(super) fn deliver(
    conn: &Connection,
    delivery: &MessageDelivery,
    at: Timestamp,
) -> Result<DeliveryOutcome> {
    let seen: Option<(String, String, String)> = conn
        .prepare_cached(
            "SELECT message_name, correlation_key, matched_runs FROM deliveries \
             WHERE delivery_id = ?1",
        )?
        .query_row([&delivery.delivery_id], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    if let Some((message_name, correlation_key, matched_runs)) = seen {
        if message_name != delivery.message_name || correlation_key != delivery.correlation_key {
            return Err(Error::conflict(format!(
                "delivery id '{}' was used for a different message",
                delivery.delivery_id
            )));
        }
        let what = || format!("deliveries.matched_runs of {}", delivery.delivery_id);
        let matched = parse_json(&matched_runs, what)?;
        let matched_runs =
            serde_json::from_value(matched).map_err(|_| Error::Corrupt { what: what() })?;
        return Ok(DeliveryOutcome {
            matched_runs,
            duplicate: true,
        });
    }
    let matched_runs = conn
        .prepare_cached(
            "SELECT DISTINCT w.run_id FROM message_waits w JOIN runs r ON r.id = w.run_id \
             WHERE w.status = 'open' AND w.message_name = ?1 \
               AND (w.correlation_key IS NULL OR w.correlation_key = ?2) \
               AND r.completed_at IS NULL \
             ORDER BY w.run_id",
        )?
        .query_map(
            params![delivery.message_name, delivery.correlation_key],
            |row| row.get(0),
        )?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    for run_id in &matched_runs {
        let key = format!("msg:{}:{run_id}", delivery.delivery_id);
        if runs::insert_event(conn, run_id, delivery.event.as_str(), Some(&key), at)? {
            audit::append_drafts(conn, run_id, &[delivery.fact.for_run(run_id)])?;
        }
    }
    conn.prepare_cached(
        "INSERT INTO deliveries (delivery_id, message_name, correlation_key, payload, \
           matched_runs, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        delivery.delivery_id,
        delivery.message_name,
        delivery.correlation_key,
        delivery.payload.as_str(),
        json_text(&json!(matched_runs)),
        at.as_millis(),
    ])?;
    Ok(DeliveryOutcome {
        matched_runs: matched_runs.into_iter().map(RunId::from).collect(),
        duplicate: false,
    })
}
