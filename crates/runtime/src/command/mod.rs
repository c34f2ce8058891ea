//! Commands: the one road a human's or the system's write takes into a run.
//!
//! Every command goes edge → [`Command`] → pure `plan` → [`Store::commit`].
//! A planner (one file per command) is a synchronous function of what the
//! command needs to read (its `Snapshot`), the command and a [`Ctx`]: it
//! makes every check before it produces anything, and returns a [`Plan`]
//! of typed rows, the engine event the run hears, the audit facts and the
//! evidence. It holds no store handle, so its tests assert on the returned
//! plan without a database.
//!
//! `submit` is the door: it reads the snapshot, plans, takes the engine
//! step the event causes when it can (see [`crate::stepper`]) and commits.
//! The store's compare-and-set on each row still decides races the snapshot
//! could not see: of two concurrent decisions exactly one wins, and a
//! decision that reaches an approval after its expiry is refused by the
//! statement that would have recorded it.
//!
//! An agent step's end takes the same road without being a [`Command`]:
//! it is made inside the process by the executor that ran the step, never
//! asked for at an edge, so [`finish_step`] plans it and commits it through
//! the same tail as `submit`.
//!
//! Only the engine and the planners build engine events; an approval's
//! event is built in one place, [`decide_approval::event_for`], for a
//! decision and an expiry alike.
//!
//! The kill switch, policy sets and workflow versions take the same road
//! to the global stream: their planners return a [`GlobalPlan`] of rows
//! and audit records, which belong to no run (see `global.rs`).

pub mod answer_question;
pub mod cancel_run;
pub mod decide_approval;
pub mod delete_secret;
pub mod deliver_message;
pub mod draft_policy;
mod error;
pub mod expire_approval;
pub mod finish_step;
pub mod fire_timer;
pub(crate) mod global;
pub mod halt;
pub mod import_workflow;
pub mod publish_policy;
pub mod publish_workflow;
pub mod record_usage;
pub mod release_step;
pub mod resume;
pub mod retry_step;
pub mod set_secret;
pub mod start_run;

use std::sync::Arc;

use agentwerke_engine::Event;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::redact::Redactor;
use agentwerke_store::{Change, Committed, JsonText, Row, RunEvent, Store, Stream};
use agentwerke_types::{RunId, Timestamp};
use serde::{Deserialize, Serialize};

pub use answer_question::AnswerQuestion;
pub use cancel_run::CancelRun;
pub use decide_approval::DecideApproval;
pub use delete_secret::DeleteSecret;
pub use deliver_message::DeliverMessage;
pub use draft_policy::DraftPolicy;
pub use error::Error;
pub use expire_approval::ExpireApproval;
pub use fire_timer::FireTimer;
pub use global::GlobalPlan;
pub use halt::Halt;
pub use import_workflow::ImportWorkflow;
pub use publish_policy::PublishPolicy;
pub use publish_workflow::PublishWorkflow;
pub use resume::Resume;
pub use retry_step::RetryStep;
pub use set_secret::SetSecret;
pub use start_run::StartRun;

use crate::stepper::Stepper;

/// A write into a run, as its edge (an HTTP handler, a loop) asks for it.
///
/// Serde-tagged by `type`; the tag names are a persisted contract (a
/// command may be logged or queued): never rename one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// A person decides an approval.
    DecideApproval(DecideApproval),
    /// The system expires an approval nobody decided in time.
    ExpireApproval(ExpireApproval),
    /// A person answers an agent's question.
    AnswerQuestion(AnswerQuestion),
    /// An operator stops a run.
    CancelRun(CancelRun),
    /// An operator retries a failed run's failed step.
    RetryStep(RetryStep),
    /// The system fires a durable timer that came due.
    FireTimer(FireTimer),
    /// An operator halts a scope of the gateway (the kill switch).
    Halt(Halt),
    /// An operator lifts a halt.
    Resume(Resume),
    /// A policy author stores a policy set as a draft.
    DraftPolicy(DraftPolicy),
    /// A policy author publishes a draft policy set.
    PublishPolicy(PublishPolicy),
    /// A workflow author imports a document as a draft version.
    ImportWorkflow(ImportWorkflow),
    /// A workflow author publishes a version.
    PublishWorkflow(PublishWorkflow),
    /// A person starts a run.
    StartRun(StartRun),
    /// A correlated message arrives for the runs waiting for it.
    DeliverMessage(DeliverMessage),
    /// An administrator stores or rotates a secret (sealed at the edge).
    SetSecret(SetSecret),
    /// An administrator deletes a stored secret.
    DeleteSecret(DeleteSecret),
}

