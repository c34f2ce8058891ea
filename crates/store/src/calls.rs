//! The tool-call journal: what a step's tool calls did, committed around
//! each call rather than with the step.
//!
//! A step's records are committed when the step ends, but a tool acts while
//! it runs. Without a journal, a crash in between loses the record of an
//! effect that happened, and the step claimed again runs the tool again.
//! So each call commits its intent ([`crate::Store::begin_tool_call`])
//! before the tool runs and its outcome ([`crate::Store::finish_tool_call`])
//! right after; a replayed step reads them back
//! ([`crate::Store::tool_calls_for_run`]) and knows which calls happened,
//! which may have happened, and which never started.

use agentwerke_types::{ApprovalId, RunId, Timestamp, ToolCallId, ToolCallStatus, WorkId};
use serde::Serialize;
use serde_json::Value;

use crate::model::JsonText;

/// A call about to run: written before its tool is started.
#[derive(Debug, Clone)]
pub struct ToolCallIntent {
    /// The call's id, derived from its step and what it calls.
    pub call_id: ToolCallId,
    /// The run.
    pub run_id: RunId,
    /// The step's work.
    pub work_id: WorkId,
    /// The step's attempt.
    pub attempt: u32,
    /// The tool.
    pub tool: String,
    /// SHA-256 of the canonical arguments as given.
    pub args_hash: String,
    /// The arguments, redacted.
    pub arguments: JsonText,
    /// The approved tool escalation this start uses up, in the same
    /// transaction: an approval lets exactly one start run.
    pub approval_id: Option<ApprovalId>,
    /// When.
    pub at: Timestamp,
}

/// What [`crate::Store::begin_tool_call`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Begun {
    /// The intent is committed: the tool may run. `executions` counts the
    /// starts under this id, this one included (more than 1: a start whose
    /// outcome was lost is being repeated).
    Started {
        /// Starts so far.
        executions: u32,
    },
    /// The call's outcome is recorded already: it must not run again, its
    /// record is handed back instead. Nothing was written.
    Settled(Box<ToolCallRow>),
    /// The approval named is not an approved, unused tool escalation of
    /// this run (it was used already): nothing was written, the tool must
    /// not run.
    ApprovalUsed,
}

/// A call's outcome: written right after its tool returned.
#[derive(Debug, Clone)]
pub struct ToolCallOutcome {
    /// The call.
    pub call_id: ToolCallId,
    /// Anything but [`ToolCallStatus::Started`].
    pub status: ToolCallStatus,
    /// What a replay needs to hand the outcome back (redacted).
    pub result: JsonText,
    /// When.
    pub at: Timestamp,
}

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallRow {
    /// The call's id.
    pub call_id: ToolCallId,
    /// The run.
    pub run_id: RunId,
    /// The step's work.
    pub work_id: WorkId,
    /// The step's attempt.
    pub attempt: u32,
    /// The tool.
    pub tool: String,
    /// SHA-256 of the canonical arguments.
    pub args_hash: String,
    /// The arguments, redacted.
    pub arguments: Value,
    /// Where it stands.
    pub status: ToolCallStatus,
    /// How many times the tool was started under this id.
    pub executions: u32,
    /// The approval the last start used up.
    pub approval_id: Option<ApprovalId>,
    /// The recorded outcome, once there is one.
    pub result: Option<Value>,
    /// When the first start was committed.
    pub started_at: Timestamp,
    /// When the outcome was committed.
    pub finished_at: Option<Timestamp>,
}
