//! The Tool Gateway as the runtime uses it: the policy set in force, the
//! kill switch read from the store, and the per-step [`StepTools`] through
//! which every tool call of an agent step passes.
//!
//! There is no other path from an agent to a tool: the executor hands the
//! agent loop a [`StepTools`] (or, for tasks whose `action` names a tool,
//! calls it directly), and [`StepTools`] only runs what the gateway allows
//! or what a human approved for exactly that call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use agentwerke_agents::human::{HUMAN_ASK, question_of};
use agentwerke_agents::provider::ToolCallRequest;
use agentwerke_agents::step::{StepContext, ToolExecutor, ToolResult};
use agentwerke_bpmn::KnownTools;
use agentwerke_bpmn::model::AgentTaskSpec;
use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::record::GatewayCallRecord;
use agentwerke_evidence::redact::Redactor;
use agentwerke_evidence::sections::{ArtifactRecord, PolicyDecisionRecord};
use agentwerke_gateway::tools::{ArtifactMeta, ArtifactStore, Builtins, Document};
use agentwerke_gateway::{
    AgentProfile, CallRequest, Decision, EscalationBinding, ExecTools, Execution, ExecutionMode,
    Gateway, GatewayConfig, Halts, Outcome, PermissionLevel, PolicySchema, PolicySet, RiskLevel,
    SandboxProfile, StepSandbox, TaskSurface, ToolError, ToolEscalation, ToolRegistry,
};
use agentwerke_profiles::Catalogue;
use agentwerke_store::calls::ToolCallRow;
use agentwerke_store::gateway::PolicySetRow;
use agentwerke_store::gateway::{ArtifactRow, HaltRow, HaltScope};
use agentwerke_store::{
    ApprovalRow, NewApproval, NewQuestion, QuestionFilter, QuestionRow, RiskPeak, Store,
};
use agentwerke_types::{
    Actor, ApprovalKind, ApprovalStatus, AuditKind, QuestionStatus, Timestamp, ToolCallId,
};
use async_trait::async_trait;
use serde_json::{Value, json};

use crate::clock::{Clock, rfc3339};
use crate::requests::{EarlierCall, EscalationContext, written_artifact};

mod journal;

use journal::Brokered;
pub use journal::{call_id, made_before};

/// The tools of `registry`, and `human.ask`, which every step may be given.
pub fn known_tools(registry: &ToolRegistry) -> KnownTools {
    registry
        .categories()
        .map(|(name, _)| name)
        .chain([HUMAN_ASK])
        .collect()
}

/// The tools every server has (the built-in ones and `human.ask`): what an
/// offline check, with no server to ask, holds a workflow against.
pub fn builtin_tools() -> Result<KnownTools, crate::Error> {
    let registry = ToolRegistry::builtin(Builtins::in_memory())
        .map_err(|e| crate::Error::Gateway(e.to_string()))?;
    Ok(known_tools(&registry))
}

/// How often a process looks in the store for a policy set published by
/// another process on the same database: one read at most this often, so a
/// publication is in force everywhere within about this time while a call
/// pays nothing for it in between.
pub const POLICY_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// The gateway in force, swapped atomically when a policy set is published
/// here or seen published by another process, or when the agent profiles
/// are reloaded.
pub struct GatewayService {
    current: RwLock<InForce>,
    store: Arc<dyn Store>,
    /// How long an escalated call waits for a human before it counts as
    /// rejected.
    pub escalation_ttl_ms: i64,
    /// When the store was last looked at for a newer publication, in
    /// milliseconds since `born`.
    policy_checked_ms: AtomicU64,
    born: Instant,
}

/// The gateway and the agent profiles it was built with, swapped together
/// so a step never sees a profile the gateway does not know.
#[derive(Clone)]
struct InForce {
    gateway: Arc<Gateway>,
    profiles: Arc<Catalogue>,
}

/// What the gateway is set up with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The agent profiles (configuration and profile folder); an agent
    /// without one gets no tool.
    pub profiles: Catalogue,
    /// What `knowledge.search` searches.
    pub documents: Vec<Document>,
    /// Redacts known secret values and credential shapes from arguments,
    /// outputs and records; shared with the runtime and the secret keeper,
    /// so a value set while the server runs is known at once.
    pub redactor: Redactor,
    /// How long an escalated call waits for a decision.
    pub escalation_ttl: std::time::Duration,
    /// Where `secret:NAME` references in tool calls are resolved when the
    /// call is sent; `None`: such a call fails (`secret_missing`).
    pub resolver: Option<Arc<dyn agentwerke_gateway::SecretResolver>>,
    /// Hosts whose `http.request` calls may reach loopback, private and
    /// other internal addresses; empty: none may.
    pub allow_private_hosts: Vec<String>,
    /// The sandbox and the run workspaces of `exec.run` and
    /// `workspace.*`; [`ExecTools::unavailable`]: those tools fail closed.
    pub exec: ExecTools,
}

