//! The tool-call journal as a step uses it: each call's intent is committed
//! before its tool runs and its outcome right after, so a step replayed
//! after a crash neither loses the record of an effect nor silently repeats
//! one.
//!
//! A call is known by a [`ToolCallId`] derived from its step (work id and
//! attempt), what it calls (tool and argument hash) and how many identical
//! calls the step made before it. A replay that makes the same calls gets
//! the same ids, whatever the model did in between, and the id says nothing
//! about where in the conversation the call stood, so a model that asks for
//! other things first still meets its earlier call again. On a replay:
//!
//! - a call with a recorded outcome is not made: the record is handed back
//!   (the model sees what the tool answered then, evidence records it again);
//! - a call that was started and has no outcome may have happened. A tool
//!   that is safe to run again ([`Idempotency::may_repeat`]) runs again
//!   under the same id; any other pauses the step on a
//!   [`EscalationCause::ToolOutcomeUnknown`] escalation: a human approves
//!   running it again, or rejects and the model hears that it was not;
//! - a call never started is decided and run as usual.
//!
//! A call still `started` when its step completes or fails was not made
//! again by the execution that ended the step: the step's end settles it as
//! `abandoned` ([`crate::command::finish_step`]), so the journal keeps no
//! call open after its step. An abandoned call met again is refused, never
//! run.
//!
//! An approval that lets a call run is used up in the transaction that
//! commits the call's intent, so a crash between the two cannot lose the
//! approval's effect (the intent shows the call was let run) nor let the
//! approval run a second call.

use std::collections::HashMap;

use agentwerke_agents::human::HUMAN_ASK;
use agentwerke_agents::step::Resume;
use agentwerke_evidence::canonical::{digest_value, sha256_hex};
use agentwerke_gateway::{
    CallRequest, Decision, DecisionKind, EscalationBinding, Execution, Gateway, Halts, Outcome,
    Prepared, Runnable,
};
use agentwerke_store::calls::{Begun, ToolCallIntent, ToolCallOutcome, ToolCallRow};
use agentwerke_store::{ApprovalRow, JsonText, NewApproval};
use agentwerke_types::{ApprovalStatus, EscalationCause, ToolCallId, ToolCallStatus};
use serde_json::json;

use super::{StepIdentity, StepTools};

/// What one brokered call comes to.
pub(super) enum Brokered {
    /// Decided, run, refused or replayed: its execution, and the human
    /// decision it ran or was refused on.
    Done(Execution, Option<ApprovalRow>),
    /// Started before, outcome lost, not safe to repeat: the step pauses on
    /// this approval; the execution is the pending call, for the records.
    OutcomeUnknown(Execution, NewApproval),
}

/// The id of the `occurrence`-th call (0 for the first) of `tool` with
/// arguments hashing to `args_hash` in the attempt `attempt` of work
/// `work_id` of run `run_id`. The run is part of it because work ids are
/// only unique within a run (every run's first step is `w1`): without it,
/// a second run's call would find the first run's and be handed its outcome
/// instead of being made.
pub fn call_id(
    run_id: &str,
    work_id: &str,
    attempt: u32,
    tool: &str,
    args_hash: &str,
    occurrence: u32,
) -> ToolCallId {
    let key = format!("{run_id}\n{work_id}\n{attempt}\n{tool}\n{args_hash}\n{occurrence}");
    ToolCallId::from(format!("tc-{}", &sha256_hex(key.as_bytes())[..32]))
}

/// The gateway calls a paused step made before the calls it paused on, by
/// tool and argument hash: a resumed execution does not make them again,
/// so its own calls are counted after them.
pub fn made_before(resume: &Resume) -> HashMap<(String, String), u32> {
    let mut made: HashMap<(String, String), u32> = HashMap::new();
    let key = |call: &agentwerke_agents::provider::ToolCallRequest| {
        (call.name.clone(), digest_value(&call.arguments))
    };
    for message in &resume.messages {
        for call in message.tool_calls.iter().filter(|c| c.name != HUMAN_ASK) {
            *made.entry(key(call)).or_default() += 1;
        }
    }
    for call in resume.pending.iter().filter(|c| c.name != HUMAN_ASK) {
        if let Some(n) = made.get_mut(&key(call)) {
            *n = n.saturating_sub(1);
        }
    }
    made
}

