//! Evidence records: what a run leaves behind while it happens, as one
//! closed enum.
//!
//! The runtime writes a [`Record`] for every prompt, model call, brokered
//! tool call, policy decision, sandboxed execution and artifact, and the
//! store keeps them next to the run. The pack ([`crate::pack`]) is later
//! projected from them, and the policy simulation replays the
//! [`GatewayCallRecord`]s. Writers and readers share this one type, so a
//! record the runtime writes is a record every reader can `match`: there is
//! no string kind to misspell and no key to dig out of a JSON object.
//!
//! **The kind names are a persisted contract: never rename one.** The store
//! keeps each record as its kind (a text column) and its body (the JSON of
//! the variant's fields, without `kind`), exactly as records were stored
//! before this type existed; [`Record::stored`] and [`Record::from_stored`]
//! are the two directions of that mapping. A new kind gets a new variant.
//!
//! Records hold only redacted content: free-form text is redacted before a
//! record is built ([`crate::redact`]), and tool arguments appear as a
//! digest or in their redacted form.

use agentwerke_types::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sections::{
    ArtifactRecord, ModelKeyRecord, ModelUsageRecord, PolicyDecisionRecord, SandboxExecutionRecord,
    SandboxSessionRecord, ToolCallRecord, is_zero,
};

/// One evidence record of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// The redacted prompt a step's model was given.
    Prompt(PromptRecord),
    /// Tokens and cost of one model call.
    ModelUsage(ModelCallRecord),
    /// One brokered tool call, whatever its outcome.
    ToolCall(ToolCallRecord),
    /// One policy evaluation.
    PolicyDecision(PolicyDecisionRecord),
    /// One sandboxed execution. Boxed: it is the largest record, and every
    /// record (and every store operation carrying one) is as large as the
    /// largest kind.
    SandboxExecution(Box<SandboxExecutionRecord>),
    /// A file the run produced, by reference.
    Artifact(ArtifactRecord),
    /// A brokered call as the gateway saw it, kept so that a policy draft
    /// can be simulated against recorded traffic. Not part of the pack: the
    /// pack shows the call as [`Record::ToolCall`].
    GatewayCall(GatewayCallRecord),
    /// A step-long sandbox session, closed when its step ended, with the
    /// egress no command's record holds.
    SandboxSession(SandboxSessionRecord),
}

/// A prompt as recorded: the pack's
/// [`PromptSnapshot`](crate::sections::PromptSnapshot) plus the attempt and
/// the template variables that did not resolve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PromptRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// BPMN element id.
    pub node_id: String,
    /// Agent name.
    pub agent: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
    /// Prompt text, redacted.
    pub text: String,
    /// SHA-256 of `text` as recorded.
    pub sha256: String,
    /// Template variables that did not resolve, as written.
    pub unresolved: Vec<String>,
}

/// Tokens and cost of one model call as recorded: the pack's
/// [`ModelUsageRecord`] plus the node and attempt it was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelCallRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// BPMN element id.
    pub node_id: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
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

/// A brokered call as the gateway saw it.
///
/// `request` is the gateway's own request type (with redacted arguments)
/// in its wire form: the gateway sits above this crate and owns that type,
/// and the policy simulation reads it back into it. The decision, stage and
/// reason are the gateway's stable snake_case names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayCallRecord {
    /// The step's unit of work.
    pub work_id: String,
    /// When it was decided.
    pub at: String,
    /// The call request, arguments redacted.
    pub request: Value,
    /// `allow`, `escalate` or `reject`.
    pub decision: String,
    /// The pipeline stage that decided, e.g. `policy`.
    pub stage: String,
    /// Why, as the gateway's stable code, e.g. `permitted`.
    pub reason: String,
    /// The policy set's version.
    pub policy_set_version: String,
    /// SHA-256 (hex) of the policy set's text.
    pub policy_set_hash: String,
}

