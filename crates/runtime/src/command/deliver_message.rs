//! A correlated message arrives for the runs waiting for it.
//!
//! A delivery belongs to no single run: which runs hear it is decided by
//! the store, in the transaction that records the delivery, from the waits
//! open at that moment (a snapshot read before could miss a wait opened in
//! between). So this planner reads nothing and returns no run's [`Plan`]:
//! it returns the [`MessageDelivery`] row, which names the engine's
//! `message_received` event and the `message.received` fact that every
//! matched run gets, and the door commits it as a global change.
//!
//! [`Plan`]: super::Plan

use agentwerke_engine::Event;
use agentwerke_store::{JsonText, MessageDelivery, RunFact};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Ctx, Error};
use crate::clock::rfc3339;

/// Deliver a correlated message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverMessage {
    /// Idempotency key chosen by the sender (or minted by the edge): a
    /// repeat returns the first outcome and resumes nothing twice.
    pub delivery_id: String,
    /// The `messageName` a wait declares; not blank.
    pub message_name: String,
    /// Matched against each wait's key; waits without a key match any.
    pub correlation_key: String,
    /// The message body, visible to the process as `event.*`.
    pub payload: Value,
}

/// Plans a delivery: the message has a name; then the event each matched
/// run hears and the fact each records, with the delivery's record.
pub fn plan(command: DeliverMessage, ctx: &Ctx<'_>) -> Result<MessageDelivery, Error> {
    if command.message_name.trim().is_empty() {
        return Err(Error::MissingMessageName);
    }
    // The body and the key are kept (delivery, event, audit) and reach the
    // process: a credential in them is replaced first. Run keys come from
    // redacted inputs, so a key matches as it did before redaction.
    let mut command = command;
    ctx.redactor.redact_value(&mut command.payload);
    command.correlation_key = ctx.redactor.redact_str(&command.correlation_key);
    let payload = JsonText::of(&command.payload).map_err(Error::Encode)?;
    let event = Event::MessageReceived {
        message_name: command.message_name.clone(),
        correlation_key: command.correlation_key.clone(),
        payload: command.payload,
        at: ctx.at,
    };
    Ok(MessageDelivery {
        payload,
        event: JsonText::of(&event).map_err(Error::Encode)?,
        fact: RunFact {
            at: rfc3339(ctx.at),
            actor: Actor::System,
            kind: AuditKind::MessageReceived,
            data: json!({"deliveryId": command.delivery_id,
                         "messageName": command.message_name,
                         "correlationKey": command.correlation_key}),
        },
        delivery_id: command.delivery_id,
        message_name: command.message_name,
        correlation_key: command.correlation_key,
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn deliver(name: &str) -> DeliverMessage {
        DeliverMessage {
            delivery_id: "d1".to_owned(),
            message_name: name.to_owned(),
            correlation_key: "order-1".to_owned(),
            payload: json!({"amount": 42}),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(1_000),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_message_becomes_the_engine_event_and_the_fact_each_matched_run_gets() {
        let planned = plan(deliver("payment_received"), &ctx()).unwrap();
        let event: Event = serde_json::from_str(planned.event.as_str()).unwrap();
        assert_eq!(
            event,
            Event::MessageReceived {
                message_name: "payment_received".to_owned(),
                correlation_key: "order-1".to_owned(),
                payload: json!({"amount": 42}),
                at: Timestamp::from_millis(1_000),
            }
        );
        assert_eq!(planned.payload.as_str(), r#"{"amount":42}"#);
        assert_eq!(
            (
                planned.delivery_id.as_str(),
                planned.message_name.as_str(),
                planned.correlation_key.as_str()
            ),
            ("d1", "payment_received", "order-1")
        );
        assert_eq!(planned.fact.kind, AuditKind::MessageReceived);
        assert_eq!(planned.fact.actor, Actor::System);
        assert_eq!(
            planned.fact.data,
            json!({"deliveryId": "d1", "messageName": "payment_received",
                   "correlationKey": "order-1"})
        );
        let draft = planned.fact.for_run("run-a");
        assert_eq!(
            (draft.run_id.as_str(), draft.kind),
            ("run-a", AuditKind::MessageReceived)
        );
    }

    #[test]
    fn a_message_without_a_name_is_refused() {
        for blank in ["", "  "] {
            let refused = plan(deliver(blank), &ctx()).unwrap_err();
            assert_eq!(refused.code(), "event.missing_message_name");
        }
    }

    /// The payload and the key are redacted in the delivery, the event and
    /// the fact; the same key given twice still redacts to the same text,
    /// so it matches what a run derived from redacted inputs.
    #[test]
    fn payload_and_key_are_redacted_before_they_are_kept() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["known-value-9"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: &redactor,
        };
        let mut command = deliver("m");
        command.correlation_key = "order-known-value-9".to_owned();
        command.payload = json!({"note": "AKIAABCDEFGHIJKLMNOP", "apiKey": "k-1234567"});
        let planned = plan(command, &ctx).unwrap();
        assert_eq!(planned.correlation_key, "order-[REDACTED]");
        let kept = format!(
            "{} {} {}",
            planned.payload.as_str(),
            planned.event.as_str(),
            planned.fact.data
        );
        for planted in ["known-value-9", "AKIAABCDEFGHIJKLMNOP", "k-1234567"] {
            assert!(!kept.contains(planted), "{planted} in {kept}");
        }
    }
}
