//! Gathers one run's evidence from the store into an (unsigned) pack.
//!
//! The pack is a projection: everything in it was recorded while the run
//! happened (steps in the engine state, approvals, evidence records and the
//! hash-chained audit log). Nothing is recomputed from the present, so a pack
//! generated a year later says the same thing.

use agentwerke_engine::{RunState, StepRecord};
use agentwerke_evidence::redact::Redactor;
use agentwerke_evidence::sections::{
    ApprovalKind, ApprovalRecord, ConversationEntry, ModelUsageRecord, PromptSnapshot, RunInfo,
    StepRecord as PackStep, WorkflowInfo,
};
use agentwerke_evidence::{EvidencePack, PackInput, Record, build};
use agentwerke_store::{ApprovalRow, QuestionFilter, QuestionRow, Store};
use agentwerke_types::Timestamp;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;
use crate::clock::rfc3339;

/// Builds the unsigned evidence pack of `run_id`, or `None` for an unknown run.
///
/// What `redactor` knows is redacted from free-form values once more on the way out, so
/// a secret configured after a run was recorded still never leaves.
///
/// A stored evidence record that no longer parses fails the whole pack
/// (`store.corrupt`, naming the row) rather than being left out. A pack is
/// a signed statement that it holds the run's evidence; one silently
/// missing a tool call or a policy decision would be a signed false
/// statement that no verifier could detect. Nor can the pack carry the
/// unreadable row as a finding: v1 packs have a fixed set of sections, and
/// verifiers already in auditors' hands reject unknown ones. The run's
/// hash-chained audit log, which records every tool call independently,
/// stays readable and exportable while the row is repaired.
pub async fn gather_pack(
    store: &dyn Store,
    run_id: &str,
    now: Timestamp,
    redactor: &Redactor,
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
            inputs: redacted(&run.inputs, redactor),
            risk_level: run.risk_level.map(|level| level.as_str().to_owned()),
            steps: state
                .steps()
                .iter()
                .map(|s| pack_step(s, redactor))
                .collect(),
        },
        prompts: Vec::new(),
        approvals: approvals
            .iter()
            .map(|a| approval_record(a, redactor))
            .collect(),
        conversation: questions
            .iter()
            .map(|q| conversation_entry(q, redactor))
            .collect(),
        policy_decisions: Vec::new(),
        tool_calls: Vec::new(),
        sandbox_executions: Vec::new(),
        sandbox_sessions: Vec::new(),
        model_usage: Vec::new(),
        artifacts: Vec::new(),
        // Redacted on the way out like every other section; a record
        // kept before one of its values became known is marked, and the
        // pack's signature covers it as shown.
        audit_log: audit_log
            .into_iter()
            .map(|record| record.redacted(redactor))
            .collect(),
    };
    for stored in &records {
        file_record(&stored.record, &mut input, redactor);
    }
    Ok(Some(build(input)))
}

/// Files one evidence record under its pack section. Prompt text is
/// redacted once more on the way out; the gateway's replay records are not
/// pack content (the call is in `toolCalls`).
fn file_record(record: &Record, input: &mut PackInput, redactor: &Redactor) {
    match record {
        Record::Prompt(prompt) => input.prompts.push(PromptSnapshot::new(
            &prompt.work_id,
            &prompt.node_id,
            &prompt.agent,
            &redactor.redact_str(&prompt.text),
        )),
        Record::ModelUsage(call) => input.model_usage.push(ModelUsageRecord::from(call)),
        Record::ToolCall(call) => input.tool_calls.push(call.clone()),
        Record::PolicyDecision(decision) => input.policy_decisions.push(decision.clone()),
        Record::SandboxExecution(execution) => {
            input.sandbox_executions.push((**execution).clone());
        }
        Record::Artifact(artifact) => input.artifacts.push(artifact.clone()),
        Record::GatewayCall(_) => {}
        Record::SandboxSession(session) => input.sandbox_sessions.push(session.clone()),
    }
}

fn redacted(value: &Value, redactor: &Redactor) -> Value {
    let mut value = value.clone();
    redactor.redact_value(&mut value);
    value
}

fn pack_step(step: &StepRecord, redactor: &Redactor) -> PackStep {
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
        output: step.output.as_ref().map(|o| redacted(o, redactor)),
        error: step
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.code, e.message)),
    }
}

