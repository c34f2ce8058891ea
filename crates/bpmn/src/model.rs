//! The parsed BPMN model.
//!
//! Flow nodes of a process and of all its embedded subprocesses live in one
//! flat list; a node's `parent` names the subprocess that contains it. Indices
//! (`NodeIdx`, `FlowIdx`) are positions in those lists, which is what lets the
//! engine move tokens without hashing ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::condition::ConditionSource;
use crate::timer::TimerSpec;

/// The extension namespace; any prefix that binds to it is honoured.
pub const AGENTWERKE_NS: &str = "https://agentwerke.de/bpmn/extensions/v1";
/// The BPMN 2.0 model namespace.
pub const BPMN_MODEL_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";

/// Position of a flow node in `Process::nodes`.
pub type NodeIdx = usize;
/// Position of a sequence flow in `Process::flows`.
pub type FlowIdx = usize;

/// Where an element starts in the source document (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A whole BPMN document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    /// The `definitions/@id`, if present.
    pub id: Option<String>,
    /// The `definitions/@name`, if present.
    pub name: Option<String>,
    /// Every `process` element, in document order.
    pub processes: Vec<Process>,
    /// `message` elements by id, with their names.
    pub messages: BTreeMap<String, Option<String>>,
    /// `error` elements by id, with their `errorCode`.
    pub errors: BTreeMap<String, Option<String>>,
    /// BPMNDI geometry, kept so a diagram can be drawn.
    pub diagram: Diagram,
}

impl Definitions {
    /// The first process marked `isExecutable="true"`.
    pub fn executable_process(&self) -> Option<&Process> {
        self.processes.iter().find(|p| p.is_executable)
    }
}

/// One `process` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// `@id`.
    pub id: String,
    /// `@name`.
    pub name: Option<String>,
    /// `@isExecutable`; absent means false.
    pub is_executable: bool,
    /// Flow nodes of the process and all nested subprocesses.
    pub nodes: Vec<FlowNode>,
    /// Sequence flows of the process and all nested subprocesses.
    pub flows: Vec<SequenceFlow>,
    /// Where the `process` element starts.
    pub position: Position,
    /// `aw:egressHosts` on the `process` element: hosts (and `*.` suffix
    /// patterns) every sandboxed command of this workflow may reach
    /// through the egress proxy. Lowercased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_hosts: Vec<String>,
}

impl Process {
    /// Looks a node up by its BPMN id.
    pub fn node_index(&self, id: &str) -> Option<NodeIdx> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Looks a flow up by its BPMN id.
    pub fn flow_index(&self, id: &str) -> Option<FlowIdx> {
        self.flows.iter().position(|f| f.id == id)
    }
}

/// A flow node: event, activity or gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowNode {
    /// `@id`.
    pub id: String,
    /// `@name`.
    pub name: Option<String>,
    /// What the node is and the extension data it carries.
    pub kind: NodeKind,
    /// The embedded subprocess that contains this node; `None` at process level.
    pub parent: Option<NodeIdx>,
    /// Sequence flows whose target is this node, in document order.
    pub incoming: Vec<FlowIdx>,
    /// Sequence flows whose source is this node, in document order.
    pub outgoing: Vec<FlowIdx>,
    /// Boundary events attached to this node.
    pub boundary: Vec<NodeIdx>,
    /// Where the element starts.
    pub position: Position,
}

/// The kinds of flow node. Everything the engine cannot run is still
/// represented (as `Unsupported` or a variant the validator refuses), so that
/// validation can name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeKind {
    /// `startEvent`; only the none start is executable.
    StartEvent {
        /// The event definition, if any.
        trigger: EventTrigger,
    },
    /// `endEvent`: none, terminate and error are executable.
    EndEvent {
        /// The event definition, if any.
        trigger: EventTrigger,
    },
    /// `intermediateCatchEvent`: timer and message are executable.
    IntermediateCatchEvent {
        /// The event definition.
        trigger: EventTrigger,
        /// `externalEvent` extension, for message catches.
        external_event: Option<ExternalEvent>,
    },
    /// `intermediateThrowEvent`: the none throw passes the token on.
    IntermediateThrowEvent {
        /// The event definition, if any.
        trigger: EventTrigger,
    },
    /// `boundaryEvent`: timer and error are executable.
    BoundaryEvent {
        /// Index of the activity it is attached to, once resolved.
        attached_to: Option<NodeIdx>,
        /// The raw `attachedToRef`.
        attached_to_ref: String,
        /// `cancelActivity`; absent means true (interrupting).
        cancel_activity: bool,
        /// The event definition.
        trigger: EventTrigger,
    },
    /// `serviceTask` or `scriptTask`: agent work.
    AgentTask {
        /// `serviceTask` or `scriptTask`.
        element: String,
        /// The `agentTask` extension; required.
        spec: Option<AgentTaskSpec>,
    },
    /// `userTask`: a human approval gate.
    UserTask {
        /// The `approvalTask` extension; required.
        approval: Option<ApprovalSpec>,
    },
    /// `receiveTask`: waits for a correlated message.
    ReceiveTask {
        /// The `externalEvent` extension; required.
        external_event: Option<ExternalEvent>,
    },
    /// `exclusiveGateway`.
    ExclusiveGateway {
        /// `@default` flow, once resolved.
        default: Option<FlowIdx>,
    },
    /// `parallelGateway`.
    ParallelGateway,
    /// `inclusiveGateway`.
    InclusiveGateway {
        /// `@default` flow, once resolved.
        default: Option<FlowIdx>,
    },
    /// Embedded `subProcess` (not event subprocesses).
    SubProcess,
    /// A flow node outside the executable subset (`task`, `sendTask`,
    /// `callActivity`, `eventBasedGateway`, event subprocess, ...).
    Unsupported {
        /// The element's local name, e.g. `callActivity`.
        element: String,
    },
}