impl Command {
    /// The tag this command is persisted under.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::DecideApproval(_) => "decide_approval",
            Command::ExpireApproval(_) => "expire_approval",
            Command::AnswerQuestion(_) => "answer_question",
            Command::CancelRun(_) => "cancel_run",
            Command::RetryStep(_) => "retry_step",
            Command::FireTimer(_) => "fire_timer",
            Command::Halt(_) => "halt",
            Command::Resume(_) => "resume",
            Command::DraftPolicy(_) => "draft_policy",
            Command::PublishPolicy(_) => "publish_policy",
            Command::ImportWorkflow(_) => "import_workflow",
            Command::PublishWorkflow(_) => "publish_workflow",
            Command::StartRun(_) => "start_run",
            Command::DeliverMessage(_) => "deliver_message",
            Command::SetSecret(_) => "set_secret",
            Command::DeleteSecret(_) => "delete_secret",
        }
    }
}

/// What a planner gets besides its snapshot and command: the moment, read
/// once from the clock by the door, and the redactor that every text and
/// value a plan keeps passes through first.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// When the command is made; every time in the plan is this one.
    pub at: Timestamp,
    /// Known secret values and credential shapes, replaced before anything
    /// is kept (and so before anything is hashed into the audit chain).
    /// Shared with the secret keeper: a value set after start is known from
    /// the next command on.
    pub redactor: &'a Redactor,
}

/// A redactor that knows no value (shapes are still redacted), for plans
/// made in tests.
#[cfg(test)]
pub(crate) fn no_secrets() -> &'static Redactor {
    static NONE: std::sync::LazyLock<Redactor> = std::sync::LazyLock::new(Redactor::default);
    &NONE
}

/// An engine event a plan delivers, with its inbox idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedEvent {
    /// The event.
    pub event: Event,
    /// Unique per command target, e.g. `approval:<id>`: a repeat is
    /// dropped. `None` for an event that may come twice (a cancel request).
    pub dedup_key: Option<String>,
}

/// Everything one command writes, decided before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The run it writes to.
    pub run: RunId,
    /// The event the run hears: stepped at once when the door can, else
    /// queued.
    pub event: Option<PlannedEvent>,
    /// The typed rows, each a compare-and-set on the state the plan saw.
    pub rows: Vec<Row>,
    /// Audit records; the store stamps the chain.
    pub audit: Vec<AuditDraft>,
    /// Evidence records.
    pub records: Vec<agentwerke_evidence::Record>,
}

impl Plan {
    /// The store's change for this plan, with the step the event causes
    /// when one was computed.
    fn into_change(
        self,
        at: Timestamp,
        step: Option<agentwerke_store::AppliedStep>,
    ) -> Result<Change, Error> {
        let event = match self.event {
            None => None,
            Some(planned) => Some(RunEvent {
                event: JsonText::of(&planned.event).map_err(Error::Encode)?,
                dedup_key: planned.dedup_key,
                step,
            }),
        };
        Ok(Change {
            stream: Stream::Run(self.run),
            at,
            rows: self.rows,
            event,
            audit: self.audit,
            records: self.records,
        })
    }
}

/// What a submitted command wrote.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The rows as they now are, and what became of the event.
    pub committed: Committed,
    /// The event the run heard, as planned.
    pub event: Option<Event>,
}

