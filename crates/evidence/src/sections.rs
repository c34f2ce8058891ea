//! The typed sections of an evidence pack.
//!
//! Optional facts serialise as `null` rather than being left out, so every
//! item of a section has the same keys: an auditor's tooling (and the JSON
//! Schema) can rely on the shape, and a missing key is itself a finding.
//! Timestamps are RFC 3339 UTC strings with milliseconds; digests are
//! lowercase hex SHA-256. Everything free-form (inputs, outputs, prompt
//! text, `data`) is redacted before it reaches this crate
//! ([`crate::redact`]).

use agentwerke_types::RunStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which published workflow version ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowInfo {
    /// Workflow id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Published version number.
    pub version: u64,
    /// SHA-256 of the BPMN XML as published (the *BPMN hash*).
    pub bpmn_sha256: String,
}

/// The run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunInfo {
    /// Status when the pack was generated.
    pub status: RunStatus,
    /// When the run started.
    pub started_at: String,
    /// When it reached a terminal status, if it has.
    pub completed_at: Option<String>,
    /// Who started it (`user:<sub>` or `system`).
    pub requested_by: String,
    /// The run input, redacted.
    pub inputs: Value,
    /// Highest risk level assessed during the run, if any.
    pub risk_level: Option<String>,
    /// Step history in execution order (one entry per attempt).
    pub steps: Vec<StepRecord>,
}

/// One attempt at one BPMN node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepRecord {
    /// Id of the unit of work (stable across the step's attempts).
    pub work_id: String,
    /// BPMN element id.
    pub node_id: String,
    /// BPMN element name.
    pub name: Option<String>,
    /// BPMN element type, e.g. `serviceTask`, `userTask`.
    #[serde(rename = "type")]
    pub node_type: String,
    /// Step status, e.g. `completed`, `failed`.
    pub status: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
    /// When the attempt started.
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// Agent name for agent tasks.
    pub agent: Option<String>,
    /// Output, redacted.
    pub output: Option<Value>,
    /// Error message when it failed.
    pub error: Option<String>,
}

/// A redacted prompt as sent to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptSnapshot {
    /// The step's unit of work.
    pub work_id: String,
    /// BPMN element id.
    pub node_id: String,
    /// Agent name.
    pub agent: String,
    /// Prompt text, redacted.
    pub text: String,
    /// SHA-256 of `text` (as stored, i.e. after redaction).
    pub sha256: String,
}

/// Whether an approval came from the model or from policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    /// A BPMN `approvalTask` user task.
    Gate,
    /// A tool call that policy escalated.
    ToolEscalation,
    /// A passed budget a person was asked to let the step go on past.
    BudgetEscalation,
}

/// An approval request and, once decided, its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalRecord {
    /// Approval id.
    pub id: String,
    /// BPMN element id.
    pub node_id: String,
    /// Gate or tool escalation.
    pub kind: ApprovalKind,
    /// `pending`, `approved`, `rejected`, `changes_requested`, ...
    pub status: String,
    /// When it was opened.
    pub requested_at: String,
    /// What is to be approved.
    pub requested_action: String,
    /// Who asked (`user:<sub>`, `agent:<name>`, `system`).
    pub requester: String,
    /// Agent involved, if any.
    pub agent: Option<String>,
    /// Policy rationale shown to the approver.
    pub rationale: Option<String>,
    /// Risk score shown to the approver.
    pub risk_score: Option<f64>,
    /// Risk factors shown to the approver.
    pub risk_factors: Vec<String>,
    /// The same factors with the weight each added to the score and the
    /// sentence that says why, so the score explains itself in the pack as
    /// it did to the approver. Absent from packs written before it was
    /// recorded. Like the two fields below, left out when empty, so a pack
    /// of a run without them is the pack it always was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk_factor_details: Vec<RiskFactorDetail>,
    /// Systems the action affects.
    pub affected_systems: Vec<String>,
    /// The output the approver was shown with the request, redacted: a
    /// gate's earlier step outputs by node, or what an escalated step had
    /// produced before the call. `null` when there was none or in packs
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub related_output: Value,
    /// The artifacts the approver was pointed at (name, SHA-256, size and
    /// media type). Absent from packs written before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRecord>,
    /// `approve`, `reject` or `request_changes`, once decided.
    pub decision: Option<String>,
    /// The approver's comment.
    pub comment: Option<String>,
    /// Who decided (`user:<sub>`).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<String>,
}