/// The event definition inside an event element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventTrigger {
    /// No event definition.
    None,
    /// `terminateEventDefinition`.
    Terminate,
    /// `errorEventDefinition`, with the referenced error's `errorCode`.
    Error {
        /// The `errorCode` of the referenced `error`, if any.
        error_code: Option<String>,
    },
    /// `messageEventDefinition`.
    Message {
        /// `@messageRef`.
        message_ref: Option<String>,
    },
    /// `timerEventDefinition`.
    Timer(TimerSpec),
    /// Any other definition (signal, escalation, conditional, ...), or more
    /// than one definition.
    Other {
        /// Local names of the definitions found.
        definitions: Vec<String>,
    },
}

/// A sequence flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceFlow {
    /// `@id`.
    pub id: String,
    /// `@name`.
    pub name: Option<String>,
    /// The raw `@sourceRef`.
    pub source_ref: String,
    /// The raw `@targetRef`.
    pub target_ref: String,
    /// The resolved source, if it names a known node.
    pub source: Option<NodeIdx>,
    /// The resolved target, if it names a known node.
    pub target: Option<NodeIdx>,
    /// The `conditionExpression`, if any.
    pub condition: Option<ConditionSource>,
    /// The subprocess that contains the flow; `None` at process level.
    pub parent: Option<NodeIdx>,
    /// Where the element starts.
    pub position: Position,
}

/// `agentTask` extension: what an agent does at a service or script task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTaskSpec {
    /// `agent`: the agent profile that does the work (required).
    pub agent: String,
    /// `action`: a tool name to call directly, or a free action label.
    pub action: Option<String>,
    /// `purposeType` (required).
    pub purpose_type: String,
    /// `policyTag`.
    pub policy_tag: Option<String>,
    /// `environment`, e.g. `staging` or `production`.
    pub environment: Option<String>,
    /// `requiresEvidence`; default false.
    pub requires_evidence: bool,
    /// `executionMode`; default `local`.
    pub execution_mode: ExecutionMode,
    /// `sandboxProfile`; default `offline`.
    pub sandbox_profile: SandboxProfile,
    /// `permissionLevel`; default `read-only`.
    pub permission_level: PermissionLevel,
    /// `allowedTools`, comma or whitespace separated.
    pub allowed_tools: Vec<String>,
    /// `deniedTools`, comma or whitespace separated.
    pub denied_tools: Vec<String>,
    /// `toolEscalation`; default `reject`.
    pub tool_escalation: ToolEscalation,
    /// The task prompt: `prompt` attribute or `<prompt>` child.
    pub prompt: Option<String>,
    /// `maxRetries`; default 0.
    pub max_retries: u32,
    /// `retryBackoffSeconds`; default 0. Doubles with each attempt.
    pub retry_backoff_seconds: u64,
    /// `timeoutSeconds`; none means no timeout.
    pub timeout_seconds: Option<u64>,
    /// `strictVariables`: unresolved prompt variables fail the step.
    pub strict_variables: bool,
    /// `<metadata key value>` children, in document order.
    pub metadata: Vec<(String, String)>,
    /// `stepTokenBudget`, `stepCostBudget`, `runTokenBudget`,
    /// `runCostBudget` and `onBudgetExceeded`: limits on model spending
    /// that win over the agent's own where set. None by default. Boxed:
    /// most tasks set none, and every node pays for the largest kind.
    #[serde(default)]
    pub budgets: Box<TaskBudgets>,
    /// `egressHosts`: hosts (and `*.` suffix patterns) this task's
    /// sandboxed commands may reach through the egress proxy, on top of
    /// those its sandbox profile allows: the task's own, then its
    /// workflow's (added when the process is read). Lowercased.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress_hosts: Vec<String>,
}

