//! The one write of a command: typed rows, the event the run hears, the
//! audit facts and the evidence, committed together by
//! [`Store::commit`](crate::Store::commit).
//!
//! A command (a human decision, an expiry, an answer) is planned outside the
//! store, as a pure function of what it read; the store only checks, in the
//! statement that writes each row, that the row is still as the plan found
//! it. So of two concurrent commands on one row exactly one wins, and a
//! decision that arrives after its approval's expiry is refused by the same
//! `UPDATE` that would have recorded it, whether or not the expiry loop has
//! run yet.

use agentwerke_evidence::chain::{AuditDraft, ChainHead};
use agentwerke_types::{
    Actor, ApprovalDecision, ApprovalId, AuditKind, QuestionId, RiskLevel, RunId, RunStatus,
    Timestamp, ToolCallId, WorkId,
};
use serde_json::Value;

use crate::gateway::{HaltRow, HaltScope, PolicySetRow};
use crate::model::{
    AppliedStep, ApprovalRow, Delivered, DeliveryOutcome, JsonText, NewApproval, NewQuestion,
    NewRun, NewWorkflowVersion, QuestionRow, RiskPeak, TimerRow, WorkflowVersion,
};
use crate::secrets::SecretRow;
use crate::usage::ModelTurn;

/// One command's writes, all or nothing.
#[derive(Debug, Clone)]
pub struct Change {
    /// The stream every row, record and audit draft belongs to.
    pub stream: Stream,
    /// When the command was made; stamps every row it changes.
    pub at: Timestamp,
    /// The rows to change, each a compare-and-set on the state the plan saw.
    pub rows: Vec<Row>,
    /// The event the run hears, if any.
    pub event: Option<RunEvent>,
    /// Audit records to append to the stream's chain, in order, before the
    /// event's step.
    pub audit: Vec<AuditDraft>,
    /// Evidence records.
    pub records: Vec<agentwerke_evidence::Record>,
}

/// What a [`Change`] writes to: one run, or the global stream of
/// workflow, policy and halt changes that belong to no run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// One run: its rows, its audit chain, its evidence and its inbox.
    Run(RunId),
    /// The global audit stream ([`GLOBAL_STREAM`](crate::GLOBAL_STREAM)).
    /// A global change has no event and no evidence records: those belong
    /// to a run.
    Global,
}

impl Stream {
    /// The run written to, if the change is a run's.
    pub fn run(&self) -> Option<&RunId> {
        match self {
            Stream::Run(run) => Some(run),
            Stream::Global => None,
        }
    }

    /// The name of the audit chain the change appends to.
    pub fn chain(&self) -> &str {
        match self {
            Stream::Run(run) => run.as_str(),
            Stream::Global => crate::GLOBAL_STREAM,
        }
    }
}

impl From<RunId> for Stream {
    fn from(run: RunId) -> Self {
        Stream::Run(run)
    }
}

/// An engine event a [`Change`] delivers to its run.
#[derive(Debug, Clone)]
pub struct RunEvent {
    /// The event, serialized by the engine's types.
    pub event: JsonText,
    /// Its idempotency key in the run's inbox; `None` for an event that may
    /// arrive twice (a second cancel request is harmless).
    pub dedup_key: Option<String>,
    /// The step the event causes, when the caller computed it (see
    /// [`AppliedStep`]).
    pub step: Option<AppliedStep>,
}

