//! Graph facts computed once per definition: which approvals are routed by
//! the model, where `request_changes` sends work back to, and which nodes can
//! still reach each inclusive join.
//!
//! The walks are kept linear for the shapes models have (long sequences of
//! tasks and approvals): a walk back from a node with one predecessor is the
//! predecessor's walk, remembered once. What is left (a walk from every
//! merge, an ancestor set for every inclusive join) is charged to a budget
//! proportional to the model's size; a model that exhausts it is refused as
//! `engine.too_complex` rather than holding a core for minutes.

use std::collections::VecDeque;

use agentwerke_bpmn::model::Process;

use super::{Exec, FlowPlan, NodePlan};
use crate::error::Error;

/// Node visits the walks may make, per node of the model (at least
/// [`MIN_BUDGET`] in all). Real models use a handful per node.
const BUDGET_PER_NODE: usize = 64;
/// The budget of a small model.
const MIN_BUDGET: usize = 1 << 20;

pub(super) fn annotate(
    process: &Process,
    nodes: &mut [NodePlan],
    flows: &[FlowPlan],
) -> Result<(), Error> {
    let preds = predecessors(nodes, flows);
    let mut budget = Budget(nodes.len().saturating_mul(BUDGET_PER_NODE).max(MIN_BUDGET));
    let mut rework = Rework::new(nodes, &preds);
    let mut targets = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        if matches!(node.exec, Exec::Approval { .. }) {
            let target = rework
                .target(index, &mut budget)
                .ok_or_else(|| too_complex(process, index))?;
            targets.push((index, target));
        }
    }
    for (index, target) in targets {
        let root = format!("approval.{}", process.nodes[index].id);
        let is_modelled = modelled(nodes, flows, index, &root);
        if let Exec::Approval {
            modelled, rework, ..
        } = &mut nodes[index].exec
        {
            *modelled = is_modelled;
            *rework = target;
        }
    }
    for index in 0..nodes.len() {
        if matches!(nodes[index].exec, Exec::Inclusive { .. }) && nodes[index].incoming > 1 {
            let bits = upstream(nodes.len(), &preds, index, &mut budget)
                .ok_or_else(|| too_complex(process, index))?;
            if let Exec::Inclusive { upstream, .. } = &mut nodes[index].exec {
                *upstream = Some(bits);
            }
        }
    }
    Ok(())
}

fn too_complex(process: &Process, index: usize) -> Error {
    Error::TooComplex {
        element_id: process.nodes[index].id.clone(),
    }
}

/// Node visits left; `None` from a walk once it runs out.
struct Budget(usize);

impl Budget {
    fn spend(&mut self) -> Option<()> {
        self.0 = self.0.checked_sub(1)?;
        Some(())
    }
}

/// For every node, the nodes a token there may have come from: flow sources
/// in document order, plus the host activity for a boundary event.
fn predecessors(nodes: &[NodePlan], flows: &[FlowPlan]) -> Vec<Vec<u32>> {
    let mut preds = vec![Vec::new(); nodes.len()];
    for (source, plan) in nodes.iter().enumerate() {
        for flow in &plan.outgoing {
            preds[flows[*flow as usize].target as usize].push(source as u32);
        }
    }
    for (index, plan) in nodes.iter().enumerate() {
        if let Exec::BoundaryTimer { host, .. } | Exec::BoundaryError { host, .. } = plan.exec {
            preds[index].push(host);
        }
    }
    preds
}

/// An approval is modelled when a gateway it flows straight into has a
/// condition that reads `approval.<ThisNodeId>`.
fn modelled(nodes: &[NodePlan], flows: &[FlowPlan], approval: usize, root: &str) -> bool {
    nodes[approval].outgoing.iter().any(|flow| {
        let gateway = &nodes[flows[*flow as usize].target as usize];
        matches!(
            gateway.exec,
            Exec::Exclusive { .. } | Exec::Inclusive { .. }
        ) && gateway.outgoing.iter().any(|out| {
            flows[*out as usize]
                .condition
                .as_ref()
                .is_some_and(|c| c.reads(root))
        })
    })
}

