//! Ending a run (completed, failed, cancelled, rejected) and resuming one
//! whose failed step an operator retries.
//!
//! Ending closes every open item with the matching effect, so the shell
//! never keeps an agent, approval, message wait or timer alive for a run that
//! is over. A run failed by a task keeps its tokens parked instead: that is
//! what `RetryStep` resumes.

use agentwerke_types::{ErrorCode, NodeState, RunStatus};

use super::Machine;
use crate::effect::Effect;
use crate::error::Fault;
use crate::event::TaskError;
use crate::ids::{ScopeId, WorkId};
use crate::state::{Arrival, Host, RetryPoint, RunError, StepStatus};

impl Machine<'_, '_> {
    /// Ends the run with a terminal status; all open work is closed.
    pub(super) fn finish(&mut self, status: RunStatus, reason: &str) {
        self.close_all(reason);
        self.st.scopes.clear();
        self.end(status);
    }

    /// Fails the run (not retryable).
    pub(super) fn fail(&mut self, error: RunError) {
        self.st.error = Some(error);
        self.st.retry = None;
        self.finish(RunStatus::Failed, "run failed");
    }

    /// Fails the run because a step failed for good. Every other token is
    /// parked where it stood, so `RetryStep` can resume the run.
    pub(super) fn fail_step(
        &mut self,
        id: WorkId,
        node: u32,
        scope: ScopeId,
        attempt: u32,
        feedback: Option<String>,
        error: &TaskError,
    ) {
        let mut parked: Vec<Arrival> = self
            .st
            .open
            .values()
            .map(|w| Arrival {
                node: w.node,
                scope: w.scope,
                slot: 0,
            })
            .collect();
        parked.extend(self.queue.drain(..));
        self.close_all("run failed");
        self.st.error = Some(RunError {
            code: Fault::TaskFailed.code().to_owned(),
            message: format!(
                "`{}` failed after {attempt} attempt(s): [{}] {}",
                self.def.id(node),
                error.code,
                error.message
            ),
            node_id: Some(self.def.id(node).to_owned()),
            work_id: Some(id),
            error_code: Some(error.code.clone()),
        });
        self.st.retry = Some(RetryPoint {
            work_id: id,
            node,
            scope,
            attempt,
            feedback,
            parked,
        });
        self.end(RunStatus::Failed);
    }

    /// `RetryStep`: the failed step runs again (next attempt number), parked
    /// tokens re-enter their nodes, subprocess boundary timers are re-armed.
    pub(super) fn resume(&mut self) {
        let Some(point) = self.st.retry.take() else {
            return;
        };
        self.st.status = RunStatus::Running;
        self.st.error = None;
        self.st.ended_at = None;
        let subprocesses: Vec<(ScopeId, u32)> = self
            .st
            .scopes
            .iter()
            .filter_map(|(id, s)| s.node.map(|n| (*id, n)))
            .collect();
        for (id, node) in subprocesses {
            let timers = self.arm_boundary_timers(node, Host::Scope(id));
            if let Some(scope) = self.st.scopes.get_mut(&id) {
                scope.boundary_timers = timers;
            }
        }
        for node in self.scope_nodes() {
            self.mark_touched(node);
        }
        self.visit(point.node);
        self.open_agent(
            point.node,
            point.scope,
            point.attempt + 1,
            point.feedback,
            None,
        );
        self.queue.extend(point.parked);
    }

    /// Closes every open item and every timer, telling the shell.
    fn close_all(&mut self, reason: &str) {
        let open: Vec<WorkId> = self.st.open.keys().copied().collect();
        for id in open {
            self.close_work(id, reason, StepStatus::Cancelled);
        }
        let timers: Vec<_> = self.st.timers.keys().copied().collect();
        for id in timers {
            self.cancel_timer(id);
        }
        for node in self.scope_nodes() {
            self.mark_left(node, NodeState::Cancelled);
        }
        for scope in self.st.scopes.values_mut() {
            scope.boundary_timers.clear();
        }
        self.queue.clear();
    }

    fn end(&mut self, status: RunStatus) {
        self.st.status = status;
        self.st.ended_at = Some(self.at);
        self.fx.push(Effect::RunFinished { status });
        self.halted = true;
    }
}
