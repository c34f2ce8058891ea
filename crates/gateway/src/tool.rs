//! The tool seam: what every tool, built-in or connector, implements.
//!
//! A tool only executes. Deciding whether it may run, validating its input
//! against its schema, redacting and recording are the gateway's job, so a
//! tool cannot forget any of them.

use std::sync::Arc;

use agentwerke_secrets::SecretRef;
use agentwerke_types::ToolCallId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::category::Category;
use crate::error::ToolError;
use crate::sandboxing::StepSandbox;
use crate::secret::InjectedSecrets;

/// A tool an agent can call through the gateway.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The unique name the model calls it by, e.g. `artifact.write`.
    fn name(&self) -> &str;

    /// What it does, for the model.
    fn description(&self) -> &str;

    /// Its category; decides which permission level grants it.
    fn category(&self) -> Category;

    /// JSON Schema of its arguments. The gateway validates every call
    /// against it before anything else looks at the arguments.
    fn input_schema(&self) -> Value;

    /// Whether running this call again, after a crash lost its outcome,
    /// can repeat its effect. The default is the safe answer: a tool that
    /// does not say otherwise is never run twice without a human.
    fn idempotency(&self, _args: &Value) -> Idempotency {
        Idempotency::NotIdempotent
    }

    /// The secrets `args` reference (`secret:NAME`), which the gateway
    /// checks against the agent's grants before anything else happens and
    /// resolves into [`ToolContext::secrets`] just before the tool runs.
    /// `Err` says, without any value, which reference is malformed. Tools
    /// that send no credentials keep the default: none.
    fn secret_refs(&self, _args: &Value) -> Result<Vec<SecretRef>, String> {
        Ok(Vec::new())
    }

    /// How long this call may run, when the tool bounds it itself (a
    /// command's wall clock); the gateway then waits that long, or its own
    /// tool timeout if that is longer. `None` (the default): the gateway's
    /// tool timeout alone.
    fn timeout(&self, _args: &Value) -> Option<std::time::Duration> {
        None
    }

    /// Runs the tool. Only called after the gateway allowed the call and
    /// the arguments passed [`Tool::input_schema`].
    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError>;
}

/// What running a call a second time does: the rule a step replayed after
/// a crash follows for a call that was started but whose outcome was never
/// recorded. Persisted names; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Idempotency {
    /// It changes nothing (a read): it is simply run again.
    Idempotent,
    /// Its effect is keyed by [`ToolContext::call_id`]: running the same
    /// call again finds its effect in place and adds nothing.
    ByCallId,
    /// Running it again may do it twice: it is never repeated without a
    /// human's approval.
    NotIdempotent,
}

impl Idempotency {
    /// Whether a call whose outcome was lost may run again without a human.
    pub const fn may_repeat(self) -> bool {
        !matches!(self, Idempotency::NotIdempotent)
    }
}

/// Where a call comes from, for tools that scope their effects (artifacts
/// belong to a run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolContext {
    /// The run.
    pub run_id: String,
    /// The BPMN node of the agent task.
    pub node_id: String,
    /// The agent.
    pub agent: String,
    /// The step attempt (1-based).
    pub attempt: u32,
    /// The call's journal id, the same every time the same call of the
    /// same step is run (see [`Idempotency::ByCallId`]); `None` when the
    /// caller keeps no journal, and then a keyed tool acts every time.
    pub call_id: Option<ToolCallId>,
    /// The values of the secrets this call references
    /// ([`Tool::secret_refs`]), resolved by the gateway just before the
    /// tool runs; empty for any other tool.
    pub secrets: InjectedSecrets,
    /// The step's sandbox: the task's `sandboxProfile` and
    /// `executionMode`, and where code-executing tools run their commands
    /// and leave their records.
    pub sandbox: Arc<StepSandbox>,
}

#[cfg(test)]
mod tests {
    use super::Idempotency;

    /// Persisted names, pinned: renaming one fails here.
    #[test]
    fn idempotency_names_never_change() {
        let all = [
            Idempotency::Idempotent,
            Idempotency::ByCallId,
            Idempotency::NotIdempotent,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|i| serde_json::to_string(i).expect("serializes"))
            .collect();
        assert_eq!(
            names,
            ["\"idempotent\"", "\"by_call_id\"", "\"not_idempotent\""]
        );
        let repeatable: Vec<bool> = all.iter().map(|i| i.may_repeat()).collect();
        assert_eq!(repeatable, [true, true, false]);
    }
}
