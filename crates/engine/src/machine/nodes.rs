//! Where each node a token touched stands after the event: the
//! `NodeChanged` effects.
//!
//! Handlers mark what they do to a node (a token arrived, left, failed or
//! was cancelled there); once the event has settled, each marked node's
//! state is read off the run as it now is. A node with a token on it is
//! `active` or `waiting` whatever happened to other tokens there, so two
//! tokens on one node never make it look finished too early; a node without
//! one takes the outcome of its last mark. The state never holds these
//! marks: they live for one event, like tokens in flight.

use std::collections::BTreeMap;

use agentwerke_types::NodeState;

use super::Machine;
use crate::effect::Effect;
use crate::state::Wait;

/// What one event did to one node.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Mark {
    /// Tokens that arrived.
    entered: u32,
    /// How the last token to leave left it, if one did.
    outcome: Option<NodeState>,
}

/// The marks of one event, by node index.
pub(super) type Marks = BTreeMap<u32, Mark>;

impl Machine<'_, '_> {
    /// A token arrived at `node`.
    pub(super) fn mark_entered(&mut self, node: u32) {
        self.marks.entry(node).or_default().entered += 1;
    }

    /// A token left `node` this way (`done`, `failed`, `cancelled`).
    pub(super) fn mark_left(&mut self, node: u32, how: NodeState) {
        self.marks.entry(node).or_default().outcome = Some(how);
    }

    /// The work at `node` changed how it waits (paused, held, resumed).
    pub(super) fn mark_touched(&mut self, node: u32) {
        self.marks.entry(node).or_default();
    }

    /// Every subprocess and every join with waiting tokens: what ending
    /// or resuming the run changes besides its open work.
    pub(super) fn scope_nodes(&self) -> Vec<u32> {
        let mut nodes = Vec::new();
        for scope in self.st.scopes.values() {
            nodes.extend(scope.node);
            nodes.extend(
                scope
                    .joins
                    .iter()
                    .filter(|(_, counts)| counts.iter().any(|c| *c > 0))
                    .map(|(node, _)| *node),
            );
        }
        nodes
    }

    /// The `NodeChanged` effects of the event, before `RunFinished`.
    pub(super) fn emit_node_changes(&mut self) {
        if self.marks.is_empty() {
            return;
        }
        let live = self.live_nodes();
        let changes: Vec<Effect> = std::mem::take(&mut self.marks)
            .into_iter()
            .map(|(node, mark)| Effect::NodeChanged {
                node_id: self.def.id(node).to_owned(),
                state: live
                    .get(&node)
                    .copied()
                    .or(mark.outcome)
                    .unwrap_or(NodeState::Done),
                entered: mark.entered,
            })
            .collect();
        let at = match self.fx.last() {
            Some(Effect::RunFinished { .. }) => self.fx.len() - 1,
            _ => self.fx.len(),
        };
        self.fx.splice(at..at, changes);
    }

    /// The marked nodes a token rests on now, with how it rests there.
    /// Nothing rests anywhere once the run has ended (a failed run keeps
    /// its tokens parked for a retry, but none of them moves).
    fn live_nodes(&self) -> BTreeMap<u32, NodeState> {
        let mut live = BTreeMap::new();
        if self.st.status.is_terminal() {
            return live;
        }
        let mut put = |node: u32, state: NodeState| {
            if self.marks.contains_key(&node) {
                let slot = live.entry(node).or_insert(state);
                if state == NodeState::Active {
                    *slot = NodeState::Active;
                }
            }
        };
        for work in self.st.open.values() {
            let state = match work.wait {
                Wait::Agent {
                    running: true,
                    paused_on: None,
                    held: false,
                    ..
                } => NodeState::Active,
                _ => NodeState::Waiting,
            };
            put(work.node, state);
        }
        for scope in self.st.scopes.values() {
            if let Some(node) = scope.node {
                put(node, NodeState::Active);
            }
            for (node, counts) in &scope.joins {
                if counts.iter().any(|c| *c > 0) {
                    put(*node, NodeState::Waiting);
                }
            }
        }
        live
    }
}
