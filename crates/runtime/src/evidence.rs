//! Gathers one run's evidence from the store into an (unsigned) pack.
//!
//! The pack is a projection: everything in it was recorded while the run
//! happened (steps in the engine state, approvals, evidence records and the
//! hash-chained audit log). Nothing is recomputed from the present, so a pack
//! generated a year later says the same thing.

use agentwerke_engine::{RunState, StepRecord};
use agentwerke_evidence::redact::redact_value;
use agentwerke_evidence::sections::{
    ApprovalKind, ApprovalRecord, ArtifactRecord, ConversationEntry, PolicyDecisionRecord,
    PromptSnapshot, RunInfo, SandboxExecutionRecord, StepRecord as PackStep, ToolCallRecord,
    WorkflowInfo,
};
use agentwerke_evidence::{EvidencePack, PackInput, build};
use agentwerke_store::{ApprovalRow, EvidenceRecord, QuestionFilter, QuestionRow, Store};
use agentwerke_types::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::clock::rfc3339;

/// Evidence record kinds, as the runtime and the gateway write them.
pub mod kinds {
    /// A redacted prompt snapshot.
    pub const PROMPT: &str = "prompt";
    /// Tokens and cost of one model call.
    pub const MODEL_USAGE: &str = "model_usage";
    /// One brokered tool call.
    pub const TOOL_CALL: &str = "tool_call";
    /// One policy decision.
    pub const POLICY_DECISION: &str = "policy_decision";
    /// One sandboxed execution.
    pub const SANDBOX_EXECUTION: &str = "sandbox_execution";
    /// One artifact.
    pub const ARTIFACT: &str = "artifact";
    /// A brokered call as the gateway saw it (redacted), kept so a policy
    /// draft can be simulated against recorded traffic.
    pub const GATEWAY_CALL: &str = "gateway_call";
}

/// Builds the unsigned evidence pack of `run_id`, or `None` for an unknown run.
///
/// `secrets` are redacted from free-form values once more on the way out, so
/// a secret configured after a run was recorded still never leaves.
pub async fn gather_pack(
    store: &dyn Store,
    run_id: &str,
    now: Timestamp,
    secrets: &[&str],
) -> Result<Option<EvidencePack>, Error> {
    let Some(run) = store.get_run(run_id).await? else {
        return Ok(None);
    };
    let version = store
        .get_version(&run.workflow_id, run.workflow_version)
        .await?
        .ok_or_else(|| Error::DefinitionMissing {
            workflow_id: run.workflow_id.clone(),
            version: run.workflow_version,
        })?;
    let state: RunState = serde_json::from_value(run.state.clone())?;
    let approvals = store.approvals_for_run(run_id).await?;
    let questions = store
        .list_questions(QuestionFilter {
            status: None,
            run_id: Some(run_id.to_owned()),
        })
        .await?;
    let records = store.records(run_id).await?;
    let audit_log = store.audit_log(run_id).await?;

    let status = run.status;
    let mut input = PackInput {
        run_id: run.id.to_string(),
        generated_at: rfc3339(now),
        workflow: WorkflowInfo {
            id: version.workflow_id.clone(),
            name: version.name.clone(),
            version: u64::try_from(version.version).unwrap_or_default(),
            bpmn_sha256: run.bpmn_sha256.clone(),
        },
        run: RunInfo {
            status,
            started_at: rfc3339(run.created_at),
            completed_at: run.completed_at.map(rfc3339),
            requested_by: format!("user:{}", run.requested_by),
            inputs: redacted(&run.inputs, secrets),
            risk_level: run.risk_level.map(|level| level.as_str().to_owned()),
            steps: state
                .steps()
                .iter()
                .map(|s| pack_step(s, secrets))
                .collect(),
        },
        prompts: Vec::new(),
        approvals: approvals
            .iter()
            .map(|a| approval_record(a, secrets))
            .collect(),
        conversation: questions
            .iter()
            .map(|q| conversation_entry(q, secrets))
            .collect(),
        policy_decisions: Vec::new(),
        tool_calls: Vec::new(),
        sandbox_executions: Vec::new(),
        model_usage: Vec::new(),
        artifacts: Vec::new(),
        audit_log,
    };
    for record in &records {
        sort_record(record, &mut input, secrets);
    }
    Ok(Some(build(input)))
}

/// Files one evidence record under its section; a record that does not fit
/// its section's shape is skipped with a warning rather than failing the
/// whole pack (the audit chain still carries it).
fn sort_record(record: &EvidenceRecord, input: &mut PackInput, secrets: &[&str]) {
    let data = &record.data;
    match record.kind.as_str() {
        kinds::PROMPT => {
            let text = data["text"].as_str().unwrap_or_default();
            input.prompts.push(PromptSnapshot::new(
                data["workId"].as_str().unwrap_or_default(),
                data["nodeId"].as_str().unwrap_or_default(),
                data["agent"].as_str().unwrap_or_default(),
                &agentwerke_evidence::redact::redact_str(text, secrets),
            ));
        }
        kinds::MODEL_USAGE => push_typed(record, &mut input.model_usage),
        kinds::TOOL_CALL => push_typed::<ToolCallRecord>(record, &mut input.tool_calls),
        kinds::POLICY_DECISION => {
            push_typed::<PolicyDecisionRecord>(record, &mut input.policy_decisions);
        }
        kinds::SANDBOX_EXECUTION => {
            push_typed::<SandboxExecutionRecord>(record, &mut input.sandbox_executions);
        }
        kinds::ARTIFACT => push_typed::<ArtifactRecord>(record, &mut input.artifacts),
        _ => {}
    }
}

