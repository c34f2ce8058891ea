//! The tool seam: what every tool, built-in or connector, implements.
//!
//! A tool only executes. Deciding whether it may run, validating its input
//! against its schema, redacting and recording are the gateway's job, so a
//! tool cannot forget any of them.

use async_trait::async_trait;
use serde_json::Value;

use crate::category::Category;
use crate::error::ToolError;

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

    /// Runs the tool. Only called after the gateway allowed the call and
    /// the arguments passed [`Tool::input_schema`].
    async fn execute(&self, args: &Value, ctx: &ToolContext) -> Result<Value, ToolError>;
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
}
