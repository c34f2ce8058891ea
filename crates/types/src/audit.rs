//! The kinds of audit records.
//!
//! An audit kind is not an error code: both are dotted, but audit kinds name
//! what happened (`approval.decided`) and live in this closed set, while
//! error codes name what went wrong and belong to each crate's error enum.
//! Kinds are persisted in every hash-chained audit record and in evidence
//! packs, so a name never changes (the test pins every one).

use crate::RunStatus;
use crate::closed::closed;

closed! {
    /// What an audit record reports.
    AuditKind, "audit kind" {
        /// A user requested a run.
        RunRequested = "run.requested",
        /// A user asked to cancel a run.
        RunCancelRequested = "run.cancel_requested",
        /// A user asked to retry a failed step.
        RunRetryRequested = "run.retry_requested",
        /// The run reached its end.
        RunCompleted = "run.completed",
        /// The run stopped on an error nothing handled.
        RunFailed = "run.failed",
        /// The run was cancelled.
        RunCancelled = "run.cancelled",
        /// The run was stopped by an approver's rejection.
        RunRejected = "run.rejected",
        /// The engine applied an event.
        EventApplied = "event.applied",
        /// The engine refused an event; the state stayed.
        EventRefused = "event.refused",
        /// Agent work was queued.
        StepStarted = "step.started",
        /// Agent work was stopped.
        StepCancelled = "step.cancelled",
        /// A paused step runs again.
        StepResumed = "step.resumed",
        /// An agent step finished with an output.
        StepCompleted = "step.completed",
        /// An agent step failed.
        StepFailed = "step.failed",
        /// An agent step paused for a person.
        StepPaused = "step.paused",
        /// The kill switch held an agent step before its next action.
        StepHalted = "step.halted",
        /// An approval request was opened.
        ApprovalRequested = "approval.requested",
        /// An approval request was closed without a decision.
        ApprovalClosed = "approval.closed",
        /// A human decided an approval request.
        ApprovalDecided = "approval.decided",
        /// Nobody decided an approval request in time.
        ApprovalExpired = "approval.expired",
        /// An agent asked a human a question.
        QuestionAsked = "question.asked",
        /// A human answered a question.
        QuestionAnswered = "question.answered",
        /// The run waits for a correlated message.
        MessageAwaited = "message.awaited",
        /// A correlated message arrived.
        MessageReceived = "message.received",
        /// A timer was scheduled.
        TimerScheduled = "timer.scheduled",
        /// A timer fired.
        TimerFired = "timer.fired",
        /// An agent called a tool through the gateway.
        ToolCalled = "tool.called",
        /// A workflow version was imported.
        WorkflowVersionImported = "workflow.version_imported",
        /// A workflow version was published.
        WorkflowVersionPublished = "workflow.version_published",
        /// A policy set was stored as a draft.
        PolicyDrafted = "policy.drafted",
        /// A policy set was published and put in force.
        PolicyPublished = "policy.published",
        /// An operator halted tool calls.
        GatewayHalted = "gateway.halted",
        /// An operator lifted a halt.
        GatewayResumed = "gateway.resumed",
        /// A step ended while tool calls it had started had no recorded
        /// outcome: they are settled as abandoned (outcome unknown).
        ToolAbandoned = "tool.abandoned",
        /// An administrator stored a new secret (its fingerprint, never
        /// its value).
        SecretSet = "secret.set",
        /// An administrator replaced a stored secret's value (the old and
        /// the new fingerprint).
        SecretRotated = "secret.rotated",
        /// An administrator deleted a stored secret.
        SecretDeleted = "secret.deleted",
        /// A tool ran a command in the sandbox (its record: command,
        /// profile, limits, how it ended, output digests).
        SandboxExecuted = "sandbox.executed",
        /// A step-long sandbox session (`agent_sandboxed`) was closed as its
        /// step ended (its commands, and the connections its egress proxy
        /// saw outside any command).
        SandboxSessionClosed = "sandbox.session_closed",
    }
}

impl AuditKind {
    /// The kind that reports a run ending with `status`; `None` for a status
    /// that is not an end.
    pub const fn run_finished(status: RunStatus) -> Option<Self> {
        match status {
            RunStatus::Completed => Some(AuditKind::RunCompleted),
            RunStatus::Failed => Some(AuditKind::RunFailed),
            RunStatus::Cancelled => Some(AuditKind::RunCancelled),
            RunStatus::Rejected => Some(AuditKind::RunRejected),
            RunStatus::Running
            | RunStatus::AwaitingApproval
            | RunStatus::WaitingUser
            | RunStatus::WaitingEvent
            | RunStatus::WaitingTimer => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every persisted name, pinned: renaming one fails here.
    #[test]
    fn persisted_names_never_change() {
        let names: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "run.requested",
                "run.cancel_requested",
                "run.retry_requested",
                "run.completed",
                "run.failed",
                "run.cancelled",
                "run.rejected",
                "event.applied",
                "event.refused",
                "step.started",
                "step.cancelled",
                "step.resumed",
                "step.completed",
                "step.failed",
                "step.paused",
                "step.halted",
                "approval.requested",
                "approval.closed",
                "approval.decided",
                "approval.expired",
                "question.asked",
                "question.answered",
                "message.awaited",
                "message.received",
                "timer.scheduled",
                "timer.fired",
                "tool.called",
                "workflow.version_imported",
                "workflow.version_published",
                "policy.drafted",
                "policy.published",
                "gateway.halted",
                "gateway.resumed",
                "tool.abandoned",
                "secret.set",
                "secret.rotated",
                "secret.deleted",
                "sandbox.executed",
                "sandbox.session_closed",
            ]
        );
        for kind in AuditKind::ALL {
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
            assert_eq!(serde_json::from_str::<AuditKind>(&json).unwrap(), *kind);
        }
    }

    #[test]
    fn each_end_status_has_its_run_kind() {
        for status in RunStatus::ALL {
            let kind = AuditKind::run_finished(status);
            assert_eq!(kind.is_some(), status.is_terminal(), "{status}");
            if let Some(kind) = kind {
                assert_eq!(kind.as_str(), format!("run.{status}"));
            }
        }
    }
}