/// The model-spending limits an `agentTask` sets; each `None` leaves the
/// agent profile's limit (if any) in force.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskBudgets {
    /// `stepTokenBudget`: prompt plus completion tokens one attempt of the
    /// step may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_tokens: Option<u64>,
    /// `stepCostBudget`: US dollars one attempt of the step may spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_cost_usd: Option<f64>,
    /// `runTokenBudget`: tokens the whole run may use, counted when this
    /// step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_tokens: Option<u64>,
    /// `runCostBudget`: US dollars the whole run may spend, counted when
    /// this step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_cost_usd: Option<f64>,
    /// `onBudgetExceeded`: what passing one of them does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_exceed: Option<BudgetExceeded>,
}

/// `onBudgetExceeded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetExceeded {
    /// The step fails with `budget.exceeded`.
    Fail,
    /// Before the turn that would pass a limit, the step pauses with an
    /// approval request; approved, the limit is lifted for the rest of the
    /// attempt, rejected or expired, the step fails with `budget.exceeded`.
    Escalate,
}

/// `executionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionMode {
    /// In the server process.
    Local,
    /// Tools run in a sandbox.
    ToolSandboxed,
    /// The whole agent runs in a sandbox.
    AgentSandboxed,
}

/// `sandboxProfile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxProfile {
    /// No network.
    Offline,
    /// Read access to a repository.
    RepoRead,
    /// Write access to a repository.
    RepoWrite,
    /// Deployment targets.
    Deployment,
}

/// `permissionLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermissionLevel {
    /// `read` tools only.
    ReadOnly,
    /// Adds `write` and `integration`.
    ReadWrite,
    /// Adds `exec` and `network`.
    Full,
}

/// `toolEscalation`: what happens to a call outside the granted surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolEscalation {
    /// Refuse it.
    Reject,
    /// Ask a human.
    Escalate,
}

/// `approvalTask` extension on a user task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalSpec {
    /// `purposeType` (required).
    pub purpose_type: String,
    /// `policyTag` (required).
    pub policy_tag: String,
    /// `approverRole`; none means any Approver.
    pub approver_role: Option<String>,
    /// `expiresAfter` and `onExpiry`: how long the gate waits for a person
    /// and what the run does when nobody decided in time; none waits
    /// forever. Absent from models stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<ApprovalExpiry>,
}

/// A gate's deadline: `expiresAfter="PT4H" onExpiry="reject"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalExpiry {
    /// `expiresAfter` as written, e.g. `PT4H`.
    pub expires_after: String,
    /// It parsed: a non-zero ISO 8601 duration, counted from the moment
    /// the approval opens.
    pub duration: crate::timer::IsoDuration,
    /// `onExpiry`; `reject` unless modelled.
    pub on_expiry: ExpiryOutcome,
}

/// What an expired gate decides in nobody's name. Persisted names; never
/// rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExpiryOutcome {
    /// The run stops, or follows its modelled rejection path: the safe
    /// default, since nobody agreed.
    #[default]
    Reject,
    /// The run goes on as if approved.
    Approve,
    /// The work goes back to the agent, or follows the modelled path.
    RequestChanges,
}

impl ExpiryOutcome {
    /// The attribute value that selects it.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryOutcome::Reject => "reject",
            ExpiryOutcome::Approve => "approve",
            ExpiryOutcome::RequestChanges => "requestChanges",
        }
    }
}

/// `externalEvent` extension on a receive task or message catch event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalEvent {
    /// `messageName` (required).
    pub message_name: String,
    /// `correlationKeyTemplate`, e.g. `{{input.orderId}}`.
    pub correlation_key_template: Option<String>,
}

/// BPMNDI geometry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Diagram {
    /// `BPMNShape`s.
    pub shapes: Vec<Shape>,
    /// `BPMNEdge`s.
    pub edges: Vec<Edge>,
}

/// A `BPMNShape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// `@bpmnElement`.
    pub element_id: String,
    /// `dc:Bounds`.
    pub bounds: Bounds,
    /// `@isExpanded`, for subprocesses.
    pub is_expanded: Option<bool>,
}

/// A `BPMNEdge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// `@bpmnElement`.
    pub element_id: String,
    /// `di:waypoint`s in order.
    pub waypoints: Vec<Point>,
}

/// `dc:Bounds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// `di:waypoint`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// X.
    pub x: f64,
    /// Y.
    pub y: f64,
}
