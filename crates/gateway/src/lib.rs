//! The Tool Gateway: every tool call an agent makes is decided here, and
//! only an allowed call reaches its tool.
//!
//! The design decision: the decision is a pure function,
//! [`Gateway::decide`], of the call, the kill-switch state and the
//! gateway's configuration (tools, agent profiles, Cedar policy set). No IO,
//! no clock, so the whole decision table is tested without a network and a
//! decision can be replayed from evidence. [`Gateway::execute`] is the thin
//! shell that runs an allowed tool and writes the [`CallRecord`].
//!
//! The pipeline, first failing stage wins:
//!
//! 1. **halted**: the kill switch ([`Halts`]) rejects everything it covers;
//! 2. **secrets**: arguments that carry a PEM private key or a value the
//!    [`Redactor`] knows are rejected (`secret_in_arguments`), whatever the
//!    policy set says: a credential is injected by the component that sends
//!    it, never handed around as an argument;
//! 3. **unknown_tool** / **schema**: the tool must be registered and the
//!    arguments must match its JSON Schema;
//!    then **secrets** again: every `secret:NAME` reference the tool declares
//!    ([`Tool::secret_refs`]) must be well formed and granted to the agent
//!    ([`AgentProfile::secrets`]), or the call is rejected
//!    (`secret_reference_invalid`, `secret_reference_not_granted`) before
//!    anything is resolved; [`Gateway::run`] resolves granted ones through
//!    the [`SecretResolver`] just before the tool runs;
//! 4. **surface**: the BPMN task's `deniedTools`, `allowedTools`,
//!    `permissionLevel` and `sandboxProfile`, and the agent's profile
//!    ([`TaskSurface::check`]); outside it the call is rejected, or
//!    escalated when the task says `toolEscalation="escalate"`;
//! 5. **policy**: Cedar ([`PolicySet`]); forbid rejects, a permit annotated
//!    `@decision("escalate")` escalates, another permit allows, nothing
//!    matching or any error rejects.
//!
//! Every decision carries the policy-set version and hash, the determining
//! policies, a [`RiskAssessment`], the argument hash and the redacted
//! arguments.
//!
//! ```
//! use std::sync::Arc;
//! use agentwerke_gateway::{
//!     AgentProfile, Builtins, CallRequest, DecisionKind, Gateway, GatewayConfig, Halts,
//!     PermissionLevel, PolicySchema, PolicySet, Reason, SandboxProfile, TaskSurface,
//!     ToolRegistry,
//! };
//! use serde_json::json;
//!
//! let registry = ToolRegistry::builtin(Builtins::in_memory()).unwrap();
//! let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
//! let policies = PolicySet::default_set(schema).unwrap();
//! let config = GatewayConfig {
//!     agents: vec![AgentProfile::new("writer", [SandboxProfile::Offline])],
//!     ..GatewayConfig::default()
//! };
//! let gateway = Gateway::new(registry, policies, config).unwrap();
//!
//! let mut call = CallRequest {
//!     tool: "artifact.write".into(),
//!     arguments: json!({"path": "notes.md", "content": "hello"}),
//!     agent: "writer".into(),
//!     workflow_id: "wf".into(),
//!     run_id: "run-1".into(),
//!     node_id: "Draft".into(),
//!     attempt: 1,
//!     task: TaskSurface {
//!         purpose_type: "drafting".into(),
//!         permission_level: PermissionLevel::ReadOnly,
//!         ..TaskSurface::default()
//!     },
//! };
//! // A read-only task cannot write ...
//! let decision = gateway.decide(&call, &Halts::none());
//! assert_eq!((decision.kind, decision.reason), (DecisionKind::Reject, Reason::PermissionLevel));
//!
//! // ... a read-write one can, outside production.
//! call.task.permission_level = PermissionLevel::ReadWrite;
//! let decision = gateway.decide(&call, &Halts::none());
//! assert_eq!(decision.kind, DecisionKind::Allow);
//! assert_eq!(decision.determining_policies, ["permit-changes-outside-production"]);
//! ```
#![deny(missing_docs)]

mod category;
mod decision;
pub mod egress;
mod egress_proxy;
mod egress_relay;
mod error;
mod facts;
mod gateway;
pub mod policy;
mod record;
mod registry;
mod request;
mod risk;
mod sandboxed;
mod sandboxing;
mod secret;
mod surface;
mod tool;
pub mod tools;

pub use category::{Category, PermissionLevel, SandboxProfile, ToolEscalation};
pub use decision::{Decision, DecisionKind, Reason, Stage};
pub use egress_proxy::{EgressProxy, EgressRefusal, EgressScope};
pub use error::{Error, PolicyIssue, ToolError};
pub use facts::{DESTRUCTIVE_PATTERNS, Facts, Target, TargetKind};
pub use gateway::{DEFAULT_TOOL_TIMEOUT, Gateway, GatewayConfig, Prepared, Runnable};
pub use policy::{PolicyRequest, PolicySchema, PolicySet, PolicyVerdict};
pub use record::{CallRecord, CallStatus, EscalationBinding, Execution, Outcome};
pub use registry::ToolRegistry;
pub use request::{AgentProfile, CallRequest, Halts, TaskSurface};
pub use risk::{RiskAssessment, RiskFactor, RiskLevel};
pub use sandboxed::{
    EgressSession, SandboxRunError, SessionEnd, open_with_egress, run_with_egress,
};
pub use sandboxing::{
    ExecEgress, ExecLimits, ExecutionMode, SandboxBackend, SandboxRun, StepSandbox,
    StepSandboxReport, run_sandboxed,
};
pub use secret::{InjectedSecrets, ResolvedSecret, SecretResolver, SecretUse, Unavailable};
pub use surface::SurfaceDenial;
pub use tool::{Idempotency, Tool, ToolContext};
pub use tools::{Builtins, ExecTools};

/// The known secret values a gateway redacts and refuses in arguments.
pub use agentwerke_evidence::redact::Redactor;
