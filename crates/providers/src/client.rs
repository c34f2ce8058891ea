//! One configured remote provider: builds the request in its wire format,
//! resolves the key, sends, retries, and reads the answer whole or streamed.

use std::time::{Duration, Instant, SystemTime};

use agentwerke_agents::provider::{
    CallStats, ModelErrorKind, ModelProvider, ModelRequest, ModelResponse, NoSink, ProviderError,
    TextSink,
};
use agentwerke_secrets::SecretValue;
use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode, Url};
use serde_json::Value;

use crate::answer::Answer;
use crate::anthropic::{self, StreamFailure};
use crate::key::KeyResolver;
use crate::names::ToolNames;
use crate::openai;
use crate::retry::{RetryPolicy, retry_after};
use crate::settings::{KeyHeader, ProviderKind, ProviderSpec};

/// The longest provider error message kept in a step's error.
const MAX_ERROR_MESSAGE: usize = 300;

/// Why one attempt failed.
#[derive(Debug)]
struct Failure {
    kind: ModelErrorKind,
    message: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn new(kind: ModelErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// An OpenAI-compatible or Anthropic provider over HTTP.
#[derive(Debug)]
pub struct HttpProvider {
    spec: ProviderSpec,
    url: Url,
    http: reqwest::Client,
    keys: KeyResolver,
    retry: RetryPolicy,
}

/// The HTTP client could not be built, or the spec is not a remote one.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The TLS or connection setup failed.
    #[error("cannot build the HTTP client for provider '{0}': {1}")]
    Client(String, String),
    /// A `scripted` spec has no HTTP client.
    #[error("provider '{0}' is scripted, not an HTTP provider")]
    NotRemote(String),
}

impl HttpProvider {
    /// A client for `spec`, its key resolved through `keys` at each call.
    pub fn new(spec: ProviderSpec, keys: KeyResolver) -> Result<Self, BuildError> {
        let path = match spec.kind {
            ProviderKind::Openai => "chat/completions",
            ProviderKind::Anthropic => "v1/messages",
            ProviderKind::Scripted => return Err(BuildError::NotRemote(spec.name)),
        };
        let mut base = spec.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let url = base
            .join(path)
            .map_err(|e| BuildError::Client(spec.name.clone(), e.to_string()))?;
        let http = reqwest::Client::builder()
            .connect_timeout(spec.timeout.min(Duration::from_secs(30)))
            .build()
            .map_err(|e| BuildError::Client(spec.name.clone(), e.to_string()))?;
        Ok(Self {
            spec,
            url,
            http,
            keys,
            retry: RetryPolicy::default(),
        })
    }

    /// Uses `retry` instead of the default backoff.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The endpoint requests go to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn error(&self, kind: ModelErrorKind, message: impl Into<String>) -> ProviderError {
        ProviderError::model(kind, &self.spec.name, message)
    }