impl GatewayService {
    /// Builds the gateway with the built-in tools (artifacts in `store`)
    /// under the newest published policy set, or the shipped default set
    /// when none was published.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: GatewaySettings,
    ) -> Result<Self, crate::Error> {
        let builtins = Builtins {
            artifacts: Arc::new(StoreArtifacts::new(Arc::clone(&store), clock)),
            documents: settings.documents,
            http: agentwerke_gateway::tools::HttpOptions {
                allow_private_hosts: settings.allow_private_hosts,
                ..agentwerke_gateway::tools::HttpOptions::default()
            },
            exec: settings.exec,
            ..Builtins::in_memory()
        };
        let setup = |e: agentwerke_gateway::Error| crate::Error::Gateway(e.to_string());
        let registry = ToolRegistry::builtin(builtins).map_err(setup)?;
        let schema = Arc::new(PolicySchema::for_registry(&registry).map_err(setup)?);
        let policies = match store.active_policy_set().await? {
            Some(row) => stored_set(row, schema),
            None => PolicySet::default_set(schema).map_err(setup)?,
        };
        let config = GatewayConfig {
            agents: settings.profiles.gateway_profiles(),
            redactor: settings.redactor,
            secrets: settings.resolver,
            ..GatewayConfig::default()
        };
        let gateway = Gateway::new(registry, policies, config).map_err(setup)?;
        let ttl = i64::try_from(settings.escalation_ttl.as_millis()).unwrap_or(i64::MAX);
        Ok(Self::with_profiles(gateway, settings.profiles, store, ttl))
    }

    /// Wraps `gateway` (built with the default or the last published policy
    /// set) for the runtime and the API to share; its agents' profiles are
    /// what the gateway knows of them (sandbox profiles and secret grants).
    pub fn new(gateway: Gateway, store: Arc<dyn Store>, escalation_ttl_ms: i64) -> Self {
        let agents: Vec<AgentProfile> = gateway.agents().cloned().collect();
        Self::with_profiles(
            gateway,
            Catalogue::from_config(&agents),
            store,
            escalation_ttl_ms,
        )
    }

    fn with_profiles(
        gateway: Gateway,
        profiles: Catalogue,
        store: Arc<dyn Store>,
        escalation_ttl_ms: i64,
    ) -> Self {
        Self {
            current: RwLock::new(InForce {
                gateway: Arc::new(gateway),
                profiles: Arc::new(profiles),
            }),
            store,
            escalation_ttl_ms,
            policy_checked_ms: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// The gateway in force, after putting in force a policy set another
    /// process published (looked for at most every
    /// [`POLICY_CHECK_INTERVAL`]). What decides calls goes through here.
    pub async fn in_force(&self) -> Arc<Gateway> {
        self.follow_publications().await;
        self.current()
    }

    /// Installs the newest published set when it is not the one in force.
    /// Of concurrent callers one looks; the others go on with the set in
    /// force, at most one interval old.
    async fn follow_publications(&self) {
        let now = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.policy_checked_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(POLICY_CHECK_INTERVAL.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) < interval
            || self
                .policy_checked_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match self.store.active_policy_set().await {
            Ok(Some(row)) if row.version.to_string() != self.current().policies().version() => {
                let version = row.version;
                let policies = stored_set(row, self.current().policy_schema());
                match self.install(policies) {
                    Ok(()) => tracing::info!(version, "a newly published policy set is in force"),
                    Err(error) => {
                        tracing::error!(%error, version, "cannot put the published policy set in force");
                    }
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot look for a newer policy set"),
        }
    }

    /// The gateway in force now, as last installed in this process.
    pub fn current(&self) -> Arc<Gateway> {
        Arc::clone(&self.read().gateway)
    }

    /// The agent profiles in force now.
    pub fn profiles(&self) -> Arc<Catalogue> {
        Arc::clone(&self.read().profiles)
    }

    fn read(&self) -> InForce {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Changes what is in force under the write lock, so a policy
    /// publication and a profile reload at the same moment both take.
    fn swap<E>(&self, change: impl FnOnce(&InForce) -> Result<InForce, E>) -> Result<(), E> {
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = change(&guard)?;
        Ok(())
    }

    /// Puts reloaded agent profiles in force for every step and call from
    /// now on: the gateway's sandbox profiles and secret grants with them.
    pub fn install_profiles(&self, profiles: Catalogue) {
        let _ = self.swap::<std::convert::Infallible>(|now| {
            Ok(InForce {
                gateway: Arc::new(now.gateway.with_agents(profiles.gateway_profiles())),
                profiles: Arc::new(profiles),
            })
        });
    }

    /// The tool names a workflow may use now: what `action`, `allowedTools`
    /// and `deniedTools` are checked against at import and publish.
    pub fn known_tools(&self) -> KnownTools {
        known_tools(self.current().registry())
    }

    /// Puts `policies` in force for every call from now on.
    pub fn install(&self, policies: PolicySet) -> Result<(), agentwerke_gateway::Error> {
        self.swap(|now| {
            Ok(InForce {
                gateway: Arc::new(now.gateway.with_policies(policies)?),
                profiles: Arc::clone(&now.profiles),
            })
        })
    }

    /// The kill-switch state, read from the store on every call so a halt
    /// takes effect at once on every server sharing the database. A store
    /// that cannot be read halts everything (fail closed).
    pub async fn halts(&self) -> Halts {
        halts_of(&self.halt_rows().await)
    }

    /// The halts in force, read from the store; when it cannot be read, one
    /// global halt that says so (fail closed).
    pub async fn halt_rows(&self) -> Vec<HaltRow> {
        match self.store.halts().await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::error!(%error, "cannot read the gateway halts; holding everything");
                vec![HaltRow {
                    scope: HaltScope::Global,
                    target: String::new(),
                    reason: "the kill switch cannot be read, so everything is held".to_owned(),
                    halted_by: "system".to_owned(),
                    halted_at: Timestamp::from_millis(0),
                }]
            }
        }
    }
}

/// A stored set as it is put in force. One that no longer validates rejects
/// every call rather than falling back to something more permissive.
fn stored_set(row: PolicySetRow, schema: Arc<PolicySchema>) -> PolicySet {
    PolicySet::load(row.version.to_string(), row.text, schema)
}

/// The gateway's view of `rows`.
fn halts_of(rows: &[HaltRow]) -> Halts {
    let mut halts = Halts::none();
    for row in rows {
        match row.scope {
            HaltScope::Global => halts.global = true,
            HaltScope::Agent => {
                halts.agents.insert(row.target.clone());
            }
            HaltScope::Workflow => {
                halts.workflows.insert(row.target.clone());
            }
        }
    }
    halts
}

/// The halt among `rows` that holds what `agent` does in a run of
/// `workflow_id`: a global one first, then the agent's, then the workflow's.
pub fn holding<'a>(rows: &'a [HaltRow], agent: &str, workflow_id: &str) -> Option<&'a HaltRow> {
    let find = |scope: HaltScope, target: &str| {
        rows.iter()
            .find(|h| h.scope == scope && (scope == HaltScope::Global || h.target == target))
    };
    find(HaltScope::Global, "")
        .or_else(|| find(HaltScope::Agent, agent))
        .or_else(|| find(HaltScope::Workflow, workflow_id))
}

