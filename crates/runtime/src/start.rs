//! Starts runs with their first step already taken.
//!
//! A run's start event is the one event nobody can race: until the run
//! exists, no applier can hold it. So instead of putting the event in the
//! new run's inbox for an applier to claim, apply and commit (two more
//! writes, each waiting for the store's group commit), the starter applies it
//! at once and the store creates the run in the state that left, with the
//! step's effects and audit records, in the same transaction as the request.
//! A crash before that transaction leaves no run; after it, the run is
//! exactly as an applier would have left it.

use std::sync::Arc;

use agentwerke_engine::{Event, RunState};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{NewRun, RunStart, Store, WorkflowVersion};
use agentwerke_types::{RunStatus, Timestamp};
use serde_json::Value;

use crate::applier::step;
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

/// Creates runs with their start event applied; cheap to clone.
#[derive(Clone)]
pub struct RunStarter {
    store: Arc<dyn Store>,
    definitions: Arc<DefinitionCache>,
}

impl std::fmt::Debug for RunStarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunStarter").finish_non_exhaustive()
    }
}

impl RunStarter {
    /// A starter over `store`, compiling definitions through `definitions`.
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
        let completed_at = status
            .is_terminal()
            .then(|| state.ended_at().unwrap_or(request.at));
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
}
