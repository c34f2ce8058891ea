//! A process compiled for execution.
//!
//! [`Definition::new`] checks everything the engine relies on once, up front
//! (executable subset, required extensions, conditions compile, timers parse,
//! one start per scope), and turns ids into indices. After that, running a
//! token never hashes a string or fails on a malformed model: an unknown shape
//! is refused at load time, which is where an author can fix it.

mod analysis;
mod compile;
mod reach;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use agentwerke_bpmn::Definitions;
use agentwerke_bpmn::condition::Condition;
use agentwerke_bpmn::model::{AgentTaskSpec, ApprovalSpec, FlowNode, NodeIdx, Process};
use agentwerke_bpmn::timer::Schedule;

use crate::error::Error;

/// Most token moves one event may cause before the run fails closed with
/// `engine.step_limit`. Generous for real workflows, small enough to stop a
/// loop without wait states within milliseconds.
pub const DEFAULT_MOVE_LIMIT: u32 = 100_000;

/// A compiled, immutable process; cheap to clone and share across threads.
#[derive(Clone)]
pub struct Definition {
    pub(crate) inner: Arc<Compiled>,
    pub(crate) move_limit: u32,
}

impl fmt::Debug for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Definition")
            .field("process", &self.inner.process.id)
            .field("nodes", &self.inner.nodes.len())
            .field("flows", &self.inner.flows.len())
            .field("move_limit", &self.move_limit)
            .finish()
    }
}

impl Definition {
    /// Compiles one process. Message catch events without an `externalEvent`
    /// extension are refused here; use [`Definition::from_definitions`] to fall
    /// back to the referenced `message` element's name.
    pub fn new(process: &Process) -> Result<Definition, Error> {
        Self::compile(process, None)
    }

    /// Compiles the document's executable process.
    pub fn from_definitions(defs: &Definitions) -> Result<Definition, Error> {
        let process = defs
            .executable_process()
            .ok_or(Error::NoExecutableProcess)?;
        Self::compile(process, Some(defs))
    }

    fn compile(process: &Process, defs: Option<&Definitions>) -> Result<Definition, Error> {
        let compiled = compile::compile(process, defs)?;
        Ok(Definition {
            inner: Arc::new(compiled),
            move_limit: DEFAULT_MOVE_LIMIT,
        })
    }

    /// The same definition with another per-event move limit.
    pub fn with_move_limit(mut self, limit: u32) -> Definition {
        self.move_limit = limit.max(1);
        self
    }

    /// The per-event move limit.
    pub fn move_limit(&self) -> u32 {
        self.move_limit
    }

    /// The source process.
    pub fn process(&self) -> &Process {
        &self.inner.process
    }

    /// The node at `idx`.
    pub fn node(&self, idx: NodeIdx) -> Option<&FlowNode> {
        self.inner.process.nodes.get(idx)
    }

    /// The node with BPMN id `id`.
    pub fn node_by_id(&self, id: &str) -> Option<&FlowNode> {
        self.node_index(id).and_then(|idx| self.node(idx))
    }

    /// The index of the node with BPMN id `id`.
    pub fn node_index(&self, id: &str) -> Option<NodeIdx> {
        self.inner.ids.get(id).map(|i| *i as usize)
    }

    /// True when a gateway right after this approval reads
    /// `approval.<NodeId>`: the decision is then routed by the model, not by
    /// the engine's reject / request-changes defaults.
    pub fn approval_is_modelled(&self, idx: NodeIdx) -> bool {
        matches!(
            self.inner.nodes.get(idx).map(|n| &n.exec),
            Some(Exec::Approval { modelled: true, .. })
        )
    }

    /// Whether a token can still reach each node (by index) from a token at
    /// one of `from`: along sequence flows, into a subprocess's start, to
    /// an activity's boundary events, and back to the agent task a
    /// `request_changes` decision reworks. The nodes of `from` count as
    /// reachable. What a reader needs to tell a node that is merely not
    /// reached yet from one the run has left behind (`skipped`).
    pub fn reachable_from(&self, from: impl IntoIterator<Item = NodeIdx>) -> Vec<bool> {
        reach::reachable(&self.inner, from)
    }

