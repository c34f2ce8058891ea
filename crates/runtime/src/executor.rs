//! Executes claimed agent work and commits each result as the run's next event.

use std::sync::Arc;

use agentwerke_agents::human::{HUMAN_ASK, human_ask_spec};
use agentwerke_agents::prompt::{PromptVars, SkillPrompt, TaskPromptSpec, assemble, render};
use agentwerke_agents::provider::ToolCallRequest;
use agentwerke_agents::step::{
    BudgetAsk, NoTools, Resume, StepInput, StepOutcome, ToolResult, run_metered_step,
};
use agentwerke_bpmn::model::AgentTaskSpec;
use agentwerke_bpmn::tools::is_tool_shaped;
use agentwerke_engine::WorkId;
use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::record::PromptRecord;
use agentwerke_gateway::TaskSurface;
use agentwerke_profiles::Profile;
use agentwerke_store::{Delivered, JsonText, NewApproval, WorkEnd, WorkItem};
use agentwerke_types::{Actor, AuditKind, ErrorCode, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::budget_escalation::{self, Settled};
use crate::budgets::for_task;
use crate::clock::rfc3339;
use crate::command::Ctx;
use crate::command::finish_step::{self, FinishStep, Outcome as Ending, Risk};
use crate::command::release_step::{self, ReleaseStep};
use crate::gateway::{StepIdentity, StepTools, execution_mode, made_before, surface};
use crate::heartbeat::Claim;
use crate::live::LiveSink;
use crate::meter::StoreMeter;
use crate::{Error, RuntimeDeps, RuntimeHandle, RuntimeOptions, idle};

/// Metadata keys `tool.input.<name>` give a tool task its arguments.
const TOOL_INPUT_PREFIX: &str = "tool.input.";

/// The code of a step refused because its `action` names no known tool.
pub const UNKNOWN_TOOL: &str = "runtime.unknown_tool";

/// What a task's `action` asks the executor to do.
enum Action {
    /// Ask the model (no action, or an action label).
    Model,
    /// Call this registered tool (or `human.ask`) without a model.
    Tool(String),
    /// Refuse: a tool-shaped name that no registry knows.
    UnknownTool(String),
}

/// How one execution of a step ends.
enum Outcome {
    /// Completed or failed.
    Ended(Ending),
    /// Paused on the escalation with this approval id, and where the step
    /// stands (none for a task that calls its tool without a model).
    Paused(String, Option<JsonText>),
    /// Paused on the question to a human with this id; as above.
    Asked(String, Option<JsonText>),
    /// Held by the kill switch; where the step stands, as above.
    Halted(Option<JsonText>),
    /// Paused before a model turn that would pass a budget that says
    /// `escalate`, on this approval; where the step stands.
    OverBudget(Box<NewApproval>, Option<JsonText>),
}

/// The payload of an `agent_task` work row, written by
/// `effects::AgentWorkPayload`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentWork {
    run_id: String,
    #[serde(default)]
    workflow_id: String,
    #[serde(default)]
    requested_by: String,
    work_id: WorkId,
    node_id: String,
    name: Option<String>,
    attempt: u32,
    spec: AgentTaskSpec,
    feedback: Option<String>,
    context: Value,
}

impl AgentWork {
    /// The node's name, or its id when it has none.
    fn node_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.node_id.clone())
    }
}

/// The loop that runs agent steps.
pub struct Executor {
    options: RuntimeOptions,
    deps: RuntimeDeps,
    handle: RuntimeHandle,
    slots: Arc<Semaphore>,
}

