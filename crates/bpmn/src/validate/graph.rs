//! Graph checks: flow ends, scopes and their starts, boundary attachment,
//! reachability from the start and to an end.
//!
//! A *scope* is the process itself or one embedded subprocess. Each needs
//! exactly one none start event. A node is reachable when a token can get
//! there: from the process start along sequence flows, into a subprocess's
//! own start when the subprocess is reached, and to a boundary event when its
//! host is reached.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::diagnostic::Diagnostic;
use crate::model::{EventTrigger, FlowNode, NodeIdx, NodeKind, Process};

fn id(node: &FlowNode) -> Option<&str> {
    (!node.id.is_empty()).then_some(node.id.as_str())
}

/// Unsupported elements that are still activities (a boundary event on one
/// is attached correctly; the activity itself is reported as unsupported).
const OTHER_ACTIVITIES: &[&str] = &[
    "task",
    "sendTask",
    "manualTask",
    "businessRuleTask",
    "callActivity",
    "transaction",
    "adHocSubProcess",
];

fn is_activity(kind: &NodeKind) -> bool {
    match kind {
        NodeKind::AgentTask { .. }
        | NodeKind::UserTask { .. }
        | NodeKind::ReceiveTask { .. }
        | NodeKind::SubProcess => true,
        NodeKind::Unsupported { element } => OTHER_ACTIVITIES.contains(&element.as_str()),
        _ => false,
    }
}

/// Event subprocesses start on their own trigger, not by a flow.
fn is_event_subprocess(kind: &NodeKind) -> bool {
    matches!(kind, NodeKind::Unsupported { element } if element == "eventSubProcess")
}

pub(super) fn check(process: &Process, out: &mut Vec<Diagnostic>) {
    flows(process, out);
    endpoints(process, out);
    boundaries(process, out);
    let scopes_without_start: HashSet<Option<NodeIdx>> = starts(process, out).into_iter().collect();
    let reached = reachable(process);
    for (i, node) in process.nodes.iter().enumerate() {
        let scope_has_start = !scopes_without_start.contains(&node.parent);
        if !reached[i]
            && scope_has_start
            && !is_event_subprocess(&node.kind)
            && !under_unreached_subprocess(process, i, &reached)
        {
            out.push(Diagnostic::error(
                "bpmn.unreachable_node",
                format!("`{}` can never be reached from the start event", node.id),
                id(node),
                node.position,
            ));
        }
    }
    let ends = reaches_end(process);
    for (i, node) in process.nodes.iter().enumerate() {
        if reached[i] && !ends[i] {
            out.push(Diagnostic::warning(
                "bpmn.dead_end",
                format!(
                    "no end event can be reached from `{}`; a token there never finishes",
                    node.id
                ),
                id(node),
                node.position,
            ));
        }
    }
}

/// Unknown flow ends, and flows that leave or enter a subprocess.
fn flows(process: &Process, out: &mut Vec<Diagnostic>) {
    for flow in &process.flows {
        for (end, reference, index) in [
            ("sourceRef", &flow.source_ref, flow.source),
            ("targetRef", &flow.target_ref, flow.target),
        ] {
            if index.is_none() {
                out.push(Diagnostic::error(
                    "bpmn.unknown_flow_ref",
                    format!(
                        "sequence flow `{}` has {end} `{reference}`, which is not a flow node of this process",
                        flow.id
                    ),
                    Some(&flow.id),
                    flow.position,
                ));
            }
        }
        let ends = [flow.source, flow.target];
        if ends
            .iter()
            .flatten()
            .any(|&n| process.nodes[n].parent != flow.parent)
        {
            out.push(Diagnostic::error(
                "bpmn.flow_crosses_subprocess",
                format!(
                    "sequence flow `{}` connects nodes in different (sub)processes; flows may not cross a subprocess boundary",
                    flow.id
                ),
                Some(&flow.id),
                flow.position,
            ));
        }
    }
}

/// Starts and boundary events take no incoming flows; end events give none.
fn endpoints(process: &Process, out: &mut Vec<Diagnostic>) {
    for node in &process.nodes {
        let (code, message) = match node.kind {
            NodeKind::EndEvent { .. } if !node.outgoing.is_empty() => (
                "bpmn.end_event_outgoing",
                format!(
                    "end event `{}` has outgoing sequence flows; an end event ends its path",
                    node.id
                ),
            ),
            NodeKind::StartEvent { .. } if !node.incoming.is_empty() => (
                "bpmn.start_event_incoming",
                format!("start event `{}` has incoming sequence flows", node.id),
            ),
            NodeKind::BoundaryEvent { .. } if !node.incoming.is_empty() => (
                "bpmn.boundary_incoming",
                format!("boundary event `{}` has incoming sequence flows", node.id),
            ),
            _ => continue,
        };
        out.push(Diagnostic::error(code, message, id(node), node.position));
    }
}

