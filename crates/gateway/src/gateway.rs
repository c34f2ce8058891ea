//! The gateway: decide (pure), then execute (the shell around a tool).
//!
//! [`Gateway::decide`] runs the whole pipeline with no IO and no clock:
//! kill switch, secrets in the arguments, tool lookup, input schema, granted
//! surface, Cedar policy, risk. [`Gateway::execute`] adds the one impure
//! step, running an allowed tool, and produces the record that evidence
//! keeps either way. A caller that journals its calls splits the two:
//! [`Gateway::prepare`] (pure) says whether the call may run, the caller
//! commits its intent, and [`Gateway::run`] starts the tool.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwerke_agents::provider::ToolSpec;
use agentwerke_evidence::canonical::digest_value;
use agentwerke_evidence::redact::{Redactor, value_has_private_key};
use agentwerke_types::{ErrorCode, ToolCallId};

use crate::category::ToolEscalation;
use crate::decision::{Decision, DecisionKind, Reason, Stage};
use crate::error::{Error, ToolError};
use crate::facts::Facts;
use crate::policy::{PolicyRequest, PolicySchema, PolicySet};
use crate::record::{CallRecord, CallStatus, EscalationBinding, Execution, Outcome};
use crate::registry::ToolRegistry;
use crate::request::{AgentProfile, CallRequest, Halts, TaskSurface};
use crate::risk::{RiskAssessment, RiskLevel};
use crate::sandboxing::{ExecutionMode, SandboxRun, StepSandbox};
use crate::secret::{InjectedSecrets, SecretResolver};
use crate::tool::ToolContext;

/// How long a tool may run unless configured otherwise.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Gateway settings besides tools and policies.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The agent profiles; calls by any other agent are rejected.
    pub agents: Vec<AgentProfile>,
    /// Root that relative paths resolve against and that `pathInWorkspace`
    /// is measured from.
    pub workspace_root: String,
    /// The known secret values, shared with the rest of the server so a
    /// secret set or rotated while it runs is redacted, and refused in
    /// arguments, from the next call on.
    pub redactor: Redactor,
    /// Upper bound on one tool execution.
    pub tool_timeout: Duration,
    /// Where the values of `secret:NAME` references come from when a call
    /// runs; without one, a call that references a secret fails
    /// (`gateway.tool.secret_missing`).
    pub secrets: Option<Arc<dyn SecretResolver>>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            agents: Vec::new(),
            workspace_root: "/workspace".to_owned(),
            redactor: Redactor::default(),
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            secrets: None,
        }
    }
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("agents", &self.agents)
            .field("workspace_root", &self.workspace_root)
            .field("redactor", &self.redactor)
            .field("tool_timeout", &self.tool_timeout)
            .field("secrets", &self.secrets.is_some())
            .finish()
    }
}

/// What [`Gateway::prepare`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Prepared {
    /// The call may run: journal it, then [`Gateway::run`] it.
    Run(Box<Runnable>),
    /// The call does not run (blocked, or waiting for a human): its record.
    Done(Box<Execution>),
}

/// A call the gateway lets run, with the decision that lets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Runnable {
    decision: Decision,
    approved: bool,
}

impl Runnable {
    /// The decision that lets it run.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Whether it runs on a human's approval of an escalation.
    pub fn approved(&self) -> bool {
        self.approved
    }
}

/// The Tool Gateway. Cheap to clone; share one per policy-set version.
#[derive(Clone, Debug)]
pub struct Gateway {
    registry: ToolRegistry,
    policies: PolicySet,
    agents: Arc<BTreeMap<String, AgentProfile>>,
    config: Arc<GatewayConfig>,
}

impl Gateway {
    /// A gateway brokering `registry`'s tools under `policies`. Fails if
    /// the policies were validated against a schema for other tools.
    pub fn new(
        registry: ToolRegistry,
        policies: PolicySet,
        config: GatewayConfig,
    ) -> Result<Self, Error> {
        if let Some(mismatch) = policies.schema().mismatch(&registry) {
            return Err(Error::SchemaMismatch(mismatch));
        }
        let agents = config
            .agents
            .iter()
            .map(|a| (a.name.clone(), a.clone()))
            .collect();
        Ok(Self {
            registry,
            policies,
            agents: Arc::new(agents),
            config: Arc::new(config),
        })
    }