fn push_typed<T: DeserializeOwned>(record: &EvidenceRecord, into: &mut Vec<T>) {
    match serde_json::from_value::<T>(strip_extra(record)) {
        Ok(item) => into.push(item),
        Err(error) => tracing::warn!(
            kind = record.kind,
            id = record.id,
            %error,
            "evidence record does not match its section"
        ),
    }
}

/// Model-usage records carry bookkeeping fields (node, attempt) the pack's
/// section does not; everything else is taken as written.
fn strip_extra(record: &EvidenceRecord) -> Value {
    let mut data = record.data.clone();
    if record.kind == kinds::MODEL_USAGE
        && let Some(map) = data.as_object_mut()
    {
        map.retain(|key, _| {
            matches!(
                key.as_str(),
                "workId" | "provider" | "model" | "inputTokens" | "outputTokens" | "costUsd"
            )
        });
    }
    data
}

fn redacted(value: &Value, secrets: &[&str]) -> Value {
    let mut value = value.clone();
    redact_value(&mut value, secrets);
    value
}

fn pack_step(step: &StepRecord, secrets: &[&str]) -> PackStep {
    PackStep {
        work_id: step.work_id.to_string(),
        node_id: step.node_id.clone(),
        name: step.name.clone(),
        node_type: step.node_type.clone(),
        status: serde_json::to_value(step.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        attempt: step.attempt,
        started_at: Some(rfc3339(step.started_at)),
        ended_at: step.ended_at.map(rfc3339),
        agent: step.agent.clone(),
        output: step.output.as_ref().map(|o| redacted(o, secrets)),
        error: step
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message)),
    }
}

/// Questions and answers were redacted when recorded; redacted again here
/// like every free-form value on the way out.
fn conversation_entry(row: &QuestionRow, secrets: &[&str]) -> ConversationEntry {
    let redact = |text: &str| agentwerke_evidence::redact::redact_str(text, secrets);
    ConversationEntry {
        id: row.id.to_string(),
        work_id: row.work_id.to_string(),
        node_id: row.node_id.clone(),
        agent: row.agent.clone(),
        question: redact(&row.question),
        asked_at: rfc3339(row.asked_at),
        status: row.status.as_str().to_owned(),
        answer: row.answer.as_deref().map(redact),
        answered_by: row.answered_by.as_ref().map(|by| format!("user:{by}")),
        answered_at: row.answered_at.map(rfc3339),
    }
}

/// The approval as its approver was shown it: the request's own factors
/// (with weights and reasons), related output and artifacts are copied as
/// recorded, the output redacted again like every free-form value.
fn approval_record(row: &ApprovalRow, secrets: &[&str]) -> ApprovalRecord {
    let request = &row.request;
    let text = |key: &str| request[key].as_str().map(str::to_owned);
    let names = |key: &str| -> Vec<String> {
        request[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["name"].as_str().or(i.as_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    ApprovalRecord {
        id: row.id.to_string(),
        node_id: row.node_id.clone(),
        kind: match row.kind {
            agentwerke_types::ApprovalKind::ToolEscalation => ApprovalKind::ToolEscalation,
            agentwerke_types::ApprovalKind::Gate => ApprovalKind::Gate,
        },
        status: row.status.as_str().to_owned(),
        requested_at: rfc3339(row.created_at),
        requested_action: text("requestedAction").unwrap_or_default(),
        requester: text("requester")
            .map(|r| format!("user:{r}"))
            .unwrap_or_else(|| "system".to_owned()),
        agent: text("agent"),
        rationale: text("policyRationale"),
        risk_score: request["riskScore"].as_f64(),
        risk_factors: names("riskFactors"),
        risk_factor_details: listed(&request["riskFactors"]),
        affected_systems: names("affectedSystems"),
        related_output: match &request["relatedOutput"] {
            Value::Object(map) if map.is_empty() => Value::Null,
            output => redacted(output, secrets),
        },
        artifacts: listed(&request["artifacts"]),
        decision: row.decision.map(|decision| decision.as_str().to_owned()),
        comment: row.comment.clone(),
        decided_by: row.decided_by.as_ref().map(|d| format!("user:{d}")),
        decided_at: row.decided_at.map(rfc3339),
    }
}

/// The items of `list` that have the section's shape; factors given as bare
/// names (as some requests list them) have no weight to show and are left
/// to `riskFactors`.
fn listed<T: DeserializeOwned>(list: &Value) -> Vec<T> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| serde_json::from_value(item.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}
