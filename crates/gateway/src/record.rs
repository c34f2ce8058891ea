//! What a brokered call leaves behind: the durable [`CallRecord`], the
//! [`Outcome`] handed back to the agent loop, and the [`EscalationBinding`]
//! an approval is tied to.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use agentwerke_evidence::sections::{SecretUseRecord, ToolCallRecord};

use crate::category::Category;
use crate::decision::{Decision, DecisionKind, Reason, Stage};
use crate::risk::{RiskFactor, RiskLevel};
use crate::sandboxing::SandboxRun;
use crate::secret::SecretUse;

/// What became of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// The tool ran and returned output.
    Executed,
    /// The tool ran and failed.
    Failed,
    /// The gateway rejected the call; the tool did not run.
    Blocked,
    /// The call waits for a human; the tool did not run.
    PendingApproval,
}

impl CallStatus {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallStatus::Executed => "executed",
            CallStatus::Failed => "failed",
            CallStatus::Blocked => "blocked",
            CallStatus::PendingApproval => "pending_approval",
        }
    }
}

/// What an approval of an escalated call is bound to. Approving binds the
/// tool and the exact arguments (by hash): a model cannot get approval for
/// one call and then run another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EscalationBinding {
    /// The tool.
    pub tool: String,
    /// [`Decision::args_hash`] of the escalated call.
    pub args_hash: String,
}

/// The durable record of one call, whatever its outcome. Secrets are
/// redacted; the output is kept only as a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// The tool.
    pub tool: String,
    /// Its category; `None` for an unknown tool.
    pub category: Option<Category>,
    /// The arguments, redacted.
    pub redacted_args: Value,
    /// SHA-256 of the canonical arguments as given.
    pub args_hash: String,
    /// The gateway's decision.
    pub decision: DecisionKind,
    /// The stage that decided.
    pub stage: Stage,
    /// Why, as a stable code.
    pub reason: Reason,
    /// `@id`s of the determining policies.
    pub determining_policies: Vec<String>,
    /// The policy set's version.
    pub policy_set_version: String,
    /// The policy set's hash.
    pub policy_set_hash: String,
    /// Why, for humans.
    pub rationale: String,
    /// Risk score, 0–100.
    pub risk_score: u8,
    /// Risk level (see [`Decision::risk_level`]).
    pub risk_level: RiskLevel,
    /// What contributed to the score.
    pub risk_factors: Vec<RiskFactor>,
    /// What became of it.
    pub status: CallStatus,
    /// Whether it ran on a human's approval of an escalation.
    pub approved: bool,
    /// How long the tool ran; `None` if it did not run.
    pub duration_ms: Option<u64>,
    /// SHA-256 of the canonical output as returned; `None` without output.
    pub output_digest: Option<String>,
    /// `code: message` of a tool failure.
    pub error: Option<String>,
    /// Which secrets the call sent (name and fingerprint, never a value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUse>,
}

impl CallRecord {
    /// A record of `decision` with `status` and nothing executed yet.
    pub(crate) fn new(decision: &Decision, status: CallStatus) -> Self {
        Self {
            tool: decision.tool.clone(),
            category: decision.category,
            redacted_args: decision.redacted_args.clone(),
            args_hash: decision.args_hash.clone(),
            decision: decision.kind,
            stage: decision.stage,
            reason: decision.reason,
            determining_policies: decision.determining_policies.clone(),
            policy_set_version: decision.policy_set_version.clone(),
            policy_set_hash: decision.policy_set_hash.clone(),
            rationale: decision.rationale.clone(),
            risk_score: decision.risk.score,
            risk_level: decision.risk_level,
            risk_factors: decision.risk.factors.clone(),
            status,
            approved: false,
            duration_ms: None,
            output_digest: None,
            error: None,
            secrets: Vec::new(),
        }
    }

    /// The record as the evidence pack's `toolCalls` section stores it.
    pub fn to_evidence(&self, work_id: &str, at: &str) -> ToolCallRecord {
        ToolCallRecord {
            work_id: work_id.to_owned(),
            at: at.to_owned(),
            tool: self.tool.clone(),
            category: self
                .category
                .map_or_else(|| "unknown".to_owned(), |c| c.as_str().to_owned()),
            arguments_sha256: self.args_hash.clone(),
            decision: self.decision.as_str().to_owned(),
            policy_ids: self.determining_policies.clone(),
            rationale: Some(self.rationale.clone()),
            risk_score: Some(f64::from(self.risk_score)),
            risk_factors: self
                .risk_factors
                .iter()
                .map(|f| format!("{} (+{}): {}", f.name, f.weight, f.detail))
                .collect(),
            status: self.status.as_str().to_owned(),
            duration_ms: self.duration_ms,
            output_sha256: self.output_digest.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|used| SecretUseRecord {
                    name: used.name.to_string(),
                    fingerprint: used.fingerprint.to_string(),
                })
                .collect(),
        }
    }
}

/// What the agent loop gets back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The tool ran; its output (redacted) goes back to the model.
    Executed {
        /// The output.
        output: Value,
    },
    /// The tool ran and failed.
    Failed {
        /// The stable code of the [`crate::ToolError`].
        code: String,
        /// What happened (redacted).
        message: String,
    },
    /// The gateway rejected the call.
    Blocked {
        /// The stable reason.
        reason: Reason,
        /// Why.
        rationale: String,
    },
    /// A human must approve the call; resume with
    /// [`crate::Gateway::execute_approved`] and this binding.
    PendingApproval {
        /// What the approval binds.
        binding: EscalationBinding,
    },
}

/// The result of [`crate::Gateway::execute`]: the decision, the record to
/// persist, and what to tell the agent. Serialized as it is journalled, so
/// a step replayed after a crash hands back exactly what the call did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// The decision.
    pub decision: Decision,
    /// The durable record.
    pub record: CallRecord,
    /// What to tell the agent loop.
    pub outcome: Outcome,
    /// The sandboxed executions the call ran, redacted; absent when it ran
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox: Vec<SandboxRun>,
}

impl Execution {
    /// A call the gateway rejected: nothing ran.
    pub fn blocked(decision: Decision) -> Self {
        Self {
            record: CallRecord::new(&decision, CallStatus::Blocked),
            outcome: Outcome::Blocked {
                reason: decision.reason,
                rationale: decision.rationale.clone(),
            },
            decision,
            sandbox: Vec::new(),
        }
    }

    /// A call that waits for a human: nothing ran yet.
    pub fn pending(decision: Decision) -> Self {
        Self {
            record: CallRecord::new(&decision, CallStatus::PendingApproval),
            outcome: Outcome::PendingApproval {
                binding: EscalationBinding {
                    tool: decision.tool.clone(),
                    args_hash: decision.args_hash.clone(),
                },
            },
            decision,
            sandbox: Vec::new(),
        }
    }
}
