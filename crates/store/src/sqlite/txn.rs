//! A command's [`Change`], one transaction on the writer, across tables.
//! The table modules (`approvals`, `questions`, `work`, `runs`, `calls`,
//! `gateway`, `workflows`, `messages`, `audit`, `ops`) each write their own
//! table and do not call each other for these: this module puts their
//! writes together.

use agentwerke_evidence::chain::{ChainHead, SealedDraft};
use agentwerke_types::RiskLevel;
use rusqlite::Connection;

use super::audit::{self, Chain};
use super::rows::{ApprovalDbRow, QuestionDbRow, TimerDbRow};
use super::runs::{self, StepCall};
use super::usage;
use super::{
    approvals, calls, gateway, messages, ops, questions, secrets, timers, work, workflows,
};
use crate::calls::{Begun, ToolCallIntent};
use crate::change::{Change, Committed, CreatedRun, Row, Stream, WorkEnd, Written};
use crate::error::{Error, Result};
use crate::gateway::{HaltRow, PolicySetRow};
use crate::model::{
    ApprovalRow, Delivered, DeliveryOutcome, JsonText, Op, QuestionRow, TimerRow, WorkflowVersion,
};
use crate::secrets::SecretRow;

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
    Halt(HaltRow),
    PolicySet(PolicySetRow),
    WorkflowVersion(WorkflowVersion),
    Run(CreatedRun),
    Delivery(DeliveryOutcome),
    Work(agentwerke_types::WorkId, WorkEnd),
    Risk(Option<String>, Option<String>),
    Abandoned(Vec<String>),
    SecretPut(SecretRow, Option<String>),
    SecretDeleted(SecretRow),
    ModelUsage(agentwerke_types::WorkId, i64, u32),
}