/// How a journalled outcome is filed.
fn status_of(execution: &Execution) -> ToolCallStatus {
    match execution.outcome {
        Outcome::Executed { .. } => ToolCallStatus::Executed,
        Outcome::Failed { .. } => ToolCallStatus::Failed,
        Outcome::Blocked { .. } | Outcome::PendingApproval { .. } => ToolCallStatus::Unknown,
    }
}

/// Whether `approval` is a human's answer to a lost outcome, rather than to
/// a policy escalation.
pub(super) fn asks_about_lost_outcome(approval: &ApprovalRow) -> bool {
    approval.request["cause"] == EscalationCause::ToolOutcomeUnknown.as_str()
}

/// `execution` turned into a refusal: nothing runs, and the model hears why.
pub(super) fn refused(pending: &Execution, rationale: String) -> Execution {
    let mut blocked = pending.clone();
    blocked.outcome = Outcome::Blocked {
        reason: blocked.decision.reason,
        rationale: rationale.clone(),
    };
    blocked.decision.kind = DecisionKind::Reject;
    blocked.decision.rationale.clone_from(&rationale);
    blocked.record.status = agentwerke_gateway::CallStatus::Blocked;
    blocked.record.decision = DecisionKind::Reject;
    blocked.record.rationale = rationale;
    blocked
}

/// Why a call whose outcome was lost is not run again.
fn lost_outcome_refusal(approval: &ApprovalRow) -> String {
    let comment = approval
        .comment
        .as_deref()
        .map(|c| format!(": \"{c}\""))
        .unwrap_or_default();
    let why = match approval.status {
        ApprovalStatus::Expired => "nobody decided in time whether to run it again".to_owned(),
        ApprovalStatus::Approved => "the approval to run it again was already used".to_owned(),
        other => format!("a human chose not to run it again ({other}){comment}"),
    };
    format!(
        "this call was started before the server stopped and its outcome was lost, so it may or \
         may not have happened; {why}"
    )
}

impl StepTools {
    /// Brokers one call through the journal (see the module docs).
    pub(super) async fn journaled(
        &self,
        gateway: &Gateway,
        request: &CallRequest,
        halts: &Halts,
    ) -> Brokered {
        let args_hash = digest_value(&request.arguments);
        let call_id = self.next_call_id(&request.tool, &args_hash);
        let rows = match self.journal().await {
            Ok(rows) => rows,
            Err(reason) => {
                let pending = Execution::blocked(gateway.decide(request, halts));
                return Brokered::Done(refused(&pending, reason), None);
            }
        };
        match rows.get(&call_id) {
            None => self.first_run(gateway, request, halts, call_id).await,
            Some(row) if row.status.is_settled() => {
                Brokered::Done(replayed(row, || gateway.decide(request, halts)), None)
            }
            Some(row) => self.after_lost_outcome(gateway, request, halts, row).await,
        }
    }

    /// The id of the next call of `tool` with these arguments.
    fn next_call_id(&self, tool: &str, args_hash: &str) -> ToolCallId {
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let n = made
            .entry((tool.to_owned(), args_hash.to_owned()))
            .or_default();
        let id = call_id(
            &self.who.run_id,
            &self.who.work_id,
            self.who.attempt,
            tool,
            args_hash,
            *n,
        );
        *n += 1;
        id
    }