/// How a halt is told to the model's loop and in a step's outcome.
pub fn halt_reason(halt: &HaltRow) -> String {
    let what = match halt.scope {
        HaltScope::Global => "a global halt".to_owned(),
        scope => format!("a halt of {} '{}'", scope.as_str(), halt.target),
    };
    format!("the kill switch holds this step ({what}): {}", halt.reason)
}

/// The task's granted surface, from its `agentTask` extension.
pub fn surface(spec: &AgentTaskSpec) -> TaskSurface {
    TaskSurface {
        purpose_type: spec.purpose_type.clone(),
        policy_tag: spec.policy_tag.clone(),
        environment: spec.environment.clone(),
        permission_level: same_wire(&spec.permission_level, PermissionLevel::ReadOnly),
        allowed_tools: spec.allowed_tools.clone(),
        denied_tools: spec.denied_tools.clone(),
        sandbox_profile: same_wire(&spec.sandbox_profile, SandboxProfile::Offline),
        tool_escalation: same_wire(&spec.tool_escalation, ToolEscalation::Reject),
    }
}

/// The task's `executionMode`; one the gateway does not know runs each
/// command in a fresh sandbox.
pub fn execution_mode(spec: &AgentTaskSpec) -> ExecutionMode {
    same_wire(&spec.execution_mode, ExecutionMode::ToolSandboxed)
}

/// The BPMN model and the gateway name the same enums with the same wire
/// names; converting through JSON keeps the two crates independent, and a
/// value the gateway does not know falls back to the most restrictive one.
fn same_wire<T: serde::Serialize, U: serde::de::DeserializeOwned>(value: &T, restrictive: U) -> U {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or(restrictive)
}

/// Who a step is, as far as its tool calls are concerned.
#[derive(Debug, Clone)]
pub struct StepIdentity {
    /// The run.
    pub run_id: String,
    /// The workflow.
    pub workflow_id: String,
    /// Who started the run (shown to approvers).
    pub requested_by: String,
    /// The attempt's work id.
    pub work_id: String,
    /// The BPMN node.
    pub node_id: String,
    /// The node's name.
    pub node_name: String,
    /// The agent.
    pub agent: String,
    /// The attempt.
    pub attempt: u32,
}

/// What a step's tool calls leave behind, committed with the step's result.
#[derive(Debug, Default)]
pub struct StepTrail {
    /// Evidence records, in the order things happened.
    pub records: Vec<Record>,
    /// Audit records.
    pub audit: Vec<AuditDraft>,
    /// The approval to open when the step pauses on an escalation.
    pub escalation: Option<NewApproval>,
    /// The question to open when the step pauses on `human.ask`.
    pub question: Option<NewQuestion>,
    /// The highest risk level assessed in this step.
    pub risk: Option<RiskLevel>,
    /// The riskiest call assessed in this step, as the run row keeps it.
    pub risk_peak: Option<RiskPeak>,
    /// The artifacts this step's calls wrote, oldest first: an escalation
    /// later in the step lists them.
    pub artifacts: Vec<ArtifactRecord>,
    /// What this step's calls produced, oldest first: the earlier calls an
    /// escalation later in the step shows its approver.
    pub calls: Vec<EarlierCall>,
    /// The halt that holds the step, when the kill switch stopped it.
    pub halt: Option<HaltRow>,
    /// Sandboxed executions of this step still running when it ended:
    /// they have no record.
    pub sandbox_unrecorded: u32,
    /// The codes of this step's commands the sandbox refused to start.
    pub sandbox_refused: Vec<&'static str>,
}

