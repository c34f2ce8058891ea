//! Engine effects to store operations and audit records: a pure mapping.
//!
//! The engine says what must happen ("run this agent task", "open this
//! approval"); this module says how the store remembers it, so that the commit
//! that changes a run's state also writes every row its effects need.

use agentwerke_bpmn::model::{AgentTaskSpec, ApprovalSpec, NodeKind};
use agentwerke_engine::{Definition, Effect, RunState, WorkId};
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{JsonText, NewApproval, Op, RiskPeak};
use agentwerke_types::{Actor, ApprovalKind, ApprovalStatus, AuditKind, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::requests::gate_risk;

/// Who and what a run is, as the effects need it.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// The run.
    pub run_id: &'a str,
    /// Its workflow.
    pub workflow_id: &'a str,
    /// Who started it.
    pub requested_by: &'a str,
    /// The riskiest tool call the Tool Gateway assessed in it so far, as
    /// the run row read with the step has it (or this process's memory of
    /// that row): what a gate weighs the run's calls by, with no read of
    /// its own on the hot path.
    pub risk_peak: Option<&'a RiskPeak>,
}

/// The payload of an `agent_task` work row, as the executor reads it
/// (`executor::AgentWork`): written straight from borrowed parts, so the run
/// context is not copied into a JSON tree first.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentWorkPayload<'a> {
    run_id: &'a str,
    workflow_id: &'a str,
    requested_by: &'a str,
    work_id: WorkId,
    node_id: &'a str,
    name: Option<&'a str>,
    attempt: u32,
    spec: &'a AgentTaskSpec,
    feedback: Option<&'a str>,
    context: &'a Value,
}

/// What one batch of effects becomes.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Rows to write in the commit.
    pub ops: Vec<Op>,
    /// Audit records to append in the commit.
    pub audit: Vec<AuditDraft>,
}

/// Maps `effects`, produced by applying an event at `at`, to store rows.
pub fn map_effects(
    definition: &Definition,
    state: &RunState,
    run: &RunInfo<'_>,
    effects: &[Effect],
    at: Timestamp,
    new_approval_id: &mut dyn FnMut() -> String,
) -> Mapped {
    let mut out = Mapped::default();
    let audit = |kind: AuditKind, data: Value| AuditDraft {
        run_id: run.run_id.to_owned(),
        at: rfc3339(at),
        actor: Actor::System,
        kind,
        data,
    };
    for effect in effects {
        match effect {
            Effect::RunAgentTask {
                work_id,
                node_id,
                name,
                attempt,
                spec,
                feedback,
            } => {
                let payload = AgentWorkPayload {
                    run_id: run.run_id,
                    workflow_id: run.workflow_id,
                    requested_by: run.requested_by,
                    work_id: *work_id,
                    node_id,
                    name: name.as_deref(),
                    attempt: *attempt,
                    spec,
                    feedback: feedback.as_deref(),
                    context: state.context(),
                };
                out.ops.push(Op::InsertWork {
                    work_id: work_id.to_string().into(),
                    kind: "agent_task".to_owned(),
                    // Plain data with string keys always serializes; the
                    // fallback only keeps this function total.
                    payload: JsonText::of(&payload).unwrap_or_else(|_| JsonText::from(&json!({}))),
                });
                out.audit.push(audit(
                    AuditKind::StepStarted,
                    json!({"workId": work_id.to_string(), "nodeId": node_id, "attempt": attempt,
                           "agent": spec.agent}),
                ));
            }
            Effect::CancelWork { work_id } => {
                out.ops.push(Op::CancelWork {
                    work_id: work_id.to_string().into(),
                });
                // A step paused on an escalated tool call has an open
                // approval; one paused on `human.ask`, an open question.
                out.ops.push(Op::CloseApproval {
                    work_id: work_id.to_string().into(),
                    status: ApprovalStatus::Cancelled,
                });
                out.ops.push(Op::CloseQuestions {
                    work_id: work_id.to_string().into(),
                });
                out.audit.push(audit(
                    AuditKind::StepCancelled,
                    json!({"workId": work_id.to_string()}),
                ));
            }
            Effect::ResumeAgentTask { work_id } => {
                out.ops.push(Op::ReopenWork {
                    work_id: work_id.to_string().into(),
                });
                out.audit.push(audit(
                    AuditKind::StepResumed,
                    json!({"workId": work_id.to_string()}),
                ));
            }
            Effect::RequestApproval {
                work_id,
                node_id,
                name,
                spec,
            } => {
                let id = new_approval_id();
                let request = gate_request(definition, state, run, node_id, name.as_deref(), spec);
                out.audit.push(audit(
                    AuditKind::ApprovalRequested,
                    json!({"approvalId": id, "workId": work_id.to_string(), "nodeId": node_id,
                           "riskScore": request["riskScore"], "policyRationale": request["policyRationale"]}),
                ));
                out.ops.push(Op::OpenApproval {
                    approval: NewApproval {
                        id: id.into(),
                        work_id: work_id.to_string().into(),
                        node_id: node_id.clone(),
                        kind: ApprovalKind::Gate,
                        request,
                        // The modelled deadline counts from the step that
                        // opens the gate; the expiry loop then applies the
                        // modelled outcome.
                        expires_at: spec.expiry.as_ref().map(|e| e.duration.add_to(at)),
                        // The run's artifacts are listed by the statement
                        // that opens the gate: see `gate_request`.
                        list_run_artifacts: true,
                    },
                });
            }
            Effect::CloseApproval { work_id, reason } => {
                out.ops.push(Op::CloseApproval {
                    work_id: work_id.to_string().into(),
                    status: ApprovalStatus::Cancelled,
                });
                out.audit.push(audit(
                    AuditKind::ApprovalClosed,
                    json!({"workId": work_id.to_string(), "reason": reason}),
                ));
            }
            Effect::AwaitMessage {
                work_id,
                node_id,
                message_name,
                correlation_key,
            } => {
                out.ops.push(Op::AwaitMessage {
                    work_id: work_id.to_string().into(),
                    message_name: message_name.clone(),
                    correlation_key: correlation_key.clone(),
                });
                out.audit.push(audit(
                    AuditKind::MessageAwaited,
                    json!({"workId": work_id.to_string(), "nodeId": node_id,
                           "messageName": message_name, "correlationKey": correlation_key}),
                ));
            }
            Effect::StopAwaitingMessage { work_id } => {
                out.ops.push(Op::StopAwaitingMessage {
                    work_id: work_id.to_string().into(),
                });
            }
            Effect::ScheduleTimer {
                timer_id,
                node_id,
                due_at,
            } => {
                out.ops.push(Op::ScheduleTimer {
                    timer_id: timer_id.to_string(),
                    due_at: *due_at,
                    node_id: node_id.clone(),
                });
                out.audit.push(audit(
                    AuditKind::TimerScheduled,
                    json!({"timerId": timer_id.to_string(), "nodeId": node_id, "dueAt": rfc3339(*due_at)}),
                ));
            }
            Effect::CancelTimer { timer_id } => {
                out.ops.push(Op::CancelTimer {
                    timer_id: timer_id.to_string(),
                });
            }
            Effect::NodeChanged {
                node_id,
                state,
                entered,
            } => {
                out.ops.push(Op::TrackNode {
                    node_id: node_id.clone(),
                    state: *state,
                    entered: *entered,
                    at,
                });
            }
            Effect::RunFinished { status } => {
                // The engine finishes a run only with an end status.
                if let Some(kind) = AuditKind::run_finished(*status) {
                    out.audit
                        .push(audit(kind, json!({"status": status.as_str()})));
                }
            }
        }
    }
    out
}

