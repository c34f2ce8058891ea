//! What the provider tests share: a secret store in memory, a provider
//! pointed at a fake, and a step run through the real tool-use loop.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentwerke_agents::prompt::AssembledPrompt;
use agentwerke_agents::provider::{TextSink, ToolCallRequest, ToolSpec};
use agentwerke_agents::step::{
    StepContext, StepInput, StepOutcome, ToolExecutor, ToolResult, run_step_streaming,
};
use agentwerke_evidence::redact::Redactor;
use agentwerke_gateway::{ResolvedSecret, SecretResolver, Unavailable};
use agentwerke_providers::fake::{FakeProvider, Wire};
use agentwerke_providers::{
    HttpProvider, KeyResolver, ProviderKind, ProviderSettings, RetryPolicy,
};
use agentwerke_secrets::{Environment, Fingerprinter, KeyMaterial, SecretName, SecretValue};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The key the fakes expect.
pub(crate) const KEY: &str = "sk-test-0123456789abcdefghij";

/// Secrets by name, counting how often one was resolved.
#[derive(Debug)]
pub(crate) struct Vault {
    values: Mutex<BTreeMap<String, String>>,
    fingerprinter: Fingerprinter,
    pub(crate) resolved: AtomicUsize,
}

impl Vault {
    pub(crate) fn new(values: &[(&str, &str)]) -> Arc<Self> {
        Arc::new(Self {
            values: Mutex::new(
                values
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            fingerprinter: Fingerprinter::with_key(KeyMaterial::generate().unwrap()),
            resolved: AtomicUsize::new(0),
        })
    }

    pub(crate) fn fingerprint(&self, value: &str) -> String {
        self.fingerprinter
            .fingerprint(&SecretValue::new(value.to_owned()).unwrap())
            .to_string()
    }

    pub(crate) fn resolutions(&self) -> usize {
        self.resolved.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretResolver for Vault {
    async fn resolve(&self, name: &SecretName) -> Result<ResolvedSecret, Unavailable> {
        self.resolved.fetch_add(1, Ordering::SeqCst);
        let value = self
            .values
            .lock()
            .unwrap()
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| Unavailable::Missing(name.to_string()))?;
        let value = SecretValue::new(value).unwrap();
        let fingerprint = self.fingerprinter.fingerprint(&value);
        Ok(ResolvedSecret { value, fingerprint })
    }
}

/// Environment variables of a test, not of the process.
pub(crate) struct Vars(pub(crate) Vec<(&'static str, &'static str)>);

impl Environment for Vars {
    fn var(&self, name: &str) -> Option<std::ffi::OsString> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).into())
    }
}

/// Settings for a provider of `wire` at `fake`, keyed by `secret:MODEL_KEY`.
pub(crate) fn settings(wire: Wire, fake: &FakeProvider) -> ProviderSettings {
    ProviderSettings {
        name: "remote".into(),
        kind: match wire {
            Wire::OpenAi => ProviderKind::Openai,
            Wire::Anthropic => ProviderKind::Anthropic,
        },
        base_url: Some(fake.base_url()),
        api_key: Some("secret:MODEL_KEY".into()),
        api_key_env: None,
        api_key_header: None,
        model: Some("test-model".into()),
        timeout_secs: Some(5),
        max_retries: Some(2),
        default: false,
        stream: Some(true),
        max_tokens: None,
        anthropic_version: None,
    }
}

/// Fast backoff, so retry tests take milliseconds (a `Retry-After` still
/// takes what it asks).
pub(crate) fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(40),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A provider from `settings`, its key in `vault`.
pub(crate) fn provider(settings: &ProviderSettings, vault: Arc<Vault>) -> HttpProvider {
    let keys = KeyResolver::new(
        Some(vault as Arc<dyn SecretResolver>),
        Arc::new(Vars(Vec::new())),
        Redactor::default(),
    );
    HttpProvider::new(settings.check().expect("settings"), keys)
        .expect("provider")
        .with_retry_policy(fast_retries())
}

/// The tool the tests offer.
pub(crate) fn write_tool() -> ToolSpec {
    ToolSpec {
        name: "artifact.write".into(),
        description: "Writes an artifact.".into(),
        input_schema: json!({"type": "object", "properties": {"path": {"type": "string"},
                             "content": {"type": "string"}}, "required": ["path", "content"]}),
    }
}

/// Allows every call, answering with what it was given, and keeps them.
#[derive(Default)]
pub(crate) struct Echo {
    pub(crate) calls: Mutex<Vec<ToolCallRequest>>,
}

#[async_trait]
impl ToolExecutor for Echo {
    async fn call(&self, call: &ToolCallRequest, _ctx: &StepContext) -> ToolResult {
        self.calls.lock().unwrap().push(call.clone());
        ToolResult::Allowed {
            output: json!({"written": call.arguments["path"]}),
        }
    }
}

/// Keeps every piece of streamed text.
#[derive(Default)]
pub(crate) struct Pieces(pub(crate) Mutex<Vec<String>>);

impl TextSink for Pieces {
    fn text(&self, piece: &str) {
        self.0.lock().unwrap().push(piece.to_owned());
    }
}

/// Runs one step with the write tool on offer.
pub(crate) async fn step(
    provider: &HttpProvider,
    tools: &Echo,
    sink: &Pieces,
    temperature: Option<f32>,
) -> StepOutcome {
    let prompt = AssembledPrompt {
        system: "You are the release assistant.".into(),
        user: "Draft the notes for 2.4.".into(),
        unresolved: Vec::new(),
    };
    let mut input = StepInput::new(prompt, "run-1", "work-1", "Draft", "release-assistant");
    input.tools = vec![write_tool()];
    input.temperature = temperature;
    run_step_streaming(input, provider, tools, sink).await
}

/// The failure code and message of a failed step.
pub(crate) fn failure(outcome: &StepOutcome) -> (String, String) {
    match outcome {
        StepOutcome::Failed { code, message, .. } => (code.clone(), message.clone()),
        other => panic!("not failed: {other:?}"),
    }
}

/// The body without what differs per wire, for comparisons.
pub(crate) fn messages(body: &Value) -> Value {
    body["messages"].clone()
}
