//! A local model provider server for tests, speaking the OpenAI Chat
//! Completions or the Anthropic Messages wire format over real HTTP.
//!
//! Each request takes the next queued [`Reply`] (or asks the fallback); the
//! answer is streamed when the request asks for `stream`, with text and
//! tool-call arguments split across several events, as the real APIs do.
//! Every request is kept ([`FakeProvider::requests`]) so a test can check
//! exactly what was sent. Behind the `fake` feature: tests of other crates
//! (the server, the command line) use it through their dev-dependencies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use futures::StreamExt as _;
use serde_json::{Value, json};

/// Which wire format the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST /v1/chat/completions`.
    OpenAi,
    /// `POST /v1/messages`.
    Anthropic,
}

/// Tokens the fake reports for a turn. `input` is all of the prompt, of
/// which `cached` came from the cache (Anthropic's wire reports the two
/// apart; the fake does so too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FakeUsage {
    /// Prompt tokens.
    pub input: u64,
    /// Completion tokens.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cached: u64,
}

/// A tool call the fake model makes, by the name the request offered
/// (the wire name, such as `artifact_write`).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCall {
    /// The call's id.
    pub id: String,
    /// The tool's wire name.
    pub name: String,
    /// The arguments.
    pub arguments: Value,
}

/// One model turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FakeTurn {
    /// The text, if any.
    pub text: Option<String>,
    /// Tool calls, in order.
    pub tool_calls: Vec<FakeCall>,
    /// Tokens reported.
    pub usage: FakeUsage,
}

impl FakeTurn {
    /// A final answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// A turn asking for `calls` (`(id, wire name, arguments)`).
    pub fn calls<'a>(calls: impl IntoIterator<Item = (&'a str, &'a str, Value)>) -> Self {
        Self {
            tool_calls: calls
                .into_iter()
                .map(|(id, name, arguments)| FakeCall {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    arguments,
                })
                .collect(),
            ..Self::default()
        }
    }

    /// With these token counts.
    pub fn usage(mut self, input: u64, output: u64, cached: u64) -> Self {
        self.usage = FakeUsage {
            input,
            output,
            cached,
        };
        self
    }
}

/// What the fake answers one request with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A model turn, whole or streamed as the request asks.
    Turn(FakeTurn),
    /// An error answer in the wire's error shape.
    Error {
        /// HTTP status.
        status: u16,
        /// A `Retry-After` header, as written.
        retry_after: Option<String>,
        /// The error's type (`rate_limit_error`, `server_error` ...).
        kind: String,
        /// Its message.
        message: String,
    },
    /// 200 with a body (or a stream event) that is not of the format.
    Malformed,
    /// Starts the answer, then drops the connection halfway.
    BreakOff(FakeTurn),
    /// Waits, then answers with the turn.
    Slow(Duration, FakeTurn),
}

impl Reply {
    /// An error answer without `Retry-After`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Reply::Error {
            status,
            retry_after: None,
            kind: kind.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// Headers, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The JSON body.
    pub body: Value,
}

type Fallback = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

struct Shared {
    wire: Wire,
    expected_key: Option<String>,
    queue: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
    fallback: Mutex<Option<Fallback>>,
}

/// A running fake provider; stops when dropped.
pub struct FakeProvider {
    shared: Arc<Shared>,
    address: std::net::SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    /// Starts a fake on a free local port; with `expected_key`, a request
    /// that does not carry it (as the wire's key header) gets a 401.
    pub async fn start(wire: Wire, expected_key: Option<&str>) -> Self {
        let shared = Arc::new(Shared {
            wire,
            expected_key: expected_key.map(str::to_owned),
            queue: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            fallback: Mutex::new(None),
        });
        let path = match wire {
            Wire::OpenAi => "/v1/chat/completions",
            Wire::Anthropic => "/v1/messages",
        };
        let app = Router::new()
            .route(path, post(answer))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake provider");
        let address = listener.local_addr().expect("the fake's address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            shared,
            address,
            server,
        }
    }

    /// The `base-url` a provider of this wire is configured with.
    pub fn base_url(&self) -> String {
        match self.shared.wire {
            Wire::OpenAi => format!("http://{}/v1", self.address),
            Wire::Anthropic => format!("http://{}", self.address),
        }
    }

    /// Queues `reply` for the next request.
    pub fn push(&self, reply: Reply) -> &Self {
        self.shared.queue.lock().expect("queue").push_back(reply);
        self
    }

