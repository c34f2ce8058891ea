//! Raw SQLite rows and their conversion into the public row types.
//!
//! Rows mirror the columns one to one (JSON as TEXT, times as INTEGER
//! milliseconds); the conversions parse JSON and name the column when it is
//! corrupt, so the public types never carry half-parsed data.

use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditRecord;
use agentwerke_types::{RiskLevel, RunStatus, Timestamp, UnknownName};
use sqlx::FromRow;

use super::parse_json;
use crate::error::{Error, Result};
use crate::model::{
    ApprovalRow, EvidenceRecord, JsonText, QuestionRow, RunRow, TimerRow, WorkItem,
    WorkflowSummary, WorkflowVersion,
};

/// Gives a row struct a reader for the writer's connection, by column name,
/// beside its `FromRow` for the pool: the writer reads a few rows inside its
/// transactions (a run's lease, an approval it just decided).
macro_rules! from_sqlite {
    ($row:ident { $($field:ident),* $(,)? }) => {
        impl $row {
            pub(super) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(Self { $($field: row.get(stringify!($field))?),* })
            }
        }
    };
}
pub(super) use from_sqlite;

fn ts(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

fn opt_ts(millis: Option<i64>) -> Option<Timestamp> {
    millis.map(Timestamp::from_millis)
}

/// A closed name read back from a column; `what` names the column when the
/// text is none of the set's names.
pub(super) fn named<T>(text: &str, what: impl FnOnce() -> String) -> Result<T>
where
    T: std::str::FromStr<Err = UnknownName>,
{
    text.parse().map_err(|_| Error::Corrupt { what: what() })
}

/// Every column of `workflow_versions`, in table order.
macro_rules! version_columns {
    () => {
        "workflow_id, version, name, status, bpmn_xml, \
    bpmn_sha256, diagnostics, created_by, created_at, published_by, published_at"
    };
}
pub(super) use version_columns;

#[derive(FromRow)]
pub(super) struct VersionRow {
    workflow_id: String,
    version: i64,
    name: String,
    status: String,
    bpmn_xml: String,
    bpmn_sha256: String,
    diagnostics: String,
    created_by: String,
    created_at: i64,
    published_by: Option<String>,
    published_at: Option<i64>,
}

from_sqlite!(VersionRow {
    workflow_id,
    version,
    name,
    status,
    bpmn_xml,
    bpmn_sha256,
    diagnostics,
    created_by,
    created_at,
    published_by,
    published_at,
});

impl TryFrom<VersionRow> for WorkflowVersion {
    type Error = Error;

    fn try_from(row: VersionRow) -> Result<Self> {
        let diagnostics = parse_json(&row.diagnostics, || {
            format!(
                "workflow_versions.diagnostics of {}@{}",
                row.workflow_id, row.version
            )
        })?;
        let status = named(&row.status, || {
            format!(
                "workflow_versions.status of {}@{}",
                row.workflow_id, row.version
            )
        })?;
        Ok(Self {
            workflow_id: row.workflow_id,
            version: row.version,
            name: row.name,
            status,
            bpmn_xml: row.bpmn_xml,
            bpmn_sha256: row.bpmn_sha256,
            diagnostics,
            created_by: row.created_by,
            created_at: ts(row.created_at),
            published_by: row.published_by,
            published_at: opt_ts(row.published_at),
        })
    }
}

#[derive(FromRow)]
pub(super) struct SummaryRow {
    id: String,
    name: String,
    latest_version: i64,
    published_version: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<SummaryRow> for WorkflowSummary {
    fn from(row: SummaryRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            latest_version: row.latest_version,
            published_version: row.published_version,
            created_at: ts(row.created_at),
            updated_at: ts(row.updated_at),
        }
    }
}

/// The columns of `runs` that [`RunRow`] exposes (leases stay internal).
macro_rules! run_columns {
    () => {
        "id, workflow_id, workflow_version, bpmn_sha256, status, \
    state, state_version, requested_by, inputs, risk_level, risk_peak, halted_reason, notes, \
    created_at, updated_at, completed_at"
    };
}
pub(super) use run_columns;

#[derive(FromRow)]
pub(super) struct RunDbRow {
    id: String,
    workflow_id: String,
    workflow_version: i64,
    bpmn_sha256: String,
    status: String,
    state: String,
    state_version: i64,
    requested_by: String,
    inputs: String,
    risk_level: Option<String>,
    risk_peak: Option<String>,
    halted_reason: Option<String>,
    notes: Option<String>,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
}

from_sqlite!(RunDbRow {
    id,
    workflow_id,
    workflow_version,
    bpmn_sha256,
    status,
    state,
    state_version,
    requested_by,
    inputs,
    risk_level,
    risk_peak,
    halted_reason,
    notes,
    created_at,
    updated_at,
    completed_at,
});

impl RunDbRow {
    /// The run id, readable before the row is converted.
    pub(super) fn id(&self) -> &str {
        &self.id
    }
}

impl TryFrom<RunDbRow> for RunRow {
    type Error = Error;

    fn try_from(row: RunDbRow) -> Result<Self> {
        let id = row.id;
        let column = |name: &str| {
            let id = id.clone();
            let name = name.to_owned();
            move || format!("runs.{name} of {id}")
        };
        let state = parse_json(&row.state, column("state"))?;
        let inputs = parse_json(&row.inputs, column("inputs"))?;
        let halted_reason = row
            .halted_reason
            .map(|text| parse_json(&text, column("halted_reason")))
            .transpose()?;
        let notes = row
            .notes
            .map(|text| parse_json(&text, column("notes")))
            .transpose()?;
        let status = RunStatus::parse(&row.status).ok_or_else(|| Error::Corrupt {
            what: column("status")(),
        })?;
        let risk_level = row
            .risk_level
            .map(|text| {
                RiskLevel::parse(&text).ok_or_else(|| Error::Corrupt {
                    what: column("risk_level")(),
                })
            })
            .transpose()?;
        let risk_peak = row
            .risk_peak
            .map(|text| {
                serde_json::from_str(&text).map_err(|_| Error::Corrupt {
                    what: column("risk_peak")(),
                })
            })
            .transpose()?;
        Ok(Self {
            id: id.into(),
            workflow_id: row.workflow_id,
            workflow_version: row.workflow_version,
            bpmn_sha256: row.bpmn_sha256,
            status,
            state,
            state_version: row.state_version,
            requested_by: row.requested_by,
            inputs,
            risk_level,
            risk_peak,
            halted_reason,
            notes,
            created_at: ts(row.created_at),
            updated_at: ts(row.updated_at),
            completed_at: opt_ts(row.completed_at),
        })
    }
}

/// The columns of `work` that [`WorkItem`] exposes.
macro_rules! work_columns {
    () => {
        "id, run_id, work_id, kind, payload, attempt_count, resume, held"
    };
}
pub(super) use work_columns;

#[derive(FromRow)]
pub(super) struct WorkRow {
    id: i64,
    run_id: String,
    work_id: String,
    kind: String,
    payload: String,
    attempt_count: i64,
    resume: Option<String>,
    held: bool,
}

from_sqlite!(WorkRow {
    id,
    run_id,
    work_id,
    kind,
    payload,
    attempt_count,
    resume,
    held
});

impl WorkRow {
    /// The row id, readable before the row is converted.
    pub(super) fn id(&self) -> i64 {
        self.id
    }
}

impl TryFrom<WorkRow> for WorkItem {
    type Error = Error;

    fn try_from(row: WorkRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            run_id: row.run_id.into(),
            work_id: row.work_id.into(),
            kind: row.kind,
            payload: JsonText::stored(row.payload),
            attempt_count: row.attempt_count,
            resume: row.resume.map(JsonText::stored),
            held: row.held,
        })
    }
}