    /// This step's journal as it stood when the step began, by call id.
    async fn journal(&self) -> Result<&HashMap<ToolCallId, ToolCallRow>, String> {
        self.journal
            .get_or_init(|| async {
                match self.store.tool_calls_for_run(&self.who.run_id).await {
                    Ok(rows) => Ok(rows
                        .into_iter()
                        .filter(|r| r.work_id == self.who.work_id.as_str())
                        .map(|r| (r.call_id.clone(), r))
                        .collect()),
                    Err(error) => {
                        tracing::error!(%error, "cannot read the tool-call journal");
                        Err("the tool-call journal cannot be read, so no call is made: \
                             whether earlier calls happened is not known"
                            .to_owned())
                    }
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A call never started before: decided, and run when allowed or
    /// approved by a human.
    async fn first_run(
        &self,
        gateway: &Gateway,
        request: &CallRequest,
        halts: &Halts,
        call_id: ToolCallId,
    ) -> Brokered {
        let pending = match gateway.prepare(request, halts, None) {
            Prepared::Run(runnable) => {
                return self.run(gateway, request, *runnable, call_id, None).await;
            }
            Prepared::Done(execution) => *execution,
        };
        let Outcome::PendingApproval { binding } = &pending.outcome else {
            return Brokered::Done(pending, None);
        };
        let Some(earlier) = self.earlier_escalation(binding).await else {
            return Brokered::Done(pending, None);
        };
        if earlier.status != ApprovalStatus::Approved {
            let rationale = super::human_refusal(&earlier);
            return Brokered::Done(refused(&pending, rationale), Some(earlier));
        }
        let binding = EscalationBinding {
            tool: request.tool.clone(),
            args_hash: earlier.request["argsHash"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        match gateway.prepare(request, halts, Some(&binding)) {
            Prepared::Run(runnable) => {
                self.run(gateway, request, *runnable, call_id, Some(earlier))
                    .await
            }
            Prepared::Done(execution) => Brokered::Done(*execution, Some(earlier)),
        }
    }

    /// A call started before whose outcome was lost.
    async fn after_lost_outcome(
        &self,
        gateway: &Gateway,
        request: &CallRequest,
        halts: &Halts,
        row: &ToolCallRow,
    ) -> Brokered {
        let binding = EscalationBinding {
            tool: row.tool.clone(),
            args_hash: row.args_hash.clone(),
        };
        let idempotency = gateway
            .registry()
            .idempotency(&request.tool, &request.arguments);
        if idempotency.may_repeat() {
            if row.approval_id.is_none() {
                // Decided afresh, and run again under the same id.
                return self
                    .first_run(gateway, request, halts, row.call_id.clone())
                    .await;
            }
            // Its intent shows a human let it run: that approval still
            // covers running the same call again under the same id.
            return match gateway.prepare(request, halts, Some(&binding)) {
                Prepared::Run(runnable) => {
                    self.run(gateway, request, *runnable, row.call_id.clone(), None)
                        .await
                }
                Prepared::Done(execution) => Brokered::Done(*execution, None),
            };
        }
        let pending = match gateway.prepare(request, halts, Some(&binding)) {
            Prepared::Run(runnable) => Execution::pending(runnable.decision().clone()),
            // Refused now (a forbid, a changed surface): nobody is asked.
            Prepared::Done(execution) => return Brokered::Done(*execution, None),
        };
        let answer = self
            .earlier_escalations()
            .await
            .iter()
            .rev()
            .find(|a| {
                asks_about_lost_outcome(a)
                    && a.consumed_at.is_none()
                    && a.request["callId"] == row.call_id.as_str()
            })
            .cloned();
        match answer {
            None => {
                let approval = self.lost_outcome_request(row, &pending);
                Brokered::OutcomeUnknown(pending, approval)
            }
            Some(approval) if approval.status == ApprovalStatus::Approved => {
                match gateway.prepare(request, halts, Some(&binding)) {
                    Prepared::Run(runnable) => {
                        self.run(
                            gateway,
                            request,
                            *runnable,
                            row.call_id.clone(),
                            Some(approval),
                        )
                        .await
                    }
                    Prepared::Done(execution) => Brokered::Done(*execution, Some(approval)),
                }
            }
            Some(approval) => {
                let refusal = refused(&pending, lost_outcome_refusal(&approval));
                // Filed, so a replay of this step hands the refusal back.
                self.finish(&row.call_id, &refusal).await;
                Brokered::Done(refusal, Some(approval))
            }
        }
    }

    /// Commits the intent (using up `approval`, if any, with it), runs the
    /// tool, commits the outcome.
    async fn run(
        &self,
        gateway: &Gateway,
        request: &CallRequest,
        runnable: Runnable,
        call_id: ToolCallId,
        approval: Option<ApprovalRow>,
    ) -> Brokered {
        let decision = runnable.decision();
        let intent = ToolCallIntent {
            call_id: call_id.clone(),
            run_id: self.who.run_id.clone().into(),
            work_id: self.who.work_id.clone().into(),
            attempt: self.who.attempt,
            tool: request.tool.clone(),
            args_hash: decision.args_hash.clone(),
            arguments: JsonText::from(&decision.redacted_args),
            approval_id: approval.as_ref().map(|a| a.id.clone()),
            at: self.clock.now(),
        };
        match self.store.begin_tool_call(intent).await {
            Ok(Begun::Started { .. }) => {
                let sandbox = std::sync::Arc::clone(&self.sandbox);
                let execution = gateway
                    .run_in_step(request, runnable, Some(call_id.clone()), sandbox)
                    .await;
                self.finish(&call_id, &execution).await;
                Brokered::Done(execution, approval)
            }
            Ok(Begun::Settled(row)) => {
                let decision = runnable.decision().clone();
                Brokered::Done(replayed(&row, || decision), approval)
            }
            // Used already (by an identical call earlier in this step): it
            // covers nothing, and the call asks a human afresh.
            Ok(Begun::ApprovalUsed) => {
                Brokered::Done(Execution::pending(runnable.decision().clone()), None)
            }
            Err(error) => {
                tracing::error!(%error, call = %call_id, "cannot journal a tool call; it is not made");
                let pending = Execution::blocked(runnable.decision().clone());
                let rationale =
                    "the call's intent could not be recorded, so it is not made".to_owned();
                Brokered::Done(refused(&pending, rationale), approval)
            }
        }
    }

    /// Commits `execution` as the outcome of `call_id`. A failure is
    /// logged: a replay then meets the call as started with no outcome.
    async fn finish(&self, call_id: &ToolCallId, execution: &Execution) {
        let result = match JsonText::of(execution) {
            Ok(result) => result,
            Err(error) => {
                tracing::error!(%error, call = %call_id, "cannot write a tool call's outcome");
                return;
            }
        };
        let outcome = ToolCallOutcome {
            call_id: call_id.clone(),
            status: status_of(execution),
            result,
            at: self.clock.now(),
        };
        if let Err(error) = self.store.finish_tool_call(outcome).await {
            tracing::error!(%error, call = %call_id, "cannot record a tool call's outcome");
        }
    }

    /// The approval request for a call whose outcome was lost: it may or may
    /// not have happened; approving runs it again, once.
    fn lost_outcome_request(&self, row: &ToolCallRow, pending: &Execution) -> NewApproval {
        let who: &StepIdentity = &self.who;
        self.escalation_approval(
            &uuid::Uuid::now_v7().to_string(),
            &pending.decision,
            json!({
                "cause": EscalationCause::ToolOutcomeUnknown,
                "requestedAction": format!(
                    "Agent '{}' started {} at '{}', but the server stopped before its outcome was \
                     recorded: the call may or may not have happened. Approve to run it again; \
                     reject to go on without it",
                    who.agent, row.tool, who.node_name
                ),
                "tool": row.tool,
                "argsHash": row.args_hash,
                "arguments": row.arguments,
                "callId": row.call_id,
                "startedAt": row.started_at,
                "executions": row.executions,
            }),
        )
    }
}

/// A settled call's execution as it was journalled; one that cannot be
/// read back is refused (on `decided`, the call decided now) rather than
/// run again.
fn replayed(row: &ToolCallRow, decided: impl FnOnce() -> Decision) -> Execution {
    if row.status == ToolCallStatus::Abandoned {
        // Settled when an earlier end of this step left it open: it has no
        // outcome to hand back, and it is not made again.
        let rationale = "this call was started before, its outcome was never recorded, and the \
                         step ended without making it again: whether it happened is not known, \
                         and it is not made again"
            .to_owned();
        return refused(&Execution::blocked(decided()), rationale);
    }
    match row.result.clone().map(serde_json::from_value::<Execution>) {
        Some(Ok(execution)) => execution,
        _ => {
            tracing::error!(call = %row.call_id, "a journalled outcome cannot be read");
            let rationale = "the recorded outcome of this call cannot be read, and it is not \
                             made again"
                .to_owned();
            refused(&Execution::blocked(decided()), rationale)
        }
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_agents::provider::{Message, ToolCallRequest};

    use serde_json::Value;

    use super::*;

    fn request(id: &str, name: &str, arguments: Value) -> ToolCallRequest {
        ToolCallRequest {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments,
        }
    }

    /// The same call of the same step gets the same id in every
    /// execution; anything that makes it another call changes it.
    #[test]
    fn a_call_id_names_the_step_the_call_and_its_occurrence() {
        let id = call_id("r1", "w1", 1, "http.request", "h", 0);
        assert_eq!(id, call_id("r1", "w1", 1, "http.request", "h", 0));
        assert!(id.as_str().starts_with("tc-") && id.len() == 35, "{id}");
        for other in [
            call_id("r2", "w1", 1, "http.request", "h", 0),
            call_id("r1", "w2", 1, "http.request", "h", 0),
            call_id("r1", "w1", 2, "http.request", "h", 0),
            call_id("r1", "w1", 1, "artifact.write", "h", 0),
            call_id("r1", "w1", 1, "http.request", "g", 0),
            call_id("r1", "w1", 1, "http.request", "h", 1),
        ] {
            assert_ne!(id, other);
        }
    }

    /// A call its step's end abandoned has no outcome to hand back: met
    /// again, it is refused with why, never run.
    #[test]
    fn an_abandoned_call_is_refused_when_met_again() {
        use std::sync::Arc;

        use agentwerke_gateway::{
            AgentProfile, Builtins, CallRequest, GatewayConfig, Halts, PolicySchema, PolicySet,
            SandboxProfile, TaskSurface, ToolRegistry,
        };
        use agentwerke_types::Timestamp;

        let registry = ToolRegistry::builtin(Builtins::in_memory()).unwrap();
        let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
        let policies = PolicySet::default_set(schema).unwrap();
        let config = GatewayConfig {
            agents: vec![AgentProfile::new("writer", [SandboxProfile::Offline])],
            ..GatewayConfig::default()
        };
        let gateway = Gateway::new(registry, policies, config).unwrap();
        let request = CallRequest {
            tool: "artifact.write".into(),
            arguments: json!({"path": "notes.md", "content": "hello"}),
            agent: "writer".into(),
            workflow_id: "wf".into(),
            run_id: "run-1".into(),
            node_id: "Draft".into(),
            attempt: 1,
            task: TaskSurface::default(),
        };
        let row = ToolCallRow {
            call_id: "tc-1".into(),
            run_id: "run-1".into(),
            work_id: "w1".into(),
            attempt: 1,
            tool: "artifact.write".to_owned(),
            args_hash: digest_value(&request.arguments),
            arguments: request.arguments.clone(),
            status: ToolCallStatus::Abandoned,
            executions: 1,
            approval_id: None,
            result: None,
            started_at: Timestamp::from_millis(1),
            finished_at: Some(Timestamp::from_millis(2)),
        };
        let execution = replayed(&row, || gateway.decide(&request, &Halts::none()));
        match execution.outcome {
            Outcome::Blocked { rationale, .. } => {
                assert!(
                    rationale.contains("ended without making it again"),
                    "{rationale}"
                );
            }
            other => panic!("refused, not {other:?}"),
        }
        assert_eq!(execution.decision.kind, DecisionKind::Reject);
    }

    /// A resumed step counts the gateway calls it made before its pause,
    /// not the paused calls it makes now, nor its questions.
    #[test]
    fn made_before_counts_the_calls_made_before_the_pause() {
        let get = json!({"url": "https://shop.test/stock"});
        let post = json!({"url": "https://shop.test/orders", "method": "POST"});
        let resume = Resume {
            messages: vec![
                Message::assistant(
                    "",
                    vec![
                        request("1", "http.request", get.clone()),
                        request("2", HUMAN_ASK, json!({"question": "?"})),
                    ],
                ),
                Message::assistant(
                    "",
                    vec![
                        request("3", "http.request", get.clone()),
                        request("4", "http.request", post.clone()),
                    ],
                ),
            ],
            pending: vec![request("4", "http.request", post.clone())],
            turn: 2,
            lifted: Vec::new(),
            budget: None,
        };
        let made = made_before(&resume);
        let count = |args: &Value| {
            made.get(&("http.request".to_owned(), digest_value(args)))
                .copied()
        };
        assert_eq!(count(&get), Some(2));
        assert_eq!(count(&post), Some(0), "the paused call is made now");
        assert!(!made.keys().any(|(tool, _)| tool == HUMAN_ASK));
    }
}