/// The [`ToolExecutor`] of one agent step.
pub struct StepTools {
    service: Arc<GatewayService>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    who: StepIdentity,
    surface: TaskSurface,
    /// The run's earlier escalations of this node, with their decisions;
    /// read only when a call escalates, so steps without escalations pay
    /// no query for them.
    escalations: tokio::sync::OnceCell<Vec<ApprovalRow>>,
    /// This attempt's earlier questions, oldest first; read at its first
    /// `human.ask`.
    questions: tokio::sync::OnceCell<Vec<QuestionRow>>,
    /// The `human.ask` calls of this execution so far.
    asked: AtomicUsize,
    /// What the model said in the turn whose calls are being made, redacted.
    said: Mutex<Option<String>>,
    /// This step's tool-call journal as it stood when the execution began,
    /// read at its first gateway call (see `gateway::journal`).
    journal: tokio::sync::OnceCell<Result<HashMap<ToolCallId, ToolCallRow>, String>>,
    /// The gateway calls made so far, by tool and argument hash: the
    /// occurrence part of the next identical call's id.
    made: Mutex<HashMap<(String, String), u32>>,
    trail: Mutex<StepTrail>,
    /// The step's sandbox: its profile and `executionMode`, shared by its
    /// calls, closed when the step's execution ends ([`StepTools::into_trail`]).
    sandbox: Arc<StepSandbox>,
}

impl StepTools {
    /// Tools for one step.
    pub fn new(
        service: Arc<GatewayService>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        who: StepIdentity,
        surface: TaskSurface,
    ) -> Self {
        Self {
            service,
            store,
            clock,
            who,
            escalations: tokio::sync::OnceCell::new(),
            questions: tokio::sync::OnceCell::new(),
            asked: AtomicUsize::new(0),
            said: Mutex::new(None),
            journal: tokio::sync::OnceCell::new(),
            made: Mutex::new(HashMap::new()),
            trail: Mutex::new(StepTrail::default()),
            sandbox: StepSandbox::new(surface.sandbox_profile, ExecutionMode::Local),
            surface,
        }
    }

    /// The same tools for a task whose `executionMode` is `mode` and whose
    /// `egressHosts` (its own and its workflow's) are `hosts`.
    #[must_use]
    pub fn with_sandbox(mut self, mode: ExecutionMode, hosts: Vec<String>) -> Self {
        self.sandbox = StepSandbox::for_task(self.surface.sandbox_profile, mode, hosts);
        self
    }

    /// Counts `n` questions as asked already in this execution: a resumed
    /// step does not make again the calls it made before its pause.
    pub fn skip_questions(&self, n: usize) {
        self.asked.store(n, Ordering::Relaxed);
    }

    /// Counts the gateway calls a paused step made before its pause
    /// ([`journal::made_before`]) as made already in this execution, so the
    /// calls it makes now get ids of their own rather than those of the
    /// earlier ones.
    pub fn skip_calls(&self, made: HashMap<(String, String), u32>) {
        *self.made.lock().unwrap_or_else(|p| p.into_inner()) = made;
    }

