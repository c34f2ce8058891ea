//! Checks of single nodes and flows: the executable subset, extensions,
//! timers, conditions, gateway rules.

use agentwerke_types::ErrorCode;

use crate::condition::Condition;
use crate::diagnostic::Diagnostic;
use crate::model::{Definitions, EventTrigger, FlowNode, NodeKind, Process};
use crate::tools::{KnownTools, is_tool_shaped};

/// A node's id for diagnostics; `None` when the element has none.
fn id(node: &FlowNode) -> Option<&str> {
    (!node.id.is_empty()).then_some(node.id.as_str())
}

fn trigger_name(trigger: &EventTrigger) -> String {
    match trigger {
        EventTrigger::None => "none".to_owned(),
        EventTrigger::Terminate => "terminate".to_owned(),
        EventTrigger::Error { .. } => "error".to_owned(),
        EventTrigger::Message { .. } => "message".to_owned(),
        EventTrigger::Timer(_) => "timer".to_owned(),
        EventTrigger::Other { definitions } => definitions.join(" + "),
    }
}

/// Names every node outside the executable subset. Used alone for documents
/// with no executable process, so that the refusal lists what would not run.
pub(super) fn check_subset(process: &Process, out: &mut Vec<Diagnostic>) {
    for node in &process.nodes {
        if let Some(what) = unsupported(node) {
            out.push(Diagnostic::error(
                "bpmn.unsupported_element",
                format!("`{}` ({what}) is outside the executable subset", node.id),
                id(node),
                node.position,
            ));
        }
    }
}

pub(super) fn check(
    defs: &Definitions,
    process: &Process,
    tools: &KnownTools,
    out: &mut Vec<Diagnostic>,
) {
    check_subset(process, out);
    for node in &process.nodes {
        if node.id.is_empty() {
            out.push(Diagnostic::error(
                "bpmn.missing_id",
                "a flow node has no id; every flow node needs one",
                None,
                node.position,
            ));
        }
        extension(defs, node, out);
        tool_names(node, tools, out);
        timer(node, out);
        named(node, out);
    }
    for gateway in &process.nodes {
        gateway_rules(process, gateway, out);
    }
    for flow in &process.flows {
        let Some(src) = &flow.condition else { continue };
        if let Err(e) = Condition::compile(src) {
            out.push(Diagnostic::error(
                e.code(),
                format!(
                    "the condition on sequence flow `{}` is invalid: {e}",
                    flow.id
                ),
                Some(&flow.id),
                src.position,
            ));
        }
    }
}

/// What the node is, if the engine cannot run it.
fn unsupported(node: &FlowNode) -> Option<String> {
    match &node.kind {
        NodeKind::StartEvent { trigger } => (!matches!(trigger, EventTrigger::None)).then(|| {
            format!(
                "a {} start event; only the none start event runs",
                trigger_name(trigger)
            )
        }),
        NodeKind::EndEvent { trigger } => (!matches!(
            trigger,
            EventTrigger::None | EventTrigger::Terminate | EventTrigger::Error { .. }
        ))
        .then(|| format!("a {} end event", trigger_name(trigger))),
        NodeKind::IntermediateCatchEvent { trigger, .. } => (!matches!(
            trigger,
            EventTrigger::Timer(_) | EventTrigger::Message { .. }
        ))
        .then(|| format!("a {} intermediate catch event", trigger_name(trigger))),
        NodeKind::IntermediateThrowEvent { trigger } => (!matches!(trigger, EventTrigger::None))
            .then(|| format!("a {} intermediate throw event", trigger_name(trigger))),
        NodeKind::BoundaryEvent {
            trigger,
            cancel_activity,
            ..
        } => match trigger {
            EventTrigger::Timer(_) => None,
            EventTrigger::Error { .. } if *cancel_activity => None,
            EventTrigger::Error { .. } => Some(
                "a non-interrupting error boundary event; error boundaries always interrupt"
                    .to_owned(),
            ),
            other => Some(format!("a {} boundary event", trigger_name(other))),
        },
        NodeKind::Unsupported { element } if element == "eventSubProcess" => {
            Some("an event subprocess, subProcess triggeredByEvent=\"true\"".to_owned())
        }
        NodeKind::Unsupported { element } => Some(format!("a {element}")),
        _ => None,
    }
}