/// Reads what `command` needs, plans it, takes its step when it can and
/// commits, all as of `ctx.at`.
pub(crate) async fn submit(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    command: Command,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    // The run's state is taken from the stepper's memory (or read) once: for
    // the snapshot (who requested the run, the modelled expiry outcome) and
    // for the step the event causes.
    let (planned, run) = match command {
        Command::DecideApproval(decide) => {
            let approval = store.get_approval(decide.approval_id.as_str()).await?;
            let run = stepper.run_of(approval.as_ref().map(|a| &a.run_id)).await;
            let snapshot = decide_approval::Snapshot {
                approval,
                requested_by: run.as_ref().map(|(_, known)| known.requested_by.clone()),
            };
            (decide_approval::plan(&snapshot, decide, ctx), run)
        }
        Command::ExpireApproval(expire) => {
            let approval = store.get_approval(expire.approval_id.as_str()).await?;
            let run = stepper.run_of(approval.as_ref().map(|a| &a.run_id)).await;
            let on_expiry = match (&approval, &run) {
                (Some(approval), Some((_, known))) => {
                    stepper.on_expiry(known, &approval.node_id).await
                }
                _ => None,
            };
            let snapshot = expire_approval::Snapshot {
                approval,
                on_expiry,
            };
            (expire_approval::plan(&snapshot, expire, ctx), run)
        }
        Command::AnswerQuestion(answer) => {
            let question = store.get_question(answer.question_id.as_str()).await?;
            let run = stepper.run_of(question.as_ref().map(|q| &q.run_id)).await;
            let snapshot = answer_question::Snapshot { question };
            (answer_question::plan(&snapshot, answer, ctx), run)
        }
        Command::CancelRun(cancel) => {
            let row = store.get_run(cancel.run_id.as_str()).await?;
            let run = stepper.run_of(row.as_ref().map(|r| &r.id)).await;
            let snapshot = cancel_run::Snapshot {
                status: row.map(|r| r.status),
            };
            (cancel_run::plan(&snapshot, cancel, ctx), run)
        }
        Command::RetryStep(retry) => {
            let row = store.get_run(retry.run_id.as_str()).await?;
            let run = stepper.run_of(row.as_ref().map(|r| &r.id)).await;
            let snapshot = retry_step::Snapshot {
                state: row
                    .map(|r| serde_json::from_value(r.state))
                    .transpose()
                    .map_err(|error| Error::Corrupt {
                        what: format!("the state of run '{}': {error}", retry.run_id),
                    })?,
            };
            (retry_step::plan(&snapshot, retry, ctx), run)
        }
        Command::FireTimer(fire) => {
            let timer = store
                .get_timer(fire.run_id.as_str(), &fire.timer_id)
                .await?;
            let run = stepper.run_of(timer.as_ref().map(|t| &t.run_id)).await;
            let snapshot = fire_timer::Snapshot { timer };
            (fire_timer::plan(&snapshot, fire, ctx), run)
        }
        // Global commands touch no run: no snapshot of one, no step.
        Command::Halt(halt) => return global::halt(store.as_ref(), halt, ctx).await,
        Command::Resume(resume) => return global::resume(store.as_ref(), resume, ctx).await,
        Command::DraftPolicy(draft) => {
            return global::draft_policy(store.as_ref(), draft, ctx).await;
        }
        Command::PublishPolicy(publish) => {
            return global::publish_policy(store.as_ref(), publish, ctx).await;
        }
        Command::ImportWorkflow(import) => {
            return global::import_workflow(store.as_ref(), import, ctx).await;
        }
        Command::PublishWorkflow(publish) => {
            return global::publish_workflow(store.as_ref(), publish, ctx).await;
        }
        Command::StartRun(start) => return submit_start(store, stepper, start, ctx).await,
        Command::DeliverMessage(deliver) => return submit_delivery(store, deliver, ctx).await,
        Command::SetSecret(set) => return global::set_secret(store.as_ref(), set, ctx).await,
        Command::DeleteSecret(delete) => {
            return global::delete_secret(store.as_ref(), delete, ctx).await;
        }
    };
    let plan = match planned {
        Ok(plan) => plan,
        Err(error) => {
            if let Some((run_id, known)) = run {
                stepper.remember(run_id.as_str(), known);
            }
            return Err(error);
        }
    };
    commit(store, stepper, plan, run, ctx).await
}

