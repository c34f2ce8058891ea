//! What one attempt at a model call produced, in either wire format.

use agentwerke_agents::provider::{ToolCallRequest, Usage};
use serde_json::Value;

/// A model's turn as read from the wire, tool names already mapped back.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Answer {
    /// The text, if any.
    pub(crate) content: Option<String>,
    /// The tool calls, in order.
    pub(crate) tool_calls: Vec<ToolCallRequest>,
    /// Tokens as the provider counted them.
    pub(crate) usage: Usage,
    /// The model that answered, when the provider says.
    pub(crate) model: Option<String>,
}

/// A tool call's arguments from the JSON text the model wrote: empty is no
/// arguments; text that is not JSON is passed on as a string, so the
/// gateway refuses it against the tool's schema and the model reads why.
pub(crate) fn arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Text as the model's content: empty is none.
pub(crate) fn content(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}