    /// The schema policies for this gateway's tools must validate against.
    pub fn policy_schema(&self) -> Arc<PolicySchema> {
        Arc::clone(self.policies.schema_arc())
    }

    /// The same gateway under other policies (a new policy-set version).
    pub fn with_policies(&self, policies: PolicySet) -> Result<Self, Error> {
        if let Some(mismatch) = policies.schema().mismatch(&self.registry) {
            return Err(Error::SchemaMismatch(mismatch));
        }
        Ok(Self {
            policies,
            ..self.clone()
        })
    }

    /// The same gateway with other agent profiles (the profile folder was
    /// reloaded); tools, policies and settings stay.
    #[must_use]
    pub fn with_agents(&self, agents: Vec<AgentProfile>) -> Self {
        let by_name = agents.iter().map(|a| (a.name.clone(), a.clone())).collect();
        let config = GatewayConfig {
            agents,
            ..(*self.config).clone()
        };
        Self {
            agents: Arc::new(by_name),
            config: Arc::new(config),
            ..self.clone()
        }
    }

    /// Every agent profile the gateway has, by name.
    pub fn agents(&self) -> impl Iterator<Item = &AgentProfile> {
        self.agents.values()
    }

    /// The profile the gateway has for `agent`, if any.
    pub fn agent(&self, agent: &str) -> Option<&AgentProfile> {
        self.agents.get(agent)
    }

    /// The tools worth offering to `agent`'s model under `task`: those the
    /// granted surface does not refuse outright ([`TaskSurface::check`];
    /// a failure the task escalates still offers the tool, since a human may
    /// allow the call). Policy is not asked: it judges arguments, which the
    /// model has not written yet. Sorted by name.
    pub fn offered(&self, task: &TaskSurface, agent: &str) -> Vec<ToolSpec> {
        let profile = self.agents.get(agent);
        let escalates = task.tool_escalation == ToolEscalation::Escalate;
        self.registry
            .specs()
            .into_iter()
            .filter(|spec| {
                let Some(category) = self.registry.category(&spec.name) else {
                    return false;
                };
                match task.check(&spec.name, category, profile) {
                    Ok(()) => true,
                    Err(denial) => denial.escalatable && escalates,
                }
            })
            .collect()
    }

    /// The tools.
    pub fn registry(&self) -> &ToolRegistry {
        &self.registry
    }

    /// The policy set in force.
    pub fn policies(&self) -> &PolicySet {
        &self.policies
    }

