//! Timer boundary events firing on a task or subprocess.

use agentwerke_types::Timestamp;

use super::Machine;
use crate::definition::Exec;
use crate::ids::TimerId;
use crate::state::{Host, StepStatus, TimerPurpose};

impl Machine<'_, '_> {
    /// An interrupting boundary timer stops its host (work and timers, or the
    /// whole subprocess scope) and the token continues from the boundary
    /// event. A non-interrupting one adds a token there, leaves the host
    /// running, and re-arms itself while its cycle lasts.
    pub(super) fn boundary_timer(
        &mut self,
        id: TimerId,
        boundary: u32,
        host: Host,
        fired: u32,
        due: Timestamp,
    ) {
        let Exec::BoundaryTimer {
            interrupting,
            schedule,
            ..
        } = self.exec(boundary)
        else {
            return;
        };
        if *interrupting {
            match host {
                Host::Work(work) => {
                    let reason = format!("interrupted by `{}`", self.def.id(boundary));
                    if let Some(closed) = self.close_work(work, &reason, StepStatus::Cancelled) {
                        self.visit(boundary);
                        self.leave(boundary, closed.scope);
                    }
                }
                Host::Scope(scope) => {
                    if self.st.scopes.contains_key(&scope) {
                        self.interrupt_scope(scope, boundary);
                    }
                }
            }
            return;
        }
        let scope = match host {
            Host::Work(work) => self.st.open.get(&work).map(|w| w.scope),
            Host::Scope(scope) => self.st.scopes.get(&scope).and_then(|s| s.parent),
        };
        let Some(scope) = scope else {
            return;
        };
        let next = schedule.next_due(due, fired).map(|next_due| {
            let purpose = TimerPurpose::Boundary {
                boundary,
                host,
                fired,
            };
            self.new_timer(boundary, next_due, purpose)
        });
        let list = match host {
            Host::Work(work) => self.st.open.get_mut(&work).map(|w| &mut w.boundary_timers),
            Host::Scope(s) => self.st.scopes.get_mut(&s).map(|s| &mut s.boundary_timers),
        };
        if let Some(list) = list {
            list.retain(|t| *t != id);
            list.extend(next);
        }
        self.add_tokens(scope, 1);
        self.visit(boundary);
        self.leave(boundary, scope);
    }
}