/// A typed row change. Each names the state it expects; when the row is no
/// longer in it, the whole [`Change`] is refused with the reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// Decide a pending approval that has not expired at [`Change::at`].
    /// Refused with `AlreadyDecided` when it is no longer pending and with
    /// `Expired` when its time ran out (whether or not it was marked
    /// expired yet).
    DecideApproval {
        /// The approval.
        id: ApprovalId,
        /// The decision.
        decision: ApprovalDecision,
        /// The approver's comment, redacted.
        comment: Option<String>,
        /// Who decided (token subject, or `system`).
        decided_by: String,
    },
    /// Mark a pending approval whose time ran out by [`Change::at`]
    /// expired. Refused with `AlreadyDecided` when it is no longer pending
    /// and with `Conflict` when it is not due.
    ExpireApproval {
        /// The approval.
        id: ApprovalId,
    },
    /// Mark a scheduled timer of the change's run that is due by
    /// [`Change::at`] fired. Refused with `Conflict` when it is not
    /// scheduled (fired or cancelled) or not due, and `NotFound` when the run
    /// has no such timer.
    FireTimer {
        /// The timer, unique within its run.
        timer_id: String,
    },
    /// Record the one answer to an open question. Refused with
    /// `AlreadyAnswered` when it is no longer open.
    AnswerQuestion {
        /// The question.
        id: QuestionId,
        /// The answer, redacted.
        answer: String,
        /// Who answered.
        answered_by: String,
    },
    /// Halt a scope of the gateway, or re-halt it with a new reason (a
    /// global row). Refused with `Invalid` when the target does not fit the
    /// scope: empty for `global`, an agent or workflow id otherwise.
    SetHalt {
        /// What it covers.
        scope: HaltScope,
        /// The agent or workflow id; empty for a global halt.
        target: String,
        /// Why, as the operator said.
        reason: String,
        /// Who halted.
        halted_by: String,
    },
    /// Lift a halt in force and free the steps it held to be claimed again
    /// (a global row). Refused with `Conflict` when no such halt is in
    /// force.
    ClearHalt {
        /// What it covered.
        scope: HaltScope,
        /// The agent or workflow id; empty for a global halt.
        target: String,
    },
    /// Store a validated policy set as draft `version` (a global row).
    /// Refused with `Conflict` when `version` is not the next number (a
    /// concurrent draft took it).
    DraftPolicySet {
        /// The next version: the newest one's plus 1, 1 for the first.
        version: i64,
        /// The `.cedar` text.
        text: String,
        /// Its hex SHA-256.
        sha256: String,
        /// The author's note.
        note: Option<String>,
        /// Who wrote it.
        created_by: String,
    },
    /// Publish a draft policy set (a global row). Refused with `Conflict`
    /// when it is published already and `NotFound` when there is none.
    PublishPolicySet {
        /// The version.
        version: i64,
        /// Who publishes it.
        published_by: String,
    },
    /// Store a workflow document as draft `version`, creating the workflow
    /// on its first import (a global row). Refused with `Conflict` when
    /// `version` is not the workflow's next number (a concurrent import
    /// took it).
    ImportWorkflowVersion {
        /// The next version of the workflow: its newest one's plus 1, 1 for
        /// the first.
        version: i64,
        /// The document and who imports it.
        workflow: NewWorkflowVersion,
    },
    /// Publish a draft workflow version (a global row). Refused with
    /// `Conflict` when it is published already and `NotFound` when there is
    /// none.
    PublishWorkflowVersion {
        /// The workflow.
        workflow_id: String,
        /// The version.
        version: i64,
        /// Who publishes it.
        published_by: String,
    },
    /// Create the change's run, as its first step left it (see [`NewRun`]),
    /// with that step's effects. It lets a change of a run that does not
    /// exist yet through; refused with `NotFound` when the version is not
    /// published, and with `Conflict` when the version has another BPMN hash
    /// or the run exists already.
    CreateRun(NewRun),
    /// Record a correlated message and queue its event to every run with an
    /// open matching wait. Only in a [`Stream::Global`] change: a delivery
    /// belongs to no single run until the store matches it, in the same
    /// transaction, so the row names the event and the fact to fan out
    /// instead of the change naming a run (see [`MessageDelivery`]).
    DeliverMessage(MessageDelivery),
    /// Mark a claimed step's pending work done, keeping `resume` with it
    /// (where a step that paused for a person stands; `None` clears it).
    /// Refused with `WorkClosed` when the work is done already: a second
    /// completion after a reclaim writes nothing, the first one stands.
    /// Work the run cancelled meanwhile is not refused: the change keeps its
    /// audit and evidence records (what the step did still happened) and
    /// the rows before this one, but writes none of the rows after it and
    /// delivers no event. `NotFound` when the run has no such work.
    CompleteWork {
        /// The work.
        work_id: WorkId,
        /// The executor that ran it (logged when its lease was taken over).
        owner: String,
        /// Where the step stands, redacted; kept for its next claim.
        resume: Option<JsonText>,
    },
    /// Open an approval of the change's run. Opening the same approval of
    /// the same run again writes nothing; an id another approval holds is
    /// refused with `Conflict`.
    OpenApproval {
        /// The approval.
        approval: NewApproval,
    },
    /// Open a question of the change's run. An id another question holds is
    /// refused with `Conflict`.
    OpenQuestion {
        /// The question.
        question: NewQuestion,
    },
    /// Put a claimed step the kill switch stopped back in the queue with
    /// `resume`, held until the halts covering it (global, its agent's,
    /// its workflow's) are lifted; looked for in the same transaction, so a
    /// step whose halt was lifted a moment ago is released at once rather
    /// than held with nobody to free it. Either way its next claim says it
    /// was held ([`WorkItem::held`](crate::WorkItem::held)) until the step
    /// ends. Refused with `WorkClosed` when the work is no longer pending
    /// (completed or cancelled meanwhile).
    HoldWork {
        /// The work.
        work_id: WorkId,
        /// The run's workflow, for workflow halts.
        workflow_id: String,
        /// The step's agent, for agent halts.
        agent: String,
        /// Where the step stands, redacted; `None` starts it over.
        resume: Option<JsonText>,
    },
    /// Raise the run's `riskLevel` to `level` (`low` < `medium` < `high` <
    /// `critical`) and its riskiest assessed call to `peak` when `peak`
    /// scored higher. Never refused: a lower level or score leaves each
    /// as it is, so raising twice is raising once.
    RaiseRisk {
        /// The highest level the step's calls were assessed at.
        level: RiskLevel,
        /// The step's riskiest call.
        peak: Option<RiskPeak>,
    },
    /// Settle every tool call of the work whose intent is still `started`
    /// as `abandoned`: the step ended without repeating it, so its outcome
    /// stays unknown and the journal keeps no call open. When it settled
    /// any, `audit` is appended with `callIds` (the settled calls, in the
    /// order they were begun) added to its data. Never refused.
    AbandonCalls {
        /// The work whose calls are settled.
        work_id: WorkId,
        /// The record of the settlement (`tool.abandoned`).
        audit: AuditDraft,
    },
    /// Create or rotate a stored secret (a global row): its sealed
    /// envelope and fingerprint, never its value. `previous` is the
    /// fingerprint the plan saw (none: no such secret); refused with
    /// `Conflict` when the secret changed since.
    PutSecret {
        /// The secret's name.
        name: String,
        /// The envelope `SecretCipher::seal` returned for the name.
        sealed: String,
        /// The keyed fingerprint of the value.
        fingerprint: String,
        /// The fingerprint the plan saw, if the secret existed.
        previous: Option<String>,
        /// Who set it (token subject).
        by: String,
    },
    /// Delete a stored secret (a global row) whose fingerprint is still
    /// `fingerprint`. Refused with `NotFound` when there is no such secret
    /// and `Conflict` when it was rotated since the plan read it.
    DeleteSecret {
        /// The secret's name.
        name: String,
        /// The fingerprint the plan saw.
        fingerprint: String,
    },
    /// Keep one model turn's usage for the change's run (see
    /// [`crate::usage`]). Refused with `Conflict` when the claim's turn is
    /// kept already, so a turn is never counted, nor its evidence written,
    /// twice.
    RecordModelUsage(ModelTurn),
}

