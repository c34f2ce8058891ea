//! An agent step ends: the one write of an execution of a claimed step,
//! whatever became of it.
//!
//! The executor runs the step and says how it ended ([`Outcome`]); [`plan`]
//! turns that, with what the step did (its evidence and audit records, the
//! risk its calls were assessed at), into one [`Plan`], and [`finish`]
//! commits it through the commands' tail ([`super::commit`]): with the
//! engine step its event causes when the run's state is known, so the run
//! usually moves on in the same transaction. Everything the end writes is
//! in that one transaction: the work row, the approval or question a pause
//! opens, the run's raised risk, the settlement of calls left open, the
//! event, the records. A crash leaves all of it or none of it.
//!
//! The work row decides repeats. An execution after a reclaim that ends
//! after the first one is refused by the store (`WorkClosed`) and writes
//! nothing: [`finish`] reports it as [`Delivered::Dropped`]. Work the run
//! cancelled meanwhile keeps what the step did (records, audit) but the run
//! hears nothing. A step the kill switch stopped goes back to the queue,
//! held while a halt covers it and released at once when none does; the
//! run hears [`Event::TaskHeld`] in the same commit, which stops the step's
//! timeout until the claim after the hold releases it
//! ([`super::release_step`]).
//!
//! Not everything a step writes waits for its end. The tool-call journal
//! (`begin_tool_call`, `finish_tool_call`) and the artifacts a call writes
//! (`put_artifact`) are committed around each call while the step runs, on
//! purpose: a tool acts in the world before the step ends, and a crash in
//! between must neither lose the record of that effect nor let a replay
//! repeat it blindly. The end only closes the journal: a call still
//! `started` when its step completes or fails was never made again by the
//! replay that ended the step, so it is settled as `abandoned` (outcome
//! unknown) with a `tool.abandoned` audit record. A step that pauses or is
//! held keeps its open calls: its resumption may still meet them.

use std::sync::Arc;

use agentwerke_engine::{Event, TaskError};
use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::gateway::HaltRow;
use agentwerke_store::{
    Delivered, JsonText, NewApproval, NewQuestion, RiskPeak, Row, Store, WorkEnd,
};
use agentwerke_types::{Actor, AuditKind, RiskLevel, RunId, WorkId};
use serde_json::{Value, json};

use super::{Ctx, Error, Plan, PlannedEvent};
use crate::clock::rfc3339;
use crate::stepper::Stepper;

/// The code of a step that paused on an escalation with no approval to open.
pub const ESCALATION_LOST: &str = "runtime.escalation_lost";

/// The code of a step that asked a person with no question to open.
pub const QUESTION_LOST: &str = "runtime.question_lost";

/// How an execution of a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The step produced its output.
    Completed {
        /// The output.
        output: Value,
    },
    /// The step failed.
    Failed {
        /// A stable code.
        code: String,
        /// What happened.
        message: String,
    },
    /// A tool call was escalated: the step waits for a person's decision.
    Paused {
        /// The approval the step says it waits for.
        approval_id: String,
        /// The approval request the gateway prepared for it.
        approval: Option<NewApproval>,
        /// Where the step stands (redacted); `None` starts it over.
        resume: Option<JsonText>,
    },
    /// The step asked a person (`human.ask`) and waits for the answer.
    Asked {
        /// The question the step says it waits for.
        question_id: String,
        /// The question the gateway prepared for it.
        question: Option<NewQuestion>,
        /// Where the step stands, as for `Paused`.
        resume: Option<JsonText>,
    },
    /// The kill switch stopped the step.
    Held {
        /// The halt that holds it, as the halts list shows it.
        halt: Option<HaltRow>,
        /// Where the step stands, as for `Paused`.
        resume: Option<JsonText>,
    },
}

/// The risk a step's calls were assessed at.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    /// The highest level.
    pub level: RiskLevel,
    /// The riskiest call, as the run row keeps it.
    pub peak: Option<RiskPeak>,
}

