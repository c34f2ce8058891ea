//! The values that cross the [`Store`](crate::Store) seam.
//!
//! Engine state and events are opaque JSON here: the engine crate owns their
//! shape, and the store only needs to keep them durable and ordered. Every
//! time is a [`Timestamp`] (integer milliseconds); RFC 3339 text appears only
//! inside audit records, where the evidence crate wants it.

use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_types::{
    ApprovalDecision, ApprovalId, ApprovalKind, ApprovalStatus, NodeState, QuestionId,
    QuestionStatus, RiskLevel, RunId, RunStatus, TimerStatus, Timestamp, WorkId, WorkflowStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// JSON the caller serialized itself, stored as it is.
///
/// A run's state is written on every step; serializing it straight to text,
/// rather than to a [`Value`] first, saves building and dropping a tree the
/// store would only turn into text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// `value` serialized.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        serde_json::to_string(value).map(Self)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Text read back from a JSON column, which only JSON is written to.
    pub(crate) fn stored(text: String) -> Self {
        Self(text)
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        Self(value.to_string())
    }
}

// ---------------------------------------------------------------- workflows

/// A BPMN document to store as a draft version of a workflow
/// ([`Row::ImportWorkflowVersion`](crate::Row::ImportWorkflowVersion)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkflowVersion {
    /// The workflow; created on its first import.
    pub workflow_id: String,
    /// Display name; the workflow takes the name of its newest version.
    pub name: String,
    /// The document exactly as imported.
    pub bpmn_xml: String,
    /// Hex SHA-256 of `bpmn_xml`: the *BPMN hash* runs and evidence cite.
    pub bpmn_sha256: String,
    /// Validation findings, kept for display.
    pub diagnostics: JsonText,
    /// Who imported it.
    pub created_by: String,
}

/// One stored version of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowVersion {
    /// The workflow.
    pub workflow_id: String,
    /// 1, 2, 3 ... per workflow.
    pub version: i64,
    /// Display name at import.
    pub name: String,
    /// Published versions never change again.
    pub status: WorkflowStatus,
    /// The document.
    pub bpmn_xml: String,
    /// Its hex SHA-256.
    pub bpmn_sha256: String,
    /// Validation findings at import.
    pub diagnostics: Value,
    /// Who imported it.
    pub created_by: String,
    /// When it was imported.
    pub created_at: Timestamp,
    /// Who published it.
    pub published_by: Option<String>,
    /// When it was published.
    pub published_at: Option<Timestamp>,
}

/// A workflow as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    /// The workflow id.
    pub id: String,
    /// Name of its newest version.
    pub name: String,
    /// Its newest version number.
    pub latest_version: i64,
    /// Its newest published version, if any.
    pub published_version: Option<i64>,
    /// First import.
    pub created_at: Timestamp,
    /// Last import or publication.
    pub updated_at: Timestamp,
}

// --------------------------------------------------------------------- runs

/// A run to create ([`Row::CreateRun`](crate::Row::CreateRun)): as its
/// first step left it, with that step's effects, so that starting a run
/// costs one transaction and no trip through its inbox. A run whose start
/// event is queued instead is created in its initial state with no effects,
/// and the change carries the start event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The run id (UUIDv7 text); the change's run.
    pub run_id: RunId,
    /// The workflow.
    pub workflow_id: String,
    /// The published version it runs.
    pub version: i64,
    /// That version's BPMN hash; checked against the stored version.
    pub bpmn_sha256: String,
    /// Who started it.
    pub requested_by: String,
    /// Its inputs, serialized by the caller.
    pub inputs: JsonText,
    /// The engine's state after the run's first step, or its initial state.
    pub state: JsonText,
    /// Where the first step left it, e.g. `running`.
    pub status: RunStatus,
    /// Set when the first step already ended the run.
    pub completed_at: Option<Timestamp>,
    /// The first step's effects, written after the run.
    pub ops: Vec<Op>,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRow {
    /// The run id.
    pub id: RunId,
    /// The workflow.
    pub workflow_id: String,
    /// The version it runs.
    pub workflow_version: i64,
    /// That version's BPMN hash.
    pub bpmn_sha256: String,
    /// Where it stands.
    pub status: RunStatus,
    /// The engine's state (opaque here).
    pub state: Value,
    /// Bumped by every commit; the optimistic-concurrency token.
    pub state_version: i64,
    /// Who started it.
    pub requested_by: String,
    /// Its inputs.
    pub inputs: Value,
    /// The last risk level a commit reported.
    pub risk_level: Option<RiskLevel>,
    /// The riskiest tool call the Tool Gateway assessed in the run so far.
    pub risk_peak: Option<RiskPeak>,
    /// Why the run was halted, if an operator or the system halted it.
    pub halted_reason: Option<Value>,
    /// Free-form operator notes.
    pub notes: Option<Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// When it reached a terminal status.
    pub completed_at: Option<Timestamp>,
}