/// The nearest agent task before an approval, walking incoming flows
/// breadth-first (document order breaks ties). The walk stays on paths one
/// token travels alone: it never crosses a parallel or inclusive gateway
/// (sending a token back into a branch, or before a split, would unbalance
/// the joins) and follows a boundary event back to its host only when the
/// boundary interrupts. Flows never cross subprocess borders, so the walk
/// stays in the approval's scope.
struct Rework<'a> {
    nodes: &'a [NodePlan],
    preds: &'a [Vec<u32>],
    /// The answer of the walk that starts at a node, once known.
    known: Vec<Option<Option<u32>>>,
    /// Walk number that last saw each node, so that no walk clears a list.
    seen: Vec<u32>,
    walk: u32,
    /// Nodes on the chain being followed.
    on_chain: Vec<bool>,
}

/// What a walk does on reaching a node.
enum Step {
    /// Stop here: this agent task is the target.
    Found,
    /// Do not walk past this node.
    Stop,
    /// Walk on to its predecessors.
    Pass,
}

impl<'a> Rework<'a> {
    fn new(nodes: &'a [NodePlan], preds: &'a [Vec<u32>]) -> Self {
        Self {
            nodes,
            preds,
            known: vec![None; nodes.len()],
            seen: vec![0; nodes.len()],
            walk: 0,
            on_chain: vec![false; nodes.len()],
        }
    }

    fn step(&self, node: usize) -> Step {
        match self.nodes[node].exec {
            Exec::Agent { .. } => Step::Found,
            Exec::Parallel
            | Exec::Inclusive { .. }
            | Exec::Start
            | Exec::BoundaryTimer {
                interrupting: false,
                ..
            } => Step::Stop,
            _ => Step::Pass,
        }
    }

    /// The walk's answer from `start`, or `None` when the budget ran out.
    ///
    /// When `x` has exactly one predecessor `y` (not `x` itself) that the
    /// walk passes, the walk from `x` is the walk from `y`: it reaches `y`
    /// first and goes on from there, and reaching `x` again later adds
    /// nothing, since `x` leads only back to `y`. So a chain of such nodes
    /// is followed to its end and its answer recorded for all of it.
    fn target(&mut self, start: usize, budget: &mut Budget) -> Option<Option<u32>> {
        let mut chain = Vec::new();
        let mut x = start;
        let answer = loop {
            if let Some(known) = self.known[x] {
                break known;
            }
            budget.spend()?;
            chain.push(x);
            self.on_chain[x] = true;
            match self.preds[x].as_slice() {
                [y] if *y as usize != x => {
                    let y = *y as usize;
                    match self.step(y) {
                        Step::Found => break Some(y as u32),
                        Step::Stop => break None,
                        // Around a cycle of such nodes the walk finds nothing.
                        Step::Pass if self.on_chain[y] => break None,
                        Step::Pass => x = y,
                    }
                }
                _ => match self.breadth_first(x, budget) {
                    Some(found) => break found,
                    None => {
                        for node in chain {
                            self.on_chain[node] = false;
                        }
                        return None;
                    }
                },
            }
        };
        for node in chain {
            self.on_chain[node] = false;
            self.known[node] = Some(answer);
        }
        Some(answer)
    }

    /// The walk from `start` in full.
    fn breadth_first(&mut self, start: usize, budget: &mut Budget) -> Option<Option<u32>> {
        self.walk += 1;
        let walk = self.walk;
        self.seen[start] = walk;
        let mut queue: VecDeque<u32> = self.preds[start].iter().copied().collect();
        while let Some(node) = queue.pop_front() {
            budget.spend()?;
            if std::mem::replace(&mut self.seen[node as usize], walk) == walk {
                continue;
            }
            match self.step(node as usize) {
                Step::Found => return Some(Some(node)),
                Step::Stop => {}
                Step::Pass => queue.extend(self.preds[node as usize].iter().copied()),
            }
        }
        Some(None)
    }
}

/// Bitset of the nodes from which a token can still reach `join` without
/// passing through it; `None` when the budget ran out.
fn upstream(
    count: usize,
    preds: &[Vec<u32>],
    join: usize,
    budget: &mut Budget,
) -> Option<Vec<u64>> {
    let mut bits = vec![0u64; count.div_ceil(64)];
    let mut stack: Vec<u32> = preds[join].clone();
    while let Some(node) = stack.pop() {
        budget.spend()?;
        let (word, mask) = ((node / 64) as usize, 1u64 << (node % 64));
        if node as usize == join || bits[word] & mask != 0 {
            continue;
        }
        bits[word] |= mask;
        stack.extend(preds[node as usize].iter().copied());
    }
    Some(bits)
}