/// Every column of `approvals`, in table order.
macro_rules! approval_columns {
    () => {
        "id, run_id, work_id, node_id, kind, request, status, \
    decision, comment, decided_by, decided_at, expires_at, consumed_at, created_at, updated_at"
    };
}
pub(super) use approval_columns;

#[derive(FromRow)]
pub(super) struct ApprovalDbRow {
    pub(super) id: String,
    pub(super) run_id: String,
    work_id: String,
    node_id: String,
    kind: String,
    request: String,
    pub(super) status: String,
    decision: Option<String>,
    comment: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    expires_at: Option<i64>,
    consumed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

from_sqlite!(ApprovalDbRow {
    id,
    run_id,
    work_id,
    node_id,
    kind,
    request,
    status,
    decision,
    comment,
    decided_by,
    decided_at,
    expires_at,
    consumed_at,
    created_at,
    updated_at,
});

impl ApprovalDbRow {
    /// When it expires, in milliseconds, if ever.
    pub(super) fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

impl TryFrom<ApprovalDbRow> for ApprovalRow {
    type Error = Error;

    fn try_from(row: ApprovalDbRow) -> Result<Self> {
        let request = parse_json(&row.request, || format!("approvals.request of {}", row.id))?;
        let column = |name: &str| format!("approvals.{name} of {}", row.id);
        let kind = named(&row.kind, || column("kind"))?;
        let status = named(&row.status, || column("status"))?;
        let decision = row
            .decision
            .as_deref()
            .map(|text| named(text, || column("decision")))
            .transpose()?;
        Ok(Self {
            id: row.id.into(),
            run_id: row.run_id.into(),
            work_id: row.work_id.into(),
            node_id: row.node_id,
            kind,
            request,
            status,
            decision,
            comment: row.comment,
            decided_by: row.decided_by,
            decided_at: opt_ts(row.decided_at),
            expires_at: opt_ts(row.expires_at),
            consumed_at: opt_ts(row.consumed_at),
            created_at: ts(row.created_at),
            updated_at: ts(row.updated_at),
        })
    }
}

/// Every column of `questions`, in table order.
macro_rules! question_columns {
    () => {
        "id, run_id, work_id, node_id, agent, question, status, \
    answer, answered_by, asked_at, answered_at"
    };
}
pub(super) use question_columns;

#[derive(FromRow)]
pub(super) struct QuestionDbRow {
    id: String,
    run_id: String,
    work_id: String,
    node_id: String,
    agent: String,
    question: String,
    status: String,
    answer: Option<String>,
    answered_by: Option<String>,
    asked_at: i64,
    answered_at: Option<i64>,
}

from_sqlite!(QuestionDbRow {
    id,
    run_id,
    work_id,
    node_id,
    agent,
    question,
    status,
    answer,
    answered_by,
    asked_at,
    answered_at,
});

impl QuestionDbRow {
    /// The run it belongs to.
    pub(super) fn run_id(&self) -> &str {
        &self.run_id
    }
}

impl TryFrom<QuestionDbRow> for QuestionRow {
    type Error = Error;

