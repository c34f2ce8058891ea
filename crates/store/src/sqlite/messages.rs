//! Correlated message delivery.
//!
//! A delivery is recorded with its outcome under its id in the same
//! transaction that queues the events, so a repeated delivery (a retried
//! webhook) returns the first outcome and queues nothing. Waits are closed by
//! the engine (`StopAwaitingMessage`) when it consumes the message, not here:
//! the engine owns the semantics of a wait.

use agentwerke_evidence::chain::AuditDraft;
use serde_json::json;
use sqlx::{FromRow, SqliteConnection};

use super::{audit, json_text, parse_json, runs};
use crate::clock::rfc3339;
use crate::error::{Error, Result};
use crate::model::{Delivery, DeliveryOutcome};

#[derive(FromRow)]
struct SeenDelivery {
    message_name: String,
    correlation_key: String,
    matched_runs: String,
}

pub(super) async fn deliver(
    conn: &mut SqliteConnection,
    delivery: Delivery,
) -> Result<DeliveryOutcome> {
    let seen: Option<SeenDelivery> = sqlx::query_as(
        "SELECT message_name, correlation_key, matched_runs FROM deliveries WHERE delivery_id = ?1",
    )
    .bind(&delivery.delivery_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(seen) = seen {
        if seen.message_name != delivery.message_name
            || seen.correlation_key != delivery.correlation_key
        {
            return Err(Error::conflict(format!(
                "delivery id '{}' was used for a different message",
                delivery.delivery_id
            )));
        }
        let matched = parse_json(&seen.matched_runs, || {
            format!("deliveries.matched_runs of {}", delivery.delivery_id)
        })?;
        let matched_runs = serde_json::from_value(matched).map_err(|_| Error::Corrupt {
            what: format!("deliveries.matched_runs of {}", delivery.delivery_id),
        })?;
        return Ok(DeliveryOutcome {
            matched_runs,
            duplicate: true,
        });
    }
    let matched_runs: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT w.run_id FROM message_waits w JOIN runs r ON r.id = w.run_id \
         WHERE w.status = 'open' AND w.message_name = ?1 \
           AND (w.correlation_key IS NULL OR w.correlation_key = ?2) \
           AND r.completed_at IS NULL \
         ORDER BY w.run_id",
    )
    .bind(&delivery.message_name)
    .bind(&delivery.correlation_key)
    .fetch_all(&mut *conn)
    .await?;
    let event = json!({
        "type": "message_received",
        "message_name": delivery.message_name,
        "correlation_key": delivery.correlation_key,
        "payload": delivery.payload,
        "at": delivery.at,
    });
    for run_id in &matched_runs {
        let key = format!("msg:{}:{run_id}", delivery.delivery_id);
        if runs::insert_event(&mut *conn, run_id, &event, Some(&key), delivery.at).await? {
            let draft = AuditDraft {
                run_id: run_id.clone(),
                at: rfc3339(delivery.at),
                actor: "system".to_owned(),
                kind: "message.received".to_owned(),
                data: json!({"deliveryId": delivery.delivery_id,
                             "messageName": delivery.message_name,
                             "correlationKey": delivery.correlation_key}),
            };
            audit::append(&mut *conn, run_id, vec![draft]).await?;
        }
    }
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, message_name, correlation_key, payload, \
           matched_runs, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&delivery.delivery_id)
    .bind(&delivery.message_name)
    .bind(&delivery.correlation_key)
    .bind(json_text(&delivery.payload))
    .bind(json_text(&json!(matched_runs)))
    .bind(delivery.at.as_millis())
    .execute(&mut *conn)
    .await?;
    Ok(DeliveryOutcome {
        matched_runs,
        duplicate: false,
    })
}