/// One named, weighted contribution to an approval's risk score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RiskFactorDetail {
    /// Stable name, e.g. `assessed_calls`.
    pub name: String,
    /// Points it added to the score.
    pub weight: u32,
    /// Why it applies.
    pub detail: String,
}

/// A blocking question an agent put to a human (`human.ask`) and, once
/// given, the answer.
///
/// The answer can steer everything the agent does afterwards, so it is
/// evidence in its own right: an auditor must be able to see what was
/// asked, what was answered and by whom, not just that a step waited.
/// Like [`ApprovalRecord`], optional facts are `null` until they exist, so
/// an open question has the same keys as an answered one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationEntry {
    /// Question id.
    pub id: String,
    /// The asking step's unit of work.
    pub work_id: String,
    /// BPMN element id of the asking step.
    pub node_id: String,
    /// Agent that asked.
    pub agent: String,
    /// The question, redacted (an agent may quote secrets it has seen).
    pub question: String,
    /// When it was asked.
    pub asked_at: String,
    /// `open`, `answered` or `cancelled`.
    pub status: String,
    /// The answer, redacted, once given.
    pub answer: Option<String>,
    /// Who answered (`user:<sub>`).
    pub answered_by: Option<String>,
    /// When.
    pub answered_at: Option<String>,
}

/// One policy evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDecisionRecord {
    /// The step's unit of work, if the decision was for a step.
    pub work_id: Option<String>,
    /// When it was decided.
    pub at: String,
    /// What was decided on, e.g. `tool:shell.exec`.
    pub subject: String,
    /// `allow`, `escalate` or `reject`.
    pub decision: String,
    /// Policies that matched.
    pub policy_ids: Vec<String>,
    /// Why.
    pub rationale: Option<String>,
    /// Assessed risk.
    pub risk_score: Option<f64>,
    /// Contributing risk factors.
    pub risk_factors: Vec<String>,
}

/// One brokered tool call, whatever its outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolCallRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// When it was requested.
    pub at: String,
    /// Tool name.
    pub tool: String,
    /// Tool category (e.g. `filesystem`, `network`, `exec`).
    pub category: String,
    /// SHA-256 of the canonical JSON arguments (arguments may hold data
    /// that must not be copied into evidence).
    pub arguments_sha256: String,
    /// Gateway decision: `allow`, `escalate` or `reject`.
    pub decision: String,
    /// Policies that matched.
    pub policy_ids: Vec<String>,
    /// Why.
    pub rationale: Option<String>,
    /// Assessed risk.
    pub risk_score: Option<f64>,
    /// Contributing risk factors.
    pub risk_factors: Vec<String>,
    /// Outcome, e.g. `succeeded`, `failed`, `denied`, `escalated`.
    pub status: String,
    /// Execution time, if it ran.
    pub duration_ms: Option<u64>,
    /// SHA-256 of the output, if it ran.
    pub output_sha256: Option<String>,
    /// The secrets the call sent, by name and fingerprint (never a value);
    /// absent when it sent none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUseRecord>,
}

/// Which secret a tool call sent: its name and the keyed fingerprint of
/// the value, so a rotation shows without the value ever being kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretUseRecord {
    /// The secret's name.
    pub name: String,
    /// `hmac-sha256:…` of the value sent.
    pub fingerprint: String,
}