    /// Decides on `call`. Pure: the same call, halts and gateway always give
    /// the same decision.
    pub fn decide(&self, call: &CallRequest, halts: &Halts) -> Decision {
        let redactor = &self.config.redactor;
        let (facts, redacted_args) = Facts::derive(
            &call.arguments,
            call.task.environment.as_deref(),
            &self.config.workspace_root,
            redactor,
        );
        let category = self.registry.category(&call.tool);
        let mut decision = Decision {
            kind: DecisionKind::Reject,
            stage: Stage::Halted,
            reason: Reason::Halted,
            rationale: String::new(),
            // A registered name is safe; an unknown one is model text.
            tool: if category.is_some() {
                call.tool.clone()
            } else {
                redactor.redact_str(&call.tool)
            },
            category,
            determining_policies: Vec::new(),
            policy_set_version: self.policies.version().to_owned(),
            policy_set_hash: self.policies.hash().to_owned(),
            risk: RiskAssessment::default(),
            risk_level: RiskLevel::Low,
            approver_role: None,
            args_hash: digest_value(&call.arguments),
            redacted_args,
            affected_systems: facts
                .affected_systems()
                .iter()
                .map(|system| redactor.redact_str(system))
                .collect(),
        };

        if let Some(scope) = halts.halted_by(call) {
            decision.rationale = format!("halted: the kill switch is on ({scope})");
            return decision;
        }
        // Before any policy: a credential in the arguments is on its way to
        // a tool, a log or another system, and no policy may let it through.
        if let Some(what) = self.secret_in(&call.arguments) {
            let rationale = format!(
                "the arguments carry {what}; credentials are injected by the tool that needs them, never passed as arguments"
            );
            return reject(
                decision,
                Stage::Secrets,
                Reason::SecretInArguments,
                rationale,
            );
        }
        let Some(category) = category else {
            let rationale = format!("no tool named '{}' is registered", decision.tool);
            return reject(decision, Stage::UnknownTool, Reason::UnknownTool, rationale);
        };
        if let Some(errors) = self.registry.schema_errors(&call.tool, &call.arguments) {
            return reject(
                decision,
                Stage::Schema,
                Reason::SchemaInvalid,
                format!(
                    "arguments do not match the input schema of {}: {}",
                    call.tool,
                    redactor.redact_str(&errors)
                ),
            );
        }

        // Before the surface and the policies: a reference to a secret the
        // agent is not granted is refused whatever else would allow it.
        if let Some((reason, rationale)) = self.ungranted_secret(call) {
            return reject(decision, Stage::Secrets, reason, rationale);
        }

        decision.risk =
            RiskAssessment::assess(category, &facts, &call.task.purpose_type, call.attempt);
        // Factor details quote the arguments (a path, a command).
        for factor in &mut decision.risk.factors {
            factor.detail = redactor.redact_str(&factor.detail);
        }
        decision.risk_level = decision.risk.level();
        let surface = call
            .task
            .check(&call.tool, category, self.agents.get(&call.agent));
        if let Err(denial) = &surface
            && !(denial.escalatable && call.task.tool_escalation == ToolEscalation::Escalate)
        {
            return reject(
                decision,
                Stage::Surface,
                denial.reason,
                denial.detail.clone(),
            );
        }

        let verdict = self.policies.evaluate(&PolicyRequest {
            agent: &call.agent,
            tool: &call.tool,
            category,
            task: &call.task,
            attempt: call.attempt,
            facts: &facts,
            risk_score: decision.risk.score,
        });
        decision.determining_policies = verdict.determining_policies;
        decision.risk_level = decision.risk_level.max(verdict.risk.unwrap_or_default());
        decision.approver_role = verdict.approver_role;
        let policy_rationale = redactor.redact_str(&verdict.rationale);
        match (surface, verdict.kind) {
            (_, DecisionKind::Reject) => {
                decision.approver_role = None;
                reject(decision, Stage::Policy, verdict.reason, policy_rationale)
            }
            (Err(denial), _) => {
                decision.kind = DecisionKind::Escalate;
                decision.stage = Stage::Surface;
                decision.reason = denial.reason;
                decision.rationale = format!(
                    "{}; the task escalates calls outside its surface (policy: {policy_rationale})",
                    denial.detail
                );
                decision
            }
            (Ok(()), kind) => {
                decision.kind = kind;
                decision.stage = Stage::Policy;
                decision.reason = verdict.reason;
                decision.rationale = policy_rationale;
                decision
            }
        }
    }

    /// Decides on `call` and, if it is allowed, runs the tool. Keeps no
    /// journal: a keyed tool acts every time (see [`ToolContext::call_id`]).
    pub async fn execute(&self, call: &CallRequest, halts: &Halts) -> Execution {
        match self.prepare(call, halts, None) {
            Prepared::Run(runnable) => self.run(call, *runnable, None).await,
            Prepared::Done(execution) => *execution,
        }
    }

    /// Runs an escalated call that a human approved. The call must be the
    /// one approved (same tool, same argument hash) and is decided again:
    /// an approval turns an `escalate` into a run, never a `reject` (a
    /// halt, a changed surface or a new `forbid` still blocks it).
    pub async fn execute_approved(
        &self,
        call: &CallRequest,
        halts: &Halts,
        binding: &EscalationBinding,
    ) -> Execution {
        match self.prepare(call, halts, Some(binding)) {
            Prepared::Run(runnable) => self.run(call, *runnable, None).await,
            Prepared::Done(execution) => *execution,
        }
    }