/// Agent, approval and message-wait nodes need their extension.
fn extension(defs: &Definitions, node: &FlowNode, out: &mut Vec<Diagnostic>) {
    let (code, message) = match &node.kind {
        NodeKind::AgentTask {
            element,
            spec: None,
        } => (
            "bpmn.missing_agent_task",
            format!(
                "{element} `{}` has no agentTask extension, so no agent knows what to do",
                node.id
            ),
        ),
        NodeKind::UserTask { approval: None } => (
            "bpmn.missing_approval_task",
            format!(
                "user task `{}` has no approvalTask extension (purposeType, policyTag)",
                node.id
            ),
        ),
        NodeKind::ReceiveTask {
            external_event: None,
        } => (
            "bpmn.missing_external_event",
            format!(
                "receive task `{}` has no externalEvent extension naming the message it waits for",
                node.id
            ),
        ),
        NodeKind::IntermediateCatchEvent {
            trigger: EventTrigger::Message { message_ref },
            external_event: None,
        } if !message_ref
            .as_ref()
            .is_some_and(|r| defs.messages.contains_key(r)) =>
        {
            (
                "bpmn.missing_external_event",
                format!(
                    "message catch event `{}` has neither an externalEvent extension nor a messageRef to a defined message",
                    node.id
                ),
            )
        }
        _ => return,
    };
    out.push(Diagnostic::error(code, message, id(node), node.position));
}

