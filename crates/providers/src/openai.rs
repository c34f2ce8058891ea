//! The OpenAI Chat Completions wire format (`POST {base}/chat/completions`),
//! which OpenAI-compatible servers (Azure OpenAI, Ollama, vLLM, LM Studio,
//! llama.cpp's server, OpenRouter) speak too.

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
    max_tokens: Option<u32>,
) -> Value {
    let messages: Vec<Value> = req
        .messages
        .iter()
        .map(|m| match m.role {
            Role::System => json!({"role": "system", "content": m.content}),
            Role::User => json!({"role": "user", "content": m.content}),
            Role::Assistant => {
                let mut message = json!({"role": "assistant", "content": m.content});
                if !m.tool_calls.is_empty() {
                    if m.content.is_empty() {
                        message["content"] = Value::Null;
                    }
                    message["tool_calls"] = m
                        .tool_calls
                        .iter()
                        .map(|call| {
                            json!({
                                "id": call.id,
                                "type": "function",
                                "function": {
                                    "name": names.wire(&call.name),
                                    "arguments": call.arguments.to_string(),
                                },
                            })
                        })
                        .collect();
                }
                message
            }
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            }),
        })
        .collect();
    let mut body = json!({"model": model, "messages": messages});
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": names.wire(&tool.name),
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_input_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cost_usd: 0.0,
        }
    }
}

/// A whole (not streamed) answer.
pub(crate) fn parse(body: &[u8], names: &ToolNames) -> Result<Answer, String> {
    let completion: Completion = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not a chat completion: {e}"))?;
    let choice = completion
        .choices
        .into_iter()
        .next()
        .ok_or("the answer has no choices")?;
    Ok(Answer {
        content: choice.message.content.and_then(content),
        tool_calls: choice
            .message
            .tool_calls
            .into_iter()
            .map(|call| ToolCallRequest {
                id: call.id,
                name: names.real(&call.function.name),
                arguments: arguments(&call.function.arguments),
            })
            .collect(),
        usage: completion
            .usage
            .as_ref()
            .map(WireUsage::usage)
            .unwrap_or_default(),
        model: completion.model,
    })
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<DeltaCall>,
}

#[derive(Deserialize)]
struct DeltaCall {
    #[serde(default)]
    index: usize,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// A streamed answer as its chunks arrive: text in order, each tool call's
/// arguments joined from the pieces that carry its index.
#[derive(Default)]
pub(crate) struct Stream {
    text: String,
    calls: BTreeMap<usize, PartialCall>,
    usage: Option<Usage>,
    model: Option<String>,
    done: bool,
}

impl Stream {
    /// Takes one event's data; `Ok(true)` once the stream says it is done.
    pub(crate) fn feed(&mut self, data: &str, sink: &dyn TextSink) -> Result<bool, String> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(true);
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| format!("a streamed chunk is not a chat completion chunk: {e}"))?;
        // OpenAI-compatible servers report a failure midway as a chunk that
        // is only an error; it must not pass for an empty chunk.
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(format!(
                "the provider broke off its answer: {}",
                message.chars().take(300).collect::<String>()
            ));
        }
        if chunk.model.is_some() {
            self.model = chunk.model;
        }
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.usage());
        }
        for choice in chunk.choices {
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                sink.text(&text);
                self.text.push_str(&text);
            }
            for piece in delta.tool_calls {
                let call = self.calls.entry(piece.index).or_default();
                if let Some(id) = piece.id {
                    call.id = id;
                }
                if let Some(function) = piece.function {
                    if let Some(name) = function.name {
                        call.name.push_str(&name);
                    }
                    if let Some(arguments) = function.arguments {
                        call.arguments.push_str(&arguments);
                    }
                }
            }
        }
        Ok(false)
    }

    /// The answer, once the stream has ended; a stream that ended before
    /// `[DONE]` broke off.
    pub(crate) fn finish(self, names: &ToolNames) -> Result<Answer, String> {
        if !self.done {
            return Err("the answer's stream broke off before [DONE]".to_owned());
        }
        Ok(Answer {
            content: content(self.text),
            tool_calls: self
                .calls
                .into_values()
                .map(|call| ToolCallRequest {
                    id: call.id,
                    name: names.real(&call.name),
                    arguments: arguments(&call.arguments),
                })
                .collect(),
            usage: self.usage.unwrap_or_default(),
            model: self.model,
        })
    }
}

/// Whether an error answer says the conversation is too long.
pub(crate) fn context_too_long(error: &Value) -> bool {
    let code = error.pointer("/error/code").and_then(Value::as_str);
    let message = error
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    code == Some("context_length_exceeded")
        || message.contains("context length")
        || message.contains("context window")
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::provider::NoSink;

    use super::*;

    #[test]
    fn an_error_chunk_midway_is_a_failure_not_an_empty_chunk() {
        let mut stream = Stream::default();
        let first = r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#;
        assert_eq!(stream.feed(first, &NoSink), Ok(false));
        let error = stream
            .feed(
                r#"{"error":{"message":"model overloaded","type":"server_error"}}"#,
                &NoSink,
            )
            .unwrap_err();
        assert!(error.contains("model overloaded"), "{error}");
    }

    #[test]
    fn tool_call_pieces_join_by_index_and_usage_comes_from_the_last_chunk() {
        let mut stream = Stream::default();
        let chunks = [
            r#"{"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"y","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"x","arguments":"{\"p\":"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":null}}}"#,
        ];
        for chunk in chunks {
            assert_eq!(stream.feed(chunk, &NoSink), Ok(false), "{chunk}");
        }
        assert_eq!(stream.feed("[DONE]", &NoSink), Ok(true));
        let answer = stream.finish(&ToolNames::default()).unwrap();
        let calls: Vec<_> = answer
            .tool_calls
            .iter()
            .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.to_string()))
            .collect();
        assert_eq!(
            calls,
            [
                ("a", "x", r#"{"p":1}"#.to_owned()),
                ("b", "y", "{}".to_owned())
            ]
        );
        assert_eq!(answer.content, None);
        assert_eq!(answer.model.as_deref(), Some("m-1"));
        assert_eq!(
            (
                answer.usage.input_tokens,
                answer.usage.output_tokens,
                answer.usage.cached_input_tokens
            ),
            (9, 4, 0)
        );
    }
}