    /// The agent task a `request_changes` decision at this approval sends the
    /// work back to, if any.
    pub fn rework_target(&self, idx: NodeIdx) -> Option<NodeIdx> {
        match self.inner.nodes.get(idx).map(|n| &n.exec) {
            Some(Exec::Approval { rework, .. }) => rework.map(|r| r as usize),
            _ => None,
        }
    }
}

/// The compiled graph. Indices are the model's, narrowed to `u32`.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) process: Process,
    pub(crate) nodes: Vec<NodePlan>,
    pub(crate) flows: Vec<FlowPlan>,
    /// The process-level none start event.
    pub(crate) start: u32,
    pub(crate) ids: HashMap<String, u32>,
}

impl Compiled {
    /// The BPMN id of a node.
    pub(crate) fn id(&self, node: u32) -> &str {
        &self.process.nodes[node as usize].id
    }

    /// The name of a node.
    pub(crate) fn name(&self, node: u32) -> Option<&String> {
        self.process.nodes[node as usize].name.as_ref()
    }
}

/// One node, ready to run.
#[derive(Debug)]
pub(crate) struct NodePlan {
    pub(crate) exec: Exec,
    /// Outgoing flows in document order.
    pub(crate) outgoing: Vec<u32>,
    /// Number of incoming flows; more than one makes a gateway a join.
    pub(crate) incoming: u32,
    /// Boundary events attached to this node, in document order.
    pub(crate) boundaries: Vec<u32>,
}

/// One sequence flow, ready to run.
#[derive(Debug)]
pub(crate) struct FlowPlan {
    pub(crate) target: u32,
    /// Position of this flow among the target's incoming flows.
    pub(crate) slot: u32,
    pub(crate) condition: Option<Condition>,
}

/// What a node does when a token arrives.
#[derive(Debug)]
pub(crate) enum Exec {
    /// None start: passes the token on.
    Start,
    /// None end: consumes the token.
    End,
    /// Terminate end: ends its scope.
    Terminate,
    /// Error end: throws `code` to the enclosing subprocesses.
    ErrorEnd { code: Option<String> },
    /// None intermediate throw: passes the token on.
    Pass,
    /// Agent work.
    Agent { spec: Box<AgentTaskSpec> },
    /// Human approval.
    Approval {
        spec: Box<ApprovalSpec>,
        modelled: bool,
        rework: Option<u32>,
    },
    /// Receive task or message catch.
    Message {
        step_type: &'static str,
        name: String,
        template: Option<String>,
    },
    /// Timer catch.
    TimerCatch { schedule: Schedule },
    /// Exclusive gateway.
    Exclusive { default: Option<u32> },
    /// Parallel gateway.
    Parallel,
    /// Inclusive gateway; `upstream` (a bitset of node indices that can still
    /// reach it) is set when it joins.
    Inclusive {
        default: Option<u32>,
        upstream: Option<Vec<u64>>,
    },
    /// Embedded subprocess with its none start.
    SubProcess { start: u32 },
    /// Timer boundary event.
    BoundaryTimer {
        host: u32,
        interrupting: bool,
        schedule: Schedule,
    },
    /// Error boundary event; `None` catches every error.
    BoundaryError { host: u32, code: Option<String> },
}

impl Exec {
    /// True for nodes that are activities (can carry boundary events).
    pub(crate) fn is_activity(&self) -> bool {
        matches!(
            self,
            Exec::Agent { .. }
                | Exec::Approval { .. }
                | Exec::Message {
                    step_type: "receiveTask",
                    ..
                }
                | Exec::SubProcess { .. }
        )
    }
}

/// True when `bits` contains `node`.
pub(crate) fn bit(bits: &[u64], node: u32) -> bool {
    bits.get((node / 64) as usize)
        .is_some_and(|word| word & (1 << (node % 64)) != 0)
}
