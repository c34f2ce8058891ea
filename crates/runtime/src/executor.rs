//! Executes claimed agent work and commits each result as the run's next event.

use std::sync::Arc;

use agentwerke_agents::prompt::{TaskPromptSpec, assemble};
use agentwerke_agents::step::{NoTools, StepInput, StepOutcome, run_step};
use agentwerke_bpmn::model::AgentTaskSpec;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{CompleteWork, WorkItem};
use agentwerke_types::ErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::clock::rfc3339;
use crate::{Error, RuntimeDeps, RuntimeHandle, RuntimeOptions, idle};

/// The payload of an `agent_task` work row, written by the applier.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentWork {
    run_id: String,
    work_id: String,
    node_id: String,
    name: Option<String>,
    attempt: u32,
    spec: AgentTaskSpec,
    feedback: Option<String>,
    context: Value,
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
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                let now = this.deps.clock.now();
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
                        let Ok(permit) = this.slots.clone().acquire_owned().await else {
                            return;
                        };
                        let worker = this.clone();
                        tokio::spawn(async move {
                            let run_id = item.run_id.clone();
                            if let Err(error) = worker.execute(item).await {
                                tracing::warn!(run_id, code = error.code(), %error, "agent step not recorded");
                            }
                            worker.handle.wake.applier.notify_one();
                            drop(permit);
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

    /// Runs one agent step and commits its result.
    async fn execute(&self, item: WorkItem) -> Result<(), Error> {
        let work: AgentWork = serde_json::from_value(item.payload.clone())?;
        let secrets: Vec<&str> = self.options.secrets.iter().map(String::as_str).collect();
        let task = TaskPromptSpec {
            agent: work.spec.agent.clone(),
            node_id: work.node_id.clone(),
            node_name: work.name.clone().unwrap_or_else(|| work.node_id.clone()),
            prompt_template: work.spec.prompt.clone(),
            strict: work.spec.strict_variables,
            feedback: work.feedback.clone(),
        };
        let mut records = Vec::new();
        let mut audit = Vec::new();
        let event = match assemble(&task, &work.context, &work.run_id, &secrets) {
            Err(error) => failed(&work, error.code(), &error.to_string(), &self.deps),
            Ok(prompt) => {
                records.push((
                    crate::evidence::kinds::PROMPT.to_owned(),
                    json!({
                        "workId": work.work_id, "nodeId": work.node_id, "agent": work.spec.agent,
                        "attempt": work.attempt, "text": prompt.redacted_snapshot,
                        "sha256": prompt.snapshot_sha256, "unresolved": prompt.unresolved,
                    }),
                ));
                let mut input = StepInput::new(
                    prompt,
                    work.run_id.clone(),
                    work.work_id.clone(),
                    work.node_id.clone(),
                    work.spec.agent.clone(),
                );
                input.attempt = work.attempt;
                input.node_name = task.node_name.clone();
                input.context = work.context.clone();
                input.feedback = work.feedback.clone();
                let outcome = run_step(input, self.deps.provider.as_ref(), &NoTools).await;
                for turn in outcome.turns() {
                    records.push((
                        crate::evidence::kinds::MODEL_USAGE.to_owned(),
                        json!({
                            "workId": work.work_id, "nodeId": work.node_id, "attempt": work.attempt,
                            "provider": turn.provider, "model": turn.model,
                            "inputTokens": turn.usage.input_tokens,
                            "outputTokens": turn.usage.output_tokens,
                            "costUsd": turn.usage.cost_usd,
                        }),
                    ));
                }
                match outcome {
                    StepOutcome::Completed { output, .. } => {
                        audit.push(self.audit(
                            &work,
                            "step.completed",
                            json!({"workId": work.work_id, "nodeId": work.node_id, "attempt": work.attempt}),
                        ));
                        json!({"type": "task_completed", "work_id": work.work_id,
                               "output": output, "at": self.deps.clock.now()})
                    }
                    StepOutcome::Failed { code, message, .. } => {
                        audit.push(self.audit(
                            &work,
                            "step.failed",
                            json!({"workId": work.work_id, "nodeId": work.node_id,
                                   "attempt": work.attempt, "code": code, "message": message}),
                        ));
                        failed(&work, &code, &message, &self.deps)
                    }
                    StepOutcome::Paused { .. } => failed(
                        &work,
                        "runtime.escalation_unsupported",
                        "the step asked for a human decision that this runtime cannot open",
                        &self.deps,
                    ),
                }
            }
        };
        self.deps
            .store
            .complete_work(CompleteWork {
                run_id: work.run_id.clone(),
                work_id: item.work_id.clone(),
                owner: self.options.owner.clone(),
                result_event: event,
                dedup_key: format!("work:{}:{}", work.run_id, item.work_id),
                records,
                audit,
            })
            .await?;
        Ok(())
    }

    fn audit(&self, work: &AgentWork, kind: &str, data: Value) -> AuditDraft {
        AuditDraft {
            run_id: work.run_id.clone(),
            at: rfc3339(self.deps.clock.now()),
            actor: format!("agent:{}", work.spec.agent),
            kind: kind.to_owned(),
            data,
        }
    }
}

fn failed(work: &AgentWork, code: &str, message: &str, deps: &RuntimeDeps) -> Value {
    json!({"type": "task_failed", "work_id": work.work_id,
           "error": {"code": code, "message": message}, "at": deps.clock.now()})
}