/// The riskiest tool call the Tool Gateway assessed in a run: kept on the
/// run row (raised, never lowered, by
/// [`Row::RaiseRisk`](crate::Row::RaiseRisk)) so that an
/// approval gate weighs the run's calls from the row its step already reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskPeak {
    /// The call's risk score, 0-100.
    pub score: u8,
    /// The tool called.
    pub tool: String,
    /// The BPMN node of the step that made the call.
    pub node_id: String,
    /// That step's attempt.
    pub work_id: WorkId,
    /// The names of the factors that made up the score, in the gateway's order.
    pub factors: Vec<String>,
}

/// Filters and paging for [`Store::list_runs`](crate::Store::list_runs).
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this workflow.
    pub workflow_id: Option<String>,
    /// Page size; 0 means 1, capped at [`MAX_PAGE`](crate::MAX_PAGE).
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Which page of a keyset-paginated list to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Page size; 0 means 1, capped at [`MAX_PAGE`](crate::MAX_PAGE).
    pub limit: u32,
    /// The `next_cursor` of the previous page; `None` for the first.
    pub cursor: Option<String>,
}

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

// --------------------------------------------------------- inbox and claims

/// An event waiting in a run's inbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxEvent {
    /// Inbox row id; increasing in arrival order.
    pub id: i64,
    /// The event (opaque here).
    pub event: Value,
}

/// A run claimed under a lease with the events to apply, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    /// The run as it was at claim time.
    pub run: RunRow,
    /// Its unprocessed events, oldest first (at most
    /// [`MAX_EVENTS_PER_CLAIM`](crate::MAX_EVENTS_PER_CLAIM)).
    pub events: Vec<InboxEvent>,
}

/// Everything one engine step changes, written in one transaction.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The run.
    pub run_id: RunId,
    /// The lease owner that claimed it.
    pub owner: String,
    /// The `state_version` the claim returned.
    pub expected_state_version: i64,
    /// The new engine state.
    pub state: JsonText,
    /// The new status.
    pub status: RunStatus,
    /// A new risk level; `None` keeps the stored one.
    pub risk_level: Option<RiskLevel>,
    /// Set when the run reached a terminal status; `None` keeps the stored one.
    pub completed_at: Option<Timestamp>,
    /// The inbox rows this step applied (or refused).
    pub processed_inbox_ids: Vec<i64>,
    /// Rows to write.
    pub ops: Vec<Op>,
    /// Audit records to append, in order.
    pub audit: Vec<AuditDraft>,
}