    async fn call(
        &self,
        req: &ModelRequest,
        sink: &dyn TextSink,
    ) -> Result<ModelResponse, ProviderError> {
        let started = Instant::now();
        let model = req
            .model
            .clone()
            .or_else(|| self.spec.model.clone())
            .ok_or_else(|| self.error(ModelErrorKind::Rejected, "no model is configured"))?;
        // Resolved before anything is sent: a missing key sends nothing.
        let key = self
            .keys
            .resolve(&self.spec.key)
            .await
            .map_err(|message| self.error(ModelErrorKind::KeyUnavailable, message))?;
        let mut names = ToolNames::new(&req.tools);
        let body = match self.spec.kind {
            ProviderKind::Anthropic => anthropic::body(
                req,
                &model,
                &mut names,
                self.spec.stream,
                self.spec
                    .max_tokens
                    .unwrap_or(crate::settings::DEFAULT_MAX_TOKENS),
            ),
            _ => openai::body(
                req,
                &model,
                &mut names,
                self.spec.stream,
                self.spec.max_tokens,
            ),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| self.error(ModelErrorKind::Rejected, e.to_string()))?;
        let headers = self
            .headers(key.as_ref().map(|(value, _)| value))
            .map_err(|message| self.error(ModelErrorKind::KeyUnavailable, message))?;
        let mut retries = 0;
        loop {
            let attempt = tokio::time::timeout(
                self.spec.timeout,
                self.attempt(&body, &headers, &names, sink),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Failure::new(
                    ModelErrorKind::Timeout,
                    format!(
                        "no complete answer within {}s",
                        self.spec.timeout.as_secs_f64()
                    ),
                ))
            });
            let failure = match attempt {
                Ok(answer) => {
                    return Ok(ModelResponse {
                        content: answer.content,
                        tool_calls: answer.tool_calls,
                        usage: answer.usage,
                        model: answer.model.unwrap_or(model),
                        provider: self.spec.name.clone(),
                        call: CallStats {
                            latency_ms: u64::try_from(started.elapsed().as_millis())
                                .unwrap_or(u64::MAX),
                            retries,
                            key: key.map(|(_, used)| used),
                        },
                    });
                }
                Err(failure) => failure,
            };
            let wait = (failure.kind.retryable() && retries < self.spec.max_retries)
                .then(|| self.retry.wait(retries, failure.retry_after))
                .flatten();
            let Some(wait) = wait else {
                let attempts = retries + 1;
                return Err(self.error(
                    failure.kind,
                    format!(
                        "{} ({attempts} attempt{})",
                        failure.message,
                        if attempts == 1 { "" } else { "s" }
                    ),
                ));
            };
            tracing::debug!(
                provider = %self.spec.name,
                code = failure.kind.code(),
                wait_ms = wait.as_millis() as u64,
                retry = retries + 1,
                "model call failed; trying again"
            );
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// The request's headers; the key's is marked sensitive, so it is not
    /// shown by any `Debug` of the request.
    fn headers(&self, key: Option<&SecretValue>) -> Result<HeaderMap, String> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let sensitive = |text: String| {
            HeaderValue::from_str(&text)
                .map(|mut value| {
                    value.set_sensitive(true);
                    value
                })
                .map_err(|_| "the key has characters a header cannot carry".to_owned())
        };
        match self.spec.kind {
            ProviderKind::Anthropic => {
                if let Some(key) = key {
                    headers.insert(
                        HeaderName::from_static("x-api-key"),
                        sensitive(key.expose().to_owned())?,
                    );
                }
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_str(&self.spec.anthropic_version)
                        .map_err(|_| "anthropic-version is not a header value".to_owned())?,
                );
            }
            _ => {
                if let Some(key) = key {
                    match self.spec.key_header {
                        KeyHeader::Bearer => {
                            headers.insert(
                                AUTHORIZATION,
                                sensitive(format!("Bearer {}", key.expose()))?,
                            );
                        }
                        KeyHeader::ApiKey => {
                            headers.insert(
                                HeaderName::from_static("api-key"),
                                sensitive(key.expose().to_owned())?,
                            );
                        }
                    }
                }
            }
        }
        Ok(headers)
    }

    async fn attempt(
        &self,
        body: &[u8],
        headers: &HeaderMap,
        names: &ToolNames,
        sink: &dyn TextSink,
    ) -> Result<Answer, Failure> {
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers.clone())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers(), SystemTime::now());
            let text = response.bytes().await.unwrap_or_default();
            let mut failure = self.refusal(status, &text);
            failure.retry_after = retry_after;
            return Err(failure);
        }
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if streamed {
            return self.read_stream(response, names, sink).await;
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::new(ModelErrorKind::BadResponse, body_error(&e)))?;
        let answer = match self.spec.kind {
            ProviderKind::Anthropic => anthropic::parse(&bytes, names),
            _ => openai::parse(&bytes, names),
        }
        .map_err(|message| Failure::new(ModelErrorKind::BadResponse, message))?;
        // A server that ignored `stream` still shows the text live.
        if let Some(text) = &answer.content {
            sink.text(text);
        }
        Ok(answer)
    }

    async fn read_stream(
        &self,
        response: Response,
        names: &ToolNames,
        sink: &dyn TextSink,
    ) -> Result<Answer, Failure> {
        let mut events = response.bytes_stream().eventsource();
        let bad = |message: String| Failure::new(ModelErrorKind::BadResponse, message);
        match self.spec.kind {
            ProviderKind::Anthropic => {
                let mut stream = anthropic::Stream::default();
                while let Some(event) = events.next().await {
                    let event =
                        event.map_err(|e| bad(format!("the answer's stream broke off: {e}")))?;
                    match stream.feed(&event.data, sink) {
                        Ok(true) => break,
                        Ok(false) => {}
                        Err(StreamFailure::Malformed(message)) => return Err(bad(message)),
                        Err(StreamFailure::Reported(error)) => {
                            let kind = match error.kind.as_str() {
                                "overloaded_error" | "api_error" => ModelErrorKind::Unavailable,
                                "rate_limit_error" => ModelErrorKind::RateLimited,
                                _ => ModelErrorKind::BadResponse,
                            };
                            return Err(Failure::new(
                                kind,
                                format!(
                                    "the provider broke off its answer: {} {}",
                                    error.kind,
                                    truncate(&error.message)
                                ),
                            ));
                        }
                    }
                }
                stream.finish(names).map_err(bad)
            }
            _ => {
                let mut stream = openai::Stream::default();
                while let Some(event) = events.next().await {
                    let event =
                        event.map_err(|e| bad(format!("the answer's stream broke off: {e}")))?;
                    if stream.feed(&event.data, sink).map_err(bad)? {
                        break;
                    }
                }
                stream.finish(names).map_err(bad)
            }
        }
    }

    /// What an error answer means.
    fn refusal(&self, status: StatusCode, body: &[u8]) -> Failure {
        let code = status.as_u16();
        let error: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        // The provider's own words, except for a refused key: OpenAI's
        // message quotes part of the key it refused.
        let said = error
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map(truncate)
            .unwrap_or_default();
        let too_long = match self.spec.kind {
            ProviderKind::Anthropic => anthropic::context_too_long(&error),
            _ => openai::context_too_long(&error),
        };
        let (kind, message) = match code {
            401 | 403 => (
                ModelErrorKind::AuthFailed,
                format!("the provider refused the key (HTTP {code})"),
            ),
            429 => (
                ModelErrorKind::RateLimited,
                format!("rate limited (HTTP 429) {said}"),
            ),
            408 => (
                ModelErrorKind::Timeout,
                format!("the provider timed out (HTTP 408) {said}"),
            ),
            413 => (
                ModelErrorKind::ContextTooLong,
                format!("the request is too large (HTTP 413) {said}"),
            ),
            _ if too_long => (
                ModelErrorKind::ContextTooLong,
                format!("the conversation is longer than the model's context (HTTP {code}) {said}"),
            ),
            500..=599 => (
                ModelErrorKind::Unavailable,
                format!("the provider is unavailable (HTTP {code}) {said}"),
            ),
            _ => (
                ModelErrorKind::Rejected,
                format!("the provider refused the request (HTTP {code}) {said}"),
            ),
        };
        Failure::new(kind, message.trim_end().to_owned())
    }
}

/// A connection that could not be made or was lost before an answer.
fn transport(error: &reqwest::Error) -> Failure {
    let kind = if error.is_timeout() {
        ModelErrorKind::Timeout
    } else {
        ModelErrorKind::Unavailable
    };
    Failure::new(
        kind,
        format!("cannot reach the provider: {}", body_error(error)),
    )
}

/// An error's text without its URL (a base URL may carry credentials).
fn body_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_ERROR_MESSAGE) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[async_trait]
impl ModelProvider for HttpProvider {
    fn name(&self) -> &str {
        &self.spec.name
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        self.call(req, &NoSink).await
    }

    async fn complete_streaming(
        &self,
        req: &ModelRequest,
        sink: &dyn TextSink,
    ) -> Result<ModelResponse, ProviderError> {
        self.call(req, sink).await
    }
}