    /// Decides on `call`, as approved by a human when `approval` names what
    /// was approved ([`Gateway::execute_approved`]), without running
    /// anything: a call that may run comes back as [`Prepared::Run`], for
    /// the caller to journal its intent before [`Gateway::run`] starts the
    /// tool; any other as the finished [`Execution`]. Pure.
    pub fn prepare(
        &self,
        call: &CallRequest,
        halts: &Halts,
        approval: Option<&EscalationBinding>,
    ) -> Prepared {
        let mut decision = self.decide(call, halts);
        let Some(binding) = approval else {
            return match decision.kind {
                DecisionKind::Allow => Prepared::Run(Box::new(Runnable {
                    decision,
                    approved: false,
                })),
                DecisionKind::Escalate => Prepared::Done(Box::new(Execution::pending(decision))),
                DecisionKind::Reject => Prepared::Done(Box::new(Execution::blocked(decision))),
            };
        };
        if binding.tool != call.tool || binding.args_hash != decision.args_hash {
            decision.determining_policies.clear();
            decision.approver_role = None;
            let rationale = format!(
                "the approval is for {} with arguments {}, not {} with arguments {}",
                binding.tool, binding.args_hash, call.tool, decision.args_hash
            );
            return Prepared::Done(Box::new(Execution::blocked(reject(
                decision,
                Stage::Approval,
                Reason::ApprovalMismatch,
                rationale,
            ))));
        }
        match decision.kind {
            DecisionKind::Reject => Prepared::Done(Box::new(Execution::blocked(decision))),
            DecisionKind::Allow => Prepared::Run(Box::new(Runnable {
                decision,
                approved: false,
            })),
            DecisionKind::Escalate => Prepared::Run(Box::new(Runnable {
                decision,
                approved: true,
            })),
        }
    }

    /// Runs a call [`Gateway::prepare`] let through; `call_id` is its
    /// journal id, handed to the tool ([`ToolContext::call_id`]).
    pub async fn run(
        &self,
        call: &CallRequest,
        runnable: Runnable,
        call_id: Option<ToolCallId>,
    ) -> Execution {
        let sandbox = StepSandbox::new(call.task.sandbox_profile, ExecutionMode::default());
        self.run_in_step(call, runnable, call_id, sandbox).await
    }

    /// [`Gateway::run`] for a call of a step whose sandbox side is
    /// `sandbox` (its profile, `executionMode`, and where its commands run);
    /// the executions the call ran come back redacted on
    /// [`Execution::sandbox`].
    pub async fn run_in_step(
        &self,
        call: &CallRequest,
        runnable: Runnable,
        call_id: Option<ToolCallId>,
        sandbox: Arc<StepSandbox>,
    ) -> Execution {
        let Runnable { decision, approved } = runnable;
        let mut record = CallRecord::new(&decision, CallStatus::Executed);
        record.approved = approved;
        let Some(tool) = self.registry.get(&call.tool) else {
            return failed(
                decision,
                record,
                &ToolError::Failed("the tool is no longer registered".to_owned()),
                &self.config.redactor,
            );
        };
        // The last moment: values are resolved here, handed to the tool
        // only, and the record keeps names and fingerprints.
        let secrets = match self.resolve_secrets(tool.as_ref(), &call.arguments).await {
            Ok(secrets) => secrets,
            Err(error) => return failed(decision, record, &error, &self.config.redactor),
        };
        record.secrets = secrets.uses();
        let ctx = ToolContext {
            run_id: call.run_id.clone(),
            node_id: call.node_id.clone(),
            agent: call.agent.clone(),
            attempt: call.attempt,
            call_id,
            secrets,
            sandbox: Arc::clone(&sandbox),
        };
        let limit = tool
            .timeout(&call.arguments)
            .map_or(self.config.tool_timeout, |own| {
                own.max(self.config.tool_timeout)
            });
        let started = Instant::now();
        let result = tokio::time::timeout(limit, tool.execute(&call.arguments, &ctx)).await;
        record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let redactor = &self.config.redactor;
        // Redacted before anything keeps them: the record, the journal,
        // the evidence.
        let ran: Vec<SandboxRun> = sandbox
            .take_finished()
            .into_iter()
            .map(|run| run.redacted(redactor))
            .collect();
        let mut execution = match result {
            Ok(Ok(mut output)) => {
                redactor.redact_value(&mut output);
                record.output_digest = Some(digest_value(&output));
                Execution {
                    decision,
                    record,
                    outcome: Outcome::Executed { output },
                    sandbox: Vec::new(),
                }
            }
            Ok(Err(error)) => failed(decision, record, &error, redactor),
            Err(_) => {
                let timeout = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
                failed(decision, record, &ToolError::Timeout(timeout), redactor)
            }
        };
        execution.sandbox = ran;
        execution
    }

