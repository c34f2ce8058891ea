//! What the shell must do after a transition: the engine's only output.
//!
//! Effects are data. The runtime commits the new state together with them and
//! only then executes them, keyed by `work_id` / `timer_id` for idempotency.
//! Tag names are a persisted contract: never rename one.

use serde::{Deserialize, Serialize};

use agentwerke_bpmn::model::{AgentTaskSpec, ApprovalSpec};
use agentwerke_types::{NodeState, RunStatus, Timestamp};

use crate::ids::{TimerId, WorkId};

/// One instruction for the shell. All variants exist since schema v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Run one attempt of an agent task; answer with `TaskCompleted` or
    /// `TaskFailed` for `work_id`.
    RunAgentTask {
        /// The attempt's work id (new for every attempt).
        work_id: WorkId,
        /// The BPMN node id.
        node_id: String,
        /// The node's name.
        name: Option<String>,
        /// 1 for the first attempt; retries count up.
        attempt: u32,
        /// The task's `agentTask` extension (boxed: it dwarfs every other
        /// effect).
        spec: Box<AgentTaskSpec>,
        /// The approver's comment when a `request_changes` sent the work back.
        feedback: Option<String>,
    },
    /// Stop a running agent attempt; its result, if any, will be ignored.
    CancelWork {
        /// The attempt.
        work_id: WorkId,
    },
    /// Run a paused agent attempt again after the escalation it waited for
    /// was decided; the gateway applies the decision to the call. Since
    /// schema v1.1.
    ResumeAgentTask {
        /// The attempt.
        work_id: WorkId,
    },
    /// Open an approval request; answer with `ApprovalDecided`.
    RequestApproval {
        /// The approval's work id.
        work_id: WorkId,
        /// The BPMN node id.
        node_id: String,
        /// The node's name.
        name: Option<String>,
        /// The `approvalTask` extension.
        spec: ApprovalSpec,
    },
    /// Close an approval request without a decision.
    CloseApproval {
        /// The approval.
        work_id: WorkId,
        /// Why (`cancelled`, `terminated`, `interrupted by boundary Foo`, ...).
        reason: String,
    },
    /// Start delivering messages named `message_name` (with this key, if any)
    /// to the run as `MessageReceived`.
    AwaitMessage {
        /// The wait's work id.
        work_id: WorkId,
        /// The BPMN node id.
        node_id: String,
        /// The message name.
        message_name: String,
        /// The rendered correlation key; `None` accepts any key.
        correlation_key: Option<String>,
    },
    /// The message wait is over without a message.
    StopAwaitingMessage {
        /// The wait.
        work_id: WorkId,
    },
    /// Deliver `TimerFired` for `timer_id` at or after `due_at`.
    ScheduleTimer {
        /// The timer.
        timer_id: TimerId,
        /// The node the timer belongs to (catch event, boundary event or task).
        node_id: String,
        /// When it is due.
        due_at: Timestamp,
    },
    /// Forget a scheduled timer.
    CancelTimer {
        /// The timer.
        timer_id: TimerId,
    },
    /// Tokens entered or left a node during the event, or its work changed
    /// how it waits: where the node stands after the event, and how many
    /// tokens arrived at it. One per node the event touched, in node order,
    /// events and gateways included; nothing to execute, the shell records
    /// it so that a run shows every node its tokens passed. Since schema
    /// v1.2.
    NodeChanged {
        /// The BPMN node id.
        node_id: String,
        /// Where the node stands now: `done`, `active`, `waiting`, `failed`
        /// or `cancelled` (never `skipped`, which only a reader derives).
        state: NodeState,
        /// Tokens that arrived at the node during the event (0 when only
        /// its state changed, e.g. a paused agent attempt).
        entered: u32,
    },
    /// The run reached a terminal status; always the last effect.
    RunFinished {
        /// `completed`, `failed`, `cancelled` or `rejected`.
        status: RunStatus,
    },
}

impl Effect {
    /// The serde tag, e.g. `run_agent_task`; handy for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::RunAgentTask { .. } => "run_agent_task",
            Effect::CancelWork { .. } => "cancel_work",
            Effect::ResumeAgentTask { .. } => "resume_agent_task",
            Effect::RequestApproval { .. } => "request_approval",
            Effect::CloseApproval { .. } => "close_approval",
            Effect::AwaitMessage { .. } => "await_message",
            Effect::StopAwaitingMessage { .. } => "stop_awaiting_message",
            Effect::ScheduleTimer { .. } => "schedule_timer",
            Effect::CancelTimer { .. } => "cancel_timer",
            Effect::NodeChanged { .. } => "node_changed",
            Effect::RunFinished { .. } => "run_finished",
        }
    }
}
