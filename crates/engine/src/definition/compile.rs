//! Model to [`Compiled`]: checks the executable subset and resolves indices.

use std::collections::HashMap;

use agentwerke_bpmn::Definitions;
use agentwerke_bpmn::condition::Condition;
use agentwerke_bpmn::model::{EventTrigger, FlowNode, NodeKind, Process};
use agentwerke_bpmn::timer::{Schedule, TimerSpec};

use super::analysis;
use super::{Compiled, Exec, FlowPlan, NodePlan};
use crate::error::Error;

pub(super) fn compile(process: &Process, defs: Option<&Definitions>) -> Result<Compiled, Error> {
    let count = process.nodes.len();
    if u32::try_from(count).is_err() || u32::try_from(process.flows.len()).is_err() {
        return Err(invalid(&process.id, "too many elements"));
    }
    check_parents(process)?;

    let mut nodes = process
        .nodes
        .iter()
        .map(|node| {
            Ok(NodePlan {
                exec: exec_for(node, process, defs)?,
                outgoing: Vec::new(),
                incoming: 0,
                boundaries: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let flows = wire_flows(process, &mut nodes)?;
    attach_boundaries(process, &mut nodes)?;
    check_defaults(process, &nodes)?;
    let start = resolve_starts(process, &mut nodes)?;
    analysis::annotate(process, &mut nodes, &flows)?;

    let ids: HashMap<String, u32> = process
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i as u32))
        .collect();
    Ok(Compiled {
        process: process.clone(),
        nodes,
        flows,
        start,
        ids,
    })
}

fn invalid(element_id: &str, reason: impl Into<String>) -> Error {
    Error::InvalidModel {
        element_id: element_id.to_owned(),
        reason: reason.into(),
    }
}

fn unsupported(node: &FlowNode, element: impl Into<String>) -> Error {
    Error::UnsupportedElement {
        element_id: node.id.clone(),
        element: element.into(),
    }
}

/// Every `parent` names a subprocess, and parent chains end.
fn check_parents(process: &Process) -> Result<(), Error> {
    for node in &process.nodes {
        let mut current = node.parent;
        let mut depth = 0usize;
        while let Some(p) = current {
            let parent = process
                .nodes
                .get(p)
                .ok_or_else(|| invalid(&node.id, "its parent is not a known node"))?;
            if !matches!(parent.kind, NodeKind::SubProcess) {
                return Err(invalid(&node.id, "its parent is not a subprocess"));
            }
            depth += 1;
            if depth > process.nodes.len() {
                return Err(invalid(&node.id, "subprocess nesting forms a cycle"));
            }
            current = parent.parent;
        }
    }
    Ok(())
}

fn exec_for(node: &FlowNode, process: &Process, defs: Option<&Definitions>) -> Result<Exec, Error> {
    Ok(match &node.kind {
        NodeKind::StartEvent { trigger } => match trigger {
            EventTrigger::None => Exec::Start,
            other => return Err(unsupported(node, format!("{} start event", name(other)))),
        },
        NodeKind::EndEvent { trigger } => match trigger {
            EventTrigger::None => Exec::End,
            EventTrigger::Terminate => Exec::Terminate,
            EventTrigger::Error { error_code } => Exec::ErrorEnd {
                code: error_code.clone(),
            },
            other => return Err(unsupported(node, format!("{} end event", name(other)))),
        },
        NodeKind::IntermediateCatchEvent {
            trigger,
            external_event,
        } => match trigger {
            EventTrigger::Timer(spec) => Exec::TimerCatch {
                schedule: schedule(node, spec)?,
            },
            EventTrigger::Message { message_ref } => {
                let (name, template) = match external_event {
                    Some(ext) => (
                        ext.message_name.clone(),
                        ext.correlation_key_template.clone(),
                    ),
                    None => (message_name(node, message_ref.as_deref(), defs)?, None),
                };
                Exec::Message {
                    step_type: "messageCatch",
                    name,
                    template,
                }
            }
            other => {
                return Err(unsupported(
                    node,
                    format!("{} intermediate catch event", name(other)),
                ));
            }
        },
        NodeKind::IntermediateThrowEvent { trigger } => match trigger {
            EventTrigger::None => Exec::Pass,
            other => {
                return Err(unsupported(
                    node,
                    format!("{} intermediate throw event", name(other)),
                ));
            }
        },
        NodeKind::BoundaryEvent {
            attached_to,
            cancel_activity,
            trigger,
            ..
        } => {
            let host = attached_to
                .filter(|h| *h < process.nodes.len())
                .ok_or_else(|| invalid(&node.id, "attachedToRef names no known activity"))?
                as u32;
            match trigger {
                EventTrigger::Timer(spec) => Exec::BoundaryTimer {
                    host,
                    interrupting: *cancel_activity,
                    schedule: schedule(node, spec)?,
                },
                EventTrigger::Error { error_code } => {
                    if !cancel_activity {
                        return Err(invalid(&node.id, "error boundary events always interrupt"));
                    }
                    Exec::BoundaryError {
                        host,
                        code: error_code.clone(),
                    }
                }
                other => {
                    return Err(unsupported(node, format!("{} boundary event", name(other))));
                }
            }
        }
        NodeKind::AgentTask { spec, .. } => match spec {
            Some(spec) => Exec::Agent {
                spec: Box::new(spec.clone()),
            },
            None => return Err(missing(node, "agentTask")),
        },
        NodeKind::UserTask { approval } => match approval {
            Some(spec) => Exec::Approval {
                spec: Box::new(spec.clone()),
                modelled: false,
                rework: None,
            },
            None => return Err(missing(node, "approvalTask")),
        },
        NodeKind::ReceiveTask { external_event } => match external_event {
            Some(ext) => Exec::Message {
                step_type: "receiveTask",
                name: ext.message_name.clone(),
                template: ext.correlation_key_template.clone(),
            },
            None => return Err(missing(node, "externalEvent")),
        },
        NodeKind::ExclusiveGateway { default } => Exec::Exclusive {
            default: default.map(|d| d as u32),
        },
        NodeKind::ParallelGateway => Exec::Parallel,
        NodeKind::InclusiveGateway { default } => Exec::Inclusive {
            default: default.map(|d| d as u32),
            upstream: None,
        },
        // The start is resolved once all nodes are known.
        NodeKind::SubProcess => Exec::SubProcess { start: u32::MAX },
        NodeKind::Unsupported { element } => return Err(unsupported(node, element.clone())),
    })
}

fn missing(node: &FlowNode, extension: &'static str) -> Error {
    Error::MissingExtension {
        element_id: node.id.clone(),
        extension,
    }
}

fn schedule(node: &FlowNode, spec: &TimerSpec) -> Result<Schedule, Error> {
    spec.schedule().map_err(|source| Error::InvalidTimer {
        element_id: node.id.clone(),
        source,
    })
}

/// The name of the `message` a catch event references, when it has no
/// `externalEvent` extension.
fn message_name(
    node: &FlowNode,
    message_ref: Option<&str>,
    defs: Option<&Definitions>,
) -> Result<String, Error> {
    message_ref
        .and_then(|r| {
            defs?
                .messages
                .get(r)
                .map(|name| name.clone().unwrap_or_else(|| r.to_owned()))
        })
        .ok_or_else(|| missing(node, "externalEvent"))
}

fn name(trigger: &EventTrigger) -> String {
    match trigger {
        EventTrigger::None => "none".to_owned(),
        EventTrigger::Terminate => "terminate".to_owned(),
        EventTrigger::Error { .. } => "error".to_owned(),
        EventTrigger::Message { .. } => "message".to_owned(),
        EventTrigger::Timer(_) => "timer".to_owned(),
        EventTrigger::Other { definitions } => definitions.join("+"),
    }
}

/// Resolves flow ends, fills adjacency in document order, compiles conditions.
fn wire_flows(process: &Process, nodes: &mut [NodePlan]) -> Result<Vec<FlowPlan>, Error> {
    let count = process.nodes.len();
    let mut plans = Vec::with_capacity(process.flows.len());
    for (index, flow) in process.flows.iter().enumerate() {
        let source = flow.source.filter(|s| *s < count).ok_or_else(|| {
            invalid(
                &flow.id,
                format!("sourceRef `{}` is unknown", flow.source_ref),
            )
        })?;
        let target = flow.target.filter(|t| *t < count).ok_or_else(|| {
            invalid(
                &flow.id,
                format!("targetRef `{}` is unknown", flow.target_ref),
            )
        })?;
        if process.nodes[source].parent != process.nodes[target].parent {
            return Err(invalid(
                &flow.id,
                "a sequence flow cannot cross a subprocess border",
            ));
        }
        if matches!(
            nodes[target].exec,
            Exec::Start | Exec::BoundaryTimer { .. } | Exec::BoundaryError { .. }
        ) {
            return Err(invalid(
                &flow.id,
                "start and boundary events take no incoming flow",
            ));
        }
        let condition = flow
            .condition
            .as_ref()
            .map(|src| {
                Condition::compile(src).map_err(|source| Error::InvalidCondition {
                    flow_id: flow.id.clone(),
                    source,
                })
            })
            .transpose()?;
        let slot = nodes[target].incoming;
        nodes[target].incoming += 1;
        nodes[source].outgoing.push(index as u32);
        plans.push(FlowPlan {
            target: target as u32,
            slot,
            condition,
        });
    }
    Ok(plans)
}

fn attach_boundaries(process: &Process, nodes: &mut [NodePlan]) -> Result<(), Error> {
    for index in 0..nodes.len() {
        let (Exec::BoundaryTimer { host, .. } | Exec::BoundaryError { host, .. }) =
            nodes[index].exec
        else {
            continue;
        };
        let boundary = &process.nodes[index];
        if !nodes[host as usize].exec.is_activity() {
            return Err(invalid(
                &boundary.id,
                "boundary events attach to tasks and subprocesses",
            ));
        }
        if process.nodes[host as usize].parent != boundary.parent {
            return Err(invalid(
                &boundary.id,
                "a boundary event sits in its activity's scope",
            ));
        }
        nodes[host as usize].boundaries.push(index as u32);
    }
    Ok(())
}

fn check_defaults(process: &Process, nodes: &[NodePlan]) -> Result<(), Error> {
    for (index, plan) in nodes.iter().enumerate() {
        if let Exec::Exclusive { default: Some(d) }
        | Exec::Inclusive {
            default: Some(d), ..
        } = plan.exec
            && !plan.outgoing.contains(&d)
        {
            return Err(invalid(
                &process.nodes[index].id,
                "the default flow is not one of the gateway's outgoing flows",
            ));
        }
    }
    Ok(())
}

/// Finds the single none start of the process and of every subprocess.
fn resolve_starts(process: &Process, nodes: &mut [NodePlan]) -> Result<u32, Error> {
    let mut starts: HashMap<Option<usize>, Vec<u32>> = HashMap::new();
    for (index, node) in process.nodes.iter().enumerate() {
        if matches!(nodes[index].exec, Exec::Start) {
            starts.entry(node.parent).or_default().push(index as u32);
        }
    }
    let mut pick = |scope: Option<usize>, scope_id: &str| -> Result<u32, Error> {
        match starts.remove(&scope).as_deref() {
            Some([one]) => Ok(*one),
            Some([_, second, ..]) => Err(invalid(
                &process.nodes[*second as usize].id,
                format!("{scope_id} has more than one none start event"),
            )),
            _ => Err(Error::NoStartEvent {
                scope: scope_id.to_owned(),
            }),
        }
    };
    let root = pick(None, &process.id)?;
    for (index, plan) in nodes.iter_mut().enumerate() {
        if let Exec::SubProcess { .. } = plan.exec {
            let start = pick(Some(index), &process.nodes[index].id)?;
            plan.exec = Exec::SubProcess { start };
        }
    }
    Ok(root)
}
