//! `process` and embedded `subProcess` contents: flow nodes and sequence
//! flows into the flat lists, then references resolved by id.
//!
//! `incoming`/`outgoing` child elements are ignored: the flows' own
//! `sourceRef`/`targetRef` are the truth, and tools disagree on the rest.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use roxmltree::Node;

use crate::condition::{ConditionLanguage, ConditionSource};
use crate::diagnostic::Diagnostic;
use crate::model::{
    AGENTWERKE_NS, FlowIdx, FlowNode, NodeIdx, NodeKind, Position, Process, SandboxProfile,
    SequenceFlow,
};
use agentwerke_types::hosts;

use super::{Reader, bpmn_child, bpmn_children, extensions, text_of};

/// Flow-node elements we do not execute; read as `NodeKind::Unsupported`.
const OTHER_FLOW_NODES: &[&str] = &[
    "task",
    "sendTask",
    "manualTask",
    "businessRuleTask",
    "callActivity",
    "transaction",
    "adHocSubProcess",
    "eventBasedGateway",
    "complexGateway",
    "implicitThrowEvent",
    "callChoreography",
    "subChoreography",
    "choreographyTask",
];

/// A `default` attribute waiting for all flows to be known.
struct PendingDefault {
    node: NodeIdx,
    flow_id: String,
    position: Position,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<FlowNode>,
    flows: Vec<SequenceFlow>,
    defaults: Vec<PendingDefault>,
}

impl<'a, 'input> Reader<'a, 'input> {
    pub(super) fn process(&mut self, element: Node<'a, 'input>) -> Process {
        let mut builder = Builder::default();
        self.container(element, None, &mut builder);
        let mut process = Process {
            id: element.attribute("id").unwrap_or_default().to_owned(),
            name: element.attribute("name").map(str::to_owned),
            is_executable: element
                .attribute("isExecutable")
                .is_some_and(|v| v.trim() == "true"),
            nodes: builder.nodes,
            flows: builder.flows,
            position: self.position(element),
            egress_hosts: self.process_hosts(element),
        };
        self.resolve(&mut process, builder.defaults);
        give_workflow_hosts(&mut process);
        process
    }

    /// `aw:egressHosts` on the `process` element (it must be in our
    /// namespace there: the element is BPMN's), checked like the task's.
    fn process_hosts(&mut self, element: Node<'a, 'input>) -> Vec<String> {
        let Some(value) = element.attribute((AGENTWERKE_NS, "egressHosts")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            match hosts::host_pattern(entry) {
                Ok(host) => out.push(host),
                Err(reason) => {
                    let msg = format!(
                        "`process` `{}` has `{entry}` in `egressHosts`: {reason}",
                        element.attribute("id").unwrap_or("?")
                    );
                    let position = self.position(element);
                    self.diagnostics.push(Diagnostic::error(
                        "bpmn.invalid_attribute",
                        msg,
                        element.attribute("id"),
                        position,
                    ));
                }
            }
        }
        out
    }

    /// Reads the children of a process or embedded subprocess.
    fn container(&mut self, element: Node<'a, 'input>, parent: Option<NodeIdx>, b: &mut Builder) {
        for child in bpmn_children(element) {
            let name = child.tag_name().name();
            if name == "sequenceFlow" {
                let flow = self.sequence_flow(child, parent);
                b.flows.push(flow);
                continue;
            }
            let Some(kind) = self.node_kind(child) else {
                continue;
            };
            let idx = b.nodes.len();
            let is_gateway = matches!(
                kind,
                NodeKind::ExclusiveGateway { .. } | NodeKind::InclusiveGateway { .. }
            );
            if let Some(default) = child.attribute("default").filter(|_| is_gateway) {
                b.defaults.push(PendingDefault {
                    node: idx,
                    flow_id: default.trim().to_owned(),
                    position: self.position(child),
                });
            }
            let recurse = matches!(kind, NodeKind::SubProcess);
            b.nodes.push(FlowNode {
                id: child.attribute("id").unwrap_or_default().to_owned(),
                name: child
                    .attribute("name")
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
                kind,
                parent,
                incoming: Vec::new(),
                outgoing: Vec::new(),
                boundary: Vec::new(),
                position: self.position(child),
            });
            if recurse {
                self.container(child, Some(idx), b);
            }
        }
    }