/// An execution of a claimed step that ended.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishStep {
    /// The run.
    pub run_id: RunId,
    /// The step's work.
    pub work_id: WorkId,
    /// The same work as the engine names it in its events.
    pub step: agentwerke_engine::WorkId,
    /// The executor that claimed it.
    pub owner: String,
    /// Which claim of the work this execution was (the store counts them):
    /// the result event's idempotency key.
    pub claim: i64,
    /// The step's attempt (retries and changes count up).
    pub attempt: u32,
    /// Its BPMN node.
    pub node_id: String,
    /// The agent that ran it.
    pub agent: String,
    /// The run's workflow, for workflow halts.
    pub workflow_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Evidence records of what it did, in order.
    pub records: Vec<Record>,
    /// Audit records of what it did, in order.
    pub audit: Vec<AuditDraft>,
    /// The risk its calls were assessed at, if it made any.
    pub risk: Option<Risk>,
    /// Whether the work's journal may hold calls still `started`: this
    /// execution made calls, or the work was claimed before (reclaimed,
    /// resumed or retried). A first claim that made none has nothing to
    /// settle, and its end spends no statement on it: the common step.
    pub journal: bool,
}

/// What [`finish`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// What became of the result event (`task_held` for a held step):
    /// `Dropped` for a repeat and for cancelled work.
    pub delivered: Delivered,
    /// What became of the work; `None` when nothing was written (a repeat,
    /// or a hold of work that was closed meanwhile).
    pub work: Option<WorkEnd>,
}

/// Plans a step's end: the rows (the run's raised risk first, then the
/// settlement of calls left open when the step completed or failed, the
/// work row, and the approval or question a pause opens), the result event
/// (`task_held` for a hold) with its idempotency key, and the audit and evidence records. A pause
/// whose approval or question was not prepared, or names another one, ends
/// the step as failed rather than waiting for something nobody can answer.
pub fn plan(finish: FinishStep, ctx: &Ctx<'_>) -> Plan {
    let FinishStep {
        run_id,
        work_id,
        step,
        owner,
        claim,
        attempt,
        node_id,
        agent,
        workflow_id,
        outcome,
        records,
        mut audit,
        risk,
        journal,
    } = finish;
    let draft = |kind: AuditKind, data: Value| AuditDraft {
        run_id: run_id.to_string(),
        at: rfc3339(ctx.at),
        actor: Actor::agent(&agent),
        kind,
        data,
    };
    let step_data = json!({"workId": step, "nodeId": node_id, "attempt": attempt});
    let mut rows: Vec<Row> = risk
        .map(|risk| Row::RaiseRisk {
            level: risk.level,
            peak: risk.peak,
        })
        .into_iter()
        .collect();
    let outcome = redacted(checked(outcome), ctx);
    for draft in &mut audit {
        ctx.redactor.redact_value(&mut draft.data);
    }
    let event = match outcome {
        Outcome::Held { halt, resume } => {
            audit.push(draft(AuditKind::StepHalted, halted_data(step_data, halt)));
            rows.push(Row::HoldWork {
                work_id: work_id.clone(),
                workflow_id,
                agent: agent.clone(),
                resume,
            });
            // The timeout stops with the hold: a halt is not the agent's
            // time.
            Event::TaskHeld {
                work_id: step,
                at: ctx.at,
            }
        }
        Outcome::Completed { .. } | Outcome::Failed { .. } => {
            if journal {
                rows.push(Row::AbandonCalls {
                    work_id: work_id.clone(),
                    audit: draft(AuditKind::ToolAbandoned, step_data),
                });
            }
            rows.push(Row::CompleteWork {
                work_id: work_id.clone(),
                owner,
                resume: None,
            });
            match outcome {
                Outcome::Completed { output } => Event::TaskCompleted {
                    work_id: step,
                    output,
                    at: ctx.at,
                },
                Outcome::Failed { code, message } => Event::TaskFailed {
                    work_id: step,
                    error: TaskError { code, message },
                    at: ctx.at,
                },
                _ => unreachable!("matched as completed or failed above"),
            }
        }
        Outcome::Paused {
            approval_id,
            approval,
            resume,
        } => {
            rows.push(Row::CompleteWork {
                work_id: work_id.clone(),
                owner,
                resume,
            });
            if let Some(approval) = approval {
                rows.push(Row::OpenApproval { approval });
            }
            Event::TaskPaused {
                work_id: step,
                approval_id,
                at: ctx.at,
            }
        }
        Outcome::Asked {
            question_id,
            question,
            resume,
        } => {
            rows.push(Row::CompleteWork {
                work_id: work_id.clone(),
                owner,
                resume,
            });
            if let Some(question) = question {
                rows.push(Row::OpenQuestion { question });
            }
            Event::TaskAsked {
                work_id: step,
                question_id,
                at: ctx.at,
            }
        }
    };
    Plan {
        event: Some(PlannedEvent {
            event,
            dedup_key: Some(format!("work:{run_id}:{work_id}:{claim}")),
        }),
        run: run_id,
        rows,
        audit,
        records,
    }
}

