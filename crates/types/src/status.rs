//! Where approvals, questions, workflows and timers stand, and what kind of
//! approval a run waits for. Persisted names: see [`crate::closed`].

use crate::closed::closed;

closed! {
    /// Where an approval request stands.
    ApprovalStatus, "approval status" {
        /// Waiting for a human.
        Pending = "pending",
        /// A human approved.
        Approved = "approved",
        /// A human rejected.
        Rejected = "rejected",
        /// A human asked for changes.
        ChangesRequested = "changes_requested",
        /// Closed without a decision: its work was stopped.
        Cancelled = "cancelled",
        /// Closed without a decision: nobody decided in time.
        Expired = "expired",
    }
}

closed! {
    /// A human's decision on a pending approval: the statuses a person can
    /// set.
    ApprovalDecision, "approval decision" {
        /// Go ahead.
        Approved = "approved",
        /// Stop.
        Rejected = "rejected",
        /// Do it again, differently.
        ChangesRequested = "changes_requested",
    }
}

impl ApprovalDecision {
    /// The status a request has once decided so.
    pub const fn status(self) -> ApprovalStatus {
        match self {
            ApprovalDecision::Approved => ApprovalStatus::Approved,
            ApprovalDecision::Rejected => ApprovalStatus::Rejected,
            ApprovalDecision::ChangesRequested => ApprovalStatus::ChangesRequested,
        }
    }
}

closed! {
    /// What an approval request gates.
    ApprovalKind, "approval kind" {
        /// A modelled approval task in the BPMN.
        Gate = "gate",
        /// A tool call the gateway's policy escalated to a human.
        ToolEscalation = "tool_escalation",
        /// An agent step whose next model turn would pass a budget that
        /// says `escalate`: approved, the step goes on past that limit.
        BudgetEscalation = "budget_escalation",
    }
}

closed! {
    /// Why a tool call waits for a human (an approval of kind
    /// [`ApprovalKind::ToolEscalation`], its request's `cause`; a request
    /// without one was escalated by policy).
    EscalationCause, "escalation cause" {
        /// The gateway's policy or the task's surface asks a human first.
        Policy = "policy",
        /// The call was started but the process stopped before its outcome
        /// was recorded: it may or may not have happened, and the tool is
        /// not safe to run twice. Approving runs it again; rejecting goes
        /// on without it.
        ToolOutcomeUnknown = "tool_outcome_unknown",
    }
}

closed! {
    /// Where one tool call of an agent step stands in the call journal:
    /// its intent is committed before the tool runs, its outcome right
    /// after.
    ToolCallStatus, "tool call status" {
        /// The tool was started (the intent is committed) and no outcome
        /// is recorded: it may or may not have had its effect.
        Started = "started",
        /// The tool ran and returned output.
        Executed = "executed",
        /// The tool ran and failed.
        Failed = "failed",
        /// The outcome was lost and a human chose not to run the call
        /// again (or nobody decided in time): whether it happened is not
        /// known.
        Unknown = "unknown",
        /// The call was started, its outcome was never recorded, and its
        /// step ended without making it again: whether it happened is not
        /// known, and nothing will run it. Settled by the commit that ends
        /// the step, so no call stays `started` after its step.
        Abandoned = "abandoned",
    }
}

impl ToolCallStatus {
    /// Whether the call's outcome is recorded: a replay hands it back
    /// instead of calling the tool.
    pub const fn is_settled(self) -> bool {
        !matches!(self, ToolCallStatus::Started)
    }
}

closed! {
    /// Where a question an agent asked a human stands.
    QuestionStatus, "question status" {
        /// Waiting for an answer.
        Open = "open",
        /// A human answered.
        Answered = "answered",
        /// Closed unanswered: the attempt that asked was stopped.
        Cancelled = "cancelled",
    }
}

closed! {
    /// Where a stored version of a workflow or a policy set stands.
    WorkflowStatus, "workflow status" {
        /// Imported, may be replaced by a newer draft.
        Draft = "draft",
        /// Runnable; never changes again.
        Published = "published",
    }
}