/// Commits `plan` as of `ctx.at`, with the step its event causes from
/// `run` (the run's state, taken out of the stepper's memory) when that
/// can be computed; the one tail of every command and of a step's end.
pub(crate) async fn commit(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    plan: Plan,
    run: Option<(RunId, crate::states::Known)>,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let (step, after) = match (&plan.event, run) {
        (Some(planned), Some((run_id, known))) => stepper
            .step_from(run_id.as_str(), known, planned.event.clone())
            .await
            .unzip(),
        (None, Some((run_id, known))) => {
            stepper.remember(run_id.as_str(), known);
            (None, None)
        }
        (_, None) => (None, None),
    };
    let run_id = plan.run.clone();
    let event = plan.event.as_ref().map(|planned| planned.event.clone());
    let committed = store
        .commit(plan.into_change(ctx.at, step)?)
        .await
        .map_err(Error::from_store)?;
    stepper.stepped(run_id.as_str(), committed.delivered, after);
    Ok(Submitted { committed, event })
}

/// `submit` for a start: reads the version and its compiled definition,
/// plans the run with its first step taken, commits the creation and
/// remembers the state the step left for the run's next step.
async fn submit_start(
    store: &Arc<dyn Store>,
    stepper: &Stepper,
    start: StartRun,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    // A version named by number is read once per process (it never changes
    // once published); the latest published one is read each time.
    let (version, definition) = match start.version {
        Some(number) => stepper
            .published(&start.workflow_id, number)
            .await
            .map_err(unreadable)?
            .unzip(),
        None => match store.latest_published(&start.workflow_id).await? {
            Some(found) => {
                let definition = stepper
                    .definition(&found.workflow_id, found.version)
                    .await
                    .map_err(unreadable)?;
                (Some(found), Some(definition))
            }
            None => (None, None),
        },
    };
    let snapshot = start_run::Snapshot {
        version,
        definition,
    };
    let start_run::Planned { plan, state } = start_run::plan(&snapshot, start, ctx)?;
    let known = plan
        .rows
        .iter()
        .find_map(|row| match row {
            Row::CreateRun(run) => Some(run),
            _ => None,
        })
        .map(|run| crate::states::Known {
            version: 0,
            state,
            workflow_id: run.workflow_id.clone(),
            workflow_version: run.version,
            requested_by: run.requested_by.clone(),
            risk_peak: None,
        });
    let run_id = plan.run.clone();
    let committed = store
        .commit(plan.into_change(ctx.at, None)?)
        .await
        .map_err(Error::from_store)?;
    if let Some(known) = known {
        stepper.remember(run_id.as_str(), known);
    }
    Ok(Submitted {
        committed,
        event: None,
    })
}

/// A failure to read or compile a definition, as the command's error.
fn unreadable(error: crate::Error) -> Error {
    match error {
        crate::Error::Store(store) => Error::from_store(store),
        other => Error::Corrupt {
            what: format!("a workflow definition: {other}"),
        },
    }
}

