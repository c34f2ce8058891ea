//! The persisted state of one run.
//!
//! Everything is ordered (`BTreeMap`, `Vec`) so that the same events give a
//! byte-identical serialization. Tokens in flight exist only inside one
//! `apply`; at rest a token is an open work item, a token waiting at a join, or
//! an active subprocess scope, so the state never holds an unbounded trace.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use agentwerke_types::{RunStatus, Timestamp};

use crate::event::TaskError;
use crate::ids::{ScopeId, TimerId, WorkId};

/// The version of the [`RunState`] layout. Bump it, and add a migration in the
/// store, whenever a persisted field changes meaning.
pub const STATE_SCHEMA_VERSION: u32 = 1;

/// One run's state. Build it with [`RunState::new`], change it only through
/// [`apply`](crate::apply) / [`apply_mut`](crate::apply_mut).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub(crate) schema_version: u32,
    pub(crate) run_id: String,
    pub(crate) status: RunStatus,
    /// `{input, output: {NodeId: ..}, approval: {NodeId: ..}, event, run_id}`.
    pub(crate) context: Value,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) ended_at: Option<Timestamp>,
    pub(crate) error: Option<RunError>,
    pub(crate) cancel_reason: Option<String>,
    /// One record per work id, in id order: `steps[n - 1]` is `w<n>`.
    pub(crate) steps: Vec<StepRecord>,
    pub(crate) open: BTreeMap<WorkId, OpenWork>,
    pub(crate) timers: BTreeMap<TimerId, Timer>,
    pub(crate) scopes: BTreeMap<ScopeId, Scope>,
    /// Set while the run is failed because a step failed: what `RetryStep`
    /// resumes.
    pub(crate) retry: Option<RetryPoint>,
    pub(crate) next_work: u64,
    pub(crate) next_timer: u64,
    pub(crate) next_scope: u32,
}

impl RunState {
    /// A run that has not started yet (status `running`, no tokens).
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            schema_version: STATE_SCHEMA_VERSION,
            run_id: run_id.into(),
            status: RunStatus::Running,
            context: Value::Object(Map::new()),
            started_at: None,
            ended_at: None,
            error: None,
            cancel_reason: None,
            steps: Vec::new(),
            open: BTreeMap::new(),
            timers: BTreeMap::new(),
            scopes: BTreeMap::new(),
            retry: None,
            next_work: 1,
            next_timer: 1,
            next_scope: 1,
        }
    }

    /// The layout version this state was written with.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The run id (also `context.run_id`).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Where the run stands.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The data conditions and templates see.
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// Every step so far, one per work id, in order.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// The step for a work id, if it was issued.
    pub fn step(&self, work_id: WorkId) -> Option<&StepRecord> {
        let index = usize::try_from(work_id.0.checked_sub(1)?).ok()?;
        self.steps.get(index)
    }

    /// Work that is open now: running agent attempts (or ones waiting for a
    /// retry), approvals, message and timer waits.
    pub fn open_work(&self) -> impl Iterator<Item = &StepRecord> + '_ {
        self.open.keys().filter_map(|w| self.step(*w))
    }

    /// True when some work is open.
    pub fn has_open_work(&self) -> bool {
        !self.open.is_empty()
    }

    /// Timers the runtime should hold, with their due instants.
    pub fn pending_timers(&self) -> impl Iterator<Item = (TimerId, Timestamp)> + '_ {
        self.timers.iter().map(|(id, t)| (*id, t.due_at))
    }

    /// When `Start` was applied.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }

    /// When the run reached a terminal status.
    pub fn ended_at(&self) -> Option<Timestamp> {
        self.ended_at
    }

    /// Why the run failed, if it did.
    pub fn error(&self) -> Option<&RunError> {
        self.error.as_ref()
    }

    /// The operator's reason, if the run was cancelled.
    pub fn cancel_reason(&self) -> Option<&str> {
        self.cancel_reason.as_deref()
    }

    /// True once `Start` was applied.
    pub fn is_started(&self) -> bool {
        self.started_at.is_some()
    }
}

