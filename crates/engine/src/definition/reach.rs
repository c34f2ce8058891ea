//! Which nodes a token can still reach: a forward walk over the compiled
//! graph, linear in its size.

use agentwerke_bpmn::model::NodeIdx;

use super::{Compiled, Exec};

/// See [`Definition::reachable_from`](super::Definition::reachable_from).
pub(super) fn reachable(def: &Compiled, from: impl IntoIterator<Item = NodeIdx>) -> Vec<bool> {
    let mut seen = vec![false; def.nodes.len()];
    let mut stack: Vec<u32> = Vec::new();
    let push = |node: u32, seen: &mut Vec<bool>, stack: &mut Vec<u32>| {
        if let Some(slot) = seen.get_mut(node as usize)
            && !*slot
        {
            *slot = true;
            stack.push(node);
        }
    };
    for node in from {
        if let Ok(node) = u32::try_from(node) {
            push(node, &mut seen, &mut stack);
        }
    }
    while let Some(node) = stack.pop() {
        let plan = &def.nodes[node as usize];
        for flow in &plan.outgoing {
            push(def.flows[*flow as usize].target, &mut seen, &mut stack);
        }
        for boundary in &plan.boundaries {
            push(*boundary, &mut seen, &mut stack);
        }
        match &plan.exec {
            Exec::SubProcess { start } => push(*start, &mut seen, &mut stack),
            Exec::Approval {
                rework: Some(agent),
                ..
            } => push(*agent, &mut seen, &mut stack),
            _ => {}
        }
    }
    seen
}
