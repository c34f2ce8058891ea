//! Claims runs with pending events, applies them, commits state and effects.

use std::sync::Arc;

use agentwerke_engine::{Definition, Event, RunState, apply_mut};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{ClaimedRun, Commit, JsonText, Op};
use agentwerke_types::{Actor, AuditKind, ErrorCode, Timestamp};
use serde_json::json;
use tokio::sync::watch;

use crate::clock::rfc3339;
use crate::effects::{RunInfo, map_effects};
use crate::states::Known;
use crate::{DefinitionCache, Error, RuntimeDeps, RuntimeHandle, RuntimeOptions, idle};

/// How many runs one claim takes. Their steps are committed together
/// (`Store::commit_runs`), so a larger batch costs one durable commit less
/// per run; 256 keeps one tick's engine work to a few milliseconds.
const CLAIM_BATCH: usize = 256;

/// How many appliers run side by side. One applier's tick is two round
/// trips to the store's writer (claim, then commit) around some engine work,
/// and it waits through both; with several, one works while the others wait,
/// and their calls share the writer's group commits.
pub(crate) const APPLIERS: usize = 4;

/// How many runs the applier steps before yielding, so a full batch never
/// holds a runtime worker for long.
const YIELD_EVERY: usize = 32;

/// The loop that moves runs forward.
pub struct Applier {
    options: RuntimeOptions,
    deps: RuntimeDeps,
    definitions: Arc<DefinitionCache>,
    handle: RuntimeHandle,
}

impl Applier {
    /// A new applier; nothing runs until [`Applier::run`].
    pub fn new(
        options: RuntimeOptions,
        deps: RuntimeDeps,
        definitions: Arc<DefinitionCache>,
        handle: RuntimeHandle,
    ) -> Self {
        Self {
            options,
            deps,
            definitions,
            handle,
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.tick().await {
                Ok(0) => {
                    if idle(
                        &self.handle.wake.applier,
                        self.options.poll_interval,
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
                Ok(moved) => {
                    self.handle.wake.executor.notify_one();
                    if moved == CLAIM_BATCH {
                        // There is probably more: wake another applier.
                        self.handle.wake.applier.notify_one();
                    }
                }
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, "applying events failed");
                    if idle(
                        &self.handle.wake.applier,
                        self.options.poll_interval,
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Claims and processes one batch; returns how many runs moved.
    pub async fn tick(&self) -> Result<usize, Error> {
        let now = self.deps.clock.now();
        let lease_ms = self.options.lease.as_millis() as i64;
        let claimed = self
            .deps
            .store
            .claim_runs(&self.options.owner, now, lease_ms, CLAIM_BATCH)
            .await?;
        let count = claimed.len();
        let mut commits = Vec::with_capacity(count);
        let mut afters = Vec::with_capacity(count);
        for (n, run) in claimed.into_iter().enumerate() {
            if n > 0 && n % YIELD_EVERY == 0 {
                tokio::task::yield_now().await;
            }
            let run_id = run.run.id.clone();
            match self.process(run, now).await {
                Ok((commit, after)) => {
                    commits.push(commit);
                    afters.push((run_id, after));
                }
                Err(error) => {
                    tracing::warn!(%run_id, code = error.code(), %error, "run not advanced");
                }
            }
        }
        // One call for the whole batch: the store may make all of these
        // steps durable with a single commit, each still all-or-nothing.
        let results = self.deps.store.commit_runs(commits).await;
        for ((run_id, after), result) in afters.into_iter().zip(results) {
            match result {
                Ok(()) => self.handle.stepper.remember(&run_id, after),
                Err(error) => {
                    let error = Error::from(error);
                    tracing::warn!(%run_id, code = error.code(), %error, "run not advanced");
                }
            }
        }
        Ok(count)
    }

    /// Applies a claimed run's events; returns the step to commit and the
    /// state it leaves.
    async fn process(
        &self,
        mut claimed: ClaimedRun,
        now: Timestamp,
    ) -> Result<(Commit, Known), Error> {
        let mut state: RunState = serde_json::from_value(claimed.run.state.take())?;
        let run = &claimed.run;
        let definition = self
            .definitions
            .get(&run.workflow_id, run.workflow_version)
            .await?;
        let info = RunInfo {
            run_id: &run.id,
            workflow_id: &run.workflow_id,
            requested_by: &run.requested_by,
            risk_peak: run.risk_peak.as_ref(),
        };
        let mut ops = Vec::new();
        let mut audit = Vec::new();
        let mut processed = Vec::with_capacity(claimed.events.len());
        for inbox in &claimed.events {
            processed.push(inbox.id);
            let event: Event = match serde_json::from_value(inbox.event.clone()) {
                Ok(event) => event,
                Err(error) => {
                    audit.push(system_audit(
                        &run.id,
                        now,
                        AuditKind::EventRefused,
                        json!({"code": "runtime.decode", "message": error.to_string()}),
                    ));
                    continue;
                }
            };
            let kind = event_kind(&inbox.event);
            step(
                &definition,
                &mut state,
                &info,
                event,
                &kind,
                &mut ops,
                &mut audit,
            );
        }
        let status = state.status();
        let commit = Commit {
            run_id: run.id.clone(),
            owner: self.options.owner.clone(),
            expected_state_version: run.state_version,
            state: JsonText::of(&state)?,
            status,
            risk_level: None,
            completed_at: completed_at(&state, now),
            processed_inbox_ids: processed,
            ops,
            audit,
        };
        let after = Known {
            version: run.state_version + 1,
            state,
            workflow_id: run.workflow_id.clone(),
            workflow_version: run.workflow_version,
            requested_by: run.requested_by.clone(),
            risk_peak: run.risk_peak.clone(),
        };
        Ok((commit, after))
    }
}

/// Applies one event to `state` and adds what it caused: the effects as store
/// ops, and the audit records (`event.applied` and the effects' own, or
/// `event.refused` when the engine refuses the event and the state stays).
pub(crate) fn step(
    definition: &Definition,
    state: &mut RunState,
    info: &RunInfo<'_>,
    event: Event,
    kind: &str,
    ops: &mut Vec<Op>,
    audit: &mut Vec<AuditDraft>,
) {
    let at = event.at();
    match apply_mut(definition, state, event) {
        Ok(effects) => {
            audit.push(system_audit(
                info.run_id,
                at,
                AuditKind::EventApplied,
                json!({"event": kind, "status": state.status().as_str()}),
            ));
            let mut next_id = || uuid::Uuid::now_v7().to_string();
            let mapped = map_effects(definition, state, info, &effects, at, &mut next_id);
            ops.extend(mapped.ops);
            audit.extend(mapped.audit);
        }
        Err(error) => audit.push(system_audit(
            info.run_id,
            at,
            AuditKind::EventRefused,
            json!({"event": kind, "code": error.code(), "message": error.to_string()}),
        )),
    }
}

/// When the run ended, if it has: the engine's end time, or `fallback`.
pub(crate) fn completed_at(state: &RunState, fallback: Timestamp) -> Option<Timestamp> {
    state
        .status()
        .is_terminal()
        .then(|| state.ended_at().unwrap_or(fallback))
}

fn event_kind(event: &serde_json::Value) -> String {
    event
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown")
        .to_owned()
}

fn system_audit(
    run_id: &str,
    at: Timestamp,
    kind: AuditKind,
    data: serde_json::Value,
) -> AuditDraft {
    AuditDraft {
        run_id: run_id.to_owned(),
        at: rfc3339(at),
        actor: Actor::System,
        kind,
        data,
    }
}
