//! The seam to model providers.
//!
//! A provider turns one [`ModelRequest`] (the whole conversation so far plus
//! the tools on offer) into one [`ModelResponse`]. The tool-use loop in
//! [`crate::step`] only ever talks to `dyn ModelProvider`, so the scripted
//! provider, an OpenAI-compatible client and an Anthropic client are
//! interchangeable, and the loop is tested without a network.

use std::ops::AddAssign;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use agentwerke_types::ErrorCode;

/// A model provider: one call, one response.
#[async_trait]
pub trait ModelProvider: Send + Sync {
    /// The provider's name as recorded in evidence (`scripted`, `openai` ...).
    fn name(&self) -> &str;

    /// Sends the conversation and returns the model's next turn.
    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError>;

    /// As [`Self::complete`], handing the model's text to `sink` piece by
    /// piece as it arrives, so a person watching the run reads it while
    /// the model writes. Providers that do not stream hand nothing and
    /// answer as `complete` does.
    async fn complete_streaming(
        &self,
        req: &ModelRequest,
        sink: &dyn TextSink,
    ) -> Result<ModelResponse, ProviderError> {
        let _ = sink;
        self.complete(req).await
    }
}

/// Where a streaming provider hands the model's text as it arrives.
pub trait TextSink: Send + Sync {
    /// One piece of the model's text, in order.
    fn text(&self, piece: &str);
}

/// A sink that drops everything: for callers that do not watch.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSink;

impl TextSink for NoSink {
    fn text(&self, _piece: &str) {}
}

/// One model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    /// The run.
    pub run_id: String,
    /// The attempt's unit of work.
    pub work_id: String,
    /// The BPMN node id.
    pub node_id: String,
    /// The node's name (its id when it has none).
    pub node_name: String,
    /// The agent profile.
    pub agent: String,
    /// 1 for the first attempt; retries count up.
    pub attempt: u32,
    /// The model to use; `None` means the provider's default.
    pub model: Option<String>,
    /// The configured provider to ask, by name; `None` means the default
    /// one. Set from the agent's profile, so one server can run agents on
    /// different providers.
    #[serde(default)]
    pub provider: Option<String>,
    /// Sampling temperature; `None` leaves the provider's default.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
    /// The run context the prompt was rendered from. Remote providers ignore
    /// it; the scripted provider renders its replies against it, which is
    /// what lets a tokenless run echo `{{input.x}}`.
    #[serde(default)]
    pub context: Value,
    /// The approver's `request_changes` comment, if any (for the same reason).
    #[serde(default)]
    pub feedback: Option<String>,
}

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions from the platform.
    System,
    /// The task prompt.
    User,
    /// The model.
    Assistant,
    /// A tool result, answering one of the model's tool calls.
    Tool,
}

/// One message in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// The text (a tool result's text for [`Role::Tool`]).
    pub content: String,
    /// For [`Role::Tool`]: the call this answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// For [`Role::Assistant`]: the tools the model asked for.
    #[serde(default)]
    pub tool_calls: Vec<ToolCallRequest>,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content.into())
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content.into())
    }

    /// The model's turn, as it is fed back in the next request.
    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCallRequest>) -> Self {
        Self {
            tool_calls,
            ..Self::plain(Role::Assistant, content.into())
        }
    }

    /// A tool result for call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::plain(Role::Tool, content.into())
        }
    }

    fn plain(role: Role, content: String) -> Self {
        Self {
            role,
            content,
            tool_call_id: None,
            tool_calls: Vec::new(),
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The tool's name (`artifact.write`).
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    /// The provider's id for the call; tool results refer to it.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as the model wrote them.
    pub arguments: Value,
}

/// The model's turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// The text, if any.
    pub content: Option<String>,
    /// Tool calls; empty means this is the final answer.
    pub tool_calls: Vec<ToolCallRequest>,
    /// What the call consumed.
    pub usage: Usage,
    /// The model that answered.
    pub model: String,
    /// The provider that answered.
    pub provider: String,
    /// How the call went on the wire.
    #[serde(default)]
    pub call: CallStats,
}

/// How one model call went on the wire: what evidence keeps besides the
/// tokens, so a slow or flaky provider shows in the record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallStats {
    /// From the first attempt's send to the answer, retries and waits
    /// included, in milliseconds.
    pub latency_ms: u64,
    /// Attempts after the first.
    pub retries: u32,
    /// The secret whose value authenticated the call, if one did.
    pub key: Option<KeyUse>,
}