    /// Whether this execution asked the gateway for any call (counting the
    /// calls a resumed step made before its pause): only then can it have
    /// left a journalled call open.
    pub fn made_calls(&self) -> bool {
        !self
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Whether the task lets its agent ask a human (`human.ask` is not in
    /// its `deniedTools`), so the tool is offered to the model.
    pub fn may_ask(&self) -> bool {
        self.surface.denies(HUMAN_ASK).is_none()
    }

    /// Whether the kill switch holds this step now: the halt is kept for
    /// the step's trail and told as [`ToolResult::Halted`]'s reason.
    pub async fn held(&self) -> Option<String> {
        self.held_by(&self.service.halt_rows().await)
    }

    fn held_by(&self, rows: &[HaltRow]) -> Option<String> {
        let halt = holding(rows, &self.who.agent, &self.who.workflow_id)?;
        let reason = halt_reason(halt);
        let halt = halt.clone();
        self.with_trail(|t| t.halt = Some(halt));
        Some(reason)
    }

    /// One tool call, whichever tool: `human.ask` puts a question to a
    /// human, every other call goes through the gateway.
    pub async fn call_tool(&self, tool: &str, arguments: Value) -> ToolResult {
        if tool == HUMAN_ASK {
            self.ask(&arguments).await
        } else {
            self.broker(tool, arguments).await
        }
    }

    /// The records, audit and pending escalation gathered so far. The
    /// step's execution has ended: its sandbox is closed, and executions
    /// that finished after their call stopped waiting are recorded now.
    pub async fn into_trail(self) -> StepTrail {
        let report = self.sandbox.close().await;
        for run in &report.unclaimed {
            self.record_sandbox(run);
        }
        if let Some(session) = &report.session {
            self.record_session(session);
        }
        let mut trail = self.trail.into_inner().unwrap_or_else(|p| p.into_inner());
        trail.sandbox_unrecorded = report.unfinished;
        trail.sandbox_refused = report.refused;
        trail
    }

    /// Files one sandboxed execution: its evidence record, dated when it
    /// started, and its audit record (both redacted when the gateway handed
    /// the run back).
    fn record_sandbox(&self, run: &agentwerke_gateway::SandboxRun) {
        let now = self.clock.now();
        let ran = i64::try_from(run.execution.duration_ms).unwrap_or(i64::MAX);
        let started = rfc3339(Timestamp::from_millis(now.as_millis().saturating_sub(ran)));
        let record = run.to_evidence(&self.who.work_id, &started);
        let audit = AuditDraft {
            run_id: self.who.run_id.clone(),
            at: rfc3339(now),
            actor: Actor::agent(&self.who.agent),
            kind: AuditKind::SandboxExecuted,
            data: json!({
                "workId": self.who.work_id, "nodeId": self.who.node_id,
                "command": record.command, "profile": record.profile, "mode": record.mode,
                "isolation": record.isolation, "degraded": record.degraded,
                "limits": record.limits, "exitCode": record.exit_code, "signal": record.signal,
                "timedOut": record.timed_out, "killed": record.killed,
                "durationMs": record.duration_ms, "bytesOut": record.bytes_out,
                "stdoutSha256": run.execution.stdout.sha256,
                "stderrSha256": run.execution.stderr.sha256,
                "outputSha256": record.output_sha256,
            }),
        };
        self.with_trail(|t| {
            t.records.push(Record::SandboxExecution(Box::new(record)));
            t.audit.push(audit);
        });
    }

    /// Files a closed step-long session: its evidence record, holding the
    /// connections no command's record does, and its audit record.
    fn record_session(&self, session: &agentwerke_gateway::SessionEnd) {
        let closed_at = rfc3339(self.clock.now());
        let record = session.to_evidence(&self.who.work_id, &closed_at);
        let refused = record
            .egress
            .iter()
            .filter(|c| c.decision != "allowed")
            .count();
        let audit = AuditDraft {
            run_id: self.who.run_id.clone(),
            at: closed_at,
            actor: Actor::agent(&self.who.agent),
            kind: AuditKind::SandboxSessionClosed,
            data: json!({
                "workId": self.who.work_id, "nodeId": self.who.node_id,
                "session": record.session, "profile": record.profile,
                "commands": record.commands, "connections": record.egress.len(),
                "notAllowed": refused,
                "error": session.error.as_ref().map(|(code, message)| {
                    json!({"code": code, "message": self.service.current().redact(message)})
                }),
            }),
        };
        self.with_trail(|t| {
            t.records.push(Record::SandboxSession(record));
            t.audit.push(audit);
        });
    }

    /// Brokers one call: decide, apply an earlier human decision on exactly
    /// this call if there is one, run what may run with its intent and
    /// outcome journalled around it, record everything. A call this step
    /// made before a crash is not made again blindly (see `gateway::journal`).
    pub async fn broker(&self, tool: &str, arguments: Value) -> ToolResult {
        let request = CallRequest {
            tool: tool.to_owned(),
            arguments,
            agent: self.who.agent.clone(),
            workflow_id: self.who.workflow_id.clone(),
            run_id: self.who.run_id.clone(),
            node_id: self.who.node_id.clone(),
            attempt: self.who.attempt,
            task: self.surface.clone(),
        };
        let rows = self.service.halt_rows().await;
        // A held call is not decided: it is made once the halt is lifted.
        if let Some(reason) = self.held_by(&rows) {
            return ToolResult::Halted { reason };
        }
        let halts = halts_of(&rows);
        let gateway = self.service.in_force().await;
        match self.journaled(&gateway, &request, &halts).await {
            Brokered::Done(execution, human) => {
                let result = self.answer(&execution);
                self.record(&request, &execution, human.as_ref(), &result);
                self.keep_for_approvers(&request, &execution);
                result
            }
            Brokered::OutcomeUnknown(execution, approval) => {
                let result = ToolResult::Escalated {
                    approval_id: approval.id.to_string(),
                };
                self.with_trail(|t| t.escalation = Some(approval));
                self.record(&request, &execution, None, &result);
                self.keep_for_approvers(&request, &execution);
                result
            }
        }
    }

    /// `human.ask`: the attempt's questions are matched in order. A resumed
    /// step starts counting after the questions it asked before its pause
    /// ([`StepTools::skip_questions`]), so the paused call meets its own,
    /// now answered question; a step that starts over (its resume point
    /// could not be read) meets them all again by position, not by wording,
    /// and nobody is asked twice. Answered, the answer is the call's result
    /// as plain text; beyond the attempt's questions, a new one opens and
    /// the step pauses.
    pub async fn ask(&self, arguments: &Value) -> ToolResult {
        if let Some(pattern) = self.surface.denies(HUMAN_ASK) {
            return ToolResult::Rejected {
                reason: format!("{HUMAN_ASK} is denied to this task (deniedTools: {pattern})"),
            };
        }
        if let Some(reason) = self.held().await {
            return ToolResult::Halted { reason };
        }
        let question = match question_of(arguments) {
            Ok(question) => self.service.current().redact(question),
            Err(reason) => return ToolResult::Rejected { reason },
        };
        let index = self.asked.fetch_add(1, Ordering::Relaxed);
        let earlier = self.earlier_questions().await;
        match earlier.get(index) {
            Some(asked) if asked.status == QuestionStatus::Answered => ToolResult::Allowed {
                output: Value::String(asked.answer.clone().unwrap_or_default()),
            },
            Some(asked) => ToolResult::Rejected {
                reason: format!("the question \"{}\" was {}", asked.question, asked.status),
            },
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                let now = self.clock.now();
                let audit = AuditDraft {
                    run_id: self.who.run_id.clone(),
                    at: rfc3339(now),
                    actor: Actor::agent(&self.who.agent),
                    kind: AuditKind::QuestionAsked,
                    data: json!({"questionId": id, "workId": self.who.work_id,
                                 "nodeId": self.who.node_id, "question": question}),
                };
                let open = NewQuestion {
                    id: id.clone().into(),
                    work_id: self.who.work_id.clone().into(),
                    node_id: self.who.node_id.clone(),
                    agent: self.who.agent.clone(),
                    question,
                    asked_at: now,
                };
                self.with_trail(|t| {
                    t.audit.push(audit);
                    t.question = Some(open);
                });
                ToolResult::Asked { question_id: id }
            }
        }
    }

    /// This attempt's questions; none when they cannot be read, so the
    /// model asks again rather than going on without an answer.
    async fn earlier_questions(&self) -> &[QuestionRow] {
        self.questions
            .get_or_init(|| async {
                let filter = QuestionFilter {
                    status: None,
                    run_id: Some(self.who.run_id.clone()),
                };
                match self.store.list_questions(filter).await {
                    Ok(rows) => rows
                        .into_iter()
                        .filter(|q| q.work_id == self.who.work_id)
                        .collect(),
                    Err(error) => {
                        tracing::error!(%error, "cannot read earlier questions");
                        Vec::new()
                    }
                }
            })
            .await
    }

    /// This attempt's tool escalations, decided or not, oldest first; read
    /// only when a call needs them. If they cannot be read there are none:
    /// a call escalates again and nothing runs without a human.
    async fn earlier_escalations(&self) -> &[ApprovalRow] {
        self.escalations
            .get_or_init(|| async {
                match self.store.approvals_for_run(&self.who.run_id).await {
                    Ok(rows) => rows
                        .into_iter()
                        .filter(|a| {
                            a.kind == ApprovalKind::ToolEscalation
                                && a.work_id.as_str() == self.who.work_id
                        })
                        .collect(),
                    Err(error) => {
                        tracing::error!(%error, "cannot read earlier escalations");
                        Vec::new()
                    }
                }
            })
            .await
    }

    /// The latest earlier policy escalation of exactly this call in this
    /// attempt that has not run its call yet. A used approval covers no
    /// later call and an earlier attempt's decisions cover none of this
    /// one's, so an identical call made again asks a human again.
    async fn earlier_escalation(&self, binding: &EscalationBinding) -> Option<ApprovalRow> {
        self.earlier_escalations()
            .await
            .iter()
            .rev()
            .find(|a| {
                a.consumed_at.is_none()
                    && !journal::asks_about_lost_outcome(a)
                    && a.request["tool"] == binding.tool.as_str()
                    && a.request["argsHash"] == binding.args_hash.as_str()
            })
            .cloned()
    }

    fn answer(&self, execution: &Execution) -> ToolResult {
        match &execution.outcome {
            Outcome::Executed { output } => ToolResult::Allowed {
                output: output.clone(),
            },
            Outcome::Failed { code, message } => ToolResult::Rejected {
                reason: format!("the tool failed ({code}): {message}"),
            },
            Outcome::Blocked { reason, rationale } => ToolResult::Rejected {
                reason: format!(
                    "the Tool Gateway refused the call ({}): {rationale}",
                    reason.as_str()
                ),
            },
            Outcome::PendingApproval { binding } => {
                let id = uuid::Uuid::now_v7().to_string();
                let approval = self.escalation(&id, &execution.decision, binding);
                self.with_trail(|t| t.escalation = Some(approval));
                ToolResult::Escalated { approval_id: id }
            }
        }
    }

    /// The approval request for an escalated call: bound to the tool and the
    /// hash of its arguments, single use, expiring as a reject. Its related
    /// output is what the step has produced before the call
    /// ([`EscalationContext`]), and its artifacts are the ones the step's
    /// earlier calls wrote, both from this step's own trail: nothing is read
    /// for them.
    fn escalation(
        &self,
        id: &str,
        decision: &Decision,
        binding: &EscalationBinding,
    ) -> NewApproval {
        let (context, artifacts) = {
            let trail = self.trail.lock().unwrap_or_else(|p| p.into_inner());
            let context = EscalationContext {
                agent_text: self.said.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                earlier_calls: trail.calls.clone(),
            };
            (context, trail.artifacts.clone())
        };
        self.escalation_approval(
            id,
            decision,
            json!({
                "requestedAction": format!(
                    "Let agent '{}' run {} at '{}' with the arguments shown",
                    self.who.agent, binding.tool, self.who.node_name
                ),
                "tool": binding.tool,
                "argsHash": binding.args_hash,
                "arguments": decision.redacted_args,
                "relatedOutput": context,
                "artifacts": artifacts,
            }),
        )
    }

    /// An escalation of one of this step's calls: `specific` (what is asked
    /// and of which call) with what every escalation carries: who asks, the
    /// gateway's decision and its risk, single use, and an expiry (as a
    /// reject) after the escalation time-to-live.
    pub(crate) fn escalation_approval(
        &self,
        id: &str,
        decision: &Decision,
        specific: Value,
    ) -> NewApproval {
        let mut request = json!({
            "requester": self.who.requested_by,
            "agent": self.who.agent,
            "nodeId": self.who.node_id,
            "nodeName": self.who.node_name,
            "policyRationale": decision.rationale,
            "policyIds": decision.determining_policies,
            "policySetVersion": decision.policy_set_version,
            "policySetHash": decision.policy_set_hash,
            "riskScore": decision.risk.score,
            "riskLevel": decision.risk_level,
            "riskFactors": decision.risk.factors,
            "affectedSystems": decision.affected_systems,
            "approverRole": decision.approver_role,
            "singleUse": true,
        });
        if let (Some(shared), Value::Object(specific)) = (request.as_object_mut(), specific) {
            shared.extend(specific);
        }
        NewApproval {
            id: id.into(),
            work_id: self.who.work_id.clone().into(),
            node_id: self.who.node_id.clone(),
            kind: ApprovalKind::ToolEscalation,
            request,
            expires_at: Some(Timestamp::from_millis(
                self.clock.now().as_millis() + self.service.escalation_ttl_ms,
            )),
            list_run_artifacts: false,
        }
    }

    fn record(
        &self,
        request: &CallRequest,
        execution: &Execution,
        human: Option<&ApprovalRow>,
        result: &ToolResult,
    ) {
        let at = rfc3339(self.clock.now());
        let record = &execution.record;
        let decision = &execution.decision;
        let tool_call = record.to_evidence(&self.who.work_id, &at);
        let escalated_to = match result {
            ToolResult::Escalated { approval_id } => Some(approval_id.clone()),
            _ => None,
        };
        let policy = PolicyDecisionRecord {
            work_id: Some(self.who.work_id.clone()),
            at: at.clone(),
            subject: format!("tool:{}", request.tool),
            decision: record.decision.as_str().to_owned(),
            policy_ids: record.determining_policies.clone(),
            rationale: Some(record.rationale.clone()),
            risk_score: Some(f64::from(record.risk_score)),
            risk_factors: record.risk_factors.iter().map(|f| f.name.clone()).collect(),
        };
        let replayed = CallRequest {
            arguments: decision.redacted_args.clone(),
            ..request.clone()
        };
        let replay = GatewayCallRecord {
            work_id: self.who.work_id.clone(),
            at: at.clone(),
            // A request that could not be written is kept as `null`, which
            // the simulation reports as a call it cannot replay.
            request: serde_json::to_value(replayed).unwrap_or(Value::Null),
            decision: decision.kind.as_str().to_owned(),
            stage: decision.stage.as_str().to_owned(),
            reason: decision.reason.as_str().to_owned(),
            policy_set_version: decision.policy_set_version.clone(),
            policy_set_hash: decision.policy_set_hash.clone(),
        };
        let audit = AuditDraft {
            run_id: self.who.run_id.clone(),
            at: at.clone(),
            actor: Actor::agent(&self.who.agent),
            kind: AuditKind::ToolCalled,
            data: json!({
                "workId": self.who.work_id, "nodeId": self.who.node_id,
                "tool": record.tool, "category": record.category,
                "argsHash": record.args_hash, "arguments": record.redacted_args,
                "decision": record.decision, "stage": record.stage, "reason": record.reason,
                "policyIds": record.determining_policies,
                "policySetVersion": record.policy_set_version,
                "policySetHash": record.policy_set_hash,
                "rationale": record.rationale,
                "riskScore": record.risk_score, "riskFactors": record.risk_factors,
                "status": tool_call.status, "approved": record.approved,
                "approvalId": human.map(|a| a.id.to_string()).or(escalated_to),
                "durationMs": record.duration_ms, "outputSha256": record.output_digest,
                "secretsUsed": record.secrets,
            }),
        };
        let artifact = match (&execution.outcome, request.tool.as_str()) {
            (Outcome::Executed { output }, "artifact.write") => {
                // `artifact.write` answers with its `ArtifactMeta`; the call's
                // tool-call record holds the output digest either way.
                serde_json::from_value::<ArtifactMeta>(output.clone())
                    .inspect_err(|error| {
                        tracing::error!(%error, "artifact.write answered without its metadata");
                    })
                    .ok()
                    .map(|meta| ArtifactRecord {
                        name: meta.path,
                        sha256: meta.sha256,
                        size: meta.size,
                        media_type: meta.media_type,
                    })
            }
            _ => None,
        };
        let risk = record.risk_level;
        self.with_trail(|t| {
            t.records.extend(artifact.map(Record::Artifact));
            t.records.push(Record::ToolCall(tool_call));
            t.records.push(Record::PolicyDecision(policy));
            t.records.push(Record::GatewayCall(replay));
            t.audit.push(audit);
            t.risk = Some(t.risk.map_or(risk, |r| r.max(risk)));
        });
        for run in &execution.sandbox {
            self.record_sandbox(run);
        }
    }

    /// Keeps what a later approval request of this step shows of
    /// `execution` (the artifact it wrote, the call and its output) and
    /// what the run row keeps of its risk when it is the step's riskiest.
    fn keep_for_approvers(&self, request: &CallRequest, execution: &Execution) {
        let record = &execution.record;
        let written = match (&execution.outcome, request.tool.as_str()) {
            (Outcome::Executed { output }, "artifact.write") => written_artifact(output),
            _ => None,
        };
        let call = EarlierCall::of(&request.tool, execution);
        let peak = RiskPeak {
            score: record.risk_score,
            tool: request.tool.clone(),
            node_id: self.who.node_id.clone(),
            work_id: self.who.work_id.clone().into(),
            factors: record.risk_factors.iter().map(|f| f.name.clone()).collect(),
        };
        self.with_trail(|t| {
            t.artifacts.extend(written);
            t.calls.push(call);
            if t.risk_peak.as_ref().is_none_or(|p| p.score < peak.score) {
                t.risk_peak = Some(peak);
            }
        });
    }

    fn with_trail(&self, f: impl FnOnce(&mut StepTrail)) {
        let mut guard = self.trail.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }
}

fn human_refusal(approval: &ApprovalRow) -> String {
    let comment = approval
        .comment
        .as_deref()
        .map(|c| format!(": \"{c}\""))
        .unwrap_or_default();
    match approval.status {
        ApprovalStatus::Approved => {
            "the human approval of this call was already used; approvals are single use".to_owned()
        }
        ApprovalStatus::Rejected => format!("a human rejected this call{comment}"),
        ApprovalStatus::ChangesRequested => {
            format!("a human asked for changes instead of this call{comment}")
        }
        ApprovalStatus::Expired => {
            "nobody decided on this call in time, so it is refused".to_owned()
        }
        other @ (ApprovalStatus::Pending | ApprovalStatus::Cancelled) => {
            format!("the approval of this call is {other}{comment}")
        }
    }
}

#[async_trait]
impl ToolExecutor for StepTools {
    async fn call(&self, call: &ToolCallRequest, ctx: &StepContext) -> ToolResult {
        let said = ctx
            .said
            .as_deref()
            .map(|text| self.service.current().redact(text));
        *self.said.lock().unwrap_or_else(|p| p.into_inner()) = said;
        self.call_tool(&call.name, call.arguments.clone()).await
    }

