//! The Anthropic Messages wire format (`POST {base}/v1/messages`): the
//! system prompt is a top-level field, a tool call is a `tool_use` block of
//! the assistant's message and its result a `tool_result` block of the next
//! user message.

use std::collections::BTreeMap;

use agentwerke_agents::provider::{ModelRequest, Role, TextSink, ToolCallRequest, Usage};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::answer::{Answer, arguments, content};
use crate::names::ToolNames;

/// The request body.
pub(crate) fn body(
    req: &ModelRequest,
    model: &str,
    names: &mut ToolNames,
    stream: bool,
    max_tokens: u32,
) -> Value {
    let mut system: Vec<&str> = Vec::new();
    // (role, content blocks); consecutive messages of one role are merged,
    // as the API wants user and assistant turns to alternate.
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m.role {
            Role::System => {
                system.push(&m.content);
                continue;
            }
            Role::User => ("user", vec![json!({"type": "text", "text": m.content})]),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for call in &m.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": names.wire(&call.name),
                        "input": tool_input(&call.arguments),
                    }));
                }
                ("assistant", blocks)
            }
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content,
                })],
            ),
        };
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect();
    let mut body = json!({"model": model, "max_tokens": max_tokens, "messages": messages});
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "name": names.wire(&tool.name),
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                })
            })
            .collect();
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    if stream {
        body["stream"] = json!(true);
    }
    body
}

/// `tool_use.input` must be an object; arguments the model wrote as
/// something else are wrapped so the history can still be sent.
fn tool_input(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        other => json!({"arguments": other}),
    }
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Folds in a later report (`message_delta` counts are cumulative).
    fn update(&mut self, later: WireUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }

    /// Anthropic counts cache reads and writes apart from `input_tokens`;
    /// our input is all of the prompt, of which the reads were cached.
    fn usage(&self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0)
                + self.cache_creation_input_tokens.unwrap_or(0)
                + cached,
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: cached,
            cost_usd: 0.0,
        }
    }
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    model: Option<String>,
    content: Vec<Block>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// A whole (not streamed) answer.
pub(crate) fn parse(body: &[u8], names: &ToolNames) -> Result<Answer, String> {
    let message: Message =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not a message: {e}"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            Block::Text { text: piece } => text.push_str(&piece),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCallRequest {
                id,
                name: names.real(&name),
                arguments: if input.is_null() { json!({}) } else { input },
            }),
            Block::Other => {}
        }
    }
    Ok(Answer {
        content: content(text),
        tool_calls,
        usage: message.usage.usage(),
        model: message.model,
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: StartBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: WireError,
    },
    /// An event type added after this client was written: the API says
    /// new ones may come, and they are to be ignored.
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

enum Partial {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
    },
    Other,
}

/// What a stream's `error` event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamError {
    /// Anthropic's error type, e.g. `overloaded_error`.
    pub(crate) kind: String,
    /// Its message.
    pub(crate) message: String,
}

/// A streamed answer as its events arrive.
#[derive(Default)]
pub(crate) struct Stream {
    blocks: BTreeMap<usize, Partial>,
    usage: WireUsage,
    model: Option<String>,
    started: bool,
    stopped: bool,
}

/// Why a stream could not be read.
pub(crate) enum StreamFailure {
    /// The data is not an event of the format.
    Malformed(String),
    /// The provider reported an error in the stream.
    Reported(StreamError),
}

impl Stream {
    /// Takes one event's data; `Ok(true)` at `message_stop`.
    pub(crate) fn feed(&mut self, data: &str, sink: &dyn TextSink) -> Result<bool, StreamFailure> {
        let event: Event = serde_json::from_str(data).map_err(|e| {
            StreamFailure::Malformed(format!("a streamed event is not a message event: {e}"))
        })?;
        match event {
            Event::MessageStart { message } => {
                self.started = true;
                self.model = message.model;
                self.usage = message.usage;
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let partial = match content_block {
                    StartBlock::Text { text } => {
                        if !text.is_empty() {
                            sink.text(&text);
                        }
                        Partial::Text(text)
                    }
                    StartBlock::ToolUse { id, name } => Partial::Tool {
                        id,
                        name,
                        json: String::new(),
                    },
                    StartBlock::Other => Partial::Other,
                };
                self.blocks.insert(index, partial);
            }
            Event::ContentBlockDelta { index, delta } => {
                let block = self.blocks.get_mut(&index).ok_or_else(|| {
                    StreamFailure::Malformed(format!("a delta for block {index}, never started"))
                })?;
                match (block, delta) {
                    (Partial::Text(text), BlockDelta::TextDelta { text: piece }) => {
                        sink.text(&piece);
                        text.push_str(&piece);
                    }
                    (Partial::Tool { json, .. }, BlockDelta::InputJsonDelta { partial_json }) => {
                        json.push_str(&partial_json);
                    }
                    (_, BlockDelta::Other) | (Partial::Other, _) => {}
                    _ => {
                        return Err(StreamFailure::Malformed(format!(
                            "block {index} got a delta of another kind"
                        )));
                    }
                }
            }
            Event::MessageDelta { usage } => {
                if let Some(usage) = usage {
                    self.usage.update(usage);
                }
            }
            Event::MessageStop {} => {
                self.stopped = true;
                return Ok(true);
            }
            Event::ContentBlockStop {} | Event::Ping {} | Event::Unknown => {}
            Event::Error { error } => {
                return Err(StreamFailure::Reported(StreamError {
                    kind: error.kind,
                    message: error.message,
                }));
            }
        }
        Ok(false)
    }

    /// The answer, once the stream has ended; one that ended before
    /// `message_stop` broke off.
    pub(crate) fn finish(self, names: &ToolNames) -> Result<Answer, String> {
        if !self.started || !self.stopped {
            return Err("the answer's stream broke off before message_stop".to_owned());
        }
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.blocks.into_values() {
            match block {
                Partial::Text(piece) => text.push_str(&piece),
                Partial::Tool { id, name, json } => tool_calls.push(ToolCallRequest {
                    id,
                    name: names.real(&name),
                    arguments: arguments(&json),
                }),
                Partial::Other => {}
            }
        }
        Ok(Answer {
            content: content(text),
            tool_calls,
            usage: self.usage.usage(),
            model: self.model,
        })
    }
}

/// Whether an error answer says the conversation is too long.
pub(crate) fn context_too_long(error: &Value) -> bool {
    let message = error
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    message.contains("prompt is too long") || message.contains("context window")
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::provider::NoSink;

    use super::*;

    #[test]
    fn unknown_events_and_deltas_are_ignored_and_thinking_is_not_text() {
        let mut stream = Stream::default();
        let events = [
            r#"{"type":"message_start","message":{"model":"m","usage":{"input_tokens":5,"output_tokens":1}}}"#,
            r#"{"type":"some_future_event","detail":1}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"x"}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
            r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":7}}"#,
        ];
        for event in events {
            assert!(matches!(stream.feed(event, &NoSink), Ok(false)), "{event}");
        }
        assert!(matches!(
            stream.feed(r#"{"type":"message_stop"}"#, &NoSink),
            Ok(true)
        ));
        let answer = stream.finish(&ToolNames::default()).unwrap();
        assert_eq!(answer.content.as_deref(), Some("Hi"));
        // Usage in message_delta is cumulative: the last one counts.
        assert_eq!(
            (answer.usage.input_tokens, answer.usage.output_tokens),
            (5, 7)
        );
    }
}
