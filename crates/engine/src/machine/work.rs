//! Work items: opening, completing, failing and closing the waits a token
//! rests at: agent attempts (with retries and timeouts), message and timer
//! waits. Approval gates have their own module.

use serde_json::Value;

use agentwerke_bpmn::timer::Schedule;
use agentwerke_types::NodeState;

use super::Machine;
use crate::definition::Exec;
use crate::effect::Effect;
use crate::error::Fault;
use crate::event::TaskError;
use crate::ids::{ScopeId, TimerId, WorkId};
use crate::state::{Host, OpenWork, StepRecord, StepStatus, TimerPurpose, Wait};
use crate::template;

impl Machine<'_, '_> {
    /// Issues a work id with its step record.
    pub(super) fn new_work(
        &mut self,
        node: u32,
        node_type: &str,
        attempt: u32,
        status: StepStatus,
    ) -> WorkId {
        let id = WorkId(self.st.next_work);
        self.st.next_work += 1;
        let agent = match self.exec(node) {
            Exec::Agent { spec } => Some(spec.agent.clone()),
            _ => None,
        };
        self.st.steps.push(StepRecord {
            work_id: id,
            node_id: self.def.id(node).to_owned(),
            name: self.def.name(node).cloned(),
            node_type: node_type.to_owned(),
            status,
            attempt,
            started_at: self.at,
            ended_at: None,
            agent,
            output: None,
            error: None,
            feedback: None,
        });
        id
    }

    pub(super) fn step_mut(&mut self, id: WorkId) -> Option<&mut StepRecord> {
        let index = usize::try_from(id.0.checked_sub(1)?).ok()?;
        self.st.steps.get_mut(index)
    }

    /// Opens an agent attempt. `boundary` carries the host's boundary timers
    /// over from a failed attempt; `None` arms them afresh.
    pub(super) fn open_agent(
        &mut self,
        node: u32,
        scope: ScopeId,
        attempt: u32,
        feedback: Option<String>,
        boundary: Option<Vec<TimerId>>,
    ) {
        let id = self.new_work(node, "agentTask", attempt, StepStatus::Active);
        if let Some(step) = self.step_mut(id) {
            step.feedback.clone_from(&feedback);
        }
        let boundary_timers = match boundary {
            Some(timers) => {
                self.rehost(&timers, Host::Work(id));
                timers
            }
            None => self.arm_boundary_timers(node, Host::Work(id)),
        };
        self.st.open.insert(
            id,
            OpenWork {
                node,
                scope,
                wait: Wait::Agent {
                    attempt,
                    running: true,
                    feedback,
                    paused_on: None,
                    asking: false,
                    held: false,
                },
                own_timer: None,
                boundary_timers,
            },
        );
        self.start_attempt(id);
    }

    /// Emits `RunAgentTask` and arms the attempt's timeout.
    pub(super) fn start_attempt(&mut self, id: WorkId) {
        let Some(work) = self.st.open.get(&id) else {
            return;
        };
        let (node, wait) = (work.node, work.wait.clone());
        let (
            Exec::Agent { spec },
            Wait::Agent {
                attempt, feedback, ..
            },
        ) = (self.exec(node), wait)
        else {
            return;
        };
        self.fx.push(Effect::RunAgentTask {
            work_id: id,
            node_id: self.def.id(node).to_owned(),
            name: self.def.name(node).cloned(),
            attempt,
            spec: spec.clone(),
            feedback,
        });
        self.arm_timeout(id);
    }

    /// Arms the attempt's `timeoutSeconds` from now, if the task has one.
    pub(super) fn arm_timeout(&mut self, id: WorkId) {
        let Some(node) = self.st.open.get(&id).map(|w| w.node) else {
            return;
        };
        let Exec::Agent { spec } = self.exec(node) else {
            return;
        };
        if let Some(seconds) = spec.timeout_seconds {
            let due = self.at.plus_millis(seconds_to_millis(seconds));
            let timer = self.new_timer(node, due, TimerPurpose::Timeout { work: id });
            if let Some(work) = self.st.open.get_mut(&id) {
                work.own_timer = Some(timer);
            }
        }
    }

    /// Points boundary timers at a new host (the next attempt).
    fn rehost(&mut self, timers: &[TimerId], host: Host) {
        for id in timers {
            if let Some(timer) = self.st.timers.get_mut(id)
                && let TimerPurpose::Boundary { host: h, .. } = &mut timer.purpose
            {
                *h = host;
            }
        }
    }

    /// Opens a message wait; the correlation key is rendered now, against
    /// the context as it is when the token arrives.
    pub(super) fn open_message(&mut self, node: u32, scope: ScopeId) {
        let Exec::Message {
            step_type,
            name,
            template,
        } = self.exec(node)
        else {
            return;
        };
        let key = match template {
            None => None,
            Some(t) => match template::render(t, &self.st.context) {
                Ok(key) => Some(key),
                Err(path) => {
                    let message = format!(
                        "correlation key `{t}` of `{}`: `{path}` does not resolve",
                        self.def.id(node)
                    );
                    return self.fault(Fault::CorrelationKeyUnresolved, Some(node), message);
                }
            },
        };
        let id = self.new_work(node, step_type, 1, StepStatus::Active);
        let boundary_timers = self.arm_boundary_timers(node, Host::Work(id));
        self.st.open.insert(
            id,
            OpenWork {
                node,
                scope,
                wait: Wait::Message {
                    name: name.clone(),
                    key: key.clone(),
                },
                own_timer: None,
                boundary_timers,
            },
        );
        self.fx.push(Effect::AwaitMessage {
            work_id: id,
            node_id: self.def.id(node).to_owned(),
            message_name: name.clone(),
            correlation_key: key,
        });
    }