/// What a [`Row::CompleteWork`] or [`Row::HoldWork`] did to its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkEnd {
    /// The work is done.
    Completed,
    /// The run cancelled the work before the step ended: the change kept
    /// only its audit and evidence records and the rows before this one.
    Cancelled,
    /// The step waits for the halts covering it to be lifted.
    Held,
    /// No halt covers the step any more: it may be claimed again at once.
    Released,
}

impl Row {
    /// Whether the row belongs to the global stream rather than to a run.
    pub fn is_global(&self) -> bool {
        match self {
            Row::DecideApproval { .. }
            | Row::ExpireApproval { .. }
            | Row::FireTimer { .. }
            | Row::AnswerQuestion { .. }
            | Row::CreateRun(_)
            | Row::CompleteWork { .. }
            | Row::OpenApproval { .. }
            | Row::OpenQuestion { .. }
            | Row::HoldWork { .. }
            | Row::RaiseRisk { .. }
            | Row::AbandonCalls { .. }
            | Row::RecordModelUsage(_) => false,
            Row::SetHalt { .. }
            | Row::ClearHalt { .. }
            | Row::DraftPolicySet { .. }
            | Row::PublishPolicySet { .. }
            | Row::ImportWorkflowVersion { .. }
            | Row::PublishWorkflowVersion { .. }
            | Row::DeliverMessage(_)
            | Row::PutSecret { .. }
            | Row::DeleteSecret { .. } => true,
        }
    }
}

