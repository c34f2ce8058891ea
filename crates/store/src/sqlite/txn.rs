//! Writes that span tables, each one transaction on the writer: a
//! command's [`Change`] and an agent's question. The table modules
//! (`approvals`, `questions`, `work`, `runs`, `audit`, `ops`) each write their
//! own table and do not call each other for these.

use agentwerke_evidence::chain::SealedDraft;
use rusqlite::Connection;

use super::audit::{self, Chain};
use super::rows::{ApprovalDbRow, QuestionDbRow, TimerDbRow};
use super::runs::{self, StepCall};
use super::work::{self, CompleteCall};
use super::{approvals, messages, ops, questions, timers};
use crate::change::{Change, Committed, CreatedRun, Row, Stream, Written};
use crate::error::{Error, Result};
use crate::model::{ApprovalRow, Delivered, DeliveryOutcome, NewQuestion, QuestionRow, TimerRow};

/// A [`Change`] with its JSON written and its audit drafts sealed by the
/// caller, so the writer only binds and hashes.
pub(super) struct ChangeCall {
    change: Change,
    audit: Vec<SealedDraft>,
    records: Vec<(&'static str, String)>,
    step: Option<StepCall>,
    /// Per row, the JSON of the ops a created run's first step writes
    /// (empty for the other rows).
    ops_json: Vec<Vec<Option<String>>>,
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
            ops_json: change
                .rows
                .iter()
                .map(|row| match row {
                    Row::CreateRun(run) => run.ops.iter().map(ops::json_of).collect(),
                    _ => Vec::new(),
                })
                .collect(),
            change,
        })
    }
}

/// A row as the writer read it back, still as text.
pub(super) enum RawWritten {
    Approval(ApprovalDbRow),
    Question(QuestionDbRow),
    Timer(TimerDbRow),
    Run(CreatedRun),
    Delivery(DeliveryOutcome),
}

/// Parses what [`commit`] wrote, off the writer's thread.
pub(super) fn parse(rows: Vec<RawWritten>, delivered: Delivered) -> Result<Committed> {
    let rows = rows
        .into_iter()
        .map(|row| match row {
            RawWritten::Approval(row) => ApprovalRow::try_from(row).map(Written::Approval),
            RawWritten::Question(row) => QuestionRow::try_from(row).map(Written::Question),
            RawWritten::Timer(row) => TimerRow::try_from(row).map(Written::Timer),
            RawWritten::Run(run) => Ok(Written::Run(run)),
            RawWritten::Delivery(outcome) => Ok(Written::Delivery(outcome)),
        })
        .collect::<Result<_>>()?;
    Ok(Committed { rows, delivered })
}

/// Writes a command's change: every row's compare-and-set first (any refusal
/// refuses the whole change), then the audit records, the evidence, and the
/// event with its step.
pub(super) fn commit(conn: &Connection, call: &ChangeCall) -> Result<(Vec<RawWritten>, Delivered)> {
    let change = &call.change;
    let run_id = change.stream.chain();
    // A change that creates its run starts the run's chain.
    let creates = change.stream.run().is_some_and(|stream| {
        change
            .rows
            .iter()
            .any(|row| matches!(row, Row::CreateRun(run) if &run.run_id == stream))
    });
    match &change.stream {
        // A change names its run; one that does not exist is refused by name
        // rather than by whichever constraint its first write would break,
        // unless the change creates it.
        Stream::Run(run) if !creates => runs::require_run(conn, run.as_str())?,
        Stream::Run(_) => {}
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
    for (row, ops_json) in change.rows.iter().zip(&call.ops_json) {
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
            Row::CreateRun(run) => RawWritten::Run(runs::create(conn, run, ops_json, change.at)?),
            Row::DeliverMessage(delivery) => {
                // It fans out to the runs it matches; a run's change is no
                // place for it.
                if change.stream != Stream::Global {
                    return Err(Error::invalid(
                        "a message delivery belongs to no single run: only a global change \
                         carries it",
                    ));
                }
                RawWritten::Delivery(messages::deliver(conn, delivery, change.at)?)
            }
        };
        let owner = match &raw {
            RawWritten::Approval(row) => row.run_id.as_str(),
            RawWritten::Question(row) => row.run_id(),
            RawWritten::Timer(row) => row.run_id(),
            RawWritten::Run(run) => run.id.as_str(),
            // Checked above: it is the global change's own.
            RawWritten::Delivery(_) => run_id,
        };
        if owner != run_id {
            return Err(Error::invalid(format!(
                "a change of run '{run_id}' names a row of another run"
            )));
        }
        written.push(raw);
    }
    let mut chain = if creates {
        Chain::fresh(conn, run_id)
    } else {
        Chain::new(conn, run_id)
    };
    chain.append(&call.audit)?;
    for (kind, data) in &call.records {
        ops::insert_record(conn, run_id, kind, data, change.at)?;
    }
    let delivered = match &change.event {
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

/// Completes a step's execution as waiting for `question` and opens it.
/// False when the work was already completed (a stale execution).
pub(super) fn ask(conn: &Connection, done: &CompleteCall, question: &NewQuestion) -> Result<bool> {
    if !work::complete(conn, done)?.recorded() {
        return Ok(false);
    }
    questions::insert(conn, done.run_id(), question)?;
    Ok(true)
}
