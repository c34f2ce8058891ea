//! Approval gates: opening a request and routing the decision.
//!
//! A decision is *modelled* when a gateway right after the approval reads
//! `approval.<NodeId>`: the engine then only records it. Otherwise `approve`
//! continues, `reject` ends the run `rejected`, and `request_changes` re-runs
//! the nearest preceding agent task with the comment as feedback (a reject
//! when there is none).

use agentwerke_types::RunStatus;

use super::Machine;
use crate::definition::Exec;
use crate::effect::Effect;
use crate::event::ApprovalDecision;
use crate::ids::{ScopeId, WorkId};
use crate::state::{Host, OpenWork, StepStatus, Wait};

impl Machine<'_, '_> {
    pub(super) fn open_approval(&mut self, node: u32, scope: ScopeId) {
        let Exec::Approval { spec, .. } = self.exec(node) else {
            return;
        };
        let id = self.new_work(node, "approvalTask", 1, StepStatus::Active);
        let boundary_timers = self.arm_boundary_timers(node, Host::Work(id));
        self.st.open.insert(
            id,
            OpenWork {
                node,
                scope,
                wait: Wait::Approval,
                own_timer: None,
                boundary_timers,
            },
        );
        self.fx.push(Effect::RequestApproval {
            work_id: id,
            node_id: self.def.id(node).to_owned(),
            name: self.def.name(node).cloned(),
            spec: (**spec).clone(),
        });
    }

    /// Records an approval decision and routes it (see the crate docs).
    pub(super) fn decide(
        &mut self,
        id: WorkId,
        decision: ApprovalDecision,
        comment: Option<String>,
        decided_by: String,
    ) {
        let Some(work) = self.close_work(id, "decided", StepStatus::Completed) else {
            return;
        };
        let record = serde_json::json!({
            "decision": decision.as_str(),
            "comment": comment,
            "decidedBy": decided_by,
            "at": self.at,
        });
        self.put_context("approval", work.node, record.clone());
        if let Some(step) = self.step_mut(id) {
            step.output = Some(record);
        }
        let Exec::Approval {
            modelled, rework, ..
        } = self.exec(work.node)
        else {
            return;
        };
        match (decision, *modelled, *rework) {
            (ApprovalDecision::Approve, ..) | (_, true, _) => self.leave(work.node, work.scope),
            (ApprovalDecision::RequestChanges, false, Some(agent)) => {
                self.moves += 1;
                self.visit(agent);
                self.open_agent(agent, work.scope, 1, comment, None);
            }
            (ApprovalDecision::Reject | ApprovalDecision::RequestChanges, false, _) => {
                let reason = format!("rejected at `{}`", self.def.id(work.node));
                self.finish(RunStatus::Rejected, &reason);
            }
        }
    }
}