/// A correlated message, planned: what each matched run hears and records.
///
/// The planner builds the engine event and the audit fact; the store only
/// finds the runs whose open waits match (`message_name`, and
/// `correlation_key` unless the wait has none), queues the event to each
/// under the dedup key `msg:<delivery_id>:<run>` with the fact in its chain,
/// and records the delivery with the runs it matched, all in one
/// transaction. A repeated `delivery_id` returns the first outcome and
/// queues nothing; the same id for another message is a `Conflict`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDelivery {
    /// Idempotency key chosen by the sender.
    pub delivery_id: String,
    /// The message name waits declare.
    pub message_name: String,
    /// Matched against each wait's key; waits without a key match any.
    pub correlation_key: String,
    /// The message body, kept with the delivery.
    pub payload: JsonText,
    /// The engine event each matched run hears.
    pub event: JsonText,
    /// The audit fact each matched run records.
    pub fact: RunFact,
}

/// An audit fact a row writes to runs only the store finds (see
/// [`MessageDelivery`]): a draft without its run, which the store names.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFact {
    /// RFC 3339 time, as the audit record shows it.
    pub at: String,
    /// Who caused it.
    pub actor: Actor,
    /// What happened.
    pub kind: AuditKind,
    /// Its details.
    pub data: Value,
}

impl RunFact {
    /// The fact as the audit draft of `run_id`.
    pub fn for_run(&self, run_id: &str) -> AuditDraft {
        AuditDraft {
            run_id: run_id.to_owned(),
            at: self.at.clone(),
            actor: self.actor.clone(),
            kind: self.kind,
            data: self.data.clone(),
        }
    }
}