    /// Answers requests with nothing queued by asking `fallback` with the
    /// request's body.
    pub fn fallback(&self, fallback: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        *self.shared.fallback.lock().expect("fallback") = Some(Arc::new(fallback));
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received").clone()
    }
}

async fn answer(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let received = Received {
        headers: headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    value.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    };
    shared.received.lock().expect("received").push(received);
    let wire = shared.wire;
    if let Some(expected) = &shared.expected_key {
        let sent = match wire {
            Wire::OpenAi => headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok())),
            Wire::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()),
        };
        if sent != Some(expected.as_str()) {
            return error(
                wire,
                401,
                None,
                "authentication_error",
                "invalid x-api-key or Incorrect API key provided",
            );
        }
    }
    let queued = shared.queue.lock().expect("queue").pop_front();
    let reply = match queued {
        Some(reply) => reply,
        None => {
            let fallback = shared.fallback.lock().expect("fallback").clone();
            match fallback {
                Some(fallback) => fallback(&body),
                None => Reply::error(500, "server_error", "the fake has no reply queued"),
            }
        }
    };
    let model = body["model"].as_str().unwrap_or("fake-model").to_owned();
    let stream = body["stream"] == json!(true);
    let include_usage = body["stream_options"]["include_usage"] == json!(true);
    match reply {
        Reply::Turn(turn) => turn_answer(wire, &model, &turn, stream, include_usage, false),
        Reply::Slow(wait, turn) => {
            tokio::time::sleep(wait).await;
            turn_answer(wire, &model, &turn, stream, include_usage, false)
        }
        Reply::BreakOff(turn) => turn_answer(wire, &model, &turn, stream, include_usage, true),
        Reply::Error {
            status,
            retry_after,
            kind,
            message,
        } => error(wire, status, retry_after.as_deref(), &kind, &message),
        Reply::Malformed if stream => sse(
            vec![(None, "{\"choices\": [{\"delta\": ".to_owned())],
            false,
        ),
        Reply::Malformed => Response::builder()
            .header("content-type", "application/json")
            .body(Body::from("{\"id\": \"x\", \"choices\": ["))
            .expect("response"),
    }
}

fn error(
    wire: Wire,
    status: u16,
    retry_after: Option<&str>,
    kind: &str,
    message: &str,
) -> Response {
    let body = match wire {
        Wire::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": kind}})
        }
        Wire::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).expect("status"))
        .header("content-type", "application/json");
    if let Some(after) = retry_after {
        response = response.header("retry-after", after);
    }
    response
        .body(Body::from(body.to_string()))
        .expect("response")
}

fn turn_answer(
    wire: Wire,
    model: &str,
    turn: &FakeTurn,
    stream: bool,
    include_usage: bool,
    break_off: bool,
) -> Response {
    if !stream {
        let body = match wire {
            Wire::OpenAi => openai_whole(model, turn),
            Wire::Anthropic => anthropic_whole(model, turn),
        }
        .to_string();
        if break_off {
            let half = body[..body.len() / 2].to_owned();
            return broken(
                "application/json",
                vec![Ok(Bytes::from(half))],
                Some(body.len()),
            );
        }
        return Response::builder()
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("response");
    }
    let events = match wire {
        Wire::OpenAi => openai_events(model, turn, include_usage),
        Wire::Anthropic => anthropic_events(model, turn),
    };
    sse(events, break_off)
}

/// Server-sent events; broken off after half of them when asked.
fn sse(events: Vec<(Option<&'static str>, String)>, break_off: bool) -> Response {
    let keep = if break_off {
        events.len() / 2
    } else {
        events.len()
    };
    let frames: Vec<Result<Bytes, std::io::Error>> = events
        .into_iter()
        .take(keep)
        .map(|(event, data)| {
            let frame = match event {
                Some(name) => format!("event: {name}\ndata: {data}\n\n"),
                None => format!("data: {data}\n\n"),
            };
            Ok(Bytes::from(frame))
        })
        .collect();
    if break_off {
        return broken("text/event-stream", frames, None);
    }
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(futures::stream::iter(frames)))
        .expect("response")
}