closed! {
    /// Where a timer stands.
    TimerStatus, "timer status" {
        /// Waiting for its due time.
        Scheduled = "scheduled",
        /// Fired.
        Fired = "fired",
        /// Cancelled before it fired.
        Cancelled = "cancelled",
    }
}

closed! {
    /// Where one BPMN node of a run stands, as the run's API and diagram
    /// show it. The first five are recorded as tokens enter and leave the
    /// node; `skipped` is never recorded: it is read off the model for a
    /// node no token reached and none can reach any more.
    NodeState, "node state" {
        /// Every token that reached the node has left it.
        Done = "done",
        /// A token is at the node and its work runs (an agent attempt, a
        /// subprocess).
        Active = "active",
        /// A token rests at the node until something outside the run
        /// happens: a person, a message, a timer, a retry backoff, the
        /// other branches of a join.
        Waiting = "waiting",
        /// The last token to leave the node failed there.
        Failed = "failed",
        /// The node's work was closed without a result (cancel, terminate,
        /// an interrupting boundary event, the end of the run).
        Cancelled = "cancelled",
        /// No token reached the node and none can any more: a branch a
        /// gateway did not take, or what was left when the run ended.
        Skipped = "skipped",
    }
}

impl NodeState {
    /// Whether a token is at the node now.
    pub const fn is_live(self) -> bool {
        matches!(self, NodeState::Active | NodeState::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every persisted name, pinned: renaming a variant's name fails here.
    #[test]
    fn persisted_names_never_change() {
        fn pin<
            T: Copy + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned,
        >(
            all: &[T],
            as_str: fn(T) -> &'static str,
            expected: &[&str],
        ) {
            let names: Vec<_> = all.iter().map(|v| as_str(*v)).collect();
            assert_eq!(names, expected);
            for (variant, name) in all.iter().zip(expected) {
                let json = serde_json::to_string(variant).unwrap();
                assert_eq!(json, format!("\"{name}\""));
                let back: T = serde_json::from_str(&json).unwrap();
                assert_eq!(back, *variant);
            }
        }
        pin(
            ApprovalStatus::ALL,
            ApprovalStatus::as_str,
            &[
                "pending",
                "approved",
                "rejected",
                "changes_requested",
                "cancelled",
                "expired",
            ],
        );
        pin(
            ApprovalDecision::ALL,
            ApprovalDecision::as_str,
            &["approved", "rejected", "changes_requested"],
        );
        pin(
            ApprovalKind::ALL,
            ApprovalKind::as_str,
            &["gate", "tool_escalation", "budget_escalation"],
        );
        pin(
            EscalationCause::ALL,
            EscalationCause::as_str,
            &["policy", "tool_outcome_unknown"],
        );
        pin(
            ToolCallStatus::ALL,
            ToolCallStatus::as_str,
            &["started", "executed", "failed", "unknown", "abandoned"],
        );
        pin(
            QuestionStatus::ALL,
            QuestionStatus::as_str,
            &["open", "answered", "cancelled"],
        );
        pin(
            WorkflowStatus::ALL,
            WorkflowStatus::as_str,
            &["draft", "published"],
        );
        pin(
            TimerStatus::ALL,
            TimerStatus::as_str,
            &["scheduled", "fired", "cancelled"],
        );
        pin(
            NodeState::ALL,
            NodeState::as_str,
            &[
                "done",
                "active",
                "waiting",
                "failed",
                "cancelled",
                "skipped",
            ],
        );
    }

    #[test]
    fn a_decision_sets_the_status_of_the_same_name() {
        for decision in ApprovalDecision::ALL {
            assert_eq!(decision.status().as_str(), decision.as_str());
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_ones() {
        let error = ApprovalStatus::parse("approve").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown approval status 'approve'; expected one of: pending, approved, \
             rejected, changes_requested, cancelled, expired"
        );
        assert_eq!("open".parse(), Ok(QuestionStatus::Open));
        assert!(serde_json::from_str::<ApprovalKind>("\"Gate\"").is_err());
    }
}
