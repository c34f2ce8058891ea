//! Scopes: embedded subprocesses, terminate, and error propagation.
//!
//! A scope completes when its live-token count reaches zero; the parent's
//! token, resting at the subprocess node meanwhile, then leaves along the
//! subprocess's outgoing flows. Errors travel outwards scope by scope until an
//! error boundary on an enclosing subprocess catches them.

use std::collections::BTreeMap;

use agentwerke_types::NodeState;

use super::Machine;
use crate::definition::Exec;
use crate::error::Fault;
use crate::ids::{ScopeId, TimerId, WorkId};
use crate::state::{Host, Scope, StepStatus};

impl Machine<'_, '_> {
    /// A token enters a subprocess: a new scope starts at its none start.
    pub(super) fn enter_subprocess(&mut self, node: u32, parent: ScopeId, start: u32) {
        let id = ScopeId(self.st.next_scope);
        self.st.next_scope += 1;
        self.st.scopes.insert(
            id,
            Scope {
                parent: Some(parent),
                node: Some(node),
                tokens: 1,
                boundary_timers: Vec::new(),
                joins: BTreeMap::new(),
            },
        );
        let timers = self.arm_boundary_timers(node, Host::Scope(id));
        if let Some(scope) = self.st.scopes.get_mut(&id) {
            scope.boundary_timers = timers;
        }
        self.push(start, id, 0);
    }

    /// Arms the timer boundary events of an activity that just started.
    pub(super) fn arm_boundary_timers(&mut self, node: u32, host: Host) -> Vec<TimerId> {
        let def = self.def;
        let mut armed = Vec::new();
        for boundary in &def.nodes[node as usize].boundaries {
            if let Exec::BoundaryTimer { schedule, .. } = &def.nodes[*boundary as usize].exec {
                let due = schedule.first_due(self.at);
                let purpose = crate::state::TimerPurpose::Boundary {
                    boundary: *boundary,
                    host,
                    fired: 0,
                };
                armed.push(self.new_timer(*boundary, due, purpose));
            }
        }
        armed
    }

    /// The last token of a scope ended.
    pub(super) fn scope_done(&mut self, scope: ScopeId) {
        if scope == ScopeId::ROOT {
            return self.finish(agentwerke_types::RunStatus::Completed, "completed");
        }
        let Some(done) = self.st.scopes.remove(&scope) else {
            return;
        };
        for timer in done.boundary_timers {
            self.cancel_timer(timer);
        }
        if let (Some(parent), Some(node)) = (done.parent, done.node) {
            self.leave(node, parent);
        }
    }

    /// A terminate end event: everything else in the scope stops, and the
    /// scope completes normally (at process level: the run completes).
    pub(super) fn terminate(&mut self, scope: ScopeId) {
        if scope == ScopeId::ROOT {
            return self.finish(agentwerke_types::RunStatus::Completed, "terminated");
        }
        self.cancel_contents(scope, "terminated");
        self.scope_done(scope);
    }

    /// Closes every work item, child scope and join token inside `scope`,
    /// which itself stays.
    pub(super) fn cancel_contents(&mut self, scope: ScopeId, reason: &str) {
        // Child scopes always have larger ids than their parents.
        let mut inside = vec![scope];
        for (id, sc) in self.st.scopes.range(scope..) {
            if sc.parent.is_some_and(|p| inside.contains(&p)) {
                inside.push(*id);
            }
        }
        let work: Vec<WorkId> = self
            .st
            .open
            .iter()
            .filter(|(_, w)| inside.contains(&w.scope))
            .map(|(id, _)| *id)
            .collect();
        for id in work {
            self.close_work(id, reason, StepStatus::Cancelled);
        }
        for child in inside.iter().skip(1) {
            if let Some(removed) = self.st.scopes.remove(child) {
                for timer in removed.boundary_timers {
                    self.cancel_timer(timer);
                }
                for node in removed.node.into_iter().chain(removed.joins.into_keys()) {
                    self.mark_left(node, NodeState::Cancelled);
                }
            }
        }
        if let Some(sc) = self.st.scopes.get_mut(&scope) {
            let joins = std::mem::take(&mut sc.joins);
            for node in joins.into_keys() {
                self.mark_left(node, NodeState::Cancelled);
            }
        }
    }

    /// An interrupting boundary event on a subprocess fired: the scope stops
    /// and the parent's token leaves through the boundary event.
    pub(super) fn interrupt_scope(&mut self, scope: ScopeId, boundary: u32) {
        let reason = format!("interrupted by `{}`", self.def.id(boundary));
        self.cancel_contents(scope, &reason);
        let Some(removed) = self.st.scopes.remove(&scope) else {
            return;
        };
        for timer in removed.boundary_timers {
            self.cancel_timer(timer);
        }
        if let Some(node) = removed.node {
            self.mark_left(node, NodeState::Cancelled);
        }
        if let Some(parent) = removed.parent {
            self.visit(boundary);
            self.leave(boundary, parent);
        }
    }

    /// Throws an error out of `scope` to the error boundaries of the
    /// enclosing subprocesses, innermost first. Returns false when it reached
    /// the process level uncaught.
    pub(super) fn throw_error(&mut self, scope: ScopeId, code: Option<&str>) -> bool {
        let mut current = scope;
        loop {
            let Some(sc) = self.st.scopes.get(&current) else {
                return false;
            };
            let (Some(host), Some(parent)) = (sc.node, sc.parent) else {
                return false;
            };
            if let Some(boundary) = self.error_boundary(host, code) {
                self.interrupt_scope(current, boundary);
                return true;
            }
            current = parent;
        }
    }

    /// An error end event.
    pub(super) fn throw_from_end(&mut self, scope: ScopeId, node: u32, code: Option<&str>) {
        if self.throw_error(scope, code) {
            return;
        }
        let message = match code {
            Some(code) => format!(
                "error `{code}` thrown at `{}` was not caught",
                self.def.id(node)
            ),
            None => format!("the error thrown at `{}` was not caught", self.def.id(node)),
        };
        self.fault(Fault::UnhandledError, Some(node), message);
        if let Some(error) = self.st.error.as_mut() {
            error.error_code = code.map(str::to_owned);
        }
    }

    /// The error boundary of `host` that catches `code`: an exact `errorCode`
    /// match first, then one without a code (catch-all), in document order.
    pub(super) fn error_boundary(&self, host: u32, code: Option<&str>) -> Option<u32> {
        let def = self.def;
        let boundaries = &def.nodes[host as usize].boundaries;
        let catches = |want_exact: bool| {
            boundaries
                .iter()
                .copied()
                .find(|b| match &def.nodes[*b as usize].exec {
                    Exec::BoundaryError { code: Some(c), .. } => {
                        want_exact && Some(c.as_str()) == code
                    }
                    Exec::BoundaryError { code: None, .. } => !want_exact,
                    _ => false,
                })
        };
        catches(true).or_else(|| catches(false))
    }
}