/// `outcome` as it may be kept: the output, the error message, the
/// approval request and the question pass through the redactor, so what a
/// model or a tool produced reaches neither the run's state nor the audit
/// chain with a credential in it.
fn redacted(outcome: Outcome, ctx: &Ctx<'_>) -> Outcome {
    let redactor = ctx.redactor;
    match outcome {
        Outcome::Completed { mut output } => {
            redactor.redact_value(&mut output);
            Outcome::Completed { output }
        }
        Outcome::Failed { code, message } => Outcome::Failed {
            code,
            message: redactor.redact_str(&message),
        },
        Outcome::Paused {
            approval_id,
            mut approval,
            resume,
        } => {
            if let Some(approval) = approval.as_mut() {
                redactor.redact_value(&mut approval.request);
            }
            Outcome::Paused {
                approval_id,
                approval,
                resume,
            }
        }
        Outcome::Asked {
            question_id,
            mut question,
            resume,
        } => {
            if let Some(question) = question.as_mut() {
                question.question = redactor.redact_str(&question.question);
            }
            Outcome::Asked {
                question_id,
                question,
                resume,
            }
        }
        held @ Outcome::Held { .. } => held,
    }
}

/// `outcome`, or a failure when it pauses on something that was not
/// prepared: the engine would wait for an approval or a question that does
/// not exist.
fn checked(outcome: Outcome) -> Outcome {
    let lost = |code: &str, message: &str| Outcome::Failed {
        code: code.to_owned(),
        message: message.to_owned(),
    };
    match outcome {
        Outcome::Paused {
            ref approval_id,
            approval: ref prepared,
            ..
        } if prepared
            .as_ref()
            .is_none_or(|a| a.id.as_str() != approval_id) =>
        {
            lost(
                ESCALATION_LOST,
                "a tool call was escalated but no approval request was prepared",
            )
        }
        Outcome::Asked {
            ref question_id,
            question: ref prepared,
            ..
        } if prepared
            .as_ref()
            .is_none_or(|q| q.id.as_str() != question_id) =>
        {
            lost(
                QUESTION_LOST,
                "a question to a human was asked but none was prepared",
            )
        }
        outcome => outcome,
    }
}

/// What `step.halted` says: the step, and the halt that holds it as the
/// halts list shows it.
fn halted_data(mut data: Value, halt: Option<HaltRow>) -> Value {
    if let Some(halt) = halt {
        data["scope"] = json!(halt.scope);
        data["target"] = json!(halt.target);
        data["reason"] = json!(halt.reason);
        data["haltedBy"] = json!(halt.halted_by);
    }
    data
}

