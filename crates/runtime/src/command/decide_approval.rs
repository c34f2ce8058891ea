//! A person decides an approval: a gate's decision goes to the process, an
//! escalated tool call's decision to the gateway when its step runs again.

use agentwerke_auth::Principal;
use agentwerke_engine::{ApprovalDecision, Event, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{ApprovalRow, Row};
use agentwerke_types::{Actor, ApprovalId, ApprovalKind, ApprovalStatus, AuditKind, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;

/// The longest decision comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 16 * 1024;

/// A person's decision on an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecideApproval {
    /// The approval.
    pub approval_id: ApprovalId,
    /// Approve, reject or request changes.
    pub decision: ApprovalDecision,
    /// The human judgment; part of the audit trail.
    pub comment: Option<String>,
    /// Who decides, as their verified token describes them.
    pub by: Principal,
}

/// What deciding reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The approval, if it exists.
    pub approval: Option<ApprovalRow>,
    /// Who requested its run, if the run could be read.
    pub requested_by: Option<String>,
}

/// A decision as the run hears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What was decided.
    pub decision: ApprovalDecision,
    /// The comment, redacted; the feedback for `request_changes`.
    pub comment: Option<String>,
    /// A token subject, or `system` for an expiry.
    pub decided_by: String,
}

/// The event a verdict on an approval of `kind` for `work_id` sends: a
/// gate's goes to the process, an escalation's resumes the paused step,
/// where the gateway reads the decision from the approval row. The one
/// place either is built, for a decision and an expiry alike.
pub fn event_for(kind: ApprovalKind, work_id: WorkId, verdict: Verdict, at: Timestamp) -> Event {
    match kind {
        // The step reads the decision from the approval row when it runs
        // again: a tool call's at the gateway, a budget's before its turn.
        ApprovalKind::ToolEscalation | ApprovalKind::BudgetEscalation => {
            Event::TaskResumed { work_id, at }
        }
        ApprovalKind::Gate => Event::ApprovalDecided {
            work_id,
            decision: verdict.decision,
            comment: verdict.comment,
            decided_by: verdict.decided_by,
            at,
        },
    }
}

/// The decision as the approval row stores it.
pub fn stored(decision: ApprovalDecision) -> agentwerke_types::ApprovalDecision {
    match decision {
        ApprovalDecision::Approve => agentwerke_types::ApprovalDecision::Approved,
        ApprovalDecision::Reject => agentwerke_types::ApprovalDecision::Rejected,
        ApprovalDecision::RequestChanges => agentwerke_types::ApprovalDecision::ChangesRequested,
    }
}

/// The engine's work id of an approval.
pub(super) fn work_id_of(approval: &ApprovalRow) -> Result<WorkId, Error> {
    approval
        .work_id
        .as_str()
        .parse()
        .map_err(|reason| Error::Corrupt {
            what: format!("the work id of approval '{}': {reason}", approval.id),
        })
}

/// Refuses an approval that can no longer be decided or expired: closed,
/// or past its expiry at `at`.
pub(super) fn still_pending(approval: &ApprovalRow, at: Timestamp) -> Result<(), Error> {
    let id = || approval.id.to_string();
    match approval.status {
        ApprovalStatus::Expired => Err(Error::Expired { id: id() }),
        ApprovalStatus::Pending => Ok(()),
        status => Err(Error::AlreadyDecided {
            id: id(),
            status: status.as_str().to_owned(),
        }),
    }
    .and_then(|()| match approval.expires_at {
        Some(due) if due <= at => Err(Error::Expired { id: id() }),
        _ => Ok(()),
    })
}

/// Whether `by` may decide `approval` of a run `requested_by` started: they
/// hold the approver role (or group) it names, and did not request the run.
/// The one place these rules live: [`plan`] refuses with this, and the web
/// UI calls it to explain before anyone submits a decision.
pub fn may_decide(
    approval: &ApprovalRow,
    requested_by: Option<&str>,
    by: &Principal,
) -> Result<(), Error> {
    let approver_role = approval.request["approverRole"].as_str();
    if !by.may_decide_as(approver_role) {
        return Err(Error::WrongRole {
            role: approver_role.unwrap_or_default().trim().to_owned(),
        });
    }
    if requested_by == Some(by.subject.as_str()) {
        return Err(Error::SelfApproval);
    }
    Ok(())
}