    /// The kind of a flow-node element, or `None` if it is not a flow node.
    fn node_kind(&mut self, el: Node<'a, 'input>) -> Option<NodeKind> {
        let name = el.tag_name().name();
        Some(match name {
            "startEvent" => NodeKind::StartEvent {
                trigger: self.trigger(el),
            },
            "endEvent" => NodeKind::EndEvent {
                trigger: self.trigger(el),
            },
            "intermediateCatchEvent" => NodeKind::IntermediateCatchEvent {
                trigger: self.trigger(el),
                external_event: self.external_event(el),
            },
            "intermediateThrowEvent" => NodeKind::IntermediateThrowEvent {
                trigger: self.trigger(el),
            },
            "boundaryEvent" => NodeKind::BoundaryEvent {
                attached_to: None,
                attached_to_ref: el
                    .attribute("attachedToRef")
                    .map(super::local_ref)
                    .unwrap_or_default()
                    .to_owned(),
                cancel_activity: el
                    .attribute("cancelActivity")
                    .is_none_or(|v| v.trim() != "false"),
                trigger: self.trigger(el),
            },
            "serviceTask" | "scriptTask" => NodeKind::AgentTask {
                element: name.to_owned(),
                spec: self.agent_task(el),
            },
            "userTask" => NodeKind::UserTask {
                approval: self.approval_task(el),
            },
            "receiveTask" => NodeKind::ReceiveTask {
                external_event: self.external_event(el),
            },
            "exclusiveGateway" => NodeKind::ExclusiveGateway { default: None },
            "inclusiveGateway" => NodeKind::InclusiveGateway { default: None },
            "parallelGateway" => NodeKind::ParallelGateway,
            "subProcess"
                if el
                    .attribute("triggeredByEvent")
                    .is_some_and(|v| v.trim() == "true") =>
            {
                NodeKind::Unsupported {
                    element: "eventSubProcess".to_owned(),
                }
            }
            "subProcess" => NodeKind::SubProcess,
            other if OTHER_FLOW_NODES.contains(&other) => NodeKind::Unsupported {
                element: other.to_owned(),
            },
            _ => return None,
        })
        .inspect(|_| self.warn_misplaced_extensions(el, name))
    }

    fn agent_task(&mut self, el: Node<'a, 'input>) -> Option<crate::model::AgentTaskSpec> {
        extensions::find(el, "agentTask").and_then(|ext| self.read_agent_task(el, ext))
    }

    fn approval_task(&mut self, el: Node<'a, 'input>) -> Option<crate::model::ApprovalSpec> {
        extensions::find(el, "approvalTask").and_then(|ext| self.read_approval_task(el, ext))
    }

    fn external_event(&mut self, el: Node<'a, 'input>) -> Option<crate::model::ExternalEvent> {
        extensions::find(el, "externalEvent").and_then(|ext| self.read_external_event(el, ext))
    }

    fn sequence_flow(&mut self, el: Node<'a, 'input>, parent: Option<NodeIdx>) -> SequenceFlow {
        let condition = bpmn_child(el, "conditionExpression").map(|cond| {
            let text = text_of(cond);
            let names_cel = cond
                .attribute("language")
                .is_some_and(|l| l.to_ascii_lowercase().contains("cel"));
            let language = if names_cel {
                ConditionLanguage::Cel
            } else {
                ConditionLanguage::detect(&text)
            };
            ConditionSource {
                text,
                language,
                position: self.position(cond),
            }
        });
        SequenceFlow {
            id: el.attribute("id").unwrap_or_default().to_owned(),
            name: el.attribute("name").map(str::to_owned),
            source_ref: el
                .attribute("sourceRef")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            target_ref: el
                .attribute("targetRef")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            source: None,
            target: None,
            condition,
            parent,
            position: self.position(el),
        }
    }

