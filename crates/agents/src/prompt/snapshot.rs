//! What evidence keeps of a prompt: exactly what the model was first sent
//! (the system message with the agent's prompt and skills, the user
//! message, and the schemas of the tools it was offered), redacted, then
//! hashed.
//!
//! The model gets the prompt as rendered; what is persisted is this
//! separate, redacted copy. Keeping the two apart lets the evidence prove
//! what was asked (the SHA-256 is over the stored text) without the audit
//! log ever holding a credential that happened to be in the run input.

use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_evidence::redact::Redactor;
use serde_json::Value;

use super::AssembledPrompt;
use crate::provider::ToolSpec;

/// The redacted text of a first model request and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSnapshot {
    /// `[system]`, `[user]` and `[tools]` (a JSON array) sections, with
    /// secrets redacted.
    pub text: String,
    /// SHA-256 (lowercase hex) of `text`'s UTF-8 bytes.
    pub sha256: String,
}

impl AssembledPrompt {
    /// The snapshot of this prompt sent with `tools` (in the order they
    /// were offered). `redactor` knows the secret values to redact (token
    /// shapes such as `sk-...` are redacted regardless).
    pub fn snapshot(&self, tools: &[ToolSpec], redactor: &Redactor) -> PromptSnapshot {
        // The schemas are redacted as JSON, so what is kept still parses.
        let mut schemas = serde_json::to_value(tools).unwrap_or_else(|_| Value::Array(Vec::new()));
        redactor.redact_value(&mut schemas);
        let schemas = serde_json::to_string_pretty(&schemas).unwrap_or_else(|_| "[]".to_owned());
        let text = format!(
            "[system]\n{}\n\n[user]\n{}\n\n[tools]\n{schemas}",
            redactor.redact_str(&self.system),
            redactor.redact_str(&self.user)
        );
        let sha256 = sha256_hex(text.as_bytes());
        PromptSnapshot { text, sha256 }
    }
}