    /// `text` with known secrets and credential shapes redacted, as every
    /// record the gateway writes is.
    pub fn redact(&self, text: &str) -> String {
        self.config.redactor.redact_str(text)
    }

    /// The redactor this gateway uses (shared: values added to it are known
    /// to every clone).
    pub fn redactor(&self) -> &Redactor {
        &self.config.redactor
    }

    /// Why `call` may not reference the secrets it does, if it may not:
    /// a malformed reference, or one its agent's profile does not grant.
    /// An unknown agent is left to the surface check (`unknown_agent`).
    fn ungranted_secret(&self, call: &CallRequest) -> Option<(Reason, String)> {
        let tool = self.registry.get(&call.tool)?;
        let refs = match tool.secret_refs(&call.arguments) {
            Ok(refs) => refs,
            Err(problem) => {
                let problem = self.config.redactor.redact_str(&problem);
                return Some((Reason::SecretReferenceInvalid, problem));
            }
        };
        let profile = self.agents.get(&call.agent)?;
        let ungranted = refs
            .iter()
            .find(|reference| !profile.secrets.contains(reference.name()))?;
        Some((
            Reason::SecretReferenceNotGranted,
            format!(
                "agent '{}' is not granted secret '{}'",
                call.agent,
                ungranted.name()
            ),
        ))
    }

    /// Resolves every secret `tool` says `arguments` reference.
    async fn resolve_secrets(
        &self,
        tool: &dyn crate::tool::Tool,
        arguments: &serde_json::Value,
    ) -> Result<InjectedSecrets, ToolError> {
        let mut secrets = InjectedSecrets::none();
        let refs = tool
            .secret_refs(arguments)
            .map_err(ToolError::InvalidInput)?;
        for reference in refs {
            let name = reference.name();
            let Some(resolver) = &self.config.secrets else {
                return Err(ToolError::SecretMissing(name.to_string()));
            };
            let resolved = resolver.resolve(name).await?;
            // Whatever the tool or the far side echoes back is redacted.
            self.config.redactor.add([resolved.value.expose()]);
            secrets.insert(name.clone(), resolved);
        }
        Ok(secrets)
    }

    /// What secret `arguments` carry, if any: a PEM private key or a known
    /// secret value, anywhere in a string or an object key.
    fn secret_in(&self, arguments: &serde_json::Value) -> Option<&'static str> {
        if value_has_private_key(arguments) {
            Some("a PEM private key")
        } else if self.config.redactor.value_contains_known(arguments) {
            Some("a known secret value")
        } else {
            None
        }
    }
}

fn reject(mut decision: Decision, stage: Stage, reason: Reason, rationale: String) -> Decision {
    decision.kind = DecisionKind::Reject;
    decision.stage = stage;
    decision.reason = reason;
    decision.rationale = rationale;
    decision
}

fn failed(
    decision: Decision,
    mut record: CallRecord,
    error: &ToolError,
    redactor: &Redactor,
) -> Execution {
    let message = redactor.redact_str(&error.to_string());
    record.status = CallStatus::Failed;
    record.error = Some(format!("{}: {message}", error.code()));
    Execution {
        decision,
        record,
        outcome: Outcome::Failed {
            code: error.code().to_owned(),
            message,
        },
        sandbox: Vec::new(),
    }
}