/// A body that sends `frames`, then fails: the connection is dropped.
fn broken(
    content_type: &str,
    frames: Vec<Result<Bytes, std::io::Error>>,
    length: Option<usize>,
) -> Response {
    let failing = futures::stream::iter(frames).chain(futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err::<Bytes, _>(std::io::Error::other("the fake broke the answer off"))
    }));
    let mut response = Response::builder().header("content-type", content_type);
    if let Some(length) = length {
        response = response.header("content-length", length);
    }
    response.body(Body::from_stream(failing)).expect("response")
}

/// `text` in pieces of a few characters, as a model streams it.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size.max(1))
        .map(|chunk| chunk.iter().collect())
        .collect()
}

fn openai_whole(model: &str, turn: &FakeTurn) -> Value {
    let mut message = json!({"role": "assistant", "content": turn.text});
    if !turn.tool_calls.is_empty() {
        message["tool_calls"] = turn
            .tool_calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                       "function": {"name": call.name, "arguments": call.arguments.to_string()}})
            })
            .collect();
    }
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
                     "finish_reason": finish_reason(turn, "stop", "tool_calls")}],
        "usage": openai_usage(turn.usage),
    })
}

fn openai_usage(usage: FakeUsage) -> Value {
    json!({"prompt_tokens": usage.input, "completion_tokens": usage.output,
           "total_tokens": usage.input + usage.output,
           "prompt_tokens_details": {"cached_tokens": usage.cached}})
}

fn finish_reason<'a>(turn: &FakeTurn, stop: &'a str, tools: &'a str) -> &'a str {
    if turn.tool_calls.is_empty() {
        stop
    } else {
        tools
    }
}

fn openai_events(
    model: &str,
    turn: &FakeTurn,
    include_usage: bool,
) -> Vec<(Option<&'static str>, String)> {
    let chunk = |choices: Value, usage: Value| {
        let mut chunk = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                               "created": 1_700_000_000, "model": model, "choices": choices});
        if include_usage {
            chunk["usage"] = usage;
        }
        (None, chunk.to_string())
    };
    let delta = |delta: Value| {
        chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": null}]),
            Value::Null,
        )
    };
    let mut events = vec![delta(json!({"role": "assistant", "content": ""}))];
    if let Some(text) = &turn.text {
        for piece in pieces(text, 5) {
            events.push(delta(json!({"content": piece})));
        }
    }
    for (index, call) in turn.tool_calls.iter().enumerate() {
        events.push(delta(json!({"tool_calls": [{"index": index, "id": call.id,
            "type": "function", "function": {"name": call.name, "arguments": ""}}]})));
        for piece in pieces(&call.arguments.to_string(), 7) {
            events.push(delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
            ));
        }
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "logprobs": null,
                "finish_reason": finish_reason(turn, "stop", "tool_calls")}]),
        Value::Null,
    ));
    if include_usage {
        events.push(chunk(json!([]), openai_usage(turn.usage)));
    }
    events.push((None, "[DONE]".to_owned()));
    events
}

fn anthropic_usage(usage: FakeUsage) -> Value {
    json!({"input_tokens": usage.input - usage.cached.min(usage.input),
           "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": usage.cached,
           "output_tokens": usage.output})
}

fn anthropic_whole(model: &str, turn: &FakeTurn) -> Value {
    let mut content = Vec::new();
    if let Some(text) = &turn.text {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in &turn.tool_calls {
        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name,
                            "input": call.arguments}));
    }
    json!({
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": finish_reason(turn, "end_turn", "tool_use"),
        "stop_sequence": null,
        "usage": anthropic_usage(turn.usage),
    })
}

fn anthropic_events(model: &str, turn: &FakeTurn) -> Vec<(Option<&'static str>, String)> {
    let event = |name: &'static str, data: Value| (Some(name), data.to_string());
    let mut start_usage = anthropic_usage(turn.usage);
    start_usage["output_tokens"] = json!(1);
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message",
                "role": "assistant", "content": [], "model": model, "stop_reason": null,
                "stop_sequence": null, "usage": start_usage}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    let mut index = 0;
    if let Some(text) = &turn.text {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "text", "text": ""}}),
        ));
        for piece in pieces(text, 5) {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    for call in &turn.tool_calls {
        events.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": call.id, "name": call.name,
                                     "input": {}}}),
        ));
        for piece in pieces(&call.arguments.to_string(), 7) {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    events.push(event(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": finish_reason(turn, "end_turn", "tool_use"),
                         "stop_sequence": null},
               "usage": {"output_tokens": turn.usage.output}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}