/// Plans `finish` and commits it as of `ctx.at`, with the engine step its
/// event causes when the run's state is known (see [`crate::stepper`]).
///
/// A step whose calls raised the run's assessed risk starts from the run
/// as stored, with that raise: a gate the step opens weighs those calls,
/// whatever this process remembers (a concurrent applier may have written
/// its memory back from a row read before an earlier raise). Only steps
/// that made calls pay that read.
pub(crate) async fn finish(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    finish: FinishStep,
    ctx: &Ctx<'_>,
) -> Result<Finished, crate::Error> {
    let run_id = finish.run_id.clone();
    let raised = finish.risk.as_ref().map(|risk| risk.peak.clone());
    let plan = plan(finish, ctx);
    let run = stepper
        .known(run_id.as_str(), raised.is_some())
        .await
        .map(|mut known| {
            if let Some(Some(peak)) = raised
                && known
                    .risk_peak
                    .as_ref()
                    .is_none_or(|p| p.score < peak.score)
            {
                known.risk_peak = Some(peak);
            }
            (run_id, known)
        });
    match super::commit(store, stepper, plan, run, ctx).await {
        Ok(submitted) => Ok(Finished {
            delivered: submitted.committed.delivered,
            work: submitted.committed.work(),
        }),
        // Completed by another execution, or closed before a hold: that
        // one stands, this one writes nothing.
        Err(Error::Store(agentwerke_store::Error::WorkClosed { .. })) => Ok(Finished {
            delivered: Delivered::Dropped,
            work: None,
        }),
        Err(Error::Store(error)) => Err(crate::Error::Store(error)),
        Err(error) => Err(crate::Error::Command(error)),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_store::gateway::HaltScope;
    use agentwerke_types::{ApprovalKind, Timestamp};

    use super::*;

    const AT: i64 = 1_700_000_000_000;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(AT),
            redactor: crate::command::no_secrets(),
        }
    }

    fn step(outcome: Outcome) -> FinishStep {
        FinishStep {
            run_id: "run-1".into(),
            work_id: "w3".into(),
            step: "w3".parse().unwrap(),
            owner: "exec-a".to_owned(),
            claim: 2,
            attempt: 1,
            node_id: "Analyze".to_owned(),
            agent: "analyst".to_owned(),
            workflow_id: "hello".to_owned(),
            outcome,
            records: Vec::new(),
            audit: Vec::new(),
            risk: None,
            journal: true,
        }
    }

    fn approval(id: &str) -> NewApproval {
        NewApproval {
            id: id.into(),
            work_id: "w3".into(),
            node_id: "Analyze".to_owned(),
            kind: ApprovalKind::ToolEscalation,
            request: json!({"tool": "http.request"}),
            expires_at: None,
            list_run_artifacts: true,
        }
    }

    fn question(id: &str) -> NewQuestion {
        NewQuestion {
            id: id.into(),
            work_id: "w3".into(),
            node_id: "Analyze".to_owned(),
            agent: "analyst".to_owned(),
            question: "Which region?".to_owned(),
            asked_at: Timestamp::from_millis(AT),
        }
    }

    fn kinds(plan: &Plan) -> Vec<AuditKind> {
        plan.audit.iter().map(|a| a.kind).collect()
    }

    /// A completed step: the journal is closed, the work done, the result
    /// keyed by the claim, and the step's own records carried as they are.
    #[test]
    fn a_completed_step_settles_its_calls_and_completes_its_work() {
        let mut finish = step(Outcome::Completed {
            output: json!({"risks": []}),
        });
        let done = AuditDraft {
            run_id: "run-1".to_owned(),
            at: rfc3339(Timestamp::from_millis(AT)),
            actor: Actor::agent("analyst"),
            kind: AuditKind::StepCompleted,
            data: json!({}),
        };
        finish.audit.push(done.clone());
        let plan = plan(finish, &ctx());
        assert_eq!(plan.run, RunId::from("run-1"));
        assert_eq!(
            plan.rows,
            [
                Row::AbandonCalls {
                    work_id: "w3".into(),
                    audit: AuditDraft {
                        kind: AuditKind::ToolAbandoned,
                        data: json!({"workId": "w3", "nodeId": "Analyze", "attempt": 1}),
                        ..done.clone()
                    },
                },
                Row::CompleteWork {
                    work_id: "w3".into(),
                    owner: "exec-a".to_owned(),
                    resume: None,
                },
            ]
        );
        let event = plan.event.expect("a result event");
        assert_eq!(event.dedup_key.as_deref(), Some("work:run-1:w3:2"));
        assert_eq!(
            event.event,
            Event::TaskCompleted {
                work_id: "w3".parse().unwrap(),
                output: json!({"risks": []}),
                at: Timestamp::from_millis(AT),
            }
        );
        assert_eq!(plan.audit, [done]);
    }

    /// A first claim that made no call has no journal to close: its end is
    /// the work row alone.
    #[test]
    fn a_step_that_made_no_call_settles_nothing() {
        let mut finish = step(Outcome::Completed { output: json!({}) });
        finish.journal = false;
        let plan = plan(finish, &ctx());
        assert_eq!(
            plan.rows,
            [Row::CompleteWork {
                work_id: "w3".into(),
                owner: "exec-a".to_owned(),
                resume: None,
            }]
        );
    }

    /// The risk the step's calls were assessed at is raised by the same
    /// commit, ahead of everything else.
    #[test]
    fn a_risk_raise_is_the_first_row_of_the_end() {
        let peak = RiskPeak {
            score: 80,
            tool: "http.request".to_owned(),
            node_id: "Analyze".to_owned(),
            work_id: "w3".into(),
            factors: vec!["external".to_owned()],
        };
        let mut finish = step(Outcome::Failed {
            code: "agent.failed".to_owned(),
            message: "no".to_owned(),
        });
        finish.risk = Some(Risk {
            level: RiskLevel::High,
            peak: Some(peak.clone()),
        });
        let plan = plan(finish, &ctx());
        assert_eq!(
            plan.rows[0],
            Row::RaiseRisk {
                level: RiskLevel::High,
                peak: Some(peak),
            }
        );
        assert!(matches!(plan.rows[1], Row::AbandonCalls { .. }));
        assert!(matches!(
            plan.event.unwrap().event,
            Event::TaskFailed { error, .. } if error.code == "agent.failed"
        ));
    }

    /// A paused step keeps where it stands with its work, opens the
    /// approval, and leaves its calls open for its resumption.
    #[test]
    fn a_paused_step_opens_its_approval_and_keeps_its_resume_point() {
        let resume = JsonText::from(&json!({"turn": 2}));
        let plan = plan(
            step(Outcome::Paused {
                approval_id: "ap-9".to_owned(),
                approval: Some(approval("ap-9")),
                resume: Some(resume.clone()),
            }),
            &ctx(),
        );
        assert_eq!(
            plan.rows,
            [
                Row::CompleteWork {
                    work_id: "w3".into(),
                    owner: "exec-a".to_owned(),
                    resume: Some(resume),
                },
                Row::OpenApproval {
                    approval: approval("ap-9"),
                },
            ]
        );
        assert_eq!(
            plan.event.unwrap().event,
            Event::TaskPaused {
                work_id: "w3".parse().unwrap(),
                approval_id: "ap-9".to_owned(),
                at: Timestamp::from_millis(AT),
            }
        );
    }

    #[test]
    fn an_asking_step_opens_its_question() {
        let plan = plan(
            step(Outcome::Asked {
                question_id: "q-1".to_owned(),
                question: Some(question("q-1")),
                resume: None,
            }),
            &ctx(),
        );
        assert_eq!(
            plan.rows[1],
            Row::OpenQuestion {
                question: question("q-1"),
            }
        );
        assert!(matches!(
            plan.event.unwrap().event,
            Event::TaskAsked { question_id, .. } if question_id == "q-1"
        ));
    }

    /// A pause on something nobody prepared (or on another approval) fails
    /// the step instead of leaving the run waiting for nothing.
    #[test]
    fn a_pause_on_nothing_prepared_fails_the_step() {
        for outcome in [
            Outcome::Paused {
                approval_id: "ap-9".to_owned(),
                approval: None,
                resume: None,
            },
            Outcome::Paused {
                approval_id: "ap-9".to_owned(),
                approval: Some(approval("ap-other")),
                resume: None,
            },
        ] {
            let plan = plan(step(outcome), &ctx());
            assert!(
                !plan
                    .rows
                    .iter()
                    .any(|r| matches!(r, Row::OpenApproval { .. }))
            );
            assert!(matches!(
                plan.event.unwrap().event,
                Event::TaskFailed { error, .. } if error.code == ESCALATION_LOST
            ));
        }
        let plan = plan(
            step(Outcome::Asked {
                question_id: "q-1".to_owned(),
                question: None,
                resume: None,
            }),
            &ctx(),
        );
        assert!(matches!(plan.rows[0], Row::AbandonCalls { .. }));
        assert!(matches!(
            plan.event.unwrap().event,
            Event::TaskFailed { error, .. } if error.code == QUESTION_LOST
        ));
    }

    /// A held step goes back to the queue with its resume point and the
    /// halt in its audit record; the run hears it is held, keyed like any
    /// end of the claim, so its timeout stops in the same commit.
    #[test]
    fn a_held_step_is_put_back_with_the_halt_that_holds_it() {
        let resume = JsonText::from(&json!({"turn": 1}));
        let halt = HaltRow {
            scope: HaltScope::Agent,
            target: "analyst".to_owned(),
            reason: "incident".to_owned(),
            halted_by: "olga".to_owned(),
            halted_at: Timestamp::from_millis(AT - 1),
        };
        let plan = plan(
            step(Outcome::Held {
                halt: Some(halt),
                resume: Some(resume.clone()),
            }),
            &ctx(),
        );
        let event = plan.event.clone().expect("the hold event");
        assert_eq!(event.dedup_key.as_deref(), Some("work:run-1:w3:2"));
        assert_eq!(
            event.event,
            Event::TaskHeld {
                work_id: "w3".parse().unwrap(),
                at: Timestamp::from_millis(AT),
            }
        );
        assert_eq!(
            plan.rows,
            [Row::HoldWork {
                work_id: "w3".into(),
                workflow_id: "hello".to_owned(),
                agent: "analyst".to_owned(),
                resume: Some(resume),
            }]
        );
        assert_eq!(kinds(&plan), [AuditKind::StepHalted]);
        assert_eq!(
            plan.audit[0].data,
            json!({"workId": "w3", "nodeId": "Analyze", "attempt": 1, "scope": "agent",
                   "target": "analyst", "reason": "incident", "haltedBy": "olga"})
        );
    }

    /// What a step produced is redacted before the run hears it and before
    /// its audit records are hashed: the output, an error's message, an
    /// approval request (a risk factor's detail among it), a question.
    #[test]
    fn outputs_errors_requests_questions_and_audit_are_redacted() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["known-value-7"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(AT),
            redactor: &redactor,
        };
        let planted = ["known-value-7", "sk-abcdefghijklmnopqrstuv"];
        let detail = "production_target (+25): path /prod/known-value-7";
        let mut request = approval("a1");
        request.request = json!({"riskFactors": [{"detail": detail}]});
        let mut asked = question("q1");
        asked.question = "Use sk-abcdefghijklmnopqrstuv?".to_owned();
        let outcomes = [
            Outcome::Completed {
                output: json!({"text": "known-value-7", "token": "t-1"}),
            },
            Outcome::Failed {
                code: "agent.failed".to_owned(),
                message: "401 for sk-abcdefghijklmnopqrstuv".to_owned(),
            },
            Outcome::Paused {
                approval_id: "a1".to_owned(),
                approval: Some(request),
                resume: None,
            },
            Outcome::Asked {
                question_id: "q1".to_owned(),
                question: Some(asked),
                resume: None,
            },
        ];
        for outcome in outcomes {
            let mut finish = step(outcome);
            finish.audit.push(AuditDraft {
                run_id: "run-1".to_owned(),
                at: rfc3339(Timestamp::from_millis(AT)),
                actor: Actor::agent("analyst"),
                kind: AuditKind::ToolCalled,
                data: json!({"riskFactors": [{"detail": detail}]}),
            });
            let plan = plan(finish, &ctx);
            let kept = format!("{:?} {:?} {:?}", plan.event, plan.rows, plan.audit);
            for value in planted {
                assert!(!kept.contains(value), "{value} in {kept}");
            }
            assert!(!kept.contains("t-1"), "{kept}");
        }
    }
}
