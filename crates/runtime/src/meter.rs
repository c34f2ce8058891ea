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
            call: turn.call.clone(),
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

#[cfg(test)]
mod tests {
    use agentwerke_agents::provider::Usage;
    use agentwerke_evidence::Record;
    use agentwerke_store::SqliteStore;
    use agentwerke_types::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::DefinitionCache;
    use crate::clock::SystemClock;
    use crate::command::global::tests::published;
    use crate::command::{Command, StartRun, submit};

    const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");

    fn turn(turn: u32, input_tokens: u64, cost_usd: f64) -> TurnUsage {
        TurnUsage {
            turn,
            provider: "scripted".to_owned(),
            model: "scripted-v1".to_owned(),
            usage: Usage {
                input_tokens,
                output_tokens: 1,
                cached_input_tokens: 0,
                cost_usd,
            },
            call: Default::default(),
        }
    }

    /// A claim's turns are kept with their evidence; the next claim of the
    /// same work (a re-run after a crash) reads them as the step's, another
    /// work of the run reads them as the run's only; the same turn of the
    /// same claim is kept once.
    #[tokio::test]
    async fn every_claim_of_a_step_counts_what_earlier_claims_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let version = published(
            store.as_ref(),
            "hello-sdlc",
            HELLO_SDLC,
            Timestamp::from_millis(0),
        )
        .await;
        let stepper = Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: crate::command::no_secrets(),
        };
        let start = Command::StartRun(StartRun {
            run_id: "run-1".into(),
            workflow_id: version.workflow_id.clone(),
            version: Some(version.version),
            inputs: json!({"title": "t"}),
            requested_by: "alice".to_owned(),
        });
        submit(&store, &stepper, start, &ctx).await.unwrap();
        let meter = |work: &str, claim: i64| StoreMeter {
            store: store.clone(),
            stepper: stepper.clone(),
            clock: Arc::new(SystemClock),
            redactor: Redactor::default(),
            run_id: "run-1".into(),
            work_id: work.into(),
            claim,
            attempt: 1,
            node_id: "Analyze".to_owned(),
        };

        let first = meter("w1", 1);
        first.record(&turn(1, 10, 0.5)).await.unwrap();
        first.record(&turn(2, 20, 0.25)).await.unwrap();
        let again = first.record(&turn(2, 20, 0.25)).await.unwrap_err();
        assert!(again.0.contains("store.conflict"), "{again}");

        let rerun = meter("w1", 2);
        let spent = rerun.spent().await.unwrap();
        assert_eq!(spent.step.tokens, 32);
        assert_eq!(spent.step.cost_usd, 0.75);
        rerun.record(&turn(1, 10, 0.5)).await.unwrap();

        let other = meter("w2", 1).spent().await.unwrap();
        assert_eq!(other.step, Spent::default());
        assert_eq!(other.run.tokens, 43);
        assert_eq!(other.run.cost_usd, 1.25);

        let kept = store.records("run-1").await.unwrap();
        let turns = kept
            .iter()
            .filter(|r| matches!(r.record, Record::ModelUsage(_)))
            .count();
        assert_eq!(turns, 3, "each kept turn once in the evidence");
    }
}