/// One sandboxed execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxExecutionRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// When it started.
    pub at: String,
    /// Command line, redacted.
    pub command: String,
    /// Sandbox profile: `offline`, `repo-read`, `repo-write`, `deployment`.
    pub profile: String,
    /// Exit code; `null` if killed by a signal or limit.
    pub exit_code: Option<i32>,
    /// Wall-clock duration.
    pub duration_ms: u64,
    /// Limits applied (CPU, memory, time, egress hosts ...).
    pub limits: Value,
    /// SHA-256 of the combined output. An execution that records its
    /// streams (`stdout`, `stderr`) has here the SHA-256 of its stdout
    /// digest followed by its stderr digest (hex text).
    pub output_sha256: Option<String>,
    // Since the sandboxed tools: left out when unset, as records written
    // before them have it.
    /// `executionMode` the step ran it under (`tool_sandboxed`,
    /// `agent_sandboxed`); absent in records from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How it was isolated: `namespaces`, or `landlockOnly` when the
    /// operator allowed the degraded mode; absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    /// True when it ran degraded (without namespaces).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub degraded: bool,
    /// The signal that ended it; absent when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Killed because the wall clock ran out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timed_out: bool,
    /// Killed by the sandbox (wall clock or output cap).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub killed: bool,
    /// Bytes written to stdout and stderr together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// What it wrote to stdout: size, digest and a redacted excerpt.
    /// Boxed, like `stderr`: every evidence record is as large as the
    /// largest kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Box<SandboxStreamRecord>>,
    /// What it wrote to stderr, as `stdout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Box<SandboxStreamRecord>>,
    /// Every connection it made through the egress proxy, allowed or not,
    /// in the order the proxy saw them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressConnectionRecord>,
    /// The session it ran in (`agent_sandboxed`): its commands share one
    /// sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The names of the secret files it was given (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_files: Vec<String>,
}

/// One step-long sandbox session (`executionMode="agent_sandboxed"`): its
/// commands are in `sandboxExecutions`, each naming it; what it holds
/// beyond them is the traffic no command's record can: connections from
/// processes a command left running, which arrived between commands or
/// after the last one, until the step ended and the session was closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxSessionRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// The session's id, as its executions name it.
    pub session: String,
    /// Sandbox profile the session ran under.
    pub profile: String,
    /// When the session was closed (the step's execution ended).
    pub closed_at: String,
    /// Commands run in it.
    pub commands: u32,
    /// Every connection through its egress proxy outside any command,
    /// allowed or not, in the order the proxy saw them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressConnectionRecord>,
}

/// One connection through the egress proxy, as the gateway decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EgressConnectionRecord {
    /// The host asked for, lowercase.
    pub host: String,
    /// The port asked for.
    pub port: u16,
    /// `CONNECT`, or the plain request's method.
    pub method: String,
    /// The addresses the proxy resolved and dialled (or refused).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// `allowed`, `refused`, or `failed` (allowed, but nothing answered).
    pub decision: String,
    /// The refusal's or failure's code, e.g. `gateway.egress.host_not_allowed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Bytes sent to the destination.
    pub bytes_up: u64,
    /// Bytes received from it.
    pub bytes_down: u64,
}

/// One output stream of a sandboxed execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SandboxStreamRecord {
    /// Bytes read from the stream.
    pub bytes: u64,
    /// SHA-256 of those bytes, as written (before redaction).
    pub sha256: String,
    /// The first bytes as text, redacted.
    pub excerpt: String,
    /// The stream passed the output cap and the execution was killed.
    pub truncated: bool,
}

/// Tokens and cost of one step's model calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelUsageRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// Provider, e.g. `openai`, `anthropic`, `scripted`.
    pub provider: String,
    /// Model name.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost in US dollars (an estimate from the price table).
    pub cost_usd: f64,
    /// Of the prompt tokens, those the provider served from its cache.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_input_tokens: u64,
    /// From the first send to the answer, retries and waits included.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub latency_ms: u64,
    /// Attempts after the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// The secret whose value authenticated the call; never the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ModelKeyRecord>,
}

/// Which secret a model call sent: its name (`env:VAR` for a variable
/// named in configuration) and the keyed fingerprint of the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelKeyRecord {
    /// The secret's name.
    pub name: String,
    /// The value's fingerprint; absent for a variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Whether a counter is zero: left out of a record, as records written
/// before the counter existed have it.
pub(crate) fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A file the run produced, by reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactRecord {
    /// Artifact name.
    pub name: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}
