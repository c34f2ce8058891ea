//! Model providers for Agentwerke: OpenAI-compatible Chat Completions and
//! Anthropic Messages over HTTP, behind the agents' [`ModelProvider`] seam.
//!
//! The design decisions:
//! - Thin clients of our own over `reqwest`: two wire formats, mapped
//!   exactly (modules `openai` and `anthropic`), with nothing between our messages
//!   and the JSON but a tool-name map (the wire allows no dots).
//! - Keys are `secret:NAME` references (or a variable named in config),
//!   resolved at each request inside the client ([`key`]) and sent in a
//!   header marked sensitive; the record keeps the secret's name and
//!   fingerprint, never the value.
//! - Failures have stable codes ([`ModelErrorKind`]); 429, 5xx, connection
//!   errors and timeouts are retried with backoff and full jitter,
//!   honouring `Retry-After` ([`retry`]).
//! - Streaming answers hand their text to a [`TextSink`] as it arrives.
//!
//! [`ModelProvider`]: agentwerke_agents::provider::ModelProvider
//! [`ModelErrorKind`]: agentwerke_agents::provider::ModelErrorKind
//! [`TextSink`]: agentwerke_agents::provider::TextSink
#![deny(missing_docs)]

mod answer;
mod anthropic;
mod client;
#[cfg(feature = "fake")]
pub mod fake;
pub mod key;
mod names;
mod openai;
pub mod retry;
mod router;
pub mod settings;

pub use client::{BuildError, HttpProvider};
pub use key::KeyResolver;
pub use retry::RetryPolicy;
pub use router::ProviderRouter;
pub use settings::{ProviderKind, ProviderSettings, ProviderSpec, SettingsError, check_all};
