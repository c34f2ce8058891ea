//! From a task and the run context to the two messages a model sees, plus
//! the redacted snapshot that evidence keeps.
//!
//! The model gets the prompt as rendered; what is persisted is a separate,
//! redacted copy. Keeping the two apart lets the evidence prove exactly what
//! was asked (its SHA-256 is over the stored text) without the audit log ever
//! holding a credential that happened to be in the run input.

use serde_json::Value;

use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_evidence::redact::Redactor;

use super::{Output, PromptVars, render_tracked};
use crate::error::Error;

/// What [`assemble`] needs to know about the task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskPromptSpec {
    /// The agent profile doing the work (`agentTask/@agent`).
    pub agent: String,
    /// The BPMN node id.
    pub node_id: String,
    /// The node's name; empty means "use the node id".
    pub node_name: String,
    /// The task prompt (`agentTask/@prompt`); `None` gets a default prompt.
    pub prompt_template: Option<String>,
    /// `strictVariables`: unresolved variables are an error.
    pub strict: bool,
    /// The approver's `request_changes` comment when the work was sent back.
    pub feedback: Option<String>,
}

/// A prompt ready for the model, and its redacted snapshot for evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledPrompt {
    /// The system message: who the agent is and what the task is.
    pub system: String,
    /// The user message: the rendered task prompt.
    pub user: String,
    /// Variables that did not resolve (always empty for strict tasks).
    pub unresolved: Vec<String>,
    /// `system` and `user` as one text, with secrets redacted: what gets
    /// persisted.
    pub redacted_snapshot: String,
    /// SHA-256 (lowercase hex) of `redacted_snapshot`'s UTF-8 bytes.
    pub snapshot_sha256: String,
}

/// Renders the task's prompt against `context` and builds the messages.
///
/// Without a template the user message is the node name and the run input
/// as JSON. Feedback the template does not place itself with `{{feedback}}`
/// is appended, so a reworked task always sees why it was sent back.
/// `redactor` knows the secret values to redact from the snapshot (token
/// shapes such as `sk-...` are redacted regardless).
pub fn assemble(
    task: &TaskPromptSpec,
    context: &Value,
    run_id: &str,
    redactor: &Redactor,
) -> Result<AssembledPrompt, Error> {
    let node_name = if task.node_name.is_empty() {
        task.node_id.as_str()
    } else {
        task.node_name.as_str()
    };
    let feedback = task.feedback.as_deref().filter(|f| !f.trim().is_empty());
    let vars = PromptVars {
        context,
        run_id,
        node_name,
        feedback,
    };
    let (mut user, unresolved, used_feedback) = match &task.prompt_template {
        Some(template) => {
            let (rendered, used_feedback) = render_tracked(template, &vars)?;
            (rendered.text, rendered.unresolved, used_feedback)
        }
        None => (default_prompt(node_name, context)?, Vec::new(), false),
    };
    if task.strict && !unresolved.is_empty() {
        return Err(Error::UnresolvedVariable { names: unresolved });
    }
    if let (Some(feedback), false) = (feedback, used_feedback) {
        let mut out = Output(user);
        out.push("\n\nReviewer feedback on the previous attempt:\n")?;
        out.push(feedback)?;
        user = out.0;
    }
    let system = system_prompt(&task.agent, node_name, &task.node_id, run_id);
    let redacted_snapshot = redactor.redact_str(&format!("[system]\n{system}\n\n[user]\n{user}"));
    let snapshot_sha256 = sha256_hex(redacted_snapshot.as_bytes());
    Ok(AssembledPrompt {
        system,
        user,
        unresolved,
        redacted_snapshot,
        snapshot_sha256,
    })
}

fn system_prompt(agent: &str, node_name: &str, node_id: &str, run_id: &str) -> String {
    format!(
        "You are the agent \"{agent}\", doing one task in an Agentwerke workflow run.\n\
         Task: {node_name} (BPMN node {node_id}, run {run_id}).\n\
         Every tool call you make passes a policy gateway and is recorded as evidence; \
         a refused call comes back to you with its reason.\n\
         When the task is done, reply with the result: a JSON object if the task asks \
         for structured output, plain text otherwise."
    )
}

/// The node name and the run input, for tasks without a prompt.
fn default_prompt(node_name: &str, context: &Value) -> Result<String, Error> {
    let input = context.get("input").unwrap_or(&Value::Null);
    let json = serde_json::to_string_pretty(input).unwrap_or_else(|_| input.to_string());
    let mut out = Output::default();
    out.push(node_name)?;
    out.push("\n\nRun input (JSON):\n")?;
    out.push(&json)?;
    Ok(out.0)
}