/// A run as [`Row::CreateRun`] wrote it. Its state is not read back: the
/// caller built it and holds it typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRun {
    /// The run.
    pub id: RunId,
    /// The workflow.
    pub workflow_id: String,
    /// The published version it runs.
    pub workflow_version: i64,
    /// That version's BPMN hash.
    pub bpmn_sha256: String,
    /// Where its first step left it.
    pub status: RunStatus,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A row as a committed [`Change`] left it.
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// An approval.
    Approval(ApprovalRow),
    /// A question.
    Question(QuestionRow),
    /// A timer.
    Timer(TimerRow),
    /// A halt: as set, or as it was when it was lifted.
    Halt(HaltRow),
    /// A policy set.
    PolicySet(PolicySetRow),
    /// A workflow version.
    WorkflowVersion(WorkflowVersion),
    /// A run just created.
    Run(CreatedRun),
    /// A delivery: the runs it matched, or the first delivery's for a
    /// repeat.
    Delivery(DeliveryOutcome),
    /// A step's work.
    Work {
        /// The work.
        work_id: WorkId,
        /// What became of it.
        end: WorkEnd,
    },
    /// The run's assessed risk, after a raise.
    Risk {
        /// The run's level.
        level: Option<RiskLevel>,
        /// The run's riskiest call.
        peak: Option<RiskPeak>,
    },
    /// The tool calls a [`Row::AbandonCalls`] settled, in the order they
    /// were begun.
    Abandoned(Vec<ToolCallId>),
    /// A secret as a [`Row::PutSecret`] stored it.
    SecretPut {
        /// The secret, described.
        secret: SecretRow,
        /// The fingerprint it replaced; none when it was created.
        previous: Option<String>,
    },
    /// A secret as it was when a [`Row::DeleteSecret`] removed it.
    SecretDeleted(SecretRow),
    /// A model turn a [`Row::RecordModelUsage`] kept: its work and turn.
    ModelUsage {
        /// The work.
        work_id: WorkId,
        /// The claim that made the turn.
        claim: i64,
        /// The turn.
        turn: u32,
    },
}

/// What a committed [`Change`] wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Each of [`Change::rows`] as it now is, in the same order; up to the
    /// [`Row::CompleteWork`] that found its work cancelled, if one did.
    pub rows: Vec<Written>,
    /// What became of [`Change::event`]; `Dropped` when there was none.
    pub delivered: Delivered,
    /// The head of the stream's audit chain after the change's records,
    /// the last of them; `None` when the change appended none. An answer
    /// cites it to say which audit record it wrote.
    pub audit: Option<ChainHead>,
}

impl Committed {
    /// The first approval the change wrote.
    pub fn approval(&self) -> Option<&ApprovalRow> {
        self.rows.iter().find_map(|row| match row {
            Written::Approval(approval) => Some(approval),
            _ => None,
        })
    }

    /// The first question the change wrote.
    pub fn question(&self) -> Option<&QuestionRow> {
        self.rows.iter().find_map(|row| match row {
            Written::Question(question) => Some(question),
            _ => None,
        })
    }

    /// The run the change created.
    pub fn created_run(&self) -> Option<&CreatedRun> {
        self.rows.iter().find_map(|row| match row {
            Written::Run(run) => Some(run),
            _ => None,
        })
    }

    /// The first halt the change wrote.
    pub fn halt(&self) -> Option<&HaltRow> {
        self.rows.iter().find_map(|row| match row {
            Written::Halt(halt) => Some(halt),
            _ => None,
        })
    }

    /// The first policy set the change wrote.
    pub fn policy_set(&self) -> Option<&PolicySetRow> {
        self.rows.iter().find_map(|row| match row {
            Written::PolicySet(policy_set) => Some(policy_set),
            _ => None,
        })
    }

    /// The first workflow version the change wrote.
    pub fn workflow_version(&self) -> Option<&WorkflowVersion> {
        self.rows.iter().find_map(|row| match row {
            Written::WorkflowVersion(version) => Some(version),
            _ => None,
        })
    }

    /// The outcome of the delivery the change recorded.
    pub fn delivery(&self) -> Option<&DeliveryOutcome> {
        self.rows.iter().find_map(|row| match row {
            Written::Delivery(outcome) => Some(outcome),
            _ => None,
        })
    }

    /// What the change did to a step's work, if it named one.
    pub fn work(&self) -> Option<WorkEnd> {
        self.rows.iter().find_map(|row| match row {
            Written::Work { end, .. } => Some(*end),
            _ => None,
        })
    }
}
