//! Engine steps taken by the writer of an event rather than by an applier.
//!
//! Every event could go to the run's inbox, to be claimed, applied and
//! committed by an applier: two more writes, each waiting for the store's
//! group commit. Where the one delivering the event can compute the step
//! itself, it saves both:
//!
//! - **Starting a run.** The start event is the one event nobody can race:
//!   until the run exists, no applier can hold it. The start planner
//!   ([`crate::command::start_run`]) takes that step itself, and the store
//!   creates the run in the state the step left, with its effects and audit
//!   records, in the same transaction as the request; the state is
//!   remembered here for the run's next step.
//! - **An agent's result or a human decision.** The step is computed from
//!   the run's current state and handed to the store with the event
//!   ([`AppliedStep`]). The store commits it only if nothing moved the run in
//!   between; otherwise the event waits in the inbox as usual. The outcome
//!   is the one an applier would have produced either way.
//!
//! The state a step starts from is the one the last step committed by this
//! process left, kept in memory; the store is read only for a run this
//! process does not know, or no longer knows.

use std::sync::Arc;

use agentwerke_bpmn::model::{ExpiryOutcome, NodeKind};
use agentwerke_engine::{Definition, Event};
use agentwerke_store::{AppliedStep, Delivered, JsonText, Store, WorkflowVersion};
use agentwerke_types::RunId;

use crate::applier::{completed_at, step};
use crate::effects::RunInfo;
use crate::states::{Known, RunStates};
use crate::{DefinitionCache, Error};

/// Takes engine steps for the writers of events; cheap to clone.
#[derive(Clone)]
pub struct Stepper {
    store: Arc<dyn Store>,
    definitions: Arc<DefinitionCache>,
    states: Arc<RunStates>,
}

impl std::fmt::Debug for Stepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper").finish_non_exhaustive()
    }
}

impl Stepper {
    /// A stepper over `store`, compiling definitions through `definitions`.
    pub fn new(store: Arc<dyn Store>, definitions: Arc<DefinitionCache>) -> Self {
        Self {
            store,
            definitions,
            states: Arc::default(),
        }
    }

    /// The compiled definition of a workflow version, from the cache.
    pub(crate) async fn definition(
        &self,
        workflow_id: &str,
        version: i64,
    ) -> Result<Arc<Definition>, Error> {
        self.definitions.get(workflow_id, version).await
    }

    /// A published version with its compiled definition, from the cache
    /// (see [`DefinitionCache::published`]).
    pub(crate) async fn published(
        &self,
        workflow_id: &str,
        version: i64,
    ) -> Result<Option<(WorkflowVersion, Arc<Definition>)>, Error> {
        self.definitions.published(workflow_id, version).await
    }

    /// Remembers the state a committed step left `run_id` in, for the next
    /// step to start from.
    pub(crate) fn remember(&self, run_id: &str, known: Known) {
        self.states.remember(run_id, known);
    }

    /// Remembers the state a step committed with its event left the run in.
    pub(crate) fn stepped(&self, run_id: &str, delivered: Delivered, after: Option<Known>) {
        if let (Delivered::Stepped, Some(after)) = (delivered, after) {
            self.remember(run_id, after);
        }
    }

    /// The run's state as [`Stepper::current`] finds it (read from the
    /// store when `stored`), taken out of memory until a step puts it back;
    /// `None` (logged) when it cannot be read.
    pub(crate) async fn known(&self, run_id: &str, stored: bool) -> Option<Known> {
        match self.current(run_id, stored).await {
            Ok(known) => known,
            Err(error) => {
                tracing::debug!(run_id, %error, "run state unreadable here");
                None
            }
        }
    }

    /// [`Stepper::known`] for the run a command names, with its id.
    pub(crate) async fn run_of(&self, run_id: Option<&RunId>) -> Option<(RunId, Known)> {
        let run_id = run_id?;
        Some((run_id.clone(), self.known(run_id.as_str(), false).await?))
    }

    /// The outcome the gate at `node_id` of `known`'s workflow models for
    /// its expiry; `None` when the gate models none or the definition
    /// cannot be read.
    pub(crate) async fn on_expiry(&self, known: &Known, node_id: &str) -> Option<ExpiryOutcome> {
        let definition = self
            .definitions
            .get(&known.workflow_id, known.workflow_version)
            .await
            .ok()?;
        match &definition.node_by_id(node_id)?.kind {
            NodeKind::UserTask {
                approval: Some(spec),
            } => spec.expiry.as_ref().map(|expiry| expiry.on_expiry),
            _ => None,
        }
    }

