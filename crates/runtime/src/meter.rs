//! The store as the agent loop's meter: what a step and its run spent is
//! read from the kept turns, and each turn is kept as it is answered (see
//! [`crate::command::record_usage`]).

use std::sync::Arc;

use agentwerke_agents::meter::{Meter, MeterError, Spending, Spent, TurnUsage};
use agentwerke_evidence::redact::Redactor;
use agentwerke_store::Store;
use agentwerke_store::usage::Spend;
use agentwerke_types::{ErrorCode, RunId, WorkId};
use async_trait::async_trait;

use crate::clock::Clock;
use crate::command::Ctx;
use crate::command::record_usage::{self, RecordUsage};
use crate::stepper::Stepper;

/// Meters one claim of one step.
pub(crate) struct StoreMeter {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) stepper: Stepper,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) redactor: Redactor,
    pub(crate) run_id: RunId,
    pub(crate) work_id: WorkId,
    pub(crate) claim: i64,
    pub(crate) attempt: u32,
    pub(crate) node_id: String,
}

fn spent(spend: Spend) -> Spent {
    Spent {
        tokens: spend.tokens,
        cost_usd: spend.cost_usd,
    }
}

#[async_trait]
impl Meter for StoreMeter {
    async fn spent(&self) -> Result<Spending, MeterError> {
        let totals = self
            .store
            .model_spend(self.run_id.as_str(), self.work_id.as_str())
            .await
            .map_err(|error| MeterError(format!("{} ({})", error, error.code())))?;
        Ok(Spending {
            step: spent(totals.work),
            run: spent(totals.run),
        })
    }

    async fn record(&self, turn: &TurnUsage) -> Result<(), MeterError> {
        let record = RecordUsage {
            run_id: self.run_id.clone(),
            work_id: self.work_id.clone(),
            claim: self.claim,
            attempt: self.attempt,
            node_id: self.node_id.clone(),
            turn: turn.turn,
            // Provider and model names come from the far side of the seam.
            provider: self.redactor.redact_str(&turn.provider),
            model: self.redactor.redact_str(&turn.model),
            usage: turn.usage,
        };
        let ctx = Ctx {
            at: self.clock.now(),
            redactor: &self.redactor,
        };
        record_usage::record(&self.store, &self.stepper, record, &ctx)
            .await
            .map_err(|error| MeterError(format!("{} ({})", error, error.code())))
    }
}
