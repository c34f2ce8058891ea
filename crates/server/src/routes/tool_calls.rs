//! The tool-call journal as the run view shows it.
//!
//! The journal holds every call a step started: its intent is committed
//! before the tool runs and its outcome right after. Shown to users, it says
//! what actually ran, how many times (a call whose outcome was lost and that
//! ran again counts two executions), and what came of it. Calls the gateway
//! refused or escalated never started; they are in the audit log
//! (`tool.called`), not here.
//!
//! Nothing here can carry a secret: the arguments are stored redacted, and
//! the outcome is shown as its summary (status, decision, duration, the
//! output's digest, the redacted error), never the tool's output itself.

use agentwerke_gateway::Execution;
use agentwerke_store::calls::ToolCallRow;
use agentwerke_types::ToolCallStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::routes::ts;
use crate::routes::views::ToolCallStatusName;

/// One call of the tool-call journal.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallView {
    /// The call's id: the same call of the same step attempt keeps it
    /// across a restart.
    pub call_id: String,
    /// The agent attempt that made the call.
    pub work_id: String,
    /// That step's attempt (1 for the first).
    pub attempt: u32,
    /// The tool.
    pub tool: String,
    /// SHA-256 of the canonical arguments as given.
    pub args_hash: String,
    /// The arguments as stored: secrets redacted (any JSON).
    #[schema(value_type = Value)]
    pub arguments: Value,
    /// `started` (no outcome recorded: it may or may not have had its
    /// effect), `executed`, `failed` or `unknown` (the outcome was lost and
    /// the call was not run again).
    #[schema(value_type = ToolCallStatusName)]
    pub status: ToolCallStatus,
    /// How many times the tool was started under this id; more than 1 when
    /// a start whose outcome was lost was repeated.
    pub executions: u32,
    /// The approval the last start used up, if a human let it run.
    pub approval_id: Option<String>,
    /// When its first start was committed (RFC 3339).
    pub started_at: String,
    /// When its outcome was committed (RFC 3339).
    pub finished_at: Option<String>,
    /// What came of it; null while no outcome is recorded, or when the
    /// recorded outcome is not one this version reads.
    pub outcome: Option<ToolCallOutcomeView>,
}

/// The summary of a call's recorded outcome.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallOutcomeView {
    /// `executed`, `failed`, `blocked` (refused when it was to run again)
    /// or `pending_approval`.
    #[schema(pattern = "^(executed|failed|blocked|pending_approval)$")]
    pub status: String,
    /// The gateway's decision: `allow`, `escalate` or `reject`.
    #[schema(pattern = "^(allow|escalate|reject)$")]
    pub decision: String,
    /// Whether it ran on a human's approval.
    pub approved: bool,
    /// Why, for humans (redacted).
    pub rationale: String,
    /// How long the tool ran, in milliseconds; null if it did not run.
    pub duration_ms: Option<u64>,
    /// SHA-256 of the canonical output; null without output.
    pub output_sha256: Option<String>,
    /// `code: message` of a tool failure (redacted).
    pub error: Option<String>,
}

impl From<&Execution> for ToolCallOutcomeView {
    fn from(execution: &Execution) -> Self {
        let record = &execution.record;
        Self {
            status: record.status.as_str().to_owned(),
            decision: record.decision.as_str().to_owned(),
            approved: record.approved,
            rationale: record.rationale.clone(),
            duration_ms: record.duration_ms,
            output_sha256: record.output_digest.clone(),
            error: record.error.clone(),
        }
    }
}