/// One unit of work as users and evidence see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The work id; unique within the run.
    pub work_id: WorkId,
    /// The BPMN node id.
    pub node_id: String,
    /// The node's name.
    pub name: Option<String>,
    /// `agentTask`, `approvalTask`, `receiveTask`, `messageCatch` or
    /// `timerCatch`.
    pub node_type: String,
    /// Where the step stands.
    pub status: StepStatus,
    /// 1 for a first attempt; agent retries count up.
    pub attempt: u32,
    /// When the step was opened.
    pub started_at: Timestamp,
    /// When it closed.
    pub ended_at: Option<Timestamp>,
    /// The agent profile, for agent tasks.
    pub agent: Option<String>,
    /// The result: agent output, message payload or approval decision.
    pub output: Option<Value>,
    /// Why the attempt failed.
    pub error: Option<TaskError>,
    /// Rework feedback from a `request_changes` decision.
    pub feedback: Option<String>,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Running or waiting.
    Active,
    /// Done.
    Completed,
    /// The attempt failed.
    Failed,
    /// Closed without a result (cancel, terminate, boundary, run failure).
    Cancelled,
    /// An agent attempt that waits for its retry backoff timer.
    WaitingRetry,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// The engine's stable code, e.g. `engine.no_matching_flow`.
    pub code: String,
    /// For humans.
    pub message: String,
    /// The node where it happened.
    pub node_id: Option<String>,
    /// The failed step, when a task failure failed the run (retryable).
    pub work_id: Option<WorkId>,
    /// The domain error code: the task's error code or the BPMN `errorCode`.
    pub error_code: Option<String>,
}

/// An open work item: a token resting at an activity or catch event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OpenWork {
    pub(crate) node: u32,
    pub(crate) scope: ScopeId,
    pub(crate) wait: Wait,
    /// The catch, timeout or retry timer of this item.
    pub(crate) own_timer: Option<TimerId>,
    /// Boundary timers of the host activity (moved to the next attempt on
    /// retry).
    pub(crate) boundary_timers: Vec<TimerId>,
}

/// What an open work item waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Wait {
    /// An agent attempt.
    Agent {
        attempt: u32,
        /// False while waiting for the retry backoff timer.
        running: bool,
        feedback: Option<String>,
        /// The approval a tool call of this attempt was escalated to; the
        /// attempt is paused until a human decides it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paused_on: Option<String>,
        /// True when `paused_on` is a question to a human (`human.ask`)
        /// rather than an escalated tool call.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        asking: bool,
        /// True while the kill switch holds the attempt: its timeout is
        /// disarmed until the release arms a whole one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        held: bool,
    },
    /// An approval decision.
    Approval,
    /// A correlated message.
    Message { name: String, key: Option<String> },
    /// An intermediate timer catch.
    Timer,
}

impl Wait {
    /// Names used in `WorkKindMismatch` errors.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Wait::Agent { .. } => "agent",
            Wait::Approval => "approval",
            Wait::Message { .. } => "message",
            Wait::Timer => "timer",
        }
    }
}

/// An armed timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Timer {
    pub(crate) node: u32,
    pub(crate) due_at: Timestamp,
    pub(crate) purpose: TimerPurpose,
}

/// Why a timer was armed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TimerPurpose {
    /// An intermediate timer catch event.
    Catch { work: WorkId },
    /// An agent attempt's `timeoutSeconds`.
    Timeout { work: WorkId },
    /// The backoff before an agent retry.
    Retry { work: WorkId },
    /// A boundary timer on a task or subprocess.
    Boundary {
        boundary: u32,
        host: Host,
        fired: u32,
    },
}

/// The activity a boundary event is attached to, at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub(crate) enum Host {
    /// A task's open work item.
    Work(WorkId),
    /// An active subprocess.
    Scope(ScopeId),
}

/// The process or an active subprocess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Scope {
    pub(crate) parent: Option<ScopeId>,
    /// The subprocess node; `None` for the process.
    pub(crate) node: Option<u32>,
    /// Live tokens in this scope: in flight, at work, at joins, or resting
    /// at an active child subprocess. Zero means the scope is complete.
    pub(crate) tokens: u32,
    /// Boundary timers of the subprocess.
    pub(crate) boundary_timers: Vec<TimerId>,
    /// Tokens waiting at joins: node -> arrivals per incoming flow slot.
    pub(crate) joins: BTreeMap<u32, Vec<u32>>,
}

/// A token in flight, or one parked while the run is failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Arrival {
    pub(crate) node: u32,
    pub(crate) scope: ScopeId,
    /// Position of the flow it came along in the target's incoming flows.
    pub(crate) slot: u32,
}

/// What `RetryStep` resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RetryPoint {
    pub(crate) work_id: WorkId,
    pub(crate) node: u32,
    pub(crate) scope: ScopeId,
    pub(crate) attempt: u32,
    pub(crate) feedback: Option<String>,
    /// Other tokens stopped by the failure; they re-enter their nodes.
    pub(crate) parked: Vec<Arrival>,
}
