//! A deterministic, tokenless model provider for tests, demos and the
//! embedded default.
//!
//! Which turn answers a call is a pure function of the request: the script
//! is chosen by node id, then agent name, then `default`; the turn is the
//! N-th, where N is one more than the number of assistant messages already
//! in the conversation (so the N-th call of one step's tool loop gets turn N,
//! and the last turn repeats). Nothing is counted inside the provider, which
//! is what makes it deterministic: the same request always gets the same
//! response, and a step re-run after a crash replays the same script from
//! its first turn, as a real model conversation would start afresh.
//!
//! A `fail` turn with `times = N` fails attempts 1..=N (`req.attempt`) and
//! stands aside from then on, so the next turn plays in its place. Without
//! any script the provider answers with a short deterministic summary.
//!
//! Token counts are whitespace-separated words (input: every message;
//! output: the reply or the tool calls' JSON); the cost is always zero.

mod config;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

pub use config::{ScriptConfig, ScriptedFailure, ScriptedToolCall, Turn, TurnAction};

use crate::error::Error;
use crate::prompt::{PromptVars, render};
use crate::provider::{
    CallStats, ModelProvider, ModelRequest, ModelResponse, ProviderError, Role, ToolCallRequest,
    Usage,
};

/// How many words of the prompt the built-in reply quotes.
const SUMMARY_WORDS: usize = 12;

/// The scripted provider (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct ScriptedProvider {
    config: ScriptConfig,
}

impl ScriptedProvider {
    /// The provider name recorded in evidence.
    pub const NAME: &str = "scripted";
    /// The model name recorded in evidence.
    pub const MODEL: &str = "scripted-v1";

    /// A provider with no scripts: every call gets the built-in reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider playing `config`.
    pub fn from_config(config: ScriptConfig) -> Self {
        Self { config }
    }

    /// Parses a TOML configuration (see the crate README for the format).
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        ScriptConfig::from_toml_str(text).map(Self::from_config)
    }

    /// Reads and parses a TOML configuration file.
    pub fn from_path(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ScriptInvalid {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            Error::ScriptInvalid { message } => Error::ScriptInvalid {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    /// Adds (or replaces) the script for node `node_id`.
    pub fn with_node(mut self, node_id: impl Into<String>, turns: Vec<Turn>) -> Self {
        self.config.nodes.insert(node_id.into(), turns);
        self
    }

    /// Adds (or replaces) the script for agent `agent`.
    pub fn with_agent(mut self, agent: impl Into<String>, turns: Vec<Turn>) -> Self {
        self.config.agents.insert(agent.into(), turns);
        self
    }

    /// Sets the default script.
    pub fn with_default(mut self, turns: Vec<Turn>) -> Self {
        self.config.default = turns;
        self
    }

    /// The configuration being played.
    pub fn config(&self) -> &ScriptConfig {
        &self.config
    }

    /// The turn that answers `req`, if any script covers it.
    fn turn_for(&self, req: &ModelRequest) -> Option<&Turn> {
        let script = [
            self.config.nodes.get(&req.node_id),
            self.config.agents.get(&req.agent),
            Some(&self.config.default),
        ]
        .into_iter()
        .flatten()
        .find(|turns| !turns.is_empty())?;
        let playable: Vec<&Turn> = script
            .iter()
            .filter(|turn| turn.applies_to(req.attempt))
            .collect();
        let call = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        playable
            .get(call.min(playable.len().checked_sub(1)?))
            .copied()
    }
}

#[async_trait]
impl ModelProvider for ScriptedProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        let Some(turn) = self.turn_for(req) else {
            return Ok(respond(req, Some(builtin_reply(req)), Vec::new()));
        };
        if turn.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(turn.delay_ms)).await;
        }
        match &turn.action {
            TurnAction::Reply(template) => {
                let text = render_text(template, req)?;
                Ok(respond(req, Some(text), Vec::new()))
            }
            TurnAction::ToolCalls(calls) => {
                let call_number = 1 + req
                    .messages
                    .iter()
                    .filter(|m| m.role == Role::Assistant)
                    .count();
                let calls = calls
                    .iter()
                    .enumerate()
                    .map(|(i, call)| {
                        Ok(ToolCallRequest {
                            id: format!("call-{call_number}-{}", i + 1),
                            name: call.name.clone(),
                            arguments: render_value(&call.arguments, req)?,
                        })
                    })
                    .collect::<Result<Vec<_>, ProviderError>>()?;
                Ok(respond(req, None, calls))
            }
            TurnAction::Fail(failure) => Err(ProviderError::Scripted {
                code: failure.code.clone(),
                message: failure.message.clone(),
            }),
        }
    }
}

fn respond(
    req: &ModelRequest,
    content: Option<String>,
    tool_calls: Vec<ToolCallRequest>,
) -> ModelResponse {
    let input_tokens = req.messages.iter().map(|m| words(&m.content)).sum();
    let output_tokens = content.as_deref().map_or(0, words)
        + tool_calls
            .iter()
            .map(|c| words(&c.name) + words(&c.arguments.to_string()))
            .sum::<u64>();
    ModelResponse {
        content,
        tool_calls,
        usage: Usage {
            input_tokens,
            output_tokens,
            cached_input_tokens: 0,
            cost_usd: 0.0,
        },
        model: ScriptedProvider::MODEL.to_owned(),
        provider: ScriptedProvider::NAME.to_owned(),
        call: CallStats::default(),
    }
}

/// "Scripted analysis by <agent> for <node>: <the prompt's first words>".
fn builtin_reply(req: &ModelRequest) -> String {
    let prompt = req
        .messages
        .iter()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let mut words = prompt.split_whitespace();
    let mut summary = words
        .by_ref()
        .take(SUMMARY_WORDS)
        .collect::<Vec<_>>()
        .join(" ");
    if words.next().is_some() {
        summary.push_str(" ...");
    }
    if summary.is_empty() {
        summary.push_str("(empty prompt)");
    }
    format!(
        "Scripted analysis by {} for {}: {summary}",
        req.agent, req.node_name
    )
}

/// Scripts only: the text of the conversation's latest tool result (say,
/// a human's answer to `human.ask`), so a scripted reply can show that it
/// reached the model. Substituted after rendering, where it survives as an
/// unresolved variable, so the result's own text is never rendered.
const LAST_TOOL_RESULT: &str = "{{last_tool_result}}";

fn render_text(template: &str, req: &ModelRequest) -> Result<String, ProviderError> {
    let vars = PromptVars {
        context: &req.context,
        run_id: &req.run_id,
        node_name: &req.node_name,
        feedback: req.feedback.as_deref(),
    };
    let text = render(template, &vars)
        .map(|rendered| rendered.text)
        .map_err(|e| ProviderError::Failed {
            provider: ScriptedProvider::NAME.to_owned(),
            message: e.to_string(),
        })?;
    if !text.contains(LAST_TOOL_RESULT) {
        return Ok(text);
    }
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::Tool)
        .map_or("", |m| m.content.as_str());
    Ok(text.replace(LAST_TOOL_RESULT, last))
}

/// Renders every string inside `value` (keys stay as written).
fn render_value(value: &Value, req: &ModelRequest) -> Result<Value, ProviderError> {
    Ok(match value {
        Value::String(s) => Value::String(render_text(s, req)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_value(v, req))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, req)?)))
                .collect::<Result<_, ProviderError>>()?,
        ),
        other => other.clone(),
    })
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
#[path = "scripted_tests.rs"]
mod tests;