impl Record {
    /// Every kind name, in declaration order. Pinned by a test: these are
    /// stored in every database that ever recorded evidence.
    pub const KINDS: [&'static str; 8] = [
        "prompt",
        "model_usage",
        "tool_call",
        "policy_decision",
        "sandbox_execution",
        "artifact",
        "gateway_call",
        "sandbox_session",
    ];

    /// The persisted kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Prompt(_) => "prompt",
            Record::ModelUsage(_) => "model_usage",
            Record::ToolCall(_) => "tool_call",
            Record::PolicyDecision(_) => "policy_decision",
            Record::SandboxExecution(_) => "sandbox_execution",
            Record::Artifact(_) => "artifact",
            Record::GatewayCall(_) => "gateway_call",
            Record::SandboxSession(_) => "sandbox_session",
        }
    }

    /// The record as the store keeps it: its kind and its body, the JSON of
    /// its fields without `kind`.
    pub fn stored(&self) -> Result<(&'static str, Value), serde_json::Error> {
        let body = match self {
            Record::Prompt(r) => serde_json::to_value(r),
            Record::ModelUsage(r) => serde_json::to_value(r),
            Record::ToolCall(r) => serde_json::to_value(r),
            Record::PolicyDecision(r) => serde_json::to_value(r),
            Record::SandboxExecution(r) => serde_json::to_value(r),
            Record::Artifact(r) => serde_json::to_value(r),
            Record::GatewayCall(r) => serde_json::to_value(r),
            Record::SandboxSession(r) => serde_json::to_value(r),
        }?;
        Ok((self.kind(), body))
    }

    /// Reads a stored record back from its kind and body.
    ///
    /// A body that does not fit its kind is an error, never a record with
    /// gaps: a reader that skipped it would present the run's evidence as
    /// complete when it is not.
    pub fn from_stored(kind: &str, body: Value) -> Result<Self, UnreadableRecord> {
        let unreadable = |reason: UnreadableReason| UnreadableRecord {
            kind: kind.to_owned(),
            reason,
        };
        if !Self::KINDS.contains(&kind) {
            return Err(unreadable(UnreadableReason::UnknownKind));
        }
        let Value::Object(mut map) = body else {
            return Err(unreadable(UnreadableReason::NotAnObject));
        };
        if map.contains_key("kind") {
            return Err(unreadable(UnreadableReason::Mismatch));
        }
        map.insert("kind".to_owned(), Value::String(kind.to_owned()));
        serde_json::from_value(Value::Object(map))
            .map_err(|_| unreadable(UnreadableReason::Mismatch))
    }
}

/// A stored record that cannot be read as a [`Record`]: the database was
/// edited by hand or written by an incompatible version.
///
/// The message names the kind and what is wrong, never the body: a body
/// that does not parse may hold anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("evidence record of kind '{kind}' is unreadable: {reason}")]
pub struct UnreadableRecord {
    /// The stored kind name.
    pub kind: String,
    /// What is wrong with it.
    pub reason: UnreadableReason,
}

/// What is wrong with an [`UnreadableRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableReason {
    /// No [`Record`] variant has this kind name.
    #[error("no record kind has this name")]
    UnknownKind,
    /// The body is not a JSON object.
    #[error("its body is not a JSON object")]
    NotAnObject,
    /// The body lacks a field of its kind, has one the kind does not
    /// have, or a field has the wrong type.
    #[error("its body does not have the fields of its kind")]
    Mismatch,
}

impl ErrorCode for UnreadableRecord {
    fn code(&self) -> &'static str {
        "evidence.record_unreadable"
    }
}

impl From<&ModelCallRecord> for ModelUsageRecord {
    /// The pack's view, which does not break usage down by node or attempt.
    fn from(call: &ModelCallRecord) -> Self {
        ModelUsageRecord {
            work_id: call.work_id.clone(),
            provider: call.provider.clone(),
            model: call.model.clone(),
            input_tokens: call.input_tokens,
            output_tokens: call.output_tokens,
            cost_usd: call.cost_usd,
            cached_input_tokens: call.cached_input_tokens,
            latency_ms: call.latency_ms,
            retries: call.retries,
            key: call.key.clone(),
        }
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
