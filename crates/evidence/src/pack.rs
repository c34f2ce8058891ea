//! The evidence pack: a schema-versioned JSON projection of one run.
//!
//! [`build`] is a pure projection of what the runtime gathered from the
//! store; [`crate::sign`] then adds [`Integrity`]. The pack is a plain data
//! record: nothing here reads a clock or the store, so the same input always
//! yields the same bytes.

use serde::{Deserialize, Serialize};

use crate::canonical::sha256_hex;
use crate::chain::AuditRecord;
use crate::integrity::Integrity;
use crate::sections::{
    ApprovalRecord, ArtifactRecord, ConversationEntry, ModelUsageRecord, PolicyDecisionRecord,
    PromptSnapshot, RunInfo, SandboxExecutionRecord, SandboxSessionRecord, ToolCallRecord,
    WorkflowInfo,
};

/// The `schemaVersion` of packs this crate writes and verifies. A breaking
/// change to the format gets a new version string, never an edit of v1.
pub const SCHEMA_VERSION: &str = "agentwerke.evidence-pack.v1";

/// Top-level keys of a v1 pack, in the order they are written. Only the
/// [`OPTIONAL_TOP_LEVEL_KEYS`] may be absent.
pub const TOP_LEVEL_KEYS: [&str; 16] = [
    "schemaVersion",
    "runId",
    "generatedAt",
    "workflow",
    "run",
    "prompts",
    "approvals",
    "conversation",
    "policyDecisions",
    "toolCalls",
    "sandboxExecutions",
    "sandboxSessions",
    "modelUsage",
    "artifacts",
    "auditLog",
    "integrity",
];

/// Top-level keys a v1 pack may omit: `integrity` in the unsigned live
/// projection, and `conversation` and `sandboxSessions`, which were added to
/// v1 later and are left out when empty so that packs written before them
/// still verify and a pack without them is byte-for-byte what it was.
pub const OPTIONAL_TOP_LEVEL_KEYS: [&str; 3] = ["conversation", "sandboxSessions", "integrity"];

/// One run's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EvidencePack {
    /// Always [`SCHEMA_VERSION`] for packs this crate writes.
    pub schema_version: String,
    /// The run.
    pub run_id: String,
    /// When the pack was generated (RFC 3339 UTC, milliseconds).
    pub generated_at: String,
    /// Workflow identity and BPMN hash.
    pub workflow: WorkflowInfo,
    /// Run summary and step history.
    pub run: RunInfo,
    /// Redacted prompts.
    pub prompts: Vec<PromptSnapshot>,
    /// Approval requests and decisions.
    pub approvals: Vec<ApprovalRecord>,
    /// Questions agents asked humans (`human.ask`) and their answers.
    /// Absent when empty: the section was added to v1 later, and leaving it
    /// out keeps packs without questions identical to those written before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conversation: Vec<ConversationEntry>,
    /// Policy decisions.
    pub policy_decisions: Vec<PolicyDecisionRecord>,
    /// Brokered tool calls.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Sandboxed executions.
    pub sandbox_executions: Vec<SandboxExecutionRecord>,
    /// Step-long sandbox sessions (`agent_sandboxed`) and the egress no
    /// command's record holds. Absent when empty, like `conversation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sandbox_sessions: Vec<SandboxSessionRecord>,
    /// Model usage and cost.
    pub model_usage: Vec<ModelUsageRecord>,
    /// Artifact references.
    pub artifacts: Vec<ArtifactRecord>,
    /// The run's hash-chained audit log, in `seq` order.
    pub audit_log: Vec<AuditRecord>,
    /// Signature, digests and chain head; `None` until [`crate::sign`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<Integrity>,
}

/// Everything the runtime gathers from the store to build a pack.
#[derive(Debug, Clone, PartialEq)]
pub struct PackInput {
    /// The run.
    pub run_id: String,
    /// The shell's clock reading, RFC 3339 UTC with milliseconds.
    pub generated_at: String,
    /// Workflow identity.
    pub workflow: WorkflowInfo,
    /// Run summary and steps (inputs and outputs already redacted).
    pub run: RunInfo,
    /// Prompt snapshots (already redacted); `sha256` is recomputed.
    pub prompts: Vec<PromptSnapshot>,
    /// Approvals.
    pub approvals: Vec<ApprovalRecord>,
    /// Questions asked of humans and their answers (already redacted).
    pub conversation: Vec<ConversationEntry>,
    /// Policy decisions.
    pub policy_decisions: Vec<PolicyDecisionRecord>,
    /// Tool calls.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Sandbox executions.
    pub sandbox_executions: Vec<SandboxExecutionRecord>,
    /// Step-long sandbox sessions.
    pub sandbox_sessions: Vec<SandboxSessionRecord>,
    /// Model usage.
    pub model_usage: Vec<ModelUsageRecord>,
    /// Artifacts.
    pub artifacts: Vec<ArtifactRecord>,
    /// The audit log in `seq` order.
    pub audit_log: Vec<AuditRecord>,
}

/// Projects `input` into an unsigned pack.
///
/// The only derived value is each prompt's `sha256`, recomputed from its
/// text so that the digest can never disagree with what is shown.
pub fn build(input: PackInput) -> EvidencePack {
    let prompts = input
        .prompts
        .into_iter()
        .map(|p| PromptSnapshot {
            sha256: sha256_hex(p.text.as_bytes()),
            ..p
        })
        .collect();
    EvidencePack {
        schema_version: SCHEMA_VERSION.to_owned(),
        run_id: input.run_id,
        generated_at: input.generated_at,
        workflow: input.workflow,
        run: input.run,
        prompts,
        approvals: input.approvals,
        conversation: input.conversation,
        policy_decisions: input.policy_decisions,
        tool_calls: input.tool_calls,
        sandbox_executions: input.sandbox_executions,
        sandbox_sessions: input.sandbox_sessions,
        model_usage: input.model_usage,
        artifacts: input.artifacts,
        audit_log: input.audit_log,
        integrity: None,
    }
}

impl PromptSnapshot {
    /// A snapshot of already-redacted `text`, with its digest.
    pub fn new(work_id: &str, node_id: &str, agent: &str, text: &str) -> Self {
        Self {
            work_id: work_id.to_owned(),
            node_id: node_id.to_owned(),
            agent: agent.to_owned(),
            text: text.to_owned(),
            sha256: sha256_hex(text.as_bytes()),
        }
    }
}