/// `submit` for a delivery: plans it and commits it as a global change,
/// whose one row the store fans out to the runs it matches (see
/// [`deliver_message`]).
async fn submit_delivery(
    store: &Arc<dyn Store>,
    deliver: DeliverMessage,
    ctx: &Ctx<'_>,
) -> Result<Submitted, Error> {
    let delivery = deliver_message::plan(deliver, ctx)?;
    let committed = store
        .commit(Change {
            stream: Stream::Global,
            at: ctx.at,
            rows: vec![Row::DeliverMessage(delivery)],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await
        .map_err(Error::from_store)?;
    Ok(Submitted {
        committed,
        event: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use agentwerke_auth::{Principal, Role};
    use agentwerke_engine::ApprovalDecision;
    use agentwerke_store::ApprovalRow;
    use agentwerke_types::{ApprovalKind, ApprovalStatus, Timestamp};
    use serde_json::json;

    use super::*;

    /// A pending approval `ap-1` of `run-1` for work `w3` at node `Review`,
    /// with no expiry.
    pub(crate) fn approval(kind: ApprovalKind) -> ApprovalRow {
        ApprovalRow {
            id: "ap-1".into(),
            run_id: "run-1".into(),
            work_id: "w3".into(),
            node_id: "Review".to_owned(),
            kind,
            request: json!({"requestedAction": "deploy"}),
            status: ApprovalStatus::Pending,
            decision: None,
            comment: None,
            decided_by: None,
            decided_at: None,
            expires_at: None,
            consumed_at: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    /// A caller with `roles` and no groups.
    pub(crate) fn principal(subject: &str, roles: &[Role]) -> Principal {
        Principal {
            subject: subject.to_owned(),
            name: None,
            roles: roles.to_vec(),
            groups: Vec::new(),
            issuer: "test".to_owned(),
            token_id: None,
        }
    }

    /// The tags are a persisted contract.
    #[test]
    fn command_tags_are_pinned() {
        let commands = [
            Command::DecideApproval(DecideApproval {
                approval_id: "ap-1".into(),
                decision: ApprovalDecision::Approve,
                comment: None,
                by: principal("bob", &[Role::Approver]),
            }),
            Command::ExpireApproval(ExpireApproval {
                approval_id: "ap-1".into(),
            }),
            Command::AnswerQuestion(AnswerQuestion {
                question_id: "q-1".into(),
                answer: "yes".to_owned(),
                answered_by: "bob".to_owned(),
            }),
            Command::CancelRun(CancelRun {
                run_id: "run-1".into(),
                reason: None,
                by: "olga".to_owned(),
            }),
            Command::RetryStep(RetryStep {
                run_id: "run-1".into(),
                work_id: Some("w1".to_owned()),
                by: "olga".to_owned(),
            }),
            Command::FireTimer(FireTimer {
                run_id: "run-1".into(),
                timer_id: "t1".to_owned(),
            }),
            Command::Halt(Halt {
                scope: agentwerke_store::gateway::HaltScope::Agent,
                target: Some("writer".to_owned()),
                reason: Some("incident".to_owned()),
                by: "olga".to_owned(),
            }),
            Command::Resume(Resume {
                scope: agentwerke_store::gateway::HaltScope::Global,
                target: None,
                by: "olga".to_owned(),
            }),
            Command::DraftPolicy(DraftPolicy {
                text: "permit (principal, action, resource);".to_owned(),
                note: None,
                by: "paula".to_owned(),
            }),
            Command::PublishPolicy(PublishPolicy {
                version: 1,
                by: "paula".to_owned(),
            }),
            Command::ImportWorkflow(ImportWorkflow {
                workflow_id: "wf".to_owned(),
                name: "Workflow".to_owned(),
                bpmn_xml: "<definitions/>".to_owned(),
                diagnostics: json!([]),
                by: "ada".to_owned(),
            }),
            Command::PublishWorkflow(PublishWorkflow {
                workflow_id: "wf".to_owned(),
                version: 1,
                by: "ada".to_owned(),
            }),
            Command::StartRun(StartRun {
                run_id: "run-1".into(),
                workflow_id: "hello-sdlc".to_owned(),
                version: Some(2),
                inputs: json!({"title": "t"}),
                requested_by: "alice".to_owned(),
            }),
            Command::DeliverMessage(DeliverMessage {
                delivery_id: "d1".to_owned(),
                message_name: "payment_received".to_owned(),
                correlation_key: "order-1".to_owned(),
                payload: json!({"amount": 42}),
            }),
            Command::SetSecret(SetSecret {
                name: agentwerke_secrets::SecretName::parse("api_key").unwrap(),
                sealed: "v1:k:AAAA".to_owned(),
                fingerprint: serde_json::from_value(json!("hmac-sha256:01")).unwrap(),
                by: "ada".to_owned(),
            }),
            Command::DeleteSecret(DeleteSecret {
                name: agentwerke_secrets::SecretName::parse("api_key").unwrap(),
                by: "ada".to_owned(),
            }),
        ];
        let tags: Vec<_> = commands
            .iter()
            .map(|c| serde_json::to_value(c).unwrap()["type"].clone())
            .collect();
        assert_eq!(
            tags,
            [
                "decide_approval",
                "expire_approval",
                "answer_question",
                "cancel_run",
                "retry_step",
                "fire_timer",
                "halt",
                "resume",
                "draft_policy",
                "publish_policy",
                "import_workflow",
                "publish_workflow",
                "start_run",
                "deliver_message",
                "set_secret",
                "delete_secret"
            ]
        );
        for command in commands {
            assert_eq!(
                serde_json::to_value(&command).unwrap()["type"],
                command.kind()
            );
            let back: Command =
                serde_json::from_value(serde_json::to_value(&command).unwrap()).unwrap();
            assert_eq!(back, command);
        }
    }
}
