//! A command's [`Change`], one transaction on the writer, across tables.
//! The table modules (`approvals`, `questions`, `work`, `runs`, `calls`,
//! `gateway`, `audit`, `ops`) each write their own table and do not call
//! each other for these: this module puts their writes together.

use agentwerke_evidence::chain::SealedDraft;
use agentwerke_types::RiskLevel;
use rusqlite::Connection;

use super::audit::{self, Chain};
use super::rows::{ApprovalDbRow, QuestionDbRow, TimerDbRow};
use super::runs::{self, StepCall};
use super::{approvals, calls, gateway, ops, questions, timers, work};
use crate::change::{Change, Committed, Row, Stream, WorkEnd, Written};
use crate::error::{Error, Result};
use crate::model::{ApprovalRow, Delivered, JsonText, Op, QuestionRow, TimerRow};

/// A [`Change`] with its JSON written and its audit drafts sealed by the
/// caller, so the writer only binds and hashes.
pub(super) struct ChangeCall {
    change: Change,
    audit: Vec<SealedDraft>,
    records: Vec<(&'static str, String)>,
    step: Option<StepCall>,
}

impl ChangeCall {
    pub(super) fn new(mut change: Change) -> Result<Self> {
        let step = change
            .event
            .as_mut()
            .and_then(|event| event.step.take())
            .map(StepCall::new);
        Ok(Self {
            audit: audit::seal(std::mem::take(&mut change.audit)),
            records: std::mem::take(&mut change.records)
                .iter()
                .map(|record| Ok((record.kind(), ops::record_body(record)?)))
                .collect::<Result<_>>()?,
            step,
            change,
        })
    }
}

/// A row as the writer read it back, still as text.
pub(super) enum RawWritten {
    Approval(ApprovalDbRow),
    Question(QuestionDbRow),
    Timer(TimerDbRow),
    Work(agentwerke_types::WorkId, WorkEnd),
    Risk(Option<String>, Option<String>),
    Abandoned(Vec<String>),
}

/// Parses what [`commit`] wrote, off the writer's thread.
pub(super) fn parse(rows: Vec<RawWritten>, delivered: Delivered) -> Result<Committed> {
    let rows = rows
        .into_iter()
        .map(|row| match row {
            RawWritten::Approval(row) => ApprovalRow::try_from(row).map(Written::Approval),
            RawWritten::Question(row) => QuestionRow::try_from(row).map(Written::Question),
            RawWritten::Timer(row) => TimerRow::try_from(row).map(Written::Timer),
            RawWritten::Work(work_id, end) => Ok(Written::Work { work_id, end }),
            RawWritten::Risk(level, peak) => risk(level, peak),
            RawWritten::Abandoned(ids) => Ok(Written::Abandoned(
                ids.into_iter().map(Into::into).collect(),
            )),
        })
        .collect::<Result<_>>()?;
    Ok(Committed { rows, delivered })
}

/// A run's risk columns as a raise left them.
fn risk(level: Option<String>, peak: Option<String>) -> Result<Written> {
    let corrupt = |column: &str| Error::Corrupt {
        what: format!("runs.{column} after a risk raise"),
    };
    Ok(Written::Risk {
        level: level
            .map(|text| RiskLevel::parse(&text).ok_or_else(|| corrupt("risk_level")))
            .transpose()?,
        peak: peak
            .map(|text| serde_json::from_str(&text).map_err(|_| corrupt("risk_peak")))
            .transpose()?,
    })
}

/// Writes a command's change: every row's compare-and-set first (any refusal
/// refuses the whole change), then the audit records, the evidence, and the
/// event with its step. A [`Row::CompleteWork`] that finds its work
/// cancelled ends the rows there and drops the event; audit and evidence
/// are still written.
pub(super) fn commit(conn: &Connection, call: &ChangeCall) -> Result<(Vec<RawWritten>, Delivered)> {
    let change = &call.change;
    let run_id = change.stream.chain();
    match &change.stream {
        // A change names its run; one that does not exist is refused by name
        // rather than by whichever constraint its first write would break.
        Stream::Run(run) => runs::require_run(conn, run.as_str())?,
        // Events and evidence belong to a run; a global change carrying
        // either is a planner's mistake, refused before anything is written.
        Stream::Global => {
            if change.event.is_some() || !call.records.is_empty() {
                return Err(Error::invalid(
                    "a global change carries no event and no evidence records",
                ));
            }
        }
    }
    let mut written = Vec::with_capacity(change.rows.len());
    let mut chain = Chain::new(conn, run_id);
    let mut cancelled = false;
    for row in &change.rows {
        let raw = match row {
            Row::DecideApproval {
                id,
                decision,
                comment,
                decided_by,
            } => RawWritten::Approval(approvals::decide(
                conn,
                id,
                *decision,
                comment.as_deref(),
                decided_by,
                change.at,
            )?),
            Row::ExpireApproval { id } => {
                RawWritten::Approval(approvals::expire(conn, id, change.at)?)
            }
            Row::AnswerQuestion {
                id,
                answer,
                answered_by,
            } => RawWritten::Question(questions::answer(conn, id, answer, answered_by, change.at)?),
            Row::FireTimer { timer_id } => {
                RawWritten::Timer(timers::fire(conn, run_id, timer_id, change.at)?)
            }
            Row::CompleteWork {
                work_id,
                owner,
                resume,
            } => {
                let end = work::complete(
                    conn,
                    run_id,
                    work_id.as_str(),
                    owner,
                    resume.as_ref(),
                    change.at,
                )?;
                cancelled = end == WorkEnd::Cancelled;
                RawWritten::Work(work_id.clone(), end)
            }
            Row::OpenApproval { approval } => {
                let open = Op::OpenApproval {
                    approval: approval.clone(),
                };
                ops::apply(conn, run_id, &open, None, change.at)?;
                RawWritten::Approval(approvals::read(conn, &approval.id)?)
            }
            Row::OpenQuestion { question } => {
                RawWritten::Question(questions::open(conn, run_id, question)?)
            }
            Row::HoldWork {
                work_id,
                workflow_id,
                agent,
                resume,
            } => {
                let held_by =
                    gateway::halted(conn, agent, workflow_id)?.then_some(gateway::KILL_SWITCH);
                let end = work::hold(
                    conn,
                    run_id,
                    work_id.as_str(),
                    held_by,
                    resume.as_ref(),
                    change.at,
                )?;
                RawWritten::Work(work_id.clone(), end)
            }
            Row::RaiseRisk { level, peak } => {
                let peak = peak
                    .as_ref()
                    .map(|peak| {
                        JsonText::of(peak)
                            .map(|json| (peak.score, json))
                            .map_err(|_| Error::invalid("the risk peak cannot be written as JSON"))
                    })
                    .transpose()?;
                let (level, peak) = runs::raise_risk(
                    conn,
                    run_id,
                    level.as_str(),
                    peak.as_ref().map(|(score, json)| (*score, json.as_str())),
                )?;
                RawWritten::Risk(level, peak)
            }
            Row::AbandonCalls { work_id, audit } => {
                let ids = calls::abandon(conn, run_id, work_id.as_str(), change.at)?;
                if !ids.is_empty() {
                    let mut draft = audit.clone();
                    let settled = serde_json::json!(ids);
                    match draft.data.as_object_mut() {
                        Some(data) => {
                            data.insert("callIds".to_owned(), settled);
                        }
                        None => draft.data = serde_json::json!({ "callIds": settled }),
                    }
                    chain.append(&audit::seal(vec![draft]))?;
                }
                RawWritten::Abandoned(ids)
            }
        };
        let owner = match &raw {
            RawWritten::Approval(row) => row.run_id.as_str(),
            RawWritten::Question(row) => row.run_id(),
            RawWritten::Timer(row) => row.run_id(),
            // Written by the change's run id.
            RawWritten::Work(..) | RawWritten::Risk(..) | RawWritten::Abandoned(_) => run_id,
        };
        if owner != run_id {
            return Err(Error::invalid(format!(
                "a change of run '{run_id}' names a row of another run"
            )));
        }
        written.push(raw);
        if cancelled {
            break;
        }
    }
    chain.append(&call.audit)?;
    for (kind, data) in &call.records {
        ops::insert_record(conn, run_id, kind, data, change.at)?;
    }
    let delivered = match &change.event {
        // Cancelled work: the run moved on and hears nothing of the step.
        _ if cancelled => Delivered::Dropped,
        None => Delivered::Dropped,
        Some(event) => runs::deliver(
            conn,
            &mut chain,
            event.event.as_str(),
            event.dedup_key.as_deref(),
            call.step.as_ref(),
            change.at,
            |_| Ok(()),
        )?,
    };
    Ok((written, delivered))
}
