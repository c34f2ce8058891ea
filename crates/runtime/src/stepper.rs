//! Engine steps taken by the writer of an event rather than by an applier.
//!
//! Every event could go to the run's inbox, to be claimed, applied and
//! committed by an applier: two more writes, each waiting for the store's
//! group commit. Where the one delivering the event can compute the step
//! itself, it saves both:
//!
//! - **Starting a run.** The start event is the one event nobody can race:
//!   until the run exists, no applier can hold it. The store creates the run
//!   in the state the step left, with its effects and audit records, in the
//!   same transaction as the request.
//! - **An agent's result or a human decision.** The step is computed from
//!   the run's current state and handed to the store with the event
//!   ([`AppliedStep`]). The store commits it only if nothing moved the run in
//!   between; otherwise the event waits in the inbox as usual. The outcome
//!   is the one an applier would have produced either way.

use std::sync::Arc;

use agentwerke_engine::{Event, RunState};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{AppliedStep, NewRun, RunStart, Store, WorkflowVersion};
use agentwerke_types::{RunStatus, Timestamp};
use serde_json::Value;

use crate::applier::{completed_at, step};
use crate::effects::RunInfo;
use crate::{DefinitionCache, Error};

/// A run to start.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The new run's id (UUIDv7 text).
    pub run_id: String,
    /// The published version it runs.
    pub version: WorkflowVersion,
    /// Who started it.
    pub requested_by: String,
    /// Its inputs, visible to the process as `input.*`.
    pub inputs: Value,
    /// The request's audit record (`run.requested`).
    pub audit: AuditDraft,
    /// When.
    pub at: Timestamp,
}

/// Takes engine steps for the writers of events; cheap to clone.
#[derive(Clone)]
pub struct Stepper {
    store: Arc<dyn Store>,
    definitions: Arc<DefinitionCache>,
}

impl std::fmt::Debug for Stepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stepper").finish_non_exhaustive()
    }
}

impl Stepper {
    /// A stepper over `store`, compiling definitions through `definitions`.
    pub fn new(store: Arc<dyn Store>, definitions: Arc<DefinitionCache>) -> Self {
        Self { store, definitions }
    }

    /// Creates the run and takes its first step; returns its status after
    /// that step. Nothing is written when this fails.
    pub async fn start(&self, request: StartRequest) -> Result<RunStatus, Error> {
        let version = &request.version;
        let definition = self
            .definitions
            .get(&version.workflow_id, version.version)
            .await?;
        let mut state = RunState::new(request.run_id.clone());
        let info = RunInfo {
            run_id: &request.run_id,
            workflow_id: &version.workflow_id,
            requested_by: &request.requested_by,
        };
        let (mut ops, mut audit) = (Vec::new(), Vec::new());
        let start = Event::Start {
            input: request.inputs.clone(),
            at: request.at,
        };
        step(
            &definition,
            &mut state,
            &info,
            start,
            "start",
            &mut ops,
            &mut audit,
        );
        let status = state.status();
        let completed_at = completed_at(&state, request.at);
        let run = NewRun {
            run_id: request.run_id.clone(),
            workflow_id: version.workflow_id.clone(),
            version: version.version,
            bpmn_sha256: version.bpmn_sha256.clone(),
            requested_by: request.requested_by.clone(),
            inputs: request.inputs,
            state: serde_json::to_value(&state)?,
            status: status.as_str().to_owned(),
            at: request.at,
        };
        let first_step = RunStart::Applied {
            ops,
            audit,
            completed_at,
        };
        self.store
            .create_run(run, first_step, request.audit)
            .await?;
        Ok(status)
    }

    /// The step `event` causes in `run_id`'s current state, for the store to
    /// commit with the event if nothing moves the run first. `None` when it
    /// cannot be computed here (the run or its definition cannot be read):
    /// the event then simply waits for an applier.
    pub async fn prepare(&self, run_id: &str, event: &Event) -> Option<AppliedStep> {
        let prepared = async {
            let Some(run) = self.store.get_run(run_id).await? else {
                return Ok(None);
            };
            let definition = self
                .definitions
                .get(&run.workflow_id, run.workflow_version)
                .await?;
            let mut state: RunState = serde_json::from_value(run.state)?;
            let info = RunInfo {
                run_id: &run.id,
                workflow_id: &run.workflow_id,
                requested_by: &run.requested_by,
            };
            let (mut ops, mut audit) = (Vec::new(), Vec::new());
            let kind = event.kind();
            let at = event.at();
            step(
                &definition,
                &mut state,
                &info,
                event.clone(),
                kind,
                &mut ops,
                &mut audit,
            );
            let status = state.status();
            let completed_at = completed_at(&state, at);
            Ok::<_, Error>(Some(AppliedStep {
                expected_state_version: run.state_version,
                state: serde_json::to_value(&state)?,
                status: status.as_str().to_owned(),
                completed_at,
                ops,
                audit,
            }))
        };
        match prepared.await {
            Ok(step) => step,
            Err(error) => {
                tracing::debug!(run_id, %error, "step left to the applier");
                None
            }
        }
    }
}