    fn try_from(row: QuestionDbRow) -> Result<Self> {
        let status = named(&row.status, || format!("questions.status of {}", row.id))?;
        Ok(Self {
            id: row.id.into(),
            run_id: row.run_id.into(),
            work_id: row.work_id.into(),
            node_id: row.node_id,
            agent: row.agent,
            question: row.question,
            status,
            answer: row.answer,
            answered_by: row.answered_by,
            asked_at: ts(row.asked_at),
            answered_at: opt_ts(row.answered_at),
        })
    }
}

#[derive(FromRow)]
pub(super) struct TimerDbRow {
    run_id: String,
    timer_id: String,
    node_id: String,
    due_at: i64,
    status: String,
    fired_at: Option<i64>,
}

from_sqlite!(TimerDbRow {
    run_id,
    timer_id,
    node_id,
    due_at,
    status,
    fired_at
});

impl TimerDbRow {
    /// The run the timer belongs to.
    pub(super) fn run_id(&self) -> &str {
        &self.run_id
    }
}

impl TryFrom<TimerDbRow> for TimerRow {
    type Error = Error;

    fn try_from(row: TimerDbRow) -> Result<Self> {
        let status = named(&row.status, || {
            format!("timers.status of {}/{}", row.run_id, row.timer_id)
        })?;
        Ok(Self {
            run_id: row.run_id.into(),
            timer_id: row.timer_id,
            node_id: row.node_id,
            due_at: ts(row.due_at),
            status,
            fired_at: opt_ts(row.fired_at),
        })
    }
}

#[derive(FromRow)]
pub(super) struct RecordRow {
    id: i64,
    kind: String,
    data: String,
    created_at: i64,
}

impl TryFrom<RecordRow> for EvidenceRecord {
    type Error = Error;

    fn try_from(row: RecordRow) -> Result<Self> {
        let body = parse_json(&row.data, || format!("records.data of row {}", row.id))?;
        let record = Record::from_stored(&row.kind, body).map_err(|error| Error::Corrupt {
            what: format!("records row {}: {error}", row.id),
        })?;
        Ok(Self {
            id: row.id,
            record,
            created_at: ts(row.created_at),
        })
    }
}

#[derive(FromRow)]
pub(super) struct AuditRow {
    run_id: String,
    seq: i64,
    at: String,
    actor: String,
    kind: String,
    data: String,
    prev_hash: String,
    hash: String,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = Error;

    fn try_from(row: AuditRow) -> Result<Self> {
        let what = || format!("audit_log row {}#{}", row.run_id, row.seq);
        let data = parse_json(&row.data, what)?;
        let seq = u64::try_from(row.seq).map_err(|_| Error::Corrupt { what: what() })?;
        Ok(Self {
            seq,
            run_id: row.run_id,
            at: row.at,
            actor: row.actor,
            kind: row.kind,
            data,
            prev_hash: row.prev_hash,
            hash: row.hash,
            redacted_after_chaining: false,
        })
    }
}

/// Converts every row, stopping at the first corrupt one.
pub(super) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = Error>,
{
    rows.into_iter().map(T::try_from).collect()
}