/// What an approver must see to decide a modelled gate: the action, who asked
/// and which agent did the work, why the gate exists, the risk, the systems the
/// run touched, and the output and artifacts it is asked to approve.
///
/// The related steps are every agent step of the run before the gate; their
/// outputs are in the engine state this step already holds. Their artifacts
/// are not: `artifact.write` keeps them in the store, so the store lists them
/// (`NewApproval::list_run_artifacts`) in the very statement that opens the
/// gate. That costs no round trip on the applier's hot path, and the list is
/// what the run held at that moment, which is what the approval row, the API
/// and the evidence pack then show. `artifacts` is empty here only until
/// then. The risk comes from the Tool Gateway's assessments of the run's
/// calls and the gate's own attributes ([`gate_risk`]).
fn gate_request(
    definition: &Definition,
    state: &RunState,
    run: &RunInfo<'_>,
    node_id: &str,
    name: Option<&str>,
    spec: &ApprovalSpec,
) -> Value {
    let gate = name.unwrap_or(node_id);
    let mut agents = Vec::new();
    let mut related = serde_json::Map::new();
    let mut environments = Vec::new();
    for step in state.steps() {
        let Some(task) = agent_spec(definition, &step.node_id) else {
            continue;
        };
        if !agents.contains(&task.agent) {
            agents.push(task.agent.clone());
        }
        if let Some(env) = &task.environment
            && !environments.contains(env)
        {
            environments.push(env.clone());
        }
        if let Some(output) = &step.output {
            related.insert(step.node_id.clone(), output.clone());
        }
    }
    let risk = gate_risk(run.risk_peak, spec);
    json!({
        "requestedAction": format!("Approve '{gate}' so that workflow '{}' can continue", run.workflow_id),
        "requester": run.requested_by,
        "agent": agents.last(),
        "agents": agents,
        "nodeId": node_id,
        "nodeName": name,
        "purposeType": spec.purpose_type,
        "policyTag": spec.policy_tag,
        "approverRole": spec.approver_role,
        "policyRationale": format!(
            "The workflow models a human approval gate at '{gate}' (purpose '{}', policy tag '{}'): the run may not continue without a decision.",
            spec.purpose_type, spec.policy_tag
        ),
        "riskScore": risk.score,
        "riskLevel": risk.level(),
        "riskFactors": risk.factors,
        "affectedSystems": environments,
        "relatedOutput": Value::Object(related),
        "artifacts": [],
    })
}

fn agent_spec<'d>(definition: &'d Definition, node_id: &str) -> Option<&'d AgentTaskSpec> {
    match &definition.node_by_id(node_id)?.kind {
        NodeKind::AgentTask { spec, .. } => spec.as_ref(),
        _ => None,
    }
}
