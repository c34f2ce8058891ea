//! The vocabulary every Agentwerke crate shares.
//!
//! This crate sits at the bottom of the dependency graph: no IO, no async, no
//! clock reads. Time enters the system as [`Timestamp`] values that the shell
//! reads from its clock and hands down, which is what lets the engine replay a
//! run byte for byte.
//!
//! Ids are newtypes ([`RunId`], [`WorkId`], [`ApprovalId`], [`QuestionId`],
//! [`ToolCallId`])
//! so that one cannot be passed where another is meant; statuses, kinds and
//! risk bands are closed enums whose persisted names never change.

use std::fmt;

mod actor;
mod audit;
mod clock;
mod closed;
pub mod hosts;
mod ids;
mod risk;
mod status;

pub use actor::{Actor, UnknownActor};
pub use audit::AuditKind;
pub use clock::Clock;
pub use closed::UnknownName;
pub use ids::{ApprovalId, IdError, IdProblem, MAX_ID_LEN, QuestionId, RunId, ToolCallId, WorkId};
pub use risk::RiskLevel;
pub use status::{
    ApprovalDecision, ApprovalKind, ApprovalStatus, EscalationCause, NodeState, QuestionStatus,
    TimerStatus, ToolCallStatus, WorkflowStatus,
};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
///
/// A plain integer rather than a calendar type so that persisted state is
/// compact, totally ordered and identical across platforms.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant moved forward by `millis`, saturating instead of overflowing.
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// Where a run stands, as users see it in the API and in evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Tokens are moving or work is being executed.
    Running,
    /// At least one approval request is open.
    AwaitingApproval,
    /// An agent asked a human a blocking question.
    WaitingUser,
    /// Waiting for a correlated external message.
    WaitingEvent,
    /// Waiting for a timer to fire.
    WaitingTimer,
    /// Reached its end.
    Completed,
    /// Stopped by an error that nothing handled.
    Failed,
    /// Stopped by an operator.
    Cancelled,
    /// Stopped by an approver's rejection.
    Rejected,
}

impl RunStatus {
    /// Every status, in the order the API documents them.
    pub const ALL: [RunStatus; 9] = [
        RunStatus::Running,
        RunStatus::AwaitingApproval,
        RunStatus::WaitingUser,
        RunStatus::WaitingEvent,
        RunStatus::WaitingTimer,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Rejected,
    ];

    /// Terminal statuses never change again.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled | RunStatus::Rejected
        )
    }

    /// The wire name, e.g. `awaiting_approval`.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::WaitingUser => "waiting_user",
            RunStatus::WaitingEvent => "waiting_event",
            RunStatus::WaitingTimer => "waiting_timer",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Rejected => "rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that carries a stable, machine-readable code.
///
/// Codes are dotted (`bpmn.invalid_xml`, `engine.no_matching_flow`) and never
/// renamed once published: clients and evidence packs match on them.
pub trait ErrorCode {
    /// The stable code.
    fn code(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_wire_names() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
            let json = serde_json_like(status);
            assert_eq!(json, status.as_str());
        }
        assert_eq!(RunStatus::parse("paused"), None);
    }

    #[test]
    fn only_end_states_are_terminal() {
        let terminal: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                RunStatus::Completed,
                RunStatus::Failed,
                RunStatus::Cancelled,
                RunStatus::Rejected
            ]
        );
    }

    fn serde_json_like(status: RunStatus) -> String {
        format!("{status}")
    }
}