/// A row-level consequence of an engine step.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Queue agent work for the executor. Idempotent per `(run, work_id)`.
    InsertWork {
        /// Unique within the run.
        work_id: WorkId,
        /// What executes it, e.g. `agent_task`.
        kind: String,
        /// Its input (opaque here), serialized by the caller straight to
        /// text: the executor parses it straight into its own type, and no
        /// JSON tree is built on the way.
        payload: JsonText,
    },
    /// Stop pending work; done work stays done.
    CancelWork {
        /// The work.
        work_id: WorkId,
    },
    /// Make done work claimable again: a step paused on an escalated tool
    /// call runs again once the escalation is decided.
    ReopenWork {
        /// The work.
        work_id: WorkId,
    },
    /// Open an approval request and wait for a human.
    OpenApproval {
        /// The request.
        approval: NewApproval,
    },
    /// Close the open questions of `work_id` unanswered (its attempt was
    /// stopped).
    CloseQuestions {
        /// The attempt that asked.
        work_id: WorkId,
    },
    /// Close the run's pending approval for `work_id` without a decision.
    CloseApproval {
        /// The work the approval gates.
        work_id: WorkId,
        /// [`ApprovalStatus::Cancelled`] or [`ApprovalStatus::Expired`].
        status: ApprovalStatus,
    },
    /// Wait for a correlated message. Idempotent per `(run, work_id)`.
    AwaitMessage {
        /// The waiting work.
        work_id: WorkId,
        /// The message name a delivery must carry.
        message_name: String,
        /// `None` matches any key.
        correlation_key: Option<String>,
    },
    /// Stop waiting for the message of `work_id`.
    StopAwaitingMessage {
        /// The waiting work.
        work_id: WorkId,
    },
    /// Schedule a timer. Idempotent per `(run, timer_id)`.
    ScheduleTimer {
        /// Unique within the run.
        timer_id: String,
        /// When it fires.
        due_at: Timestamp,
        /// The BPMN node it belongs to.
        node_id: String,
    },
    /// Cancel a timer that has not fired.
    CancelTimer {
        /// The timer.
        timer_id: String,
    },
    /// Store an evidence record (prompt snapshot, model usage, tool call ...).
    Record(Record),
    /// Record where a BPMN node of the run stands after the step (the
    /// engine's `NodeChanged`). Upserted per `(run, node_id)`: a node keeps
    /// one row however often tokens pass it, and its arrivals add up.
    TrackNode {
        /// The node.
        node_id: String,
        /// Where it stands now; never [`NodeState::Skipped`], which
        /// readers derive.
        state: NodeState,
        /// Tokens that arrived at it during the step.
        entered: u32,
        /// When the step happened.
        at: Timestamp,
    },
}

/// One BPMN node of a run, as its tokens left it ([`Op::TrackNode`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRow {
    /// The node.
    pub node_id: String,
    /// Where it stands.
    pub state: NodeState,
    /// How many tokens arrived at it.
    pub visits: u32,
    /// When the first token arrived.
    pub first_entered_at: Timestamp,
    /// When the last token arrived.
    pub entered_at: Timestamp,
    /// When the last token left; `None` while one is there.
    pub left_at: Option<Timestamp>,
}

// --------------------------------------------------------------------- work

/// Agent work claimed under a lease.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Row id.
    pub id: i64,
    /// The run.
    pub run_id: RunId,
    /// Unique within the run.
    pub work_id: WorkId,
    /// What executes it.
    pub kind: String,
    /// Its input, as it was written.
    pub payload: JsonText,
    /// How many times it has been claimed, this claim included.
    pub attempt_count: i64,
    /// Where the step stood when it last paused for a person (see
    /// [`Row::CompleteWork`](crate::Row::CompleteWork)); `None` if it never did.
    pub resume: Option<JsonText>,
    /// Whether the kill switch held the step since it last ended
    /// ([`Row::HoldWork`](crate::Row::HoldWork)): the run must hear it was
    /// released before the step goes on, so its timeout counts again.
    pub held: bool,
}

/// An engine step the caller computed from a run's state at
/// `expected_state_version` for the event its write delivers.
///
/// The write commits the step with the event when nothing else moved the
/// run meanwhile: its state is still at that version, nobody holds its
/// lease, and no earlier event waits in its inbox. Otherwise the event stays
/// in the inbox for an applier, exactly as without a step. Either way the
/// outcome is the one an applier would have produced; the step only saves
/// the round trip.
#[derive(Debug, Clone)]
pub struct AppliedStep {
    /// The state version the step was computed from.
    pub expected_state_version: i64,
    /// The state after the step.
    pub state: JsonText,
    /// The status after the step.
    pub status: RunStatus,
    /// Set when the step ended the run.
    pub completed_at: Option<Timestamp>,
    /// The step's effects.
    pub ops: Vec<Op>,
    /// The step's audit records.
    pub audit: Vec<AuditDraft>,
}

/// What became of an event written with an [`AppliedStep`] offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Nothing was queued: the event was a duplicate, or its work was
    /// already done or cancelled.
    Dropped,
    /// The event waits in the run's inbox for an applier.
    Queued,
    /// The step was committed with the event: the run's state is the step's,
    /// at `expected_state_version + 1`.
    Stepped,
}

impl Delivered {
    /// True unless the event was dropped.
    pub fn recorded(self) -> bool {
        self != Delivered::Dropped
    }
}