fn boundaries(process: &Process, out: &mut Vec<Diagnostic>) {
    for node in &process.nodes {
        let NodeKind::BoundaryEvent {
            attached_to,
            attached_to_ref,
            ..
        } = &node.kind
        else {
            continue;
        };
        let problem = match attached_to {
            None => format!(
                "names `{attached_to_ref}` in attachedToRef, which is not a flow node of this process"
            ),
            Some(h) if !is_activity(&process.nodes[*h].kind) => format!(
                "is attached to `{}`, which is not a task or subprocess",
                process.nodes[*h].id
            ),
            Some(h) if process.nodes[*h].parent != node.parent => format!(
                "is attached to `{}`, which is in a different (sub)process",
                process.nodes[*h].id
            ),
            Some(_) => continue,
        };
        out.push(Diagnostic::error(
            "bpmn.invalid_boundary_attachment",
            format!("boundary event `{}` {problem}", node.id),
            id(node),
            node.position,
        ));
    }
}

/// Exactly one none start per scope. Returns the scopes that have none.
fn starts(process: &Process, out: &mut Vec<Diagnostic>) -> Vec<Option<NodeIdx>> {
    let mut scopes: Vec<Option<NodeIdx>> = vec![None];
    scopes.extend(
        process
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.kind, NodeKind::SubProcess))
            .map(|(i, _)| Some(i)),
    );
    let mut found: HashMap<Option<NodeIdx>, Vec<&FlowNode>> = HashMap::new();
    for node in process.nodes.iter().filter(|n| is_none_start(n)) {
        found.entry(node.parent).or_default().push(node);
    }
    let mut without = Vec::new();
    for scope in scopes {
        let (where_, position, scope_id) = match scope {
            None => (
                format!("process `{}`", process.id),
                process.position,
                Some(process.id.as_str()),
            ),
            Some(s) => {
                let sub = &process.nodes[s];
                (format!("subprocess `{}`", sub.id), sub.position, id(sub))
            }
        };
        match found.get(&scope).map_or(&[][..], Vec::as_slice) {
            [] => {
                without.push(scope);
                out.push(Diagnostic::error(
                    "bpmn.missing_start_event",
                    format!("{where_} has no none start event (a startEvent without an event definition)"),
                    scope_id,
                    position,
                ));
            }
            [_] => {}
            [_, rest @ ..] => {
                for extra in rest {
                    out.push(Diagnostic::error(
                        "bpmn.multiple_start_events",
                        format!(
                            "{where_} has more than one none start event; `{}` is one too many",
                            extra.id
                        ),
                        id(extra),
                        extra.position,
                    ));
                }
            }
        }
    }
    without
}

fn is_none_start(node: &FlowNode) -> bool {
    matches!(
        node.kind,
        NodeKind::StartEvent {
            trigger: EventTrigger::None
        }
    )
}

/// Forward reachability from the process's none start.
fn reachable(process: &Process) -> Vec<bool> {
    let mut seen = vec![false; process.nodes.len()];
    // The none starts inside each subprocess, found once rather than by a
    // scan of every node per subprocess reached.
    let mut inner_starts: Vec<Vec<NodeIdx>> = vec![Vec::new(); process.nodes.len()];
    let mut queue: VecDeque<NodeIdx> = VecDeque::new();
    for (i, node) in process.nodes.iter().enumerate() {
        if !is_none_start(node) {
            continue;
        }
        match node.parent {
            None => queue.push_back(i),
            Some(p) if p < inner_starts.len() => inner_starts[p].push(i),
            Some(_) => {}
        }
    }
    while let Some(n) = queue.pop_front() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        let node = &process.nodes[n];
        queue.extend(
            node.outgoing
                .iter()
                .filter_map(|&f| process.flows[f].target),
        );
        queue.extend(node.boundary.iter().copied());
        if matches!(node.kind, NodeKind::SubProcess) {
            queue.extend(inner_starts[n].iter().copied());
        }
    }
    seen
}

/// True when some enclosing subprocess is itself unreached (then only the
/// subprocess is reported, not everything inside it).
fn under_unreached_subprocess(process: &Process, node: NodeIdx, reached: &[bool]) -> bool {
    let mut current = process.nodes[node].parent;
    let mut steps = 0;
    while let Some(p) = current {
        if !reached[p] {
            return true;
        }
        steps += 1;
        if steps > process.nodes.len() {
            return false;
        }
        current = process.nodes[p].parent;
    }
    false
}

/// Backward reachability from end events: `true` where some end event can
/// be reached. A subprocess's children count as finishing when they reach
/// an end inside it.
fn reaches_end(process: &Process) -> Vec<bool> {
    let mut seen = vec![false; process.nodes.len()];
    let mut queue: VecDeque<NodeIdx> = process
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.kind, NodeKind::EndEvent { .. }))
        .map(|(i, _)| i)
        .collect();
    while let Some(n) = queue.pop_front() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        queue.extend(
            process.nodes[n]
                .incoming
                .iter()
                .filter_map(|&f| process.flows[f].source),
        );
    }
    seen
}
