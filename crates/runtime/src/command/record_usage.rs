//! A model turn's usage is kept the moment its answer arrives.
//!
//! Budgets are checked against what was kept ([`Store::model_spend`]), so
//! each turn is committed on its own, before the step goes on and long
//! before it ends: a step whose process is killed leaves its turns counted,
//! and the re-run (a new claim of the same work) counts them against the
//! step's and the run's budgets. The evidence record of the turn is written
//! in the same commit, so the pack lists each kept turn exactly once, and a
//! turn kept twice is refused whole. Like a step's end, this is made inside
//! the process by the executor, never asked for at an edge, so it is not a
//! [`super::Command`].

use std::sync::Arc;

use agentwerke_evidence::Record;
use agentwerke_evidence::record::ModelCallRecord;
use agentwerke_evidence::sections::ModelKeyRecord;
use agentwerke_store::usage::ModelTurn;
use agentwerke_store::{Row, Store};
use agentwerke_types::{RunId, WorkId};

use super::{Ctx, Error, Plan};
use crate::stepper::Stepper;

/// One model turn of a claimed step.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordUsage {
    /// The run.
    pub run_id: RunId,
    /// The step's work.
    pub work_id: WorkId,
    /// Which claim of the work made the turn.
    pub claim: i64,
    /// The step's attempt, 1-based.
    pub attempt: u32,
    /// BPMN element id.
    pub node_id: String,
    /// The turn within the claim, 1-based.
    pub turn: u32,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// Its tokens, and its cost from the price table.
    pub usage: agentwerke_agents::provider::Usage,
    /// How the call went: latency, retries and the key it sent.
    pub call: agentwerke_agents::provider::CallStats,
}

/// Plans the turn's row and its `modelUsage` evidence record; nothing to
/// check beyond what the store's key does (one row per claim and turn).
pub fn plan(record: RecordUsage, _ctx: &Ctx<'_>) -> Plan {
    let RecordUsage {
        run_id,
        work_id,
        claim,
        attempt,
        node_id,
        turn,
        provider,
        model,
        usage,
        call,
    } = record;
    let evidence = Record::ModelUsage(ModelCallRecord {
        work_id: work_id.to_string(),
        node_id: node_id.clone(),
        attempt,
        provider: provider.clone(),
        model: model.clone(),
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cost_usd: usage.cost_usd,
        cached_input_tokens: usage.cached_input_tokens,
        latency_ms: call.latency_ms,
        retries: call.retries,
        key: call.key.map(|key| ModelKeyRecord {
            name: key.secret,
            fingerprint: key.fingerprint,
        }),
    });
    Plan {
        run: run_id,
        event: None,
        rows: vec![Row::RecordModelUsage(ModelTurn {
            work_id,
            claim,
            turn,
            node_id,
            attempt,
            provider,
            model,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cost_usd: usage.cost_usd,
        })],
        audit: Vec::new(),
        records: vec![evidence],
    }
}

/// Plans `record` and commits it as of `ctx.at`.
pub(crate) async fn record(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    record: RecordUsage,
    ctx: &Ctx<'_>,
) -> Result<(), crate::Error> {
    match super::commit(store, stepper, plan(record, ctx), None, ctx).await {
        Ok(_) => Ok(()),
        Err(Error::Store(error)) => Err(crate::Error::Store(error)),
        Err(error) => Err(crate::Error::Command(error)),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::provider::{CallStats, KeyUse, Usage};
    use agentwerke_types::Timestamp;

    use super::*;

    fn turn() -> RecordUsage {
        RecordUsage {
            run_id: "run-1".into(),
            work_id: "w3".into(),
            claim: 2,
            attempt: 1,
            node_id: "Draft".to_owned(),
            turn: 4,
            provider: "openai".to_owned(),
            model: "gpt-4o".to_owned(),
            usage: Usage {
                input_tokens: 1000,
                output_tokens: 200,
                cached_input_tokens: 400,
                cost_usd: 0.0045,
            },
            call: CallStats {
                latency_ms: 850,
                retries: 1,
                key: Some(KeyUse {
                    secret: "openai_key".to_owned(),
                    fingerprint: Some("hmac-sha256:abc".to_owned()),
                }),
            },
        }
    }

    /// One row keyed by claim and turn, and the turn's evidence with its
    /// cost; no event (the run hears nothing of a turn) and no audit.
    #[test]
    fn a_turn_is_one_row_and_its_evidence() {
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: crate::command::no_secrets(),
        };
        let plan = plan(turn(), &ctx);
        assert_eq!(plan.run, RunId::from("run-1"));
        assert!(plan.event.is_none());
        assert!(plan.audit.is_empty());
        let [Row::RecordModelUsage(row)] = plan.rows.as_slice() else {
            panic!("{:?}", plan.rows);
        };
        assert_eq!((row.claim, row.turn, row.cached_input_tokens), (2, 4, 400));
        assert_eq!(row.work_id, WorkId::from("w3"));
        let [Record::ModelUsage(call)] = plan.records.as_slice() else {
            panic!("{:?}", plan.records);
        };
        assert_eq!((call.model.as_str(), call.cost_usd), ("gpt-4o", 0.0045));
        assert_eq!((call.input_tokens, call.output_tokens), (1000, 200));
        assert_eq!(
            (call.cached_input_tokens, call.latency_ms, call.retries),
            (400, 850, 1)
        );
        let key = call.key.as_ref().expect("the key the call sent");
        assert_eq!(key.name, "openai_key");
        assert_eq!(key.fingerprint.as_deref(), Some("hmac-sha256:abc"));
    }
}