/// Plans a decision: the approval is pending and not expired, the caller
/// holds its approver role and did not request the run, the comment fits;
/// then the row, the event and the audit record.
pub fn plan(snapshot: &Snapshot, command: DecideApproval, ctx: &Ctx<'_>) -> Result<Plan, Error> {
    let approval = snapshot.approval.as_ref().ok_or_else(|| Error::NotFound {
        what: "approval",
        id: command.approval_id.to_string(),
    })?;
    still_pending(approval, ctx.at)?;
    may_decide(approval, snapshot.requested_by.as_deref(), &command.by)?;
    if command
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
    {
        return Err(Error::CommentTooLong {
            max: MAX_COMMENT_CHARS,
        });
    }
    let work_id = work_id_of(approval)?;
    // The comment becomes part of the audit trail and the process context:
    // a credential pasted into it is redacted before anything keeps it.
    let comment = command
        .comment
        .filter(|c| !c.trim().is_empty())
        .map(|c| ctx.redactor.redact_str(&c));
    let decided_by = command.by.subject;
    let status = stored(command.decision);
    let event = event_for(
        approval.kind,
        work_id,
        Verdict {
            decision: command.decision,
            comment: comment.clone(),
            decided_by: decided_by.clone(),
        },
        ctx.at,
    );
    Ok(Plan {
        run: approval.run_id.clone(),
        event: Some(PlannedEvent {
            event,
            dedup_key: Some(format!("approval:{}", approval.id)),
        }),
        audit: vec![AuditDraft {
            run_id: approval.run_id.to_string(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&decided_by),
            kind: AuditKind::ApprovalDecided,
            data: json!({"approvalId": approval.id, "nodeId": approval.node_id,
                         "decision": status, "comment": comment}),
        }],
        rows: vec![Row::DecideApproval {
            id: approval.id.clone(),
            decision: status,
            comment,
            decided_by,
        }],
        records: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_auth::Role;

    use super::*;
    use crate::command::tests::{approval, principal};

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn decide(decision: ApprovalDecision, by: Principal, comment: Option<&str>) -> DecideApproval {
        DecideApproval {
            approval_id: "ap-1".into(),
            decision,
            comment: comment.map(str::to_owned),
            by,
        }
    }

    fn snapshot(approval: ApprovalRow) -> Snapshot {
        Snapshot {
            approval: Some(approval),
            requested_by: Some("alice".to_owned()),
        }
    }

    fn ctx(ms: i64) -> Ctx<'static> {
        static REDACTOR: std::sync::LazyLock<agentwerke_evidence::redact::Redactor> =
            std::sync::LazyLock::new(Default::default);
        Ctx {
            at: at(ms),
            redactor: &REDACTOR,
        }
    }

    #[test]
    fn a_gate_decision_is_the_row_the_event_and_the_audit_record() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["hunter2"]);
        let ctx = Ctx {
            at: at(100),
            redactor: &redactor,
        };
        let command = decide(
            ApprovalDecision::RequestChanges,
            principal("bob", &[Role::Approver]),
            Some("the password hunter2 leaks"),
        );
        let plan = plan(&snapshot(approval(ApprovalKind::Gate)), command, &ctx).unwrap();
        let comment = Some("the password [REDACTED] leaks".to_owned());
        assert_eq!(plan.run, "run-1");
        assert_eq!(
            plan.rows,
            [Row::DecideApproval {
                id: "ap-1".into(),
                decision: agentwerke_types::ApprovalDecision::ChangesRequested,
                comment: comment.clone(),
                decided_by: "bob".to_owned(),
            }]
        );
        assert_eq!(
            plan.event,
            Some(PlannedEvent {
                event: Event::ApprovalDecided {
                    work_id: WorkId(3),
                    decision: ApprovalDecision::RequestChanges,
                    comment,
                    decided_by: "bob".to_owned(),
                    at: at(100),
                },
                dedup_key: Some("approval:ap-1".to_owned()),
            })
        );
        assert_eq!(plan.audit.len(), 1);
        assert_eq!(plan.audit[0].kind, AuditKind::ApprovalDecided);
        assert_eq!(plan.audit[0].actor, Actor::user("bob"));
        assert_eq!(plan.audit[0].data["decision"], "changes_requested");
        assert!(!plan.audit[0].data.to_string().contains("hunter2"));
    }

    #[test]
    fn an_escalation_decision_resumes_the_paused_step() {
        let command = decide(
            ApprovalDecision::Approve,
            principal("bob", &[Role::Approver]),
            Some("  "),
        );
        let plan = plan(
            &snapshot(approval(ApprovalKind::ToolEscalation)),
            command,
            &ctx(7),
        )
        .unwrap();
        assert_eq!(
            plan.event.map(|e| e.event),
            Some(Event::TaskResumed {
                work_id: WorkId(3),
                at: at(7)
            })
        );
        assert!(matches!(
            &plan.rows[0],
            Row::DecideApproval { comment: None, decision, .. }
                if *decision == agentwerke_types::ApprovalDecision::Approved
        ));
    }

    #[test]
    fn every_check_refuses_before_anything_is_planned() {
        let bob = || principal("bob", &[Role::Approver]);
        let code = |snapshot: &Snapshot, command: DecideApproval, ms: i64| {
            use agentwerke_types::ErrorCode;
            plan(snapshot, command, &ctx(ms)).unwrap_err().code()
        };
        let approve = |by| decide(ApprovalDecision::Approve, by, None);

        assert_eq!(
            code(&Snapshot::default(), approve(bob()), 1),
            "command.not_found"
        );
        let mut decided = approval(ApprovalKind::Gate);
        decided.status = ApprovalStatus::Rejected;
        assert_eq!(
            code(&snapshot(decided), approve(bob()), 1),
            "approval.already_decided"
        );
        let mut expired = approval(ApprovalKind::Gate);
        expired.status = ApprovalStatus::Expired;
        assert_eq!(
            code(&snapshot(expired), approve(bob()), 1),
            "approval.past_expiry"
        );
        // Due but not yet processed by the expiry loop: refused all the same.
        let mut due = approval(ApprovalKind::Gate);
        due.expires_at = Some(at(50));
        assert_eq!(
            code(&snapshot(due.clone()), approve(bob()), 50),
            "approval.past_expiry"
        );
        assert!(plan(&snapshot(due), approve(bob()), &ctx(49)).is_ok());

        let mut for_managers = approval(ApprovalKind::Gate);
        for_managers.request = json!({"approverRole": "release-manager"});
        assert_eq!(
            code(&snapshot(for_managers.clone()), approve(bob()), 1),
            "approval.wrong_role"
        );
        let mut manager = bob();
        manager.groups = vec!["release-manager".to_owned()];
        assert!(plan(&snapshot(for_managers.clone()), approve(manager), &ctx(1)).is_ok());
        assert!(
            plan(
                &snapshot(for_managers),
                approve(principal("root", &[Role::Admin])),
                &ctx(1)
            )
            .is_ok()
        );

        assert_eq!(
            code(
                &snapshot(approval(ApprovalKind::Gate)),
                approve(principal("alice", &[Role::Approver])),
                1
            ),
            "approval.self_approval"
        );
        let long = "x".repeat(MAX_COMMENT_CHARS + 1);
        assert_eq!(
            code(
                &snapshot(approval(ApprovalKind::Gate)),
                decide(ApprovalDecision::Reject, bob(), Some(&long)),
                1
            ),
            "approval.comment_too_long"
        );
        let mut corrupt = approval(ApprovalKind::Gate);
        corrupt.work_id = "not-a-work-id".into();
        assert_eq!(
            code(&snapshot(corrupt), approve(bob()), 1),
            "command.corrupt"
        );
    }
}
