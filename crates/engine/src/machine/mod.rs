//! The state machine: one [`Machine`] lives for one event.
//!
//! An event first passes [`events::check`], which is the only place that
//! returns `Err`; from then on the machine cannot fail, only change the run
//! (a run that goes wrong fails closed with a [`Fault`]). That split is what
//! keeps `apply_mut` all-or-nothing without copying the state.
//!
//! Tokens in flight wait in a FIFO queue of [`Arrival`]s; handlers push, and
//! [`Machine::settle`] drains it, fires inclusive joins that became ready,
//! detects deadlocks and derives the status.

mod approval;
mod boundary;
mod events;
mod finish;
mod flow;
mod nodes;
mod scope;
mod work;

use std::collections::VecDeque;

use serde_json::{Map, Value};

use agentwerke_bpmn::model::NodeIdx;
use agentwerke_types::{ErrorCode, NodeState, RunStatus, Timestamp};

use crate::definition::{Compiled, Definition, Exec};
use crate::effect::Effect;
use crate::error::Fault;
use crate::event::Event;
use crate::ids::{ScopeId, TimerId};
use crate::state::{Arrival, RunError, RunState, Timer, TimerPurpose, Wait};

pub(crate) use events::check;

/// The working set of one `apply`.
pub(crate) struct Machine<'a, 't> {
    def: &'a Compiled,
    limit: u32,
    st: &'a mut RunState,
    fx: Vec<Effect>,
    trace: Option<&'t mut Vec<NodeIdx>>,
    at: Timestamp,
    queue: VecDeque<Arrival>,
    moves: u32,
    /// Set once the run reached a terminal status in this event.
    halted: bool,
    /// What the event did to each node it touched (see [`nodes`]).
    marks: nodes::Marks,
}

impl<'a, 't> Machine<'a, 't> {
    pub(crate) fn new(
        def: &'a Definition,
        st: &'a mut RunState,
        at: Timestamp,
        trace: Option<&'t mut Vec<NodeIdx>>,
    ) -> Self {
        Self {
            def: &def.inner,
            limit: def.move_limit,
            st,
            fx: Vec::new(),
            trace,
            at,
            queue: VecDeque::new(),
            moves: 0,
            halted: false,
            marks: nodes::Marks::new(),
        }
    }

    /// Applies a checked event and returns its effects.
    pub(crate) fn run(mut self, event: Event) -> Vec<Effect> {
        self.handle(event);
        self.settle();
        self.emit_node_changes();
        self.fx
    }

    /// Drains the queue, fires ready inclusive joins, then checks that the
    /// run still has something to wait for and derives its status.
    fn settle(&mut self) {
        loop {
            self.drain();
            if self.halted || !self.fire_ready_inclusive_join() {
                break;
            }
        }
        if self.halted || self.st.status.is_terminal() {
            return;
        }
        if self.st.open.is_empty() && self.st.timers.is_empty() {
            let message = self.stuck_joins();
            self.fault(Fault::Deadlock, None, message);
            return;
        }
        self.st.status = self.derive_status();
    }

    fn drain(&mut self) {
        while let Some(arrival) = self.queue.pop_front() {
            if self.halted {
                self.queue.clear();
                return;
            }
            self.moves += 1;
            if self.moves > self.limit {
                let message = format!(
                    "more than {} token moves in one event; the last reached `{}`",
                    self.limit,
                    self.def.id(arrival.node)
                );
                self.fault(Fault::StepLimit, Some(arrival.node), message);
                return;
            }
            // Tokens of a scope that was interrupted or terminated meanwhile.
            if self.st.scopes.contains_key(&arrival.scope) {
                self.arrive(arrival);
            }
        }
    }

    /// Status of a live run, by precedence: approvals, questions to a
    /// human, messages, timers.
    fn derive_status(&self) -> RunStatus {
        let (mut question, mut message, mut timer, mut agent) = (false, false, false, false);
        for work in self.st.open.values() {
            match work.wait {
                Wait::Agent {
                    paused_on: Some(_),
                    asking: true,
                    ..
                } => question = true,
                Wait::Approval
                | Wait::Agent {
                    paused_on: Some(_), ..
                } => return RunStatus::AwaitingApproval,
                Wait::Message { .. } => message = true,
                Wait::Timer | Wait::Agent { running: false, .. } => timer = true,
                Wait::Agent { running: true, .. } => agent = true,
            }
        }
        if question {
            RunStatus::WaitingUser
        } else if message {
            RunStatus::WaitingEvent
        } else if timer || (!agent && !self.st.timers.is_empty()) {
            RunStatus::WaitingTimer
        } else {
            RunStatus::Running
        }
    }

    fn stuck_joins(&self) -> String {
        let nodes: Vec<&str> = self
            .st
            .scopes
            .values()
            .flat_map(|s| s.joins.keys())
            .map(|n| self.def.id(*n))
            .collect();
        format!(
            "tokens wait at joins that can never fire ({}) and nothing else is open",
            nodes.join(", ")
        )
    }

    /// Records a token's arrival at a node, and the visit in the caller's
    /// trace.
    fn visit(&mut self, node: u32) {
        self.mark_entered(node);
        if let Some(trace) = self.trace.as_deref_mut() {
            trace.push(node as usize);
        }
    }

    /// Writes `context.<section>.<NodeId> = value`.
    fn put_context(&mut self, section: &str, node: u32, value: Value) {
        let id = self.def.id(node).to_owned();
        let Value::Object(root) = &mut self.st.context else {
            return;
        };
        let slot = root
            .entry(section.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        if let Value::Object(map) = slot {
            map.insert(id, value);
        }
    }

    /// Arms a timer and tells the shell.
    fn new_timer(&mut self, node: u32, due_at: Timestamp, purpose: TimerPurpose) -> TimerId {
        let id = TimerId(self.st.next_timer);
        self.st.next_timer += 1;
        self.st.timers.insert(
            id,
            Timer {
                node,
                due_at,
                purpose,
            },
        );
        self.fx.push(Effect::ScheduleTimer {
            timer_id: id,
            node_id: self.def.id(node).to_owned(),
            due_at,
        });
        id
    }

    /// Forgets a timer, telling the shell if it was still armed.
    fn cancel_timer(&mut self, id: TimerId) {
        if self.st.timers.remove(&id).is_some() {
            self.fx.push(Effect::CancelTimer { timer_id: id });
        }
    }

    /// Fails the run closed with a non-retryable fault.
    fn fault(&mut self, fault: Fault, node: Option<u32>, message: String) {
        if let Some(node) = node {
            self.mark_left(node, NodeState::Failed);
        }
        self.fail(RunError {
            code: fault.code().to_owned(),
            message,
            node_id: node.map(|n| self.def.id(n).to_owned()),
            work_id: None,
            error_code: None,
        });
    }

    fn push(&mut self, node: u32, scope: ScopeId, slot: u32) {
        self.queue.push_back(Arrival { node, scope, slot });
    }

    fn exec(&self, node: u32) -> &'a Exec {
        &self.def.nodes[node as usize].exec
    }
}
