//! What the Tool Gateway keeps: policy sets, the kill switch, run artifacts.

use agentwerke_types::{RunId, Timestamp, WorkflowStatus};
use serde::{Deserialize, Serialize};

/// A stored Cedar policy set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySetRow {
    /// 1, 2, 3 ...
    pub version: i64,
    /// The `.cedar` text.
    pub text: String,
    /// Its hex SHA-256, cited by every decision made under it.
    pub sha256: String,
    /// Published sets never change again.
    pub status: WorkflowStatus,
    /// What the author said about it.
    pub note: Option<String>,
    /// Who wrote it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// Who published it.
    pub published_by: Option<String>,
    /// When.
    pub published_at: Option<Timestamp>,
}

/// What a halt covers. The names are persisted (rows, audit records,
/// commands): never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltScope {
    /// Every call.
    Global,
    /// Calls by one agent.
    Agent,
    /// Calls in runs of one workflow.
    Workflow,
}

impl HaltScope {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            HaltScope::Global => "global",
            HaltScope::Agent => "agent",
            HaltScope::Workflow => "workflow",
        }
    }

    /// The scope named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "global" => Some(HaltScope::Global),
            "agent" => Some(HaltScope::Agent),
            "workflow" => Some(HaltScope::Workflow),
            _ => None,
        }
    }
}

/// An active halt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HaltRow {
    /// What it covers.
    pub scope: HaltScope,
    /// The agent or workflow id; empty for a global halt.
    pub target: String,
    /// Why, as the operator said.
    pub reason: String,
    /// Who halted.
    pub halted_by: String,
    /// When.
    pub halted_at: Timestamp,
}

/// A stored artifact's address and description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRow {
    /// The run.
    pub run_id: RunId,
    /// Run-relative path.
    pub path: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scope's name is stored in rows, audit records and commands: it is
    /// the same in each and never changes.
    #[test]
    fn halt_scope_names_are_pinned() {
        for (scope, name) in [
            (HaltScope::Global, "global"),
            (HaltScope::Agent, "agent"),
            (HaltScope::Workflow, "workflow"),
        ] {
            assert_eq!(scope.as_str(), name);
            assert_eq!(HaltScope::parse(name), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), name);
            assert_eq!(
                serde_json::from_value::<HaltScope>(name.into()).unwrap(),
                scope
            );
        }
        assert_eq!(HaltScope::parse("everything"), None);
    }
}