/// Parses what [`commit`] wrote, off the writer's thread.
pub(super) fn parse(
    rows: Vec<RawWritten>,
    delivered: Delivered,
    audit: Option<ChainHead>,
) -> Result<Committed> {
    let rows = rows
        .into_iter()
        .map(|row| match row {
            RawWritten::Approval(row) => ApprovalRow::try_from(row).map(Written::Approval),
            RawWritten::Question(row) => QuestionRow::try_from(row).map(Written::Question),
            RawWritten::Timer(row) => TimerRow::try_from(row).map(Written::Timer),
            RawWritten::Halt(row) => Ok(Written::Halt(row)),
            RawWritten::PolicySet(row) => Ok(Written::PolicySet(row)),
            RawWritten::WorkflowVersion(row) => Ok(Written::WorkflowVersion(row)),
            RawWritten::Run(run) => Ok(Written::Run(run)),
            RawWritten::Delivery(outcome) => Ok(Written::Delivery(outcome)),
            RawWritten::Work(work_id, end) => Ok(Written::Work { work_id, end }),
            RawWritten::Risk(level, peak) => risk(level, peak),
            RawWritten::Abandoned(ids) => Ok(Written::Abandoned(
                ids.into_iter().map(Into::into).collect(),
            )),
            RawWritten::SecretPut(secret, previous) => Ok(Written::SecretPut { secret, previous }),
            RawWritten::SecretDeleted(secret) => Ok(Written::SecretDeleted(secret)),
            RawWritten::ModelUsage(work_id, claim, turn) => Ok(Written::ModelUsage {
                work_id,
                claim,
                turn,
            }),
        })
        .collect::<Result<_>>()?;
    Ok(Committed {
        rows,
        delivered,
        audit,
    })
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
/// event with its step; the chain's head after the records appended. A
/// [`Row::CompleteWork`] that finds its work cancelled ends the rows there
/// and drops the event; audit and evidence are still written.
pub(super) fn commit(
    conn: &Connection,
    call: &ChangeCall,
) -> Result<(Vec<RawWritten>, Delivered, Option<ChainHead>)> {
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
    // Halts, policy sets and workflow versions belong to no run; a run's
    // rows belong to their run. A change that mixes them is a planner's
    // mistake.
    let global = change.stream == Stream::Global;
    if change.rows.iter().any(|row| row.is_global() != global) {
        return Err(Error::invalid(if global {
            "a global change names a row of a run"
        } else {
            "a change of a run names a global row"
        }));
    }
    let mut written = Vec::with_capacity(change.rows.len());
    let mut chain = if creates {
        Chain::fresh(conn, run_id)
    } else {
        Chain::new(conn, run_id)
    };
    let mut cancelled = false;
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
            Row::SetHalt {
                scope,
                target,
                reason,
                halted_by,
            } => RawWritten::Halt(gateway::set_halt(
                conn,
                &HaltRow {
                    scope: *scope,
                    target: target.clone(),
                    reason: reason.clone(),
                    halted_by: halted_by.clone(),
                    halted_at: change.at,
                },
            )?),
            Row::ClearHalt { scope, target } => {
                RawWritten::Halt(gateway::clear_halt(conn, *scope, target)?)
            }
            Row::DraftPolicySet {
                version,
                text,
                sha256,
                note,
                created_by,
            } => RawWritten::PolicySet(gateway::draft_policy_set(
                conn,
                *version,
                &gateway::NewPolicySet {
                    text,
                    sha256,
                    note: note.as_deref(),
                    created_by,
                },
                change.at,
            )?),
            Row::PublishPolicySet {
                version,
                published_by,
            } => RawWritten::PolicySet(gateway::publish_policy_set(
                conn,
                *version,
                published_by,
                change.at,
            )?),
            Row::ImportWorkflowVersion { version, workflow } => RawWritten::WorkflowVersion(
                workflows::create_version(conn, *version, workflow, change.at)?,
            ),
            Row::PublishWorkflowVersion {
                workflow_id,
                version,
                published_by,
            } => RawWritten::WorkflowVersion(workflows::publish(
                conn,
                workflow_id,
                *version,
                published_by,
                change.at,
            )?),
            Row::CreateRun(run) => RawWritten::Run(runs::create(conn, run, ops_json, change.at)?),
            // It fans out to the runs it matches, inside this transaction.
            Row::DeliverMessage(delivery) => {
                RawWritten::Delivery(messages::deliver(conn, delivery, change.at)?)
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
            Row::PutSecret {
                name,
                sealed,
                fingerprint,
                previous,
                by,
            } => {
                let (secret, previous) = secrets::put(
                    conn,
                    &secrets::PutSecret {
                        name,
                        sealed,
                        fingerprint,
                        previous: previous.as_deref(),
                        by,
                    },
                    change.at,
                )?;
                RawWritten::SecretPut(secret, previous)
            }
            Row::DeleteSecret { name, fingerprint } => {
                RawWritten::SecretDeleted(secrets::delete(conn, name, fingerprint)?)
            }
            Row::RecordModelUsage(turn) => {
                usage::record(conn, run_id, turn, change.at)?;
                RawWritten::ModelUsage(turn.work_id.clone(), turn.claim, turn.turn)
            }
        };
        let owner = match &raw {
            RawWritten::Approval(row) => row.run_id.as_str(),
            RawWritten::Question(row) => row.run_id(),
            RawWritten::Timer(row) => row.run_id(),
            RawWritten::Run(run) => run.id.as_str(),
            // Checked above: global rows only come in a global change.
            RawWritten::Halt(_)
            | RawWritten::PolicySet(_)
            | RawWritten::WorkflowVersion(_)
            | RawWritten::Delivery(_)
            | RawWritten::SecretPut(..)
            | RawWritten::SecretDeleted(_) => run_id,
            // Written by the change's run id.
            RawWritten::Work(..) | RawWritten::Risk(..) | RawWritten::Abandoned(_) => run_id,
            RawWritten::ModelUsage(..) => run_id,
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
    Ok((written, delivered, chain.into_head()))
}

/// Commits a tool call's intent (see [`Store::begin_tool_call`]): a settled
/// call is handed back untouched; otherwise the approval it uses (if any)
/// is used up and the start recorded in the same transaction, so an
/// approval can neither be lost to a crash between the two writes nor let
/// two starts run.
///
/// [`Store::begin_tool_call`]: crate::Store::begin_tool_call
pub(super) fn begin_tool_call(conn: &Connection, intent: &ToolCallIntent) -> Result<Begun> {
    let earlier = calls::earlier(conn, intent)?;
    if let Some(row) = &earlier
        && row.status.is_settled()
    {
        return Ok(Begun::Settled(Box::new(row.clone())));
    }
    if let Some(approval) = &intent.approval_id
        && !approvals::consume_escalation(conn, approval, &intent.run_id, intent.at)?
    {
        return Ok(Begun::ApprovalUsed);
    }
    calls::start(conn, intent, earlier)
}
