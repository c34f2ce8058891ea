//! The scripted provider's configuration: which turns to play for which task.
//!
//! Read from TOML with unknown keys refused, because a misspelt `tool_call`
//! that was silently ignored would turn a test of the tool gateway into a
//! test of nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// Scripts by node id, by agent name, and a default, in that precedence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptConfig {
    /// Scripts for one BPMN node id; these win over everything else.
    pub nodes: BTreeMap<String, Vec<Turn>>,
    /// Scripts for every task of one agent profile.
    pub agents: BTreeMap<String, Vec<Turn>>,
    /// The script for every other task; empty means the built-in reply.
    pub default: Vec<Turn>,
}

impl ScriptConfig {
    /// Parses and checks a TOML configuration.
    pub fn from_toml_str(text: &str) -> Result<Self, Error> {
        let config: Self = toml::from_str(text).map_err(|e| Error::ScriptInvalid {
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Refuses empty scripts: a script with no turns is almost certainly a
    /// mistake, and falling through to the next level would hide it.
    fn check(&self) -> Result<(), Error> {
        let named = self
            .nodes
            .iter()
            .map(|(id, turns)| (format!("nodes.{id}"), turns))
            .chain(
                self.agents
                    .iter()
                    .map(|(name, turns)| (format!("agents.{name}"), turns)),
            );
        for (name, turns) in named {
            if turns.is_empty() {
                return Err(Error::ScriptInvalid {
                    message: format!("script `{name}` has no turns"),
                });
            }
        }
        Ok(())
    }
}

/// One scripted model turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawTurn", into = "RawTurn")]
pub struct Turn {
    /// What the model does.
    pub action: TurnAction,
    /// How long to wait before answering, in milliseconds (for crash and
    /// timeout tests).
    pub delay_ms: u64,
}

impl Turn {
    /// A final answer; `{{...}}` variables are rendered against the request.
    pub fn reply(text: impl Into<String>) -> Self {
        Self::now(TurnAction::Reply(text.into()))
    }

    /// A request for tools.
    pub fn tool_calls(calls: Vec<ScriptedToolCall>) -> Self {
        Self::now(TurnAction::ToolCalls(calls))
    }

    /// A provider failure on every attempt.
    pub fn fail(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::now(TurnAction::Fail(ScriptedFailure {
            code: code.into(),
            message: message.into(),
            times: None,
        }))
    }

    /// Limits a `fail` turn to the first `times` attempts; no effect on
    /// other turns.
    pub fn times(mut self, times: u32) -> Self {
        if let TurnAction::Fail(failure) = &mut self.action {
            failure.times = Some(times);
        }
        self
    }

    /// Delays the answer.
    pub fn delay_ms(mut self, delay_ms: u64) -> Self {
        self.delay_ms = delay_ms;
        self
    }

    fn now(action: TurnAction) -> Self {
        Self {
            action,
            delay_ms: 0,
        }
    }

    /// Whether this turn plays on `attempt`: a `fail` turn with `times = N`
    /// stands aside from attempt N + 1 on.
    pub(crate) fn applies_to(&self, attempt: u32) -> bool {
        match &self.action {
            TurnAction::Fail(ScriptedFailure {
                times: Some(times), ..
            }) => attempt <= *times,
            _ => true,
        }
    }
}

/// What a scripted turn does.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnAction {
    /// Answer with this text (rendered as a prompt template).
    Reply(String),
    /// Ask for these tools.
    ToolCalls(Vec<ScriptedToolCall>),
    /// Fail the call.
    Fail(ScriptedFailure),
}

/// A scripted tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments; string values are rendered as prompt templates.
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

/// A scripted provider failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedFailure {
    /// The code the failed step reports.
    pub code: String,
    /// The message.
    #[serde(default = "default_fail_message")]
    pub message: String,
    /// Fail only the first `times` attempts; `None` fails every attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// A turn as written in TOML: exactly one of `reply`, `tool_calls`, `fail`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ScriptedToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fail: Option<ScriptedFailure>,
    #[serde(default, skip_serializing_if = "is_zero")]
    delay_ms: u64,
}

impl TryFrom<RawTurn> for Turn {
    type Error = String;

    fn try_from(raw: RawTurn) -> Result<Self, String> {
        let action = match (raw.reply, raw.tool_calls, raw.fail) {
            (Some(text), None, None) => TurnAction::Reply(text),
            (None, Some(calls), None) if !calls.is_empty() => TurnAction::ToolCalls(calls),
            (None, Some(_), None) => return Err("`tool_calls` is empty".to_owned()),
            (None, None, Some(failure)) => TurnAction::Fail(failure),
            _ => {
                return Err(
                    "a turn needs exactly one of `reply`, `tool_calls` or `fail`".to_owned(),
                );
            }
        };
        Ok(Turn {
            action,
            delay_ms: raw.delay_ms,
        })
    }
}

impl From<Turn> for RawTurn {
    fn from(turn: Turn) -> Self {
        let mut raw = RawTurn {
            delay_ms: turn.delay_ms,
            ..RawTurn::default()
        };
        match turn.action {
            TurnAction::Reply(text) => raw.reply = Some(text),
            TurnAction::ToolCalls(calls) => raw.tool_calls = Some(calls),
            TurnAction::Fail(failure) => raw.fail = Some(failure),
        }
        raw
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn default_fail_message() -> String {
    "scripted failure".to_owned()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
