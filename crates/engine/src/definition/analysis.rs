//! Graph facts computed once per definition: which approvals are routed by
//! the model, where `request_changes` sends work back to, and which nodes can
//! still reach each inclusive join.

use std::collections::VecDeque;

use agentwerke_bpmn::model::Process;

use super::{Exec, FlowPlan, NodePlan};

pub(super) fn annotate(process: &Process, nodes: &mut [NodePlan], flows: &[FlowPlan]) {
    let preds = predecessors(nodes, flows);
    for index in 0..nodes.len() {
        match nodes[index].exec {
            Exec::Approval { .. } => {
                let root = format!("approval.{}", process.nodes[index].id);
                let is_modelled = modelled(nodes, flows, index, &root);
                let target = rework_target(nodes, &preds, index);
                if let Exec::Approval {
                    modelled, rework, ..
                } = &mut nodes[index].exec
                {
                    *modelled = is_modelled;
                    *rework = target;
                }
            }
            Exec::Inclusive { .. } if nodes[index].incoming > 1 => {
                let bits = upstream(nodes.len(), &preds, index);
                if let Exec::Inclusive { upstream, .. } = &mut nodes[index].exec {
                    *upstream = Some(bits);
                }
            }
            _ => {}
        }
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
fn rework_target(nodes: &[NodePlan], preds: &[Vec<u32>], approval: usize) -> Option<u32> {
    let mut seen = vec![false; nodes.len()];
    seen[approval] = true;
    let mut queue: VecDeque<u32> = preds[approval].iter().copied().collect();
    while let Some(node) = queue.pop_front() {
        if std::mem::replace(&mut seen[node as usize], true) {
            continue;
        }
        match nodes[node as usize].exec {
            Exec::Agent { .. } => return Some(node),
            Exec::Parallel
            | Exec::Inclusive { .. }
            | Exec::Start
            | Exec::BoundaryTimer {
                interrupting: false,
                ..
            } => continue,
            _ => queue.extend(preds[node as usize].iter().copied()),
        }
    }
    None
}

/// Bitset of the nodes from which a token can still reach `join` without
/// passing through it.
fn upstream(count: usize, preds: &[Vec<u32>], join: usize) -> Vec<u64> {
    let mut bits = vec![0u64; count.div_ceil(64)];
    let mut stack: Vec<u32> = preds[join].clone();
    while let Some(node) = stack.pop() {
        let (word, mask) = ((node / 64) as usize, 1u64 << (node % 64));
        if node as usize == join || bits[word] & mask != 0 {
            continue;
        }
        bits[word] |= mask;
        stack.extend(preds[node as usize].iter().copied());
    }
    bits
}