/// Questions and answers were redacted when recorded; redacted again here
/// like every free-form value on the way out.
fn conversation_entry(row: &QuestionRow, redactor: &Redactor) -> ConversationEntry {
    let redact = |text: &str| redactor.redact_str(text);
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
/// recorded, and the whole record (the decision comment, the rationale, the
/// factors' reasons, the output) is redacted again like every free-form
/// value, so a value that became known after the decision never leaves.
fn approval_record(row: &ApprovalRow, redactor: &Redactor) -> ApprovalRecord {
    let record = approval_as_recorded(row, redactor);
    // Its fields are names and free text, none named like a credential, so
    // redaction keeps its shape and it reads back.
    let mut value = serde_json::to_value(&record).unwrap_or(Value::Null);
    redactor.redact_value(&mut value);
    serde_json::from_value(value).unwrap_or(ApprovalRecord {
        comment: record.comment.as_deref().map(|c| redactor.redact_str(c)),
        ..record
    })
}

fn approval_as_recorded(row: &ApprovalRow, redactor: &Redactor) -> ApprovalRecord {
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
            agentwerke_types::ApprovalKind::BudgetEscalation => ApprovalKind::BudgetEscalation,
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
            output => redacted(output, redactor),
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

#[cfg(test)]
mod tests {
    use super::*;
    use agentwerke_evidence::canonical::sha256_hex;
    use agentwerke_types::RunStatus;
    use serde_json::json;

    /// Evidence records as the runtime and the gateway wrote them (kind
    /// column, JSON body), one per line.
    const STORED: &str = include_str!("../../evidence/tests/fixtures/stored_records.jsonl");

    fn input() -> PackInput {
        PackInput {
            run_id: "run-1".into(),
            generated_at: "2026-12-04T22:00:00.000Z".into(),
            workflow: WorkflowInfo {
                id: "bench".into(),
                name: "Bench".into(),
                version: 1,
                bpmn_sha256: "0".repeat(64),
            },
            run: RunInfo {
                status: RunStatus::Completed,
                started_at: "2026-12-04T21:36:55.000Z".into(),
                completed_at: Some("2026-12-04T21:37:08.000Z".into()),
                requested_by: "user:alice".into(),
                inputs: json!({"title": "x"}),
                risk_level: Some("medium".into()),
                steps: Vec::new(),
            },
            prompts: Vec::new(),
            approvals: Vec::new(),
            conversation: Vec::new(),
            policy_decisions: Vec::new(),
            tool_calls: Vec::new(),
            sandbox_executions: Vec::new(),
            sandbox_sessions: Vec::new(),
            model_usage: Vec::new(),
            artifacts: Vec::new(),
            audit_log: Vec::new(),
        }
    }

    /// Through the real store: records stored as earlier versions wrote
    /// them all reach the pack, and one row that no longer parses fails the
    /// pack, naming the row, instead of being left out of it.
    #[tokio::test]
    async fn stored_records_reach_the_pack_and_an_unreadable_one_fails_it() {
        use std::sync::Arc;

        use agentwerke_store::SqliteStore;
        use agentwerke_types::ErrorCode;
        use sqlx::Connection;

        use crate::command::{Command, Ctx, StartRun, submit};
        use crate::definitions::DefinitionCache;
        use crate::stepper::Stepper;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pack.db").display().to_string();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let version = crate::command::global::tests::published(
            store.as_ref(),
            "hello-sdlc",
            include_str!("../../../examples/hello-sdlc.bpmn"),
            Timestamp::from_millis(0),
        )
        .await;
        let stepper = Stepper::new(store.clone(), Arc::new(DefinitionCache::new(store.clone())));
        let start = Command::StartRun(StartRun {
            run_id: "run-1".into(),
            workflow_id: version.workflow_id,
            version: Some(version.version),
            inputs: json!({"title": "t"}),
            requested_by: "alice".to_owned(),
        });
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: crate::command::no_secrets(),
        };
        submit(&store, &stepper, start, &ctx).await.unwrap();
        let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
            .await
            .unwrap();
        let insert =
            "INSERT INTO records (run_id, kind, data, created_at) VALUES ('run-1', ?1, ?2, 2)";
        for line in STORED.lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            sqlx::query(insert)
                .bind(row["kind"].as_str().unwrap())
                .bind(row["data"].to_string())
                .execute(&mut raw)
                .await
                .unwrap();
        }
        let now = Timestamp::from_millis(3);
        let pack = gather_pack(store.as_ref(), "run-1", now, &Redactor::new(["hunter2"]))
            .await
            .unwrap()
            .expect("the run exists");
        assert_eq!(pack.prompts.len(), 1);
        assert_eq!(pack.tool_calls.len(), 3);
        assert_eq!(pack.policy_decisions.len(), 3);
        assert_eq!(pack.model_usage.len(), 2);

        let id = sqlx::query(insert)
            .bind("tool_call")
            .bind(r#"{"tool": "git"}"#)
            .execute(&mut raw)
            .await
            .unwrap()
            .last_insert_rowid();
        let error = gather_pack(store.as_ref(), "run-1", now, &Redactor::default())
            .await
            .expect_err("an unreadable record fails the pack");
        assert_eq!(error.code(), "store.corrupt");
        assert!(
            error.to_string().contains(&format!("records row {id}")),
            "{error}"
        );
    }

    #[test]
    fn a_pack_from_stored_records_is_byte_for_byte_what_it_was() {
        let mut input = input();
        for line in STORED.lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let record = Record::from_stored(row["kind"].as_str().unwrap(), row["data"].clone());
            file_record(&record.unwrap(), &mut input, &Redactor::new(["hunter2"]));
        }
        let pack = build(input);
        // Every record reached its section; gateway calls are not pack content.
        let filed = [
            pack.prompts.len(),
            pack.tool_calls.len(),
            pack.policy_decisions.len(),
            pack.artifacts.len(),
            pack.sandbox_executions.len(),
            pack.sandbox_sessions.len(),
            pack.model_usage.len(),
        ];
        assert_eq!(filed, [1, 3, 3, 1, 1, 1, 2]);
        let bytes = serde_json::to_vec_pretty(&pack).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("hunter2"));
        assert_eq!(
            sha256_hex(&bytes),
            "6741d47eb4929d3e7034993acb578f6c9613f220cd8ba08a8df5f11090cf2681"
        );
        // Without the sandbox session (a kind added later), the pack is
        // byte for byte the one written before sessions were recorded.
        let mut pack = pack;
        pack.sandbox_sessions.clear();
        let bytes = serde_json::to_vec_pretty(&pack).unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            "54d6a3926f9db2f253d9458baa30341bb08deb8f6bdd75d715b3628ad3e08ee5"
        );
    }
}
