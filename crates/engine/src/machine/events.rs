//! Checking an event against the state (the only source of `Err`) and
//! dispatching it to its handler.
//!
//! Races are normal: a completion for work that is no longer open, or a timer
//! that was cancelled, is accepted as a no-op. Ids the run never issued, events
//! on a finished run and events that contradict the work they name are errors.

use serde_json::{Map, Value};

use agentwerke_types::RunStatus;

use super::Machine;
use crate::definition::Definition;
use crate::error::Error;
use crate::event::{Event, TIMEOUT_CODE, TaskError};
use crate::ids::{ScopeId, WorkId};
use crate::state::{RunState, Scope, TimerPurpose, Wait};

/// Refuses events that cannot apply; never changes the state.
pub(crate) fn check(_def: &Definition, st: &RunState, event: &Event) -> Result<(), Error> {
    if let Event::Start { .. } = event {
        return if st.is_started() {
            Err(Error::AlreadyStarted)
        } else {
            Ok(())
        };
    }
    if !st.is_started() {
        return Err(Error::NotStarted);
    }
    if let Event::RetryStep { work_id, .. } = event {
        known_work(st, *work_id)?;
        return match &st.retry {
            Some(point) if point.work_id == *work_id && st.status == RunStatus::Failed => Ok(()),
            _ => Err(Error::NotRetryable(*work_id)),
        };
    }
    if st.status.is_terminal() {
        return Err(Error::RunFinished);
    }
    match event {
        Event::TaskCompleted { work_id, .. }
        | Event::TaskFailed { work_id, .. }
        | Event::TaskPaused { work_id, .. }
        | Event::TaskAsked { work_id, .. }
        | Event::TaskResumed { work_id, .. }
        | Event::TaskHeld { work_id, .. }
        | Event::TaskReleased { work_id, .. } => expect_kind(st, *work_id, "agent"),
        Event::ApprovalDecided { work_id, .. } => expect_kind(st, *work_id, "approval"),
        Event::TimerFired { timer_id, .. } => {
            if timer_id.0 == 0 || timer_id.0 >= st.next_timer {
                Err(Error::UnknownTimer(*timer_id))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn known_work(st: &RunState, id: WorkId) -> Result<(), Error> {
    match st.step(id) {
        Some(_) => Ok(()),
        None => Err(Error::UnknownWork(id)),
    }
}

fn expect_kind(st: &RunState, id: WorkId, expected: &'static str) -> Result<(), Error> {
    known_work(st, id)?;
    match st.open.get(&id) {
        Some(work) if work.wait.kind() != expected => Err(Error::WorkKindMismatch {
            work_id: id,
            expected,
            actual: work.wait.kind(),
        }),
        _ => Ok(()),
    }
}

impl Machine<'_, '_> {
    pub(super) fn handle(&mut self, event: Event) {
        match event {
            Event::Start { input, .. } => self.start(input),
            Event::TaskCompleted {
                work_id, output, ..
            } => {
                if self.agent_running(work_id) {
                    self.complete_work(work_id, Some(output));
                }
            }
            Event::TaskFailed { work_id, error, .. } => {
                if self.agent_running(work_id) {
                    self.fail_attempt(work_id, error);
                }
            }
            Event::ApprovalDecided {
                work_id,
                decision,
                comment,
                decided_by,
                ..
            } => self.decide(work_id, decision, comment, decided_by),
            Event::MessageReceived {
                message_name,
                correlation_key,
                payload,
                ..
            } => self.message(&message_name, &correlation_key, payload),
            Event::TimerFired { timer_id, .. } => {
                if let Some(timer) = self.st.timers.remove(&timer_id) {
                    self.timer_fired(timer_id, timer);
                }
            }
            Event::Cancel { reason, .. } => {
                self.st.cancel_reason = Some(reason);
                self.finish(RunStatus::Cancelled, "cancelled");
            }
            Event::TaskPaused {
                work_id,
                approval_id,
                ..
            } => self.pause(work_id, approval_id, false),
            Event::TaskAsked {
                work_id,
                question_id,
                ..
            } => self.pause(work_id, question_id, true),
            Event::TaskResumed { work_id, .. } => {
                if self.set_paused(work_id, None, false) == Some(true) {
                    self.fx
                        .push(crate::effect::Effect::ResumeAgentTask { work_id });
                    // The attempt runs again from its start: a whole timeout.
                    self.arm_timeout(work_id);
                }
            }
            Event::RetryStep { .. } => self.resume(),
            Event::TaskHeld { work_id, .. } => self.hold(work_id),
            Event::TaskReleased { work_id, .. } => {
                if self.set_held(work_id, false) == Some(true) {
                    // The attempt goes on after the halt: a whole timeout,
                    // as after a pause.
                    self.arm_timeout(work_id);
                }
            }
        }
    }

    /// Holds a running attempt the kill switch stopped. Its timeout stops
    /// until the release: it bounds the agent's own work, not a halt.
    fn hold(&mut self, id: WorkId) {
        if self.set_held(id, true).is_none() {
            return;
        }
        if let Some(timer) = self.st.open.get_mut(&id).and_then(|w| w.own_timer.take()) {
            self.cancel_timer(timer);
        }
    }

    /// Marks a running attempt held or released; whether it was held
    /// before. `None` when there is no running attempt that is not paused:
    /// stale holds and releases are no-ops, like every other race.
    fn set_held(&mut self, id: WorkId, to: bool) -> Option<bool> {
        if let Some(work) = self.st.open.get_mut(&id)
            && let Wait::Agent {
                running: true,
                paused_on: None,
                held,
                ..
            } = &mut work.wait
        {
            let was = std::mem::replace(held, to);
            let node = work.node;
            self.mark_touched(node);
            return Some(was);
        }
        None
    }

    fn start(&mut self, input: Value) {
        let mut context = Map::new();
        context.insert("input".to_owned(), input);
        context.insert("output".to_owned(), Value::Object(Map::new()));
        context.insert("approval".to_owned(), Value::Object(Map::new()));
        context.insert("event".to_owned(), Value::Object(Map::new()));
        context.insert("run_id".to_owned(), Value::String(self.st.run_id.clone()));
        self.st.context = Value::Object(context);
        self.st.started_at = Some(self.at);
        self.st.scopes.insert(
            ScopeId::ROOT,
            Scope {
                parent: None,
                node: None,
                tokens: 1,
                boundary_timers: Vec::new(),
                joins: Default::default(),
            },
        );
        self.push(self.def.start, ScopeId::ROOT, 0);
    }

    /// Pauses a running attempt until a person decides (`on` an approval)
    /// or answers (`on` a question). Its timeout stops: it bounds the
    /// agent's own work, not the time a person takes.
    fn pause(&mut self, id: WorkId, on: String, question: bool) {
        if self.set_paused(id, Some(on), question).is_none() {
            return;
        }
        if let Some(timer) = self.st.open.get_mut(&id).and_then(|w| w.own_timer.take()) {
            self.cancel_timer(timer);
        }
    }

    /// Pauses a running attempt on an approval or a question (`asking`), or
    /// resumes it (`None`); stale events for attempts that ended meanwhile
    /// are no-ops, like every other race. Whether the attempt was paused
    /// before; `None` when there is no running attempt.
    fn set_paused(&mut self, id: WorkId, on: Option<String>, question: bool) -> Option<bool> {
        if let Some(work) = self.st.open.get_mut(&id)
            && let Wait::Agent {
                running: true,
                paused_on,
                asking,
                ..
            } = &mut work.wait
        {
            *asking = question && on.is_some();
            let was = std::mem::replace(paused_on, on).is_some();
            let node = work.node;
            self.mark_touched(node);
            return Some(was);
        }
        None
    }

    fn agent_running(&self, id: WorkId) -> bool {
        matches!(
            self.st.open.get(&id).map(|w| &w.wait),
            Some(Wait::Agent { running: true, .. })
        )
    }

    /// Resumes every open wait for `name` whose key matches (or that has
    /// none), in work-id order.
    fn message(&mut self, name: &str, key: &str, payload: Value) {
        let matching: Vec<WorkId> = self
            .st
            .open
            .iter()
            .filter(|(_, w)| match &w.wait {
                Wait::Message { name: n, key: k } => {
                    n == name && k.as_deref().is_none_or(|k| k == key)
                }
                _ => false,
            })
            .map(|(id, _)| *id)
            .collect();
        for id in matching {
            if self.halted {
                return;
            }
            if self.st.open.contains_key(&id) {
                if let Value::Object(root) = &mut self.st.context {
                    root.insert("event".to_owned(), payload.clone());
                }
                self.complete_work(id, Some(payload.clone()));
            }
        }
    }

    fn timer_fired(&mut self, id: crate::ids::TimerId, timer: crate::state::Timer) {
        match timer.purpose {
            TimerPurpose::Catch { work } => self.complete_work(work, None),
            TimerPurpose::Retry { work } => self.retry_due(work),
            TimerPurpose::Timeout { work } => {
                if !self.agent_running(work) {
                    return;
                }
                if let Some(w) = self.st.open.get_mut(&work) {
                    w.own_timer = None;
                }
                self.fx
                    .push(crate::effect::Effect::CancelWork { work_id: work });
                let error = TaskError {
                    code: TIMEOUT_CODE.to_owned(),
                    message: format!("no result by {}", timer.due_at),
                };
                self.fail_attempt(work, error);
            }
            TimerPurpose::Boundary {
                boundary,
                host,
                fired,
            } => self.boundary_timer(id, boundary, host, fired + 1, timer.due_at),
        }
    }
}