    async fn halted(&self, _ctx: &StepContext) -> Option<String> {
        self.held().await
    }
}

/// Run artifacts in the store, for `artifact.write` and `artifact.read`.
pub struct StoreArtifacts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl StoreArtifacts {
    /// Artifacts kept in `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

fn tool_error(error: agentwerke_store::Error) -> ToolError {
    tracing::error!(%error, "artifact store failed");
    ToolError::Failed("the artifact store failed; see the server log".to_owned())
}

#[async_trait]
impl ArtifactStore for StoreArtifacts {
    async fn put(
        &self,
        run_id: &str,
        meta: &ArtifactMeta,
        content: Vec<u8>,
        call_id: Option<&ToolCallId>,
    ) -> Result<(), ToolError> {
        // A write outside the journal gets an id of its own: it always acts.
        let call_id = call_id
            .cloned()
            .unwrap_or_else(|| ToolCallId::from(uuid::Uuid::now_v7().to_string()));
        let row = ArtifactRow {
            run_id: run_id.into(),
            path: meta.path.clone(),
            sha256: meta.sha256.clone(),
            size: meta.size,
            media_type: meta.media_type.clone(),
        };
        self.store
            .put_artifact(row, content, &call_id, self.clock.now())
            .await
            .map(|_| ())
            .map_err(tool_error)
    }

    async fn get(&self, run_id: &str, sha256: &str) -> Result<Option<Vec<u8>>, ToolError> {
        self.store
            .get_artifact(run_id, sha256)
            .await
            .map_err(tool_error)
    }

    async fn find(&self, run_id: &str, path: &str) -> Result<Option<ArtifactMeta>, ToolError> {
        Ok(self
            .store
            .find_artifact(run_id, path)
            .await
            .map_err(tool_error)?
            .map(|row| ArtifactMeta {
                path: row.path,
                sha256: row.sha256,
                size: row.size,
                media_type: row.media_type,
            }))
    }
}