/// Which secret a model call sent: its name and the fingerprint of the
/// value. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// `NAME` for a `secret:NAME` reference, `env:VAR` for a variable named
    /// in configuration.
    pub secret: String,
    /// The keyed fingerprint of the value sent; `None` for a variable, which
    /// the secret store does not fingerprint.
    pub fingerprint: Option<String>,
}

/// Tokens and cost of one or more calls.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Of the prompt tokens, those the provider served from its prompt
    /// cache (priced apart, usually lower).
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cost_usd += other.cost_usd;
    }
}

/// Why a model call produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused or failed the call (HTTP error, bad response ...).
    #[error("model provider {provider} failed: {message}")]
    Failed {
        /// The provider's name.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// The provider did not answer in time.
    #[error("model provider {provider} timed out: {message}")]
    Timeout {
        /// The provider's name.
        provider: String,
        /// Which limit was hit.
        message: String,
    },
    /// A scripted `fail` turn: a deliberate failure for tests and demos.
    #[error("scripted failure {code}: {message}")]
    Scripted {
        /// The code the script chose; a failed step reports it, so error
        /// boundary events can catch it.
        code: String,
        /// The script's message.
        message: String,
    },
    /// A remote provider's call failed in a way a BPMN error boundary or an
    /// operator can act on: [`ModelErrorKind`] says which.
    #[error("model provider {provider}: {message}")]
    Model {
        /// Which failure.
        kind: ModelErrorKind,
        /// The provider's configured name.
        provider: String,
        /// What happened, never a key or a prompt.
        message: String,
    },
}

/// Why a remote model call failed, each with its stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelErrorKind {
    /// 429 after every retry.
    RateLimited,
    /// The key was refused (401, 403).
    AuthFailed,
    /// The answer could not be read: a malformed body or a stream that broke off.
    BadResponse,
    /// The conversation is longer than the model's context window.
    ContextTooLong,
    /// No answer within the per-request timeout, after every retry.
    Timeout,
    /// 5xx, overloaded or unreachable after every retry.
    Unavailable,
    /// The run was cancelled while the model was asked.
    Cancelled,
    /// The request named a provider this server is not configured with.
    UnknownProvider,
    /// The key's secret is missing or unreadable: nothing was sent.
    KeyUnavailable,
    /// The provider refused the request as malformed (another 4xx).
    Rejected,
}

impl ModelErrorKind {
    /// The stable code a step fails with.
    pub fn code(self) -> &'static str {
        match self {
            ModelErrorKind::RateLimited => "model.rate_limited",
            ModelErrorKind::AuthFailed => "model.auth_failed",
            ModelErrorKind::BadResponse => "model.bad_response",
            ModelErrorKind::ContextTooLong => "model.context_too_long",
            ModelErrorKind::Timeout => "model.timeout",
            ModelErrorKind::Unavailable => "model.unavailable",
            ModelErrorKind::Cancelled => "model.cancelled",
            ModelErrorKind::UnknownProvider => "model.unknown_provider",
            ModelErrorKind::KeyUnavailable => "model.key_unavailable",
            ModelErrorKind::Rejected => "model.rejected",
        }
    }

    /// Whether another attempt may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ModelErrorKind::RateLimited | ModelErrorKind::Timeout | ModelErrorKind::Unavailable
        )
    }
}

impl ProviderError {
    /// A [`ProviderError::Model`].
    pub fn model(kind: ModelErrorKind, provider: &str, message: impl Into<String>) -> Self {
        ProviderError::Model {
            kind,
            provider: provider.to_owned(),
            message: message.into(),
        }
    }

    /// The code a failed step reports: the script's own code for scripted
    /// failures (so a tokenless run can exercise BPMN error boundaries),
    /// otherwise [`ErrorCode::code`].
    pub fn step_code(&self) -> String {
        match self {
            ProviderError::Scripted { code, .. } => code.clone(),
            other => other.code().to_owned(),
        }
    }
}

impl ErrorCode for ProviderError {
    fn code(&self) -> &'static str {
        match self {
            ProviderError::Failed { .. } => "agents.provider_failed",
            ProviderError::Timeout { .. } => "agents.provider_timeout",
            ProviderError::Scripted { .. } => "agents.scripted_failure",
            ProviderError::Model { kind, .. } => kind.code(),
        }
    }
}