    /// The step `event` causes from `known`, the state of `run_id`, for the
    /// store to commit with the event if nothing moves the run first. `None`
    /// when it cannot be computed here (the definition cannot be read): the
    /// event then simply waits for an applier.
    pub(crate) async fn step_from(
        &self,
        run_id: &str,
        mut known: Known,
        event: Event,
    ) -> Option<(AppliedStep, Known)> {
        let prepared = async {
            let definition = self
                .definitions
                .get(&known.workflow_id, known.workflow_version)
                .await?;
            let info = RunInfo {
                run_id,
                workflow_id: &known.workflow_id,
                requested_by: &known.requested_by,
                risk_peak: known.risk_peak.as_ref(),
            };
            let (mut ops, mut audit) = (Vec::new(), Vec::new());
            let (at, kind) = (event.at(), event.kind());
            step(
                &definition,
                &mut known.state,
                &info,
                event,
                kind,
                &mut ops,
                &mut audit,
            );
            let status = known.state.status();
            let step = AppliedStep {
                expected_state_version: known.version,
                state: JsonText::of(&known.state)?,
                status,
                completed_at: completed_at(&known.state, at),
                ops,
                audit,
            };
            known.version += 1;
            Ok::<_, Error>(Some((step, known)))
        };
        match prepared.await {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::debug!(run_id, %error, "step left to the applier");
                None
            }
        }
    }

    /// The run's state: as the last step committed here left it, or else (or
    /// when `stored` asks for it) as stored.
    async fn current(&self, run_id: &str, stored: bool) -> Result<Option<Known>, Error> {
        if let Some(known) = self.states.take(run_id)
            && !stored
        {
            return Ok(Some(known));
        }
        let Some(run) = self.store.get_run(run_id).await? else {
            return Ok(None);
        };
        Ok(Some(Known {
            version: run.state_version,
            state: serde_json::from_value(run.state)?,
            workflow_id: run.workflow_id,
            workflow_version: run.workflow_version,
            requested_by: run.requested_by,
            risk_peak: run.risk_peak,
        }))
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_auth::Role;
    use agentwerke_engine::{ApprovalDecision, WorkId};
    use agentwerke_store::SqliteStore;
    use agentwerke_types::{RunStatus, Timestamp};
    use serde_json::json;

    use super::*;
    use crate::command::finish_step::{FinishStep, Outcome, finish};
    use crate::command::global::tests::published;
    use crate::command::tests::principal;
    use crate::command::{Command, Ctx, DecideApproval, StartRun, submit};

    const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn ctx(ms: i64) -> Ctx<'static> {
        Ctx {
            at: at(ms),
            redactor: crate::command::no_secrets(),
        }
    }

    /// Two processes over one store: each remembers only its own steps.
    #[tokio::test]
    async fn a_state_another_process_overtook_costs_a_fallback_not_a_wrong_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let version = published(store.as_ref(), "hello-sdlc", HELLO_SDLC, at(0)).await;
        let stepper = || Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let (first, second) = (stepper(), stepper());

        let run_id = "run-1";
        let start = Command::StartRun(StartRun {
            run_id: run_id.into(),
            workflow_id: version.workflow_id.clone(),
            version: Some(version.version),
            inputs: json!({"title": "t"}),
            requested_by: "alice".to_owned(),
        });
        let started = submit(&store, &first, start, &ctx(1)).await.unwrap();
        let created = started.committed.created_run().expect("a run");
        assert_eq!(created.status, RunStatus::Running);

        // The second process completes the agent step the first one started.
        let work = store.claim_work("exec", at(2), 10_000, 10).await.unwrap();
        assert_eq!(work.len(), 1);
        let ended = FinishStep {
            run_id: run_id.into(),
            work_id: work[0].work_id.clone(),
            step: work[0].work_id.parse::<WorkId>().unwrap(),
            owner: "exec".to_owned(),
            claim: work[0].attempt_count,
            attempt: 1,
            node_id: "Analyze".to_owned(),
            agent: "analyst".to_owned(),
            workflow_id: "hello-sdlc".to_owned(),
            outcome: Outcome::Completed {
                output: json!({"risks": []}),
            },
            records: Vec::new(),
            audit: Vec::new(),
            risk: None,
            journal: false,
        };
        let delivered = finish(&store, &second, ended, &ctx(3))
            .await
            .unwrap()
            .delivered;
        assert_eq!(delivered, Delivered::Stepped);
        let run = store.get_run(run_id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::AwaitingApproval);

        // The first still remembers the run as it started it. Its step for
        // the decision is refused by the store; the decision waits instead.
        let approvals = store.approvals_for_run(run_id).await.unwrap();
        let approval = &approvals[0];
        assert_eq!(approval.status, agentwerke_types::ApprovalStatus::Pending);
        let command = Command::DecideApproval(DecideApproval {
            approval_id: approval.id.clone(),
            decision: ApprovalDecision::Approve,
            comment: None,
            by: principal("bob", &[Role::Approver]),
        });
        let decided = submit(&store, &first, command, &ctx(4)).await.unwrap();
        assert_eq!(decided.committed.delivered, Delivered::Queued);
        let after = store.get_run(run_id).await.unwrap().unwrap();
        assert_eq!(after.state_version, run.state_version, "nothing stepped");
        assert_eq!(after.state, run.state);
        let claimed = store.claim_runs("engine", at(5), 10_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "the decision waits for an applier");
        assert_eq!(claimed[0].events[0].event["type"], "approval_decided");
    }
}