/// A tool-shaped `action` must name a known tool: otherwise the task would
/// quietly become a model call. Tool-list entries that match no known tool
/// are warnings: they grant or deny nothing, which is most likely a typo.
fn tool_names(node: &FlowNode, tools: &KnownTools, out: &mut Vec<Diagnostic>) {
    let NodeKind::AgentTask {
        spec: Some(spec), ..
    } = &node.kind
    else {
        return;
    };
    let known = || {
        let names: Vec<&str> = tools.names().collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    if let Some(action) = spec.action.as_deref()
        && is_tool_shaped(action)
        && !tools.contains(action)
    {
        out.push(Diagnostic::error(
            "bpmn.unknown_tool",
            format!(
                "task `{}` has action `{action}`, which is shaped like a tool name but names no tool this server has (known: {}); name a known tool, or use a label without dots for a model call",
                node.id,
                known()
            ),
            id(node),
            node.position,
        ));
    }
    for (list, pattern) in spec
        .allowed_tools
        .iter()
        .map(|p| ("allowedTools", p))
        .chain(spec.denied_tools.iter().map(|p| ("deniedTools", p)))
    {
        if !tools.matches_pattern(pattern) {
            out.push(Diagnostic::warning(
                "bpmn.unknown_tool_pattern",
                format!(
                    "`{pattern}` in {list} of task `{}` matches no tool this server has (known: {}); it has no effect",
                    node.id,
                    known()
                ),
                id(node),
                node.position,
            ));
        }
    }
}

fn timer(node: &FlowNode, out: &mut Vec<Diagnostic>) {
    let (NodeKind::IntermediateCatchEvent {
        trigger: EventTrigger::Timer(spec),
        ..
    }
    | NodeKind::BoundaryEvent {
        trigger: EventTrigger::Timer(spec),
        ..
    }) = &node.kind
    else {
        return;
    };
    let message = if spec.expression.is_empty() {
        format!(
            "timer `{}` has no expression; give timeDuration, timeDate or timeCycle",
            node.id
        )
    } else {
        match spec.schedule() {
            Ok(_) => return,
            Err(e) => format!("timer `{}`: {e}", node.id),
        }
    };
    out.push(Diagnostic::error(
        "bpmn.invalid_timer",
        message,
        id(node),
        spec.position,
    ));
}

fn named(node: &FlowNode, out: &mut Vec<Diagnostic>) {
    let is_task = matches!(
        node.kind,
        NodeKind::AgentTask { .. } | NodeKind::UserTask { .. } | NodeKind::ReceiveTask { .. }
    );
    if is_task && node.name.is_none() {
        out.push(Diagnostic::warning(
            "bpmn.unnamed_task",
            format!(
                "task `{}` has no name; people see the name in approvals and evidence",
                node.id
            ),
            id(node),
            node.position,
        ));
    }
}

/// Conditions, defaults and fan-out rules for a node's outgoing flows.
fn gateway_rules(process: &Process, node: &FlowNode, out: &mut Vec<Diagnostic>) {
    let flows = || node.outgoing.iter().map(|&f| (f, &process.flows[f]));
    let default = match &node.kind {
        NodeKind::ExclusiveGateway { default } | NodeKind::InclusiveGateway { default } => *default,
        _ => {
            let why = if matches!(node.kind, NodeKind::ParallelGateway) {
                "a parallel gateway takes every outgoing flow"
            } else {
                "only exclusive and inclusive gateways evaluate conditions"
            };
            for (_, flow) in flows().filter(|(_, f)| f.condition.is_some()) {
                out.push(Diagnostic::warning(
                    "bpmn.ignored_condition",
                    format!(
                        "the condition on sequence flow `{}` is ignored: {why}",
                        flow.id
                    ),
                    Some(&flow.id),
                    flow.position,
                ));
            }
            if matches!(node.kind, NodeKind::ParallelGateway) {
                pointless(node, out);
            }
            return;
        }
    };
    pointless(node, out);
    if let Some(d) = default {
        let flow = &process.flows[d];
        if !node.outgoing.contains(&d) {
            out.push(Diagnostic::error(
                "bpmn.invalid_default_flow",
                format!(
                    "gateway `{}` names `{}` as its default flow, but that flow does not leave the gateway",
                    node.id, flow.id
                ),
                id(node),
                node.position,
            ));
        } else if flow.condition.is_some() {
            out.push(Diagnostic::warning(
                "bpmn.conditional_default",
                format!(
                    "default flow `{}` has a condition, which is ignored",
                    flow.id
                ),
                Some(&flow.id),
                flow.position,
            ));
        }
    }
    let exclusive = matches!(node.kind, NodeKind::ExclusiveGateway { .. });
    let unconditional: Vec<&str> = flows()
        .filter(|(f, flow)| Some(*f) != default && flow.condition.is_none())
        .map(|(_, flow)| flow.id.as_str())
        .collect();
    if exclusive && node.outgoing.len() > 1 && unconditional.len() >= 2 {
        out.push(Diagnostic::error(
            "bpmn.ambiguous_gateway",
            format!(
                "exclusive gateway `{}` has {} outgoing flows without a condition ({}); give each a condition, or mark one as the default",
                node.id,
                unconditional.len(),
                unconditional.join(", ")
            ),
            id(node),
            node.position,
        ));
    }
    let conditional = flows().any(|(_, f)| f.condition.is_some());
    if node.outgoing.len() > 1 && conditional && default.is_none() && unconditional.is_empty() {
        out.push(Diagnostic::warning(
            "bpmn.no_default_flow",
            format!(
                "gateway `{}` has no default flow; a run fails here when no condition holds",
                node.id
            ),
            id(node),
            node.position,
        ));
    }
}

fn pointless(node: &FlowNode, out: &mut Vec<Diagnostic>) {
    if node.incoming.len() == 1 && node.outgoing.len() == 1 {
        out.push(Diagnostic::warning(
            "bpmn.pointless_gateway",
            format!(
                "gateway `{}` has one incoming and one outgoing flow; it does nothing",
                node.id
            ),
            id(node),
            node.position,
        ));
    }
}
