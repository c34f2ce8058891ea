//! Correlated message delivery.
//!
//! A delivery is recorded with its outcome under its id in the same
//! transaction that queues the events, so a repeated delivery (a retried
//! webhook) returns the first outcome and queues nothing. Waits are closed by
//! the engine (`StopAwaitingMessage`) when it consumes the message, not here:
//! the engine owns the semantics of a wait.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{Actor, AuditKind, RunId};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::{audit, json_text, parse_json, runs};
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::model::{Delivery, DeliveryOutcome};

pub(super) fn deliver(conn: &Connection, delivery: &Delivery) -> Result<DeliveryOutcome> {
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
    let event = json!({
        "type": "message_received",
        "message_name": delivery.message_name,
        "correlation_key": delivery.correlation_key,
        "payload": delivery.payload,
        "at": delivery.at,
    });
    let event = json_text(&event);
    for run_id in &matched_runs {
        let key = format!("msg:{}:{run_id}", delivery.delivery_id);
        if runs::insert_event(conn, run_id, &event, Some(&key), delivery.at)? {
            let draft = AuditDraft {
                run_id: run_id.clone(),
                at: rfc3339(delivery.at),
                actor: Actor::System,
                kind: AuditKind::MessageReceived,
                data: json!({"deliveryId": delivery.delivery_id,
                             "messageName": delivery.message_name,
                             "correlationKey": delivery.correlation_key}),
            };
            audit::append_drafts(conn, run_id, &[draft])?;
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
        json_text(&delivery.payload),
        json_text(&json!(matched_runs)),
        delivery.at.as_millis(),
    ])?;
    Ok(DeliveryOutcome {
        matched_runs: matched_runs.into_iter().map(RunId::from).collect(),
        duplicate: false,
    })
}
