//! What happens to a run: the engine's only input.
//!
//! Every event carries `at`, the instant the shell observed it; the engine has
//! no clock. Tag names are a persisted contract (events are stored and
//! replayed): never rename one, add new variants with a "since" line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use agentwerke_types::Timestamp;

use crate::ids::{TimerId, WorkId};

/// An input to [`apply`](crate::apply). All variants exist since schema v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Starts the run with its input. Accepted once.
    Start {
        /// The run input, available to conditions and templates as `input`.
        input: Value,
        /// When the run started.
        at: Timestamp,
    },
    /// An agent attempt produced its result.
    TaskCompleted {
        /// The attempt's work id (from `RunAgentTask`).
        work_id: WorkId,
        /// The result, stored at `context.output.<NodeId>`.
        output: Value,
        /// When it completed.
        at: Timestamp,
    },
    /// An agent attempt failed. Retried while attempts remain.
    TaskFailed {
        /// The attempt's work id.
        work_id: WorkId,
        /// Why; `code` is matched against error boundary events.
        error: TaskError,
        /// When it failed.
        at: Timestamp,
    },
    /// A human decided an approval request.
    ApprovalDecided {
        /// The approval's work id (from `RequestApproval`).
        work_id: WorkId,
        /// The decision.
        decision: ApprovalDecision,
        /// The approver's comment; the feedback for `request_changes`.
        comment: Option<String>,
        /// Who decided.
        decided_by: String,
        /// When.
        at: Timestamp,
    },
    /// An external message arrived. Resumes every open wait for
    /// `message_name` whose correlation key matches (or that has none).
    /// Messages nobody waits for are dropped, not buffered.
    MessageReceived {
        /// The message name, as in `externalEvent/@messageName`.
        message_name: String,
        /// The sender's correlation key.
        correlation_key: String,
        /// The message body, stored at `context.output.<NodeId>` and
        /// `context.event`.
        payload: Value,
        /// When it arrived.
        at: Timestamp,
    },
    /// A timer from `ScheduleTimer` is due.
    TimerFired {
        /// The timer.
        timer_id: TimerId,
        /// When it fired (at or after its due instant).
        at: Timestamp,
    },
    /// An operator cancels the run.
    Cancel {
        /// Why, recorded in the state.
        reason: String,
        /// When.
        at: Timestamp,
    },
    /// A tool call of a running agent attempt was escalated to a human: the
    /// attempt pauses (the run is `awaiting_approval`) until
    /// [`Event::TaskResumed`]. Since schema v1.1.
    TaskPaused {
        /// The attempt's work id.
        work_id: WorkId,
        /// The approval request the call waits for.
        approval_id: String,
        /// When.
        at: Timestamp,
    },
    /// The escalation a paused attempt waited for was decided (or expired),
    /// or its question was answered; the shell runs the attempt again and
    /// the gateway applies the decision or hands the model the answer.
    /// Since schema v1.1.
    TaskResumed {
        /// The attempt's work id.
        work_id: WorkId,
        /// When.
        at: Timestamp,
    },
    /// A running agent attempt asked a human a blocking question
    /// (`human.ask`): the attempt pauses (the run is `waiting_user`) until
    /// the answer is recorded and [`Event::TaskResumed`] arrives. Since
    /// schema v1.2.
    TaskAsked {
        /// The attempt's work id.
        work_id: WorkId,
        /// The question the attempt waits for.
        question_id: String,
        /// When.
        at: Timestamp,
    },
    /// An operator retries the failed step that failed the run; the run
    /// resumes where it stopped.
    RetryStep {
        /// The work id of the failed attempt (`RunError::work_id`).
        work_id: WorkId,
        /// When.
        at: Timestamp,
    },
    /// The kill switch stopped a running agent attempt: it waits in the
    /// queue until the halts covering it are lifted. Its timeout stops, as
    /// for a pause: a halt is not the agent's time. Since schema v1.3.
    TaskHeld {
        /// The attempt's work id.
        work_id: WorkId,
        /// When.
        at: Timestamp,
    },
    /// A held attempt was claimed again after its halts were lifted: it
    /// goes on with a whole timeout. A release of an attempt that is not
    /// held (a repeat, or one that ended meanwhile) changes nothing. Since
    /// schema v1.3.
    TaskReleased {
        /// The attempt's work id.
        work_id: WorkId,
        /// When.
        at: Timestamp,
    },
}

impl Event {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::Start { at, .. }
            | Event::TaskCompleted { at, .. }
            | Event::TaskFailed { at, .. }
            | Event::ApprovalDecided { at, .. }
            | Event::MessageReceived { at, .. }
            | Event::TimerFired { at, .. }
            | Event::Cancel { at, .. }
            | Event::TaskPaused { at, .. }
            | Event::TaskResumed { at, .. }
            | Event::TaskAsked { at, .. }
            | Event::RetryStep { at, .. }
            | Event::TaskHeld { at, .. }
            | Event::TaskReleased { at, .. } => *at,
        }
    }

    /// The serde tag, e.g. `task_completed`; handy for logs and audit.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::TaskCompleted { .. } => "task_completed",
            Event::TaskFailed { .. } => "task_failed",
            Event::ApprovalDecided { .. } => "approval_decided",
            Event::MessageReceived { .. } => "message_received",
            Event::TimerFired { .. } => "timer_fired",
            Event::Cancel { .. } => "cancel",
            Event::TaskPaused { .. } => "task_paused",
            Event::TaskResumed { .. } => "task_resumed",
            Event::TaskAsked { .. } => "task_asked",
            Event::RetryStep { .. } => "retry_step",
            Event::TaskHeld { .. } => "task_held",
            Event::TaskReleased { .. } => "task_released",
        }
    }
}

/// Why an agent attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskError {
    /// Machine-readable code; `timeout` when the engine's timeout fired.
    pub code: String,
    /// For humans.
    pub message: String,
}

/// The error code the engine uses when an agent task's `timeoutSeconds`
/// elapses before its result arrives.
pub const TIMEOUT_CODE: &str = "timeout";

/// What an approver decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    /// Go on.
    Approve,
    /// Stop: unless modelled, the run ends `rejected`.
    Reject,
    /// Rework: unless modelled, the preceding agent task runs again with the
    /// comment as feedback.
    RequestChanges,
}

impl ApprovalDecision {
    /// The wire name, as stored at `context.approval.<NodeId>.decision`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalDecision::Approve => "approve",
            ApprovalDecision::Reject => "reject",
            ApprovalDecision::RequestChanges => "request_changes",
        }
    }
}