    /// Fills indices from ids: flow ends, node incoming/outgoing, boundary
    /// hosts, gateway defaults. Duplicate ids are reported; the first wins.
    fn resolve(&mut self, process: &mut Process, defaults: Vec<PendingDefault>) {
        let mut node_ids: HashMap<&str, NodeIdx> = HashMap::with_capacity(process.nodes.len());
        let mut duplicates = Vec::new();
        for (i, node) in process.nodes.iter().enumerate() {
            if let Entry::Vacant(slot) = node_ids.entry(node.id.as_str()) {
                slot.insert(i);
            } else {
                duplicates.push((node.id.clone(), node.position));
            }
        }
        let mut flow_ids: HashMap<&str, FlowIdx> = HashMap::with_capacity(process.flows.len());
        for (i, flow) in process.flows.iter().enumerate() {
            let taken = node_ids.contains_key(flow.id.as_str());
            match flow_ids.entry(flow.id.as_str()) {
                Entry::Vacant(slot) => {
                    slot.insert(i);
                    if taken {
                        duplicates.push((flow.id.clone(), flow.position));
                    }
                }
                Entry::Occupied(_) => duplicates.push((flow.id.clone(), flow.position)),
            }
        }
        for (id, position) in duplicates {
            self.diagnostics.push(Diagnostic::error(
                "bpmn.duplicate_id",
                format!("the id `{id}` is used by more than one element; ids must be unique"),
                Some(&id),
                position,
            ));
        }
        let mut ends = Vec::with_capacity(process.flows.len());
        for flow in &process.flows {
            ends.push((
                node_ids.get(flow.source_ref.as_str()).copied(),
                node_ids.get(flow.target_ref.as_str()).copied(),
            ));
        }
        let mut hosts = Vec::new();
        for (i, node) in process.nodes.iter().enumerate() {
            if let NodeKind::BoundaryEvent {
                attached_to_ref, ..
            } = &node.kind
            {
                hosts.push((i, node_ids.get(attached_to_ref.as_str()).copied()));
            }
        }
        let resolved_defaults: Vec<_> = defaults
            .into_iter()
            .map(|d| {
                let flow = flow_ids.get(d.flow_id.as_str()).copied();
                (d, flow)
            })
            .collect();

        for (f, (source, target)) in ends.into_iter().enumerate() {
            let flow = &mut process.flows[f];
            flow.source = source;
            flow.target = target;
            if let Some(s) = source {
                process.nodes[s].outgoing.push(f);
            }
            if let Some(t) = target {
                process.nodes[t].incoming.push(f);
            }
        }
        for (boundary, host) in hosts {
            if let NodeKind::BoundaryEvent { attached_to, .. } = &mut process.nodes[boundary].kind {
                *attached_to = host;
            }
            if let Some(h) = host {
                process.nodes[h].boundary.push(boundary);
            }
        }
        for (pending, flow) in resolved_defaults {
            let node = &mut process.nodes[pending.node];
            match (&mut node.kind, flow) {
                (
                    NodeKind::ExclusiveGateway { default } | NodeKind::InclusiveGateway { default },
                    Some(f),
                ) => *default = Some(f),
                (_, None) => self.diagnostics.push(Diagnostic::error(
                    "bpmn.unknown_default_flow",
                    format!(
                        "gateway `{}` names `{}` as its default flow, but no sequence flow has that id",
                        node.id, pending.flow_id
                    ),
                    Some(&node.id),
                    pending.position,
                )),
                _ => {}
            }
        }
    }
}

/// Adds the workflow's `egressHosts` to each of its networked agent tasks,
/// so a task's list is all it may reach beyond its sandbox profile's, and
/// the step carries it alone. `offline` tasks have no network to widen.
fn give_workflow_hosts(process: &mut Process) {
    if process.egress_hosts.is_empty() {
        return;
    }
    for node in &mut process.nodes {
        if let NodeKind::AgentTask {
            spec: Some(spec), ..
        } = &mut node.kind
            && spec.sandbox_profile != SandboxProfile::Offline
        {
            for host in &process.egress_hosts {
                if !spec.egress_hosts.contains(host) {
                    spec.egress_hosts.push(host.clone());
                }
            }
        }
    }
}