    pub(super) fn open_timer_catch(&mut self, node: u32, scope: ScopeId, schedule: &Schedule) {
        let id = self.new_work(node, "timerCatch", 1, StepStatus::Active);
        let due = schedule.first_due(self.at);
        let timer = self.new_timer(node, due, TimerPurpose::Catch { work: id });
        self.st.open.insert(
            id,
            OpenWork {
                node,
                scope,
                wait: Wait::Timer,
                own_timer: Some(timer),
                boundary_timers: Vec::new(),
            },
        );
    }

    /// Removes an open item, cancels what the shell holds for it and closes
    /// its step with `status`.
    pub(super) fn close_work(
        &mut self,
        id: WorkId,
        reason: &str,
        status: StepStatus,
    ) -> Option<OpenWork> {
        let work = self.st.open.remove(&id)?;
        match &work.wait {
            Wait::Agent { running: true, .. } if status == StepStatus::Cancelled => {
                self.fx.push(Effect::CancelWork { work_id: id });
            }
            Wait::Approval if status == StepStatus::Cancelled => {
                self.fx.push(Effect::CloseApproval {
                    work_id: id,
                    reason: reason.to_owned(),
                });
            }
            Wait::Message { .. } if status == StepStatus::Cancelled => {
                self.fx.push(Effect::StopAwaitingMessage { work_id: id });
            }
            _ => {}
        }
        for timer in work.own_timer.iter().chain(&work.boundary_timers) {
            self.cancel_timer(*timer);
        }
        let at = self.at;
        if let Some(step) = self.step_mut(id) {
            step.status = status;
            step.ended_at = Some(at);
        }
        let left = match status {
            StepStatus::Cancelled => NodeState::Cancelled,
            StepStatus::Failed => NodeState::Failed,
            _ => NodeState::Done,
        };
        self.mark_left(work.node, left);
        Some(work)
    }

    /// A wait ended with a result: record it and move the token on.
    pub(super) fn complete_work(&mut self, id: WorkId, result: Option<Value>) {
        let Some(work) = self.close_work(id, "completed", StepStatus::Completed) else {
            return;
        };
        if let Some(value) = result {
            self.put_context("output", work.node, value.clone());
            if let Some(step) = self.step_mut(id) {
                step.output = Some(value);
            }
        }
        self.leave(work.node, work.scope);
    }

    /// An agent attempt failed (or timed out): retry, catch, or fail the run.
    pub(super) fn fail_attempt(&mut self, id: WorkId, error: TaskError) {
        let Some(mut work) = self.st.open.remove(&id) else {
            return;
        };
        if let Some(timer) = work.own_timer.take() {
            self.cancel_timer(timer);
        }
        let at = self.at;
        if let Some(step) = self.step_mut(id) {
            step.status = StepStatus::Failed;
            step.ended_at = Some(at);
            step.error = Some(error.clone());
        }
        self.mark_left(work.node, NodeState::Failed);
        let (
            Exec::Agent { spec },
            Wait::Agent {
                attempt, feedback, ..
            },
        ) = (
            self.exec(work.node),
            std::mem::replace(&mut work.wait, Wait::Timer),
        )
        else {
            return;
        };
        if attempt <= spec.max_retries {
            return self.retry_later(&work, attempt + 1, feedback, spec.retry_backoff_seconds);
        }
        for timer in std::mem::take(&mut work.boundary_timers) {
            self.cancel_timer(timer);
        }
        if let Some(boundary) = self.error_boundary(work.node, Some(&error.code)) {
            self.visit(boundary);
            return self.leave(boundary, work.scope);
        }
        if self.throw_error(work.scope, Some(&error.code)) {
            return;
        }
        self.fail_step(id, work.node, work.scope, attempt, feedback, &error);
    }

    /// Opens the next attempt: at once without backoff, else after
    /// `backoff * 2^(attempt-2)` seconds (attempt 2 waits `backoff`).
    fn retry_later(
        &mut self,
        failed: &OpenWork,
        attempt: u32,
        feedback: Option<String>,
        backoff: u64,
    ) {
        let boundary = Some(failed.boundary_timers.clone());
        if backoff == 0 {
            return self.open_agent(failed.node, failed.scope, attempt, feedback, boundary);
        }
        let id = self.new_work(failed.node, "agentTask", attempt, StepStatus::WaitingRetry);
        if let Some(step) = self.step_mut(id) {
            step.feedback.clone_from(&feedback);
        }
        self.rehost(&failed.boundary_timers, Host::Work(id));
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(2))
            .unwrap_or(u64::MAX);
        let delay = seconds_to_millis(backoff.saturating_mul(factor));
        let timer = self.new_timer(
            failed.node,
            self.at.plus_millis(delay),
            TimerPurpose::Retry { work: id },
        );
        self.st.open.insert(
            id,
            OpenWork {
                node: failed.node,
                scope: failed.scope,
                wait: Wait::Agent {
                    attempt,
                    running: false,
                    feedback,
                    paused_on: None,
                    asking: false,
                    held: false,
                },
                own_timer: Some(timer),
                boundary_timers: failed.boundary_timers.clone(),
            },
        );
    }

    /// A retry backoff elapsed: the waiting attempt starts.
    pub(super) fn retry_due(&mut self, id: WorkId) {
        let Some(work) = self.st.open.get_mut(&id) else {
            return;
        };
        if let Wait::Agent { running, .. } = &mut work.wait {
            *running = true;
        }
        work.own_timer = None;
        let node = work.node;
        self.mark_touched(node);
        let at = self.at;
        if let Some(step) = self.step_mut(id) {
            step.status = StepStatus::Active;
            step.started_at = at;
        }
        self.start_attempt(id);
    }
}

fn seconds_to_millis(seconds: u64) -> i64 {
    i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}