/// An evidence record as stored.
///
/// The `records` table keeps a record as its kind and its JSON body; a row
/// becomes a [`Record`] when it is read, and a row that does not parse
/// fails the read with [`Error::Corrupt`](crate::Error::Corrupt) naming the
/// row. The store never hands out a run's records with one left out: every
/// reader (the evidence pack, the policy simulation) would present an
/// incomplete picture as the whole one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRecord {
    /// Row id; increasing in write order.
    pub id: i64,
    /// The record.
    pub record: Record,
    /// When it was stored.
    pub created_at: Timestamp,
}

// ------------------------------------------------------------------- timers

/// A timer as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerRow {
    /// The run.
    pub run_id: RunId,
    /// Unique within the run.
    pub timer_id: String,
    /// Its BPMN node.
    pub node_id: String,
    /// When it is due.
    pub due_at: Timestamp,
    /// Where it stands.
    pub status: TimerStatus,
    /// When it fired.
    pub fired_at: Option<Timestamp>,
}

// ---------------------------------------------------------------- approvals

/// An approval request to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApproval {
    /// Its id (UUID text).
    pub id: ApprovalId,
    /// The work it gates.
    pub work_id: WorkId,
    /// Its BPMN node.
    pub node_id: String,
    /// What it gates.
    pub kind: ApprovalKind,
    /// What the approver sees: action, requester, agent, rationale, risk,
    /// affected systems, related output.
    pub request: Value,
    /// When it expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// Whether the store lists the run's artifacts under `request.artifacts`
    /// (name, SHA-256, size and media type of each path the run holds, in
    /// path order) in the statement that opens the approval. A gate is
    /// opened on the engine's hot path: the list is read where the row is
    /// written, with no round trip of its own, and it is exactly what the
    /// run held when the gate opened, which is what the request and the
    /// evidence pack then say. `false` keeps `request.artifacts` as given.
    pub list_run_artifacts: bool,
}

/// An approval request as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRow {
    /// Its id.
    pub id: ApprovalId,
    /// The run.
    pub run_id: RunId,
    /// The work it gates.
    pub work_id: WorkId,
    /// Its BPMN node.
    pub node_id: String,
    /// What it gates.
    pub kind: ApprovalKind,
    /// What the approver sees.
    pub request: Value,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The human decision, once made.
    pub decision: Option<ApprovalDecision>,
    /// The approver's comment.
    pub comment: Option<String>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// When it expires, if ever.
    pub expires_at: Option<Timestamp>,
    /// When an approved tool escalation was used to run its call; an
    /// approval runs its call once, so a used one covers no later call.
    pub consumed_at: Option<Timestamp>,
    /// When it was opened.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// Filters for [`Store::list_approvals`](crate::Store::list_approvals).
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only this run.
    pub run_id: Option<String>,
}

// ---------------------------------------------------------------- questions

/// A blocking question an agent asks a human (`human.ask`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewQuestion {
    /// Its id (UUID text).
    pub id: QuestionId,
    /// The agent attempt that waits for the answer.
    pub work_id: WorkId,
    /// Its BPMN node.
    pub node_id: String,
    /// The agent that asks.
    pub agent: String,
    /// The question, redacted.
    pub question: String,
    /// When it was asked.
    pub asked_at: Timestamp,
}

/// A question of a run's conversation as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuestionRow {
    /// Its id.
    pub id: QuestionId,
    /// The run.
    pub run_id: RunId,
    /// The agent attempt that waits for the answer.
    pub work_id: WorkId,
    /// Its BPMN node.
    pub node_id: String,
    /// The agent that asked.
    pub agent: String,
    /// The question, redacted.
    pub question: String,
    /// Where it stands.
    pub status: QuestionStatus,
    /// The human's answer, once given.
    pub answer: Option<String>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// When it was asked.
    pub asked_at: Timestamp,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
}

/// Filters for [`Store::list_questions`](crate::Store::list_questions).
#[derive(Debug, Clone, Default)]
pub struct QuestionFilter {
    /// Only this status.
    pub status: Option<QuestionStatus>,
    /// Only this run.
    pub run_id: Option<String>,
}

// ----------------------------------------------------------------- messages

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOutcome {
    /// Runs the message was queued for, sorted.
    pub matched_runs: Vec<RunId>,
    /// True when `delivery_id` was seen before; the outcome is the first one.
    pub duplicate: bool,
}
