//! Every BPMN node of a run as the run view shows it: the nodes its tokens
//! passed, events and gateways included, and those it can no longer reach.

use agentwerke_runtime::nodes::RunNode;
use agentwerke_types::NodeState;
use serde::{Deserialize, Serialize};

use crate::routes::ts;
use crate::routes::views::NodeStateName;

/// One node of a run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// The BPMN node id.
    pub node_id: String,
    /// `done`, `active`, `waiting`, `failed`, `cancelled`, or `skipped`
    /// (no token reached it and none can any more: a branch a gateway did
    /// not take, or what was left when the run ended).
    #[schema(value_type = NodeStateName)]
    pub state: NodeState,
    /// How many tokens arrived at it (0 when skipped; more than 1 when a
    /// loop, a retry or a join brought several).
    pub visits: u32,
    /// When the first token arrived (RFC 3339); null when skipped.
    pub first_entered_at: Option<String>,
    /// When the last token arrived (RFC 3339); null when skipped.
    pub entered_at: Option<String>,
    /// When the last token left (RFC 3339); null while one is there, or
    /// when skipped.
    pub left_at: Option<String>,
}

impl From<&RunNode> for NodeView {
    fn from(node: &RunNode) -> Self {
        Self {
            node_id: node.node_id.clone(),
            state: node.state,
            visits: node.visits,
            first_entered_at: node.first_entered_at.map(ts),
            entered_at: node.entered_at.map(ts),
            left_at: node.left_at.map(ts),
        }
    }
}
