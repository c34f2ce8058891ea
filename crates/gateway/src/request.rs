//! What the gateway is asked to decide on: the call, the task's granted
//! surface, the agent's profile and the kill-switch state.
//!
//! These are plain data so that the runtime can build them from the BPMN
//! `agentTask` extension and the run's state without the gateway knowing
//! about either.

use std::collections::BTreeSet;

use agentwerke_secrets::SecretName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::category::{PermissionLevel, SandboxProfile, ToolEscalation};

/// One tool call to decide on (and maybe execute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRequest {
    /// The tool's name, as the model asked for it.
    pub tool: String,
    /// The arguments, as the model wrote them.
    pub arguments: Value,
    /// The agent profile making the call.
    pub agent: String,
    /// The workflow the run belongs to (the kill switch can halt it).
    pub workflow_id: String,
    /// The run.
    pub run_id: String,
    /// The BPMN node of the agent task.
    pub node_id: String,
    /// 1 for the first attempt of the step; retries count up.
    pub attempt: u32,
    /// What the task grants.
    pub task: TaskSurface,
}

/// The granted surface and purpose of one BPMN agent task: the attributes
/// of its `agentTask` extension that bear on tool calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TaskSurface {
    /// `purposeType`, e.g. `analysis` or `deployment`.
    pub purpose_type: String,
    /// `policyTag`, if any; policies may key on it.
    #[serde(default)]
    pub policy_tag: Option<String>,
    /// `environment`, e.g. `staging` or `production`.
    #[serde(default)]
    pub environment: Option<String>,
    /// `permissionLevel`.
    #[serde(default)]
    pub permission_level: PermissionLevel,
    /// `allowedTools`: when non-empty, only these tools (exact names,
    /// `prefix.*` or `*`).
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// `deniedTools`: never these tools (same patterns).
    #[serde(default)]
    pub denied_tools: Vec<String>,
    /// `sandboxProfile`.
    #[serde(default)]
    pub sandbox_profile: SandboxProfile,
    /// `toolEscalation`.
    #[serde(default)]
    pub tool_escalation: ToolEscalation,
}

/// An agent profile as far as the gateway cares: which sandbox profiles
/// its tasks may use and which secrets its calls may reference. An agent
/// the gateway has no profile for is refused every call (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentProfile {
    /// The agent's name (`agent` attribute of the task).
    pub name: String,
    /// Sandbox profiles the agent's tasks may run under.
    pub allowed_sandbox_profiles: BTreeSet<SandboxProfile>,
    /// Secrets the agent's calls may reference (`secret:NAME`); a call
    /// referencing any other is refused before anything is resolved.
    #[serde(default)]
    pub secrets: BTreeSet<SecretName>,
}

impl AgentProfile {
    /// A profile allowing `profiles`.
    pub fn new(
        name: impl Into<String>,
        profiles: impl IntoIterator<Item = SandboxProfile>,
    ) -> Self {
        Self {
            name: name.into(),
            allowed_sandbox_profiles: profiles.into_iter().collect(),
            secrets: BTreeSet::new(),
        }
    }

    /// The same profile, granted `secrets`.
    #[must_use]
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = SecretName>) -> Self {
        self.secrets.extend(secrets);
        self
    }
}

/// The kill switch: while any of these matches a call, it is rejected
/// before anything else is looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Halts {
    /// Every call, everywhere.
    #[serde(default)]
    pub global: bool,
    /// Calls by these agents.
    #[serde(default)]
    pub agents: BTreeSet<String>,
    /// Calls from runs of these workflows.
    #[serde(default)]
    pub workflows: BTreeSet<String>,
}

impl Halts {
    /// No halts.
    pub fn none() -> Self {
        Self::default()
    }

    /// Why `call` is halted, if it is: `global`, `agent` or `workflow`.
    pub fn halted_by(&self, call: &CallRequest) -> Option<&'static str> {
        if self.global {
            Some("global")
        } else if self.agents.contains(&call.agent) {
            Some("agent")
        } else if self.workflows.contains(&call.workflow_id) {
            Some("workflow")
        } else {
            None
        }
    }
}