impl Executor {
    /// A new executor; nothing runs until [`Executor::run`].
    pub fn new(options: RuntimeOptions, deps: RuntimeDeps, handle: RuntimeHandle) -> Self {
        let slots = Arc::new(Semaphore::new(options.max_concurrent_steps.max(1)));
        Self {
            options,
            deps,
            handle,
            slots,
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        loop {
            if *shutdown.borrow() {
                return;
            }
            let free = this.slots.available_permits();
            let now = this.deps.clock.now();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                this.deps
                    .store
                    .claim_work(
                        &this.options.owner,
                        now,
                        this.options.lease.as_millis() as i64,
                        free,
                    )
                    .await
            };
            match claimed {
                Ok(items) if !items.is_empty() => {
                    for item in items {
                        log_recovery(&item);
                        let Ok(permit) = this.slots.clone().acquire_owned().await else {
                            return;
                        };
                        let worker = this.clone();
                        tokio::spawn(async move {
                            let run_id = item.run_id.clone();
                            // The step runs only while its claim holds.
                            let claim = worker.claim(&item, now);
                            match claim.hold(worker.execute(item)).await {
                                // The step went with the result: nothing waits in an inbox.
                                Ok(Ok(Delivered::Stepped)) => {}
                                Ok(Ok(_)) => worker.handle.wake.applier.notify_one(),
                                Ok(Err(error)) => {
                                    tracing::warn!(%run_id, code = error.code(), %error, "agent step not recorded");
                                    worker.handle.wake.applier.notify_one();
                                }
                                Err(lost) => {
                                    tracing::warn!(%run_id, work_id = %claim.work_id, claim = claim.number,
                                        reason = lost.reason(), "agent step stopped unfinished: its claim was lost");
                                }
                            }
                            drop(permit);
                            // A slot is free: look for more work now rather
                            // than at the next poll.
                            worker.handle.wake.executor.notify_one();
                        });
                    }
                }
                Ok(_) => {
                    if idle(
                        &this.handle.wake.executor,
                        this.options.poll_interval,
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(code = error.code(), %error, "claiming work failed");
                    if idle(
                        &this.handle.wake.executor,
                        this.options.poll_interval,
                        &mut shutdown,
                    )
                    .await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Runs one agent step and commits its result: completed, failed, or
    /// paused on a tool call a human must decide or a question a human must
    /// answer.
    async fn execute(&self, item: WorkItem) -> Result<Delivered, Error> {
        let work: AgentWork = serde_json::from_str(item.payload.as_str())?;
        if item.held {
            // The kill switch held the step and stopped its timeout: the run
            // hears it goes on before it does, so the timeout counts again.
            // Not released, not run: the lease runs out and a later claim
            // tries again.
            let release = ReleaseStep {
                run_id: work.run_id.clone().into(),
                work_id: item.work_id.clone(),
                step: work.work_id,
                claim: item.attempt_count,
            };
            let ctx = Ctx {
                at: self.deps.clock.now(),
                redactor: &self.options.redactor,
            };
            release_step::release(&self.deps.store, &self.handle.stepper, release, &ctx).await?;
        }
        // Where the step stood when it paused for a person; one that cannot
        // be read starts the step over, as a step did before it was kept.
        let resume: Option<Resume> = item.resume.as_ref().and_then(|text| {
            serde_json::from_str(text.as_str())
                .inspect_err(|error| tracing::warn!(%error, "a paused step starts over"))
                .ok()
        });
        let profile = self
            .deps
            .gateway
            .as_ref()
            .and_then(|service| service.profiles().get(&work.spec.agent).cloned());
        let surface = granted(&work.spec, profile.as_deref());
        let tools = self.deps.gateway.as_ref().map(|service| {
            StepTools::new(
                Arc::clone(service),
                Arc::clone(&self.deps.store),
                Arc::clone(&self.deps.clock),
                self.identity(&work),
                surface.clone(),
            )
            .with_sandbox(execution_mode(&work.spec), work.spec.egress_hosts.clone())
        });
        let mut records = Vec::new();
        let mut audit = Vec::new();
        let outcome = match (&tools, self.action(&work.spec)) {
            (Some(tools), Action::Tool(tool)) => self.call_tool(&work, tools, &tool).await,
            (_, Action::Tool(tool) | Action::UnknownTool(tool)) => {
                self.refuse_unknown_tool(&work, &tool, &mut audit)
            }
            (_, Action::Model) => {
                if let (Some(tools), Some(resume)) = (&tools, &resume) {
                    tools.skip_questions(questions_before(resume));
                    tools.skip_calls(made_before(resume));
                }
                let meter = self.meter(&work, &item);
                let step = ModelStep {
                    tools: tools.as_ref(),
                    profile: profile.as_deref(),
                    surface: &surface,
                    meter: &meter,
                };
                self.ask_model(&work, step, resume, &mut records, &mut audit)
                    .await
            }
        };
        // Only an execution that made calls, or one of work claimed before,
        // can leave a journalled call open.
        let journal = item.attempt_count > 1
            || item.resume.is_some()
            || tools.as_ref().is_some_and(StepTools::made_calls);
        let trail = match tools {
            Some(tools) => tools.into_trail().await,
            None => crate::gateway::StepTrail::default(),
        };
        let mut outcome = outcome;
        if work.spec.requires_evidence
            && let Some((code, message)) = evidence_missing(&trail)
        {
            audit.push(self.audit(
                &work,
                AuditKind::StepFailed,
                json!({"workId": work.work_id, "nodeId": work.node_id,
                       "attempt": work.attempt, "code": code, "message": message}),
            ));
            outcome = Outcome::Ended(failed(code, &message));
        }
        // The calls happened before the step ended: their records come first.
        let records: Vec<_> = trail.records.into_iter().chain(records).collect();
        let audit: Vec<_> = trail.audit.into_iter().chain(audit).collect();
        let outcome = match outcome {
            Outcome::Ended(ending) => ending,
            Outcome::Paused(approval_id, resume) => Ending::Paused {
                approval_id,
                approval: trail.escalation,
                resume,
            },
            Outcome::Asked(question_id, resume) => Ending::Asked {
                question_id,
                question: trail.question,
                resume,
            },
            Outcome::Halted(resume) => Ending::Held {
                halt: trail.halt,
                resume,
            },
            Outcome::OverBudget(approval, resume) => Ending::Paused {
                approval_id: approval.id.to_string(),
                approval: Some(*approval),
                resume,
            },
        };
        let finish = FinishStep {
            run_id: work.run_id.clone().into(),
            work_id: item.work_id.clone(),
            step: work.work_id,
            owner: self.options.owner.clone(),
            claim: item.attempt_count,
            attempt: work.attempt,
            node_id: work.node_id.clone(),
            agent: work.spec.agent.clone(),
            workflow_id: work.workflow_id.clone(),
            outcome,
            records,
            audit,
            risk: trail.risk.map(|level| Risk {
                level,
                peak: trail.risk_peak,
            }),
            journal,
        };
        let ctx = Ctx {
            at: self.deps.clock.now(),
            redactor: &self.options.redactor,
        };
        let finished =
            finish_step::finish(&self.deps.store, &self.handle.stepper, finish, &ctx).await?;
        if finished.work == Some(WorkEnd::Released) {
            // The halt was lifted meanwhile: go on at once rather than at the
            // next poll.
            self.handle.wake.executor.notify_one();
        }
        Ok(finished.delivered)
    }

    /// The claim `item` was taken under at `claimed_at`, whose lease the
    /// step keeps alive while it runs.
    fn claim(&self, item: &WorkItem, claimed_at: Timestamp) -> Claim {
        Claim {
            store: Arc::clone(&self.deps.store),
            clock: Arc::clone(&self.deps.clock),
            owner: self.options.owner.clone(),
            run_id: item.run_id.clone(),
            work_id: item.work_id.clone(),
            number: item.attempt_count,
            claimed_at,
            lease: self.options.lease,
        }
    }

    /// The meter of this claim of the step: it reads what the step's work
    /// and its run spent from the store and keeps each turn there.
    fn meter(&self, work: &AgentWork, item: &WorkItem) -> StoreMeter {
        StoreMeter {
            store: Arc::clone(&self.deps.store),
            stepper: self.handle.stepper.clone(),
            clock: Arc::clone(&self.deps.clock),
            redactor: self.options.redactor.clone(),
            run_id: work.run_id.clone().into(),
            work_id: item.work_id.clone(),
            claim: item.attempt_count,
            attempt: work.attempt,
            node_id: work.node_id.clone(),
        }
    }

    fn identity(&self, work: &AgentWork) -> StepIdentity {
        StepIdentity {
            run_id: work.run_id.clone(),
            workflow_id: work.workflow_id.clone(),
            requested_by: work.requested_by.clone(),
            work_id: work.work_id.to_string(),
            node_id: work.node_id.clone(),
            node_name: work.node_name(),
            agent: work.spec.agent.clone(),
            attempt: work.attempt,
        }
    }

    /// What the task's `action` asks for, judged against the tools the
    /// gateway has now.
    fn action(&self, spec: &AgentTaskSpec) -> Action {
        let Some(action) = spec.action.as_deref() else {
            return Action::Model;
        };
        let registered = self.deps.gateway.as_ref().is_some_and(|service| {
            action == HUMAN_ASK || service.current().registry().get(action).is_some()
        });
        if registered {
            Action::Tool(action.to_owned())
        } else if is_tool_shaped(action) {
            Action::UnknownTool(action.to_owned())
        } else {
            Action::Model
        }
    }

    /// A tool-shaped `action` that names no tool the gateway has (it was
    /// removed after the workflow was published, or there is no gateway):
    /// the step fails with `runtime.unknown_tool` and no model is asked in
    /// the tool's place.
    fn refuse_unknown_tool(
        &self,
        work: &AgentWork,
        tool: &str,
        audit: &mut Vec<AuditDraft>,
    ) -> Outcome {
        let message = format!(
            "the task's action `{tool}` names a tool this server does not have; the step is refused rather than run as a model call"
        );
        audit.push(self.audit(
            work,
            AuditKind::StepFailed,
            json!({"workId": work.work_id, "nodeId": work.node_id, "attempt": work.attempt,
                   "code": UNKNOWN_TOOL, "tool": tool, "message": message}),
        ));
        Outcome::Ended(failed(UNKNOWN_TOOL, &message))
    }

    /// A task whose `action` names a tool runs that tool through the gateway
    /// without a model call; its inputs come from `tool.input.*` metadata.
    async fn call_tool(&self, work: &AgentWork, tools: &StepTools, tool: &str) -> Outcome {
        let node_name = work.node_name();
        let vars = PromptVars {
            context: &work.context,
            run_id: &work.run_id,
            node_name: &node_name,
            feedback: work.feedback.as_deref(),
        };
        let mut arguments = serde_json::Map::new();
        for (key, value) in &work.spec.metadata {
            let Some(name) = key.strip_prefix(TOOL_INPUT_PREFIX) else {
                continue;
            };
            let rendered = match render(value, &vars) {
                Ok(rendered) => rendered.text,
                Err(error) => {
                    return Outcome::Ended(failed(error.code(), &error.to_string()));
                }
            };
            let value = serde_json::from_str(&rendered).unwrap_or(Value::String(rendered));
            arguments.insert(name.to_owned(), value);
        }
        match tools.call_tool(tool, Value::Object(arguments)).await {
            ToolResult::Allowed { output } => Outcome::Ended(Ending::Completed {
                output: json!({"tool": tool, "output": output}),
            }),
            ToolResult::Rejected { reason } => Outcome::Ended(failed("gateway.rejected", &reason)),
            ToolResult::Escalated { approval_id } => Outcome::Paused(approval_id, None),
            ToolResult::Asked { question_id } => Outcome::Asked(question_id, None),
            ToolResult::Halted { .. } => Outcome::Halted(None),
        }
    }

    /// The model path: assemble the prompt from the task and the agent's
    /// profile, offer the tools of the granted surface, and run the
    /// tool-use loop with the gateway as its only tool executor.
    async fn ask_model(
        &self,
        work: &AgentWork,
        step: ModelStep<'_>,
        resume: Option<Resume>,
        records: &mut Vec<Record>,
        audit: &mut Vec<AuditDraft>,
    ) -> Outcome {
        let ModelStep {
            tools,
            profile,
            surface,
            meter,
        } = step;
        let task = TaskPromptSpec {
            agent: work.spec.agent.clone(),
            node_id: work.node_id.clone(),
            node_name: work.node_name(),
            prompt_template: work.spec.prompt.clone(),
            strict: work.spec.strict_variables,
            feedback: work.feedback.clone(),
            agent_prompt: profile.map(|p| p.system_prompt.clone()).unwrap_or_default(),
            skills: profile.map(skill_prompts).unwrap_or_default(),
        };
        let prompt = match assemble(&task, &work.context, &work.run_id) {
            Err(error) => {
                return Outcome::Ended(failed(error.code(), &error.to_string()));
            }
            Ok(prompt) => prompt,
        };
        // A step that paused on a passed budget goes on only if a person
        // let it: approved, that limit is lifted for the rest of the attempt.
        let mut resume = resume;
        if let Some(ask) = resume.as_mut().and_then(|r| r.budget.take()) {
            match budget_escalation::settle(self.deps.store.as_ref(), &ask).await {
                Settled::GoOn(limit) => {
                    if let Some(resume) = resume.as_mut() {
                        resume.lifted.push(limit);
                    }
                }
                Settled::Refused(message) => {
                    let code = agentwerke_agents::Error::BudgetExceeded {
                        detail: String::new(),
                    }
                    .code();
                    audit.push(self.audit(
                        work,
                        AuditKind::StepFailed,
                        json!({"workId": work.work_id, "nodeId": work.node_id,
                               "attempt": work.attempt, "code": code,
                               "approvalId": ask.approval_id,
                               "budget": budget_escalation::describe(&ask.exceeded),
                               "message": message}),
                    ));
                    return Outcome::Ended(failed(code, &message));
                }
            }
        }
        let mut input = StepInput::new(
            prompt,
            work.run_id.clone(),
            work.work_id.to_string(),
            work.node_id.clone(),
            work.spec.agent.clone(),
        );
        input.attempt = work.attempt;
        input.node_name = task.node_name.clone();
        input.context = work.context.clone();
        input.feedback = work.feedback.clone();
        if let Some(profile) = profile {
            configure(&mut input, profile);
        }
        let agent = profile.map(|p| p.budgets).unwrap_or_default();
        input.budgets = for_task(agent, &work.spec.budgets);
        input.prices = self.options.prices.clone();
        if let Some(service) = &self.deps.gateway {
            input.tools = service.current().offered(surface, &work.spec.agent);
            if tools.is_some_and(StepTools::may_ask) {
                input.tools.push(human_ask_spec());
            }
        }
        // A resumed step goes on with the prompt it was given, recorded then.
        if resume.is_none() {
            let snapshot = input.prompt.snapshot(&input.tools, &self.options.redactor);
            records.push(Record::Prompt(PromptRecord {
                work_id: work.work_id.to_string(),
                node_id: work.node_id.clone(),
                agent: work.spec.agent.clone(),
                attempt: work.attempt,
                text: snapshot.text,
                sha256: snapshot.sha256,
                unresolved: input.prompt.unresolved.clone(),
            }));
        }
        input.resume = resume;
        // Each turn's usage and its evidence are kept by the meter as the
        // turn is answered, so they are not written again with the end.
        // The model's text goes to the run's watchers as it arrives, and a
        // cancelled run's model call is dropped rather than waited out.
        let live = self.handle.live();
        let flight = live.in_flight(&work.run_id);
        let provider = flight.guard(self.deps.provider.as_ref());
        let sink = LiveSink::new(
            live.clone(),
            &work.run_id,
            &work.work_id.to_string(),
            &work.node_id,
            self.options.redactor.clone(),
        );
        let outcome = match tools {
            Some(tools) => run_metered_step(input, &provider, tools, meter, &sink).await,
            None => run_metered_step(input, &provider, &NoTools, meter, &sink).await,
        };
        sink.flush();
        match outcome {
            StepOutcome::Completed { output, .. } => {
                audit.push(self.audit(
                    work,
                    AuditKind::StepCompleted,
                    json!({"workId": work.work_id, "nodeId": work.node_id, "attempt": work.attempt}),
                ));
                Outcome::Ended(Ending::Completed { output })
            }
            StepOutcome::Failed { code, message, .. } => {
                audit.push(self.audit(
                    work,
                    AuditKind::StepFailed,
                    json!({"workId": work.work_id, "nodeId": work.node_id,
                           "attempt": work.attempt, "code": code, "message": message}),
                ));
                Outcome::Ended(failed(&code, &message))
            }
            StepOutcome::Paused {
                approval_id,
                resume,
                ..
            } => {
                audit.push(self.audit(
                    work,
                    AuditKind::StepPaused,
                    json!({"workId": work.work_id, "nodeId": work.node_id,
                           "attempt": work.attempt, "approvalId": approval_id}),
                ));
                Outcome::Paused(approval_id, self.kept(&resume))
            }
            StepOutcome::Asked {
                question_id,
                resume,
                ..
            } => {
                audit.push(self.audit(
                    work,
                    AuditKind::StepPaused,
                    json!({"workId": work.work_id, "nodeId": work.node_id,
                           "attempt": work.attempt, "questionId": question_id}),
                ));
                Outcome::Asked(question_id, self.kept(&resume))
            }
            // The executor writes its `step.halted` record with the halt.
            StepOutcome::Halted { resume, .. } => Outcome::Halted(self.kept(&resume)),
            StepOutcome::OverBudget {
                exceeded,
                mut resume,
                ..
            } => {
                let id = uuid::Uuid::now_v7().to_string();
                let ttl = self.deps.gateway.as_ref().map(|g| g.escalation_ttl_ms);
                let approval = budget_escalation::approval(
                    &id,
                    &self.identity(work),
                    &exceeded,
                    self.deps.clock.now(),
                    ttl,
                );
                audit.push(self.audit(
                    work,
                    AuditKind::StepPaused,
                    json!({"workId": work.work_id, "nodeId": work.node_id,
                           "attempt": work.attempt, "approvalId": id,
                           "budget": budget_escalation::describe(&exceeded)}),
                ));
                resume.budget = Some(BudgetAsk {
                    approval_id: id,
                    exceeded,
                });
                Outcome::OverBudget(Box::new(approval), self.kept(&resume))
            }
        }
    }

    /// Where a paused step stands, as it is kept: redacted like everything
    /// else that is persisted, so a resumed model sees `[REDACTED]` where a
    /// credential was. `None` (the step will start over) if it cannot be
    /// written.
    fn kept(&self, resume: &Resume) -> Option<JsonText> {
        let mut value = serde_json::to_value(resume).ok()?;
        self.options.redactor.redact_value(&mut value);
        Some(JsonText::from(&value))
    }

    fn audit(&self, work: &AgentWork, kind: AuditKind, data: Value) -> AuditDraft {
        AuditDraft {
            run_id: work.run_id.clone(),
            at: rfc3339(self.deps.clock.now()),
            actor: Actor::agent(&work.spec.agent),
            kind,
            data,
        }
    }
}

/// What the model path of a step works with besides the work itself.
#[derive(Clone, Copy)]
struct ModelStep<'a> {
    /// The gateway for this step; `None`: every call is refused.
    tools: Option<&'a StepTools>,
    /// The agent's profile, if it has one.
    profile: Option<&'a Profile>,
    /// The task's granted surface, with the profile's default tools.
    surface: &'a TaskSurface,
    /// Keeps each turn's usage as it is answered and sums what was spent.
    meter: &'a StoreMeter,
}

/// The task's granted surface, from its `agentTask` extension; a task that
/// sets no `allowedTools` gets its agent's profile's `allowed-tools`, so
/// the gateway holds the step to the same tools it is offered.
fn granted(spec: &AgentTaskSpec, profile: Option<&Profile>) -> TaskSurface {
    let mut surface = surface(spec);
    if surface.allowed_tools.is_empty()
        && let Some(profile) = profile
    {
        surface.allowed_tools.clone_from(&profile.allowed_tools);
    }
    surface
}

/// The profile's model settings on the step: provider, model, temperature
/// and turn limit, each where the profile sets it.
fn configure(input: &mut StepInput, profile: &Profile) {
    input.provider.clone_from(&profile.provider);
    input.model.clone_from(&profile.model);
    input.temperature = profile.temperature;
    input.max_turns = profile.max_turns.unwrap_or(input.max_turns);
}

/// The profile's skills as the prompt carries them.
fn skill_prompts(profile: &Profile) -> Vec<SkillPrompt> {
    profile
        .skills
        .iter()
        .map(|skill| SkillPrompt {
            name: skill.name.clone(),
            description: skill.description.clone(),
            body: skill.body.clone(),
        })
        .collect()
}

/// How many `human.ask` calls a paused step made before the calls it paused
/// on: its questions are matched to the attempt's in order, and those were
/// answered already.
fn questions_before(resume: &Resume) -> usize {
    let asked = |calls: &[ToolCallRequest]| calls.iter().filter(|c| c.name == HUMAN_ASK).count();
    let made: usize = resume.messages.iter().map(|m| asked(&m.tool_calls)).sum();
    made.saturating_sub(asked(&resume.pending))
}

/// The code of a step with `requiresEvidence="true"` one of whose
/// sandboxed executions has no record (it was still running when the step
/// ended).
pub const EVIDENCE_MISSING: &str = "runtime.evidence_missing";

/// Why a step with `requiresEvidence="true"` fails although its model or
/// tool finished: an execution without a record, or a command the sandbox
/// would not start (that command's evidence does not exist either). `None`
/// when every execution of the step is recorded.
fn evidence_missing(trail: &crate::gateway::StepTrail) -> Option<(&'static str, String)> {
    if trail.sandbox_unrecorded > 0 {
        return Some((
            EVIDENCE_MISSING,
            format!(
                "the task requires evidence, and {} sandboxed execution(s) of this step were                  still running when it ended, so they have no record",
                trail.sandbox_unrecorded
            ),
        ));
    }
    trail.sandbox_refused.first().map(|code| {
        (
            *code,
            format!(
                "the task requires evidence, and the sandbox refused to run a command of this                  step ({code}), so it fails rather than go on without it"
            ),
        )
    })
}

/// A failed step's ending.
fn failed(code: &str, message: &str) -> Ending {
    Ending::Failed {
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// Says at info level when a claim takes over work that an earlier claim
/// left without a result (the process stopped or crashed, or its lease
/// lapsed), so an operator sees what a restart picked up again.
fn log_recovery(item: &WorkItem) {
    if item.resume.is_some() {
        tracing::info!(run_id = %item.run_id, work_id = %item.work_id, attempt = item.attempt_count,
            "resuming agent work that paused for a person");
    } else if item.attempt_count > 1 {
        tracing::info!(run_id = %item.run_id, work_id = %item.work_id, attempt = item.attempt_count,
            "recovering agent work: an earlier claim ended without a result (restart, crash or lapsed lease); running it again");
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::prompt::AssembledPrompt;
    use agentwerke_agents::step::DEFAULT_MAX_TURNS;
    use agentwerke_gateway::{AgentProfile, SandboxProfile};

    use super::*;

    fn profile() -> Profile {
        Profile::from_config(&AgentProfile::new("reviewer", [SandboxProfile::Offline]))
    }

    fn spec(allowed: &[&str]) -> AgentTaskSpec {
        serde_json::from_value(json!({
            "agent": "reviewer", "action": null, "purposeType": "analysis",
            "policyTag": null, "environment": null, "requiresEvidence": false,
            "executionMode": "local", "sandboxProfile": "offline",
            "permissionLevel": "read-only", "allowedTools": allowed, "deniedTools": [],
            "toolEscalation": "reject", "prompt": null, "maxRetries": 0,
            "retryBackoffSeconds": 0, "timeoutSeconds": null, "strictVariables": false,
            "metadata": [],
        }))
        .unwrap()
    }

    #[test]
    fn the_profile_sets_the_model_and_its_limits() {
        let prompt = AssembledPrompt {
            system: String::new(),
            user: String::new(),
            unresolved: Vec::new(),
        };
        let mut input = StepInput::new(prompt, "run", "work", "Node", "reviewer");
        configure(&mut input, &profile());
        assert_eq!(
            (
                input.provider.clone(),
                input.model.clone(),
                input.temperature,
                input.max_turns
            ),
            (None, None, None, DEFAULT_MAX_TURNS),
            "a profile that sets nothing leaves the defaults"
        );
        let mut set = profile();
        set.provider = Some("local".into());
        set.model = Some("llama3.1:8b".into());
        set.temperature = Some(0.3);
        set.max_turns = Some(3);
        configure(&mut input, &set);
        assert_eq!(input.provider.as_deref(), Some("local"));
        assert_eq!(input.model.as_deref(), Some("llama3.1:8b"));
        assert_eq!(input.temperature, Some(0.3));
        assert_eq!(input.max_turns, 3);
    }

    #[test]
    fn the_task_execution_mode_reaches_the_step_sandbox() {
        use agentwerke_gateway::ExecutionMode;
        for (wire, mode) in [
            ("local", ExecutionMode::Local),
            ("tool_sandboxed", ExecutionMode::ToolSandboxed),
            ("agent_sandboxed", ExecutionMode::AgentSandboxed),
        ] {
            let mut task = serde_json::to_value(spec(&[])).unwrap();
            task["executionMode"] = json!(wire);
            let task: AgentTaskSpec = serde_json::from_value(task).unwrap();
            assert_eq!(execution_mode(&task), mode, "{wire}");
        }
    }

    #[test]
    fn a_step_requiring_evidence_fails_on_an_unrecorded_or_refused_execution() {
        let mut trail = crate::gateway::StepTrail::default();
        assert_eq!(evidence_missing(&trail), None);
        trail.sandbox_refused = vec!["sandbox.isolation_unavailable"];
        assert_eq!(
            evidence_missing(&trail).map(|(code, _)| code),
            Some("sandbox.isolation_unavailable")
        );
        trail.sandbox_unrecorded = 1;
        assert_eq!(
            evidence_missing(&trail).map(|(code, _)| code),
            Some(EVIDENCE_MISSING)
        );
    }

    #[test]
    fn the_profile_tools_are_the_default_and_the_task_list_wins() {
        let mut reviewer = profile();
        reviewer.allowed_tools = vec!["knowledge.*".into()];
        let defaulted = granted(&spec(&[]), Some(&reviewer));
        assert_eq!(defaulted.allowed_tools, ["knowledge.*"]);
        let own = granted(&spec(&["artifact.read"]), Some(&reviewer));
        assert_eq!(own.allowed_tools, ["artifact.read"]);
        assert!(granted(&spec(&[]), None).allowed_tools.is_empty());
    }
}
