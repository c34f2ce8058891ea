//! The system expires an approval nobody decided in time. A gate's expiry
//! is the decision its model names (`onExpiry`, `reject` unless modelled),
//! made in nobody's name; an escalated tool call's resumes its step, where
//! the gateway refuses the call (an expiry is never an allow).

use agentwerke_bpmn::model::ExpiryOutcome;
use agentwerke_engine::ApprovalDecision;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{ApprovalRow, Row};
use agentwerke_types::{Actor, ApprovalId, ApprovalKind, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::decide_approval::{Verdict, event_for, still_pending, work_id_of};
use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// The comment an expired gate's decision carries.
pub const EXPIRED_COMMENT: &str = "expired without a decision";

/// Expire one approval whose time ran out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpireApproval {
    /// The approval.
    pub approval_id: ApprovalId,
}

/// What expiring reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The approval, if it exists.
    pub approval: Option<ApprovalRow>,
    /// The outcome its gate models; `None` when it models none (or the
    /// definition could not be read): then the gate rejects.
    pub on_expiry: Option<ExpiryOutcome>,
}

/// The engine decision an expiry outcome makes.
pub fn decision_of(outcome: ExpiryOutcome) -> ApprovalDecision {
    match outcome {
        ExpiryOutcome::Reject => ApprovalDecision::Reject,
        ExpiryOutcome::Approve => ApprovalDecision::Approve,
        ExpiryOutcome::RequestChanges => ApprovalDecision::RequestChanges,
    }
}

/// Plans an expiry: the approval is pending and due; then the row, the
/// event its kind and modelled outcome call for, and the audit record.
pub fn plan(snapshot: &Snapshot, command: ExpireApproval, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    let approval = snapshot.approval.as_ref().ok_or_else(|| Error::NotFound {
        what: "approval",
        id: command.approval_id.to_string(),
    })?;
    let due = approval.expires_at.is_some_and(|due| due <= ctx.at);
    if !due {
        // Closed approvals answer as they would to a person; a pending one
        // that is not due is not this command's to touch.
        still_pending(approval, ctx.at)?;
        return Err(Error::NotDue {
            id: approval.id.to_string(),
        });
    }
    if approval.status != agentwerke_types::ApprovalStatus::Pending {
        still_pending(approval, ctx.at)?;
    }
    let outcome = snapshot.on_expiry.unwrap_or_default();
    let event = event_for(
        approval.kind,
        work_id_of(approval)?,
        Verdict {
            decision: decision_of(outcome),
            comment: Some(EXPIRED_COMMENT.to_owned()),
            decided_by: Actor::System.to_string(),
        },
        ctx.at,
    );
    let mut data = json!({"approvalId": approval.id, "nodeId": approval.node_id,
                          "kind": approval.kind});
    if approval.kind == ApprovalKind::Gate {
        data["outcome"] = json!(outcome.as_str());
    }
    Ok(Plan {
        run: approval.run_id.clone(),
        event: Some(PlannedEvent {
            event,
            dedup_key: Some(format!("expire:{}", approval.id)),
        }),
        rows: vec![Row::ExpireApproval {
            id: approval.id.clone(),
        }],
        audit: vec![AuditDraft {
            run_id: approval.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::System,
            kind: AuditKind::ApprovalExpired,
            data,
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_engine::{Event, WorkId};
    use agentwerke_types::{ApprovalStatus, ErrorCode, Timestamp};

    use super::*;
    use crate::command::tests::approval;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn ctx(ms: i64) -> Ctx<'static> {
        Ctx {
            at: at(ms),
            redactor: crate::command::no_secrets(),
        }
    }

    fn due(kind: ApprovalKind) -> ApprovalRow {
        let mut approval = approval(kind);
        approval.expires_at = Some(at(1_000));
        approval
    }

    fn expire() -> ExpireApproval {
        ExpireApproval {
            approval_id: "ap-1".into(),
        }
    }

    #[test]
    fn a_gate_expires_with_its_modelled_outcome_or_a_rejection() {
        for (modelled, decision, outcome) in [
            (None, ApprovalDecision::Reject, "reject"),
            (
                Some(ExpiryOutcome::Reject),
                ApprovalDecision::Reject,
                "reject",
            ),
            (
                Some(ExpiryOutcome::Approve),
                ApprovalDecision::Approve,
                "approve",
            ),
            (
                Some(ExpiryOutcome::RequestChanges),
                ApprovalDecision::RequestChanges,
                "requestChanges",
            ),
        ] {
            let snapshot = Snapshot {
                approval: Some(due(ApprovalKind::Gate)),
                on_expiry: modelled,
            };
            let plan = plan(&snapshot, expire(), &ctx(1_000)).unwrap();
            assert_eq!(
                plan.event,
                Some(PlannedEvent {
                    event: Event::ApprovalDecided {
                        work_id: WorkId(3),
                        decision,
                        comment: Some(EXPIRED_COMMENT.to_owned()),
                        decided_by: "system".to_owned(),
                        at: at(1_000),
                    },
                    dedup_key: Some("expire:ap-1".to_owned()),
                })
            );
            assert_eq!(plan.rows, [Row::ExpireApproval { id: "ap-1".into() }]);
            assert_eq!(plan.audit[0].kind, AuditKind::ApprovalExpired);
            assert_eq!(plan.audit[0].actor, Actor::System);
            assert_eq!(plan.audit[0].data["outcome"], outcome);
        }
    }

    #[test]
    fn an_expired_escalation_resumes_its_step() {
        let snapshot = Snapshot {
            approval: Some(due(ApprovalKind::ToolEscalation)),
            on_expiry: Some(ExpiryOutcome::Approve),
        };
        let plan = plan(&snapshot, expire(), &ctx(2_000)).unwrap();
        assert_eq!(
            plan.event.map(|e| e.event),
            Some(Event::TaskResumed {
                work_id: WorkId(3),
                at: at(2_000)
            }),
            "the gateway refuses the call; no modelled outcome applies"
        );
        assert!(plan.audit[0].data.get("outcome").is_none());
    }

    #[test]
    fn only_a_pending_due_approval_expires() {
        let code = |approval: Option<ApprovalRow>, ms: i64| {
            let snapshot = Snapshot {
                approval,
                on_expiry: None,
            };
            plan(&snapshot, expire(), &ctx(ms)).unwrap_err().code()
        };
        assert_eq!(code(None, 1_000), "command.not_found");
        assert_eq!(code(Some(due(ApprovalKind::Gate)), 999), "approval.not_due");
        assert_eq!(
            code(Some(approval(ApprovalKind::Gate)), 5_000),
            "approval.not_due",
            "no expiry: never due"
        );
        let mut decided = due(ApprovalKind::Gate);
        decided.status = ApprovalStatus::Approved;
        assert_eq!(code(Some(decided), 1_000), "approval.already_decided");
        let mut expired = due(ApprovalKind::Gate);
        expired.status = ApprovalStatus::Expired;
        assert_eq!(code(Some(expired), 1_000), "approval.past_expiry");
    }
}
