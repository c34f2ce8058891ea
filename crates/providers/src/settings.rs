//! `[[providers]]` as written in the config file, and its validation.
//!
//! Checked once at `check` and at start, all at once, so a typo in a URL
//! or a key reference is an error before the first run rather than a failed
//! step an hour later.

use std::collections::BTreeSet;
use std::time::Duration;

use agentwerke_secrets::SecretRef;
use agentwerke_types::ErrorCode;
use reqwest::Url;
use serde::{Deserialize, Serialize};

/// Seconds a request may take unless configured otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Attempts after the first unless configured otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// `max_tokens` sent to Anthropic (which requires it) unless configured.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// The `anthropic-version` header unless configured.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions: OpenAI, Azure OpenAI, Ollama,
    /// vLLM, LM Studio, llama.cpp's server, OpenRouter.
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// The built-in scripted provider: no network, no tokens.
    Scripted,
}

/// How the key goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and most compatible servers).
    #[default]
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKey,
}

/// One `[[providers]]` entry as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProviderSettings {
    /// The name agents and `ModelRequest.provider` use.
    pub name: String,
    /// `openai`, `anthropic` or `scripted`.
    pub kind: ProviderKind,
    /// Where the API lives; defaults to the vendor's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// `secret:NAME`: the key, resolved from the secret store per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The name of an environment variable holding the key, for a
    /// deployment without the secret store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// `bearer` (default) or `api-key` (Azure OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_header: Option<KeyHeader>,
    /// The model used when the agent names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Seconds one attempt may take, answer streamed to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Attempts after the first on 429, 5xx, connection errors and timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Whether requests that name no provider go here.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// Whether to ask for a streamed answer (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Anthropic's required `max_tokens`; also sent to OpenAI-compatible
    /// servers when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Anthropic's `anthropic-version` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anthropic_version: Option<String>,
}

/// Where a provider's key comes from. Never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// No key (a local server such as Ollama).
    None,
    /// A `secret:NAME` reference.
    Secret(SecretRef),
    /// An environment variable, by name.
    Env(String),
}

/// A checked `[[providers]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    /// Its name.
    pub name: String,
    /// Its wire format.
    pub kind: ProviderKind,
    /// Where the API lives (unused for `scripted`).
    pub base_url: Url,
    /// Where the key comes from.
    pub key: KeySource,
    /// How the key goes on the wire.
    pub key_header: KeyHeader,
    /// The default model.
    pub model: Option<String>,
    /// The per-attempt timeout.
    pub timeout: Duration,
    /// Attempts after the first.
    pub max_retries: u32,
    /// Whether requests that name no provider go here.
    pub default: bool,
    /// Whether answers are streamed.
    pub stream: bool,
    /// `max_tokens`, when set or required.
    pub max_tokens: Option<u32>,
    /// Anthropic's version header.
    pub anthropic_version: String,
}

/// A `[[providers]]` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Two entries share a name.
    #[error("[[providers]] '{0}' is configured twice")]
    DuplicateName(String),
    /// A name that is empty or has characters other than letters, digits, `-`, `_`, `.`.
    #[error("[[providers]] name '{0}' must be 1-64 letters, digits, '-', '_' or '.'")]
    BadName(String),
    /// `base-url` is not an http(s) URL.
    #[error("[[providers]] '{name}': base-url '{url}' is not an http or https URL")]
    BadUrl {
        /// The entry.
        name: String,
        /// What was written.
        url: String,
    },
    /// `api-key` is not a `secret:NAME` reference.
    #[error(
        "[[providers]] '{0}': api-key must be a secret reference such as \"secret:OPENAI_API_KEY\" (keys are never written in the config file)"
    )]
    BadKeyReference(String),
    /// Both `api-key` and `api-key-env`.
    #[error("[[providers]] '{0}': set api-key or api-key-env, not both")]
    KeyTwice(String),
    /// A remote provider without a default model.
    #[error("[[providers]] '{0}': model is required (the model used when an agent names none)")]
    MissingModel(String),
    /// More than one entry says `default = true`.
    #[error("[[providers]] '{0}' and '{1}' are both marked default = true")]
    TwoDefaults(String, String),
    /// A zero timeout.
    #[error("[[providers]] '{0}': timeout-secs must be at least 1")]
    ZeroTimeout(String),
}

impl ErrorCode for SettingsError {
    fn code(&self) -> &'static str {
        match self {
            SettingsError::DuplicateName(_) => "providers.duplicate_name",
            SettingsError::BadName(_) => "providers.bad_name",
            SettingsError::BadUrl { .. } => "providers.bad_url",
            SettingsError::BadKeyReference(_) => "providers.bad_key_reference",
            SettingsError::KeyTwice(_) => "providers.key_twice",
            SettingsError::MissingModel(_) => "providers.missing_model",
            SettingsError::TwoDefaults(..) => "providers.two_defaults",
            SettingsError::ZeroTimeout(_) => "providers.zero_timeout",
        }
    }
}

impl ProviderSettings {
    /// Checks this one entry.
    pub fn check(&self) -> Result<ProviderSpec, SettingsError> {
        let name = self.name.clone();
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !name_ok {
            return Err(SettingsError::BadName(name));
        }
        let default_url = match self.kind {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Scripted => "http://localhost",
        };
        let written = self.base_url.as_deref().unwrap_or(default_url);
        let base_url = Url::parse(written)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
            .ok_or_else(|| SettingsError::BadUrl {
                name: name.clone(),
                url: written.to_owned(),
            })?;
        let key = match (&self.api_key, &self.api_key_env) {
            (Some(_), Some(_)) => return Err(SettingsError::KeyTwice(name)),
            (Some(reference), None) => KeySource::Secret(
                SecretRef::parse(reference)
                    .map_err(|_| SettingsError::BadKeyReference(name.clone()))?,
            ),
            (None, Some(var)) if !var.trim().is_empty() => KeySource::Env(var.clone()),
            (None, Some(_)) => return Err(SettingsError::BadKeyReference(name)),
            (None, None) => KeySource::None,
        };
        let model = self.model.clone().filter(|m| !m.trim().is_empty());
        if model.is_none() && self.kind != ProviderKind::Scripted {
            return Err(SettingsError::MissingModel(name));
        }
        let timeout_secs = self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(SettingsError::ZeroTimeout(name));
        }
        let max_tokens = match self.kind {
            ProviderKind::Anthropic => Some(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
            _ => self.max_tokens,
        };
        Ok(ProviderSpec {
            name,
            kind: self.kind,
            base_url,
            key,
            key_header: self.api_key_header.unwrap_or_default(),
            model,
            timeout: Duration::from_secs(timeout_secs),
            max_retries: self.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            default: self.default,
            stream: self.stream.unwrap_or(true),
            max_tokens,
            anthropic_version: self
                .anthropic_version
                .clone()
                .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.to_owned()),
        })
    }
}

/// Checks every entry and the set as a whole; every problem is reported,
/// in the order written.
pub fn check_all(entries: &[ProviderSettings]) -> Result<Vec<ProviderSpec>, Vec<SettingsError>> {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    let mut names = BTreeSet::new();
    let mut default: Option<&str> = None;
    for entry in entries {
        if !names.insert(entry.name.as_str()) {
            errors.push(SettingsError::DuplicateName(entry.name.clone()));
        }
        if entry.default {
            match default {
                Some(first) => {
                    errors.push(SettingsError::TwoDefaults(
                        first.to_owned(),
                        entry.name.clone(),
                    ));
                }
                None => default = Some(entry.name.as_str()),
            }
        }
        match entry.check() {
            Ok(spec) => specs.push(spec),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