impl From<&ToolCallRow> for ToolCallView {
    fn from(row: &ToolCallRow) -> Self {
        let outcome = row.result.as_ref().and_then(|result| {
            serde_json::from_value::<Execution>(result.clone())
                .inspect_err(|error| {
                    tracing::warn!(%error, call = %row.call_id, "a journalled outcome cannot be read");
                })
                .ok()
        });
        Self {
            call_id: row.call_id.to_string(),
            work_id: row.work_id.to_string(),
            attempt: row.attempt,
            tool: row.tool.clone(),
            args_hash: row.args_hash.clone(),
            arguments: row.arguments.clone(),
            status: row.status,
            executions: row.executions,
            approval_id: row.approval_id.as_ref().map(ToString::to_string),
            started_at: ts(row.started_at),
            finished_at: row.finished_at.map(ts),
            outcome: outcome.as_ref().map(ToolCallOutcomeView::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_gateway::{CallRecord, CallStatus, DecisionKind, Outcome};
    use agentwerke_types::Timestamp;
    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;

    fn row(result: Option<Value>) -> ToolCallRow {
        ToolCallRow {
            call_id: "tc-1".into(),
            run_id: "run-1".into(),
            work_id: "w1".into(),
            attempt: 1,
            tool: "http.request".to_owned(),
            args_hash: "ab".repeat(32),
            arguments: json!({"url": "https://shop.test/orders", "headers": {"authorization": "[REDACTED]"}}),
            status: ToolCallStatus::Executed,
            executions: 2,
            approval_id: None,
            result,
            started_at: Timestamp::from_millis(0),
            finished_at: Some(Timestamp::from_millis(1500)),
        }
    }

    /// An execution as the journal files it, with a tool output that must
    /// not be shown.
    fn executed() -> Value {
        let record: CallRecord = serde_json::from_value(json!({
            "tool": "http.request", "category": "network", "redactedArgs": {},
            "argsHash": "ab", "decision": "allow", "stage": "policy", "reason": "permitted",
            "determiningPolicies": ["p"], "policySetVersion": "1", "policySetHash": "h",
            "rationale": "Reads are fine.", "riskScore": 5, "riskLevel": "low",
            "riskFactors": [], "status": "executed", "approved": false, "durationMs": 12,
            "outputDigest": "cd", "error": null,
        }))
        .expect("a call record");
        let decision = serde_json::from_value(json!({
            "kind": "allow", "stage": "policy", "reason": "permitted", "rationale": "Reads are fine.",
            "tool": "http.request", "category": "network", "determiningPolicies": ["p"],
            "policySetVersion": "1", "policySetHash": "h",
            "risk": {"score": 5, "factors": []}, "riskLevel": "low", "approverRole": null,
            "argsHash": "ab", "redactedArgs": {}, "affectedSystems": [],
        }))
        .expect("a decision");
        let execution = Execution {
            decision,
            record,
            outcome: Outcome::Executed {
                output: json!({"body": "the tool's own answer"}),
            },
            sandbox: Vec::new(),
        };
        serde_json::to_value(execution).expect("serialises")
    }

    #[test]
    fn a_call_shows_its_outcome_summary_and_never_the_output() {
        let view = ToolCallView::from(&row(Some(executed())));
        let outcome = view.outcome.as_ref().expect("an outcome");
        assert_eq!(outcome.status, CallStatus::Executed.as_str());
        assert_eq!(outcome.decision, DecisionKind::Allow.as_str());
        assert_eq!(
            (outcome.duration_ms, outcome.output_sha256.as_deref()),
            (Some(12), Some("cd"))
        );
        assert_eq!(view.executions, 2);
        assert_eq!(
            view.finished_at.as_deref(),
            Some("1970-01-01T00:00:01.500Z")
        );
        let shown = serde_json::to_string(&view).expect("serialises");
        assert!(!shown.contains("the tool's own answer"), "{shown}");
    }

    #[test]
    fn a_call_without_a_readable_outcome_shows_none() {
        assert!(ToolCallView::from(&row(None)).outcome.is_none());
        let unreadable = ToolCallView::from(&row(Some(json!({"status": 7}))));
        assert!(unreadable.outcome.is_none());
    }

    /// The documented names are the names the view answers with.
    #[test]
    fn the_documented_call_is_the_view() {
        let names = |value: &Value| -> Vec<String> {
            let mut names: Vec<String> = value
                .as_object()
                .expect("an object")
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        let view = serde_json::to_value(ToolCallView::from(&row(Some(executed())))).unwrap();
        let schema = serde_json::to_value(ToolCallView::schema()).unwrap();
        assert_eq!(names(&view), names(&schema["properties"]));
        let outcome = serde_json::to_value(ToolCallOutcomeView::schema()).unwrap();
        assert_eq!(names(&view["outcome"]), names(&outcome["properties"]));
    }
}
