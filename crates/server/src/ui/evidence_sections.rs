//! A signed evidence pack as the evidence page shows it: one list of lines
//! per section of the pack, in the pack's order, every value as text.
//!
//! Pure: the pack in, strings out. Nothing is added that the pack does not
//! hold, so what an auditor reads on the page is what a download carries
//! (and what the signature covers).

use agentwerke_evidence::EvidencePack;
use agentwerke_evidence::chain::AuditRecord;
use agentwerke_evidence::sections::{
    ApprovalRecord, ArtifactRecord, ConversationEntry, EgressConnectionRecord, ModelUsageRecord,
    PolicyDecisionRecord, PromptSnapshot, SandboxExecutionRecord, SandboxSessionRecord, StepRecord,
    ToolCallRecord,
};
use serde::Serialize;
use serde_json::Value;

use crate::ui::pretty;

/// The run summary: which workflow ran, as whom, how it ended.
pub(crate) struct Summary {
    pub(crate) run_id: String,
    pub(crate) generated_at: String,
    pub(crate) workflow: String,
    pub(crate) bpmn_sha256: String,
    pub(crate) status: String,
    pub(crate) requested_by: String,
    pub(crate) started_at: String,
    pub(crate) completed_at: String,
    pub(crate) risk_level: String,
    pub(crate) inputs: String,
}

pub(crate) struct StepLine {
    pub(crate) node: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) attempt: u32,
    pub(crate) agent: String,
    pub(crate) started_at: String,
    pub(crate) ended_at: String,
    pub(crate) output: String,
    pub(crate) error: String,
}

pub(crate) struct PromptLine {
    pub(crate) node: String,
    pub(crate) agent: String,
    pub(crate) sha256: String,
    pub(crate) text: String,
}

pub(crate) struct ApprovalLine {
    pub(crate) id: String,
    pub(crate) node: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) requested_at: String,
    pub(crate) requested_action: String,
    pub(crate) requester: String,
    pub(crate) rationale: String,
    pub(crate) risk: String,
    pub(crate) decision: String,
    pub(crate) decided_by: String,
    pub(crate) decided_at: String,
    pub(crate) comment: String,
}

pub(crate) struct QuestionLine {
    pub(crate) node: String,
    pub(crate) agent: String,
    pub(crate) question: String,
    pub(crate) asked_at: String,
    pub(crate) status: String,
    pub(crate) answer: String,
    pub(crate) answered_by: String,
}

pub(crate) struct PolicyLine {
    pub(crate) at: String,
    pub(crate) subject: String,
    pub(crate) decision: String,
    pub(crate) policies: String,
    pub(crate) rationale: String,
    pub(crate) risk: String,
}

pub(crate) struct CallLine {
    pub(crate) at: String,
    pub(crate) tool: String,
    pub(crate) category: String,
    pub(crate) decision: String,
    pub(crate) status: String,
    pub(crate) policies: String,
    pub(crate) rationale: String,
    pub(crate) risk: String,
    pub(crate) arguments_sha256: String,
    pub(crate) duration_ms: String,
    pub(crate) secrets: String,
}

pub(crate) struct SandboxLine {
    pub(crate) at: String,
    pub(crate) command: String,
    pub(crate) profile: String,
    pub(crate) mode: String,
    pub(crate) ended: String,
    pub(crate) duration_ms: u64,
    pub(crate) egress: String,
    pub(crate) output_sha256: String,
}

/// A step-long sandbox session and the egress no command's record holds.
pub(crate) struct SessionLine {
    pub(crate) session: String,
    pub(crate) profile: String,
    pub(crate) closed_at: String,
    pub(crate) commands: u32,
    pub(crate) egress: String,
}

pub(crate) struct UsageLine {
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cost_usd: String,
    pub(crate) latency_ms: u64,
    pub(crate) retries: u32,
}

pub(crate) struct ArtifactLine {
    pub(crate) name: String,
    pub(crate) sha256: String,
    pub(crate) size: u64,
    pub(crate) media_type: String,
}

pub(crate) struct AuditLine {
    pub(crate) seq: u64,
    pub(crate) at: String,
    pub(crate) actor: String,
    pub(crate) kind: String,
    pub(crate) hash: String,
    pub(crate) data: String,
    pub(crate) redacted_after_chaining: bool,
}

/// Every section of one pack.
pub(crate) struct Sections {
    pub(crate) summary: Summary,
    pub(crate) steps: Vec<StepLine>,
    pub(crate) prompts: Vec<PromptLine>,
    pub(crate) approvals: Vec<ApprovalLine>,
    pub(crate) conversation: Vec<QuestionLine>,
    pub(crate) policy_decisions: Vec<PolicyLine>,
    pub(crate) tool_calls: Vec<CallLine>,
    pub(crate) sandbox_executions: Vec<SandboxLine>,
    pub(crate) sandbox_sessions: Vec<SessionLine>,
    pub(crate) model_usage: Vec<UsageLine>,
    pub(crate) artifacts: Vec<ArtifactLine>,
    pub(crate) audit_log: Vec<AuditLine>,
}

impl Sections {
    /// The sections of `pack`.
    pub(crate) fn of(pack: &EvidencePack) -> Self {
        Self {
            summary: summary(pack),
            steps: pack.run.steps.iter().map(step).collect(),
            prompts: pack.prompts.iter().map(prompt).collect(),
            approvals: pack.approvals.iter().map(approval).collect(),
            conversation: pack.conversation.iter().map(question).collect(),
            policy_decisions: pack.policy_decisions.iter().map(policy).collect(),
            tool_calls: pack.tool_calls.iter().map(call).collect(),
            sandbox_executions: pack.sandbox_executions.iter().map(sandbox).collect(),
            sandbox_sessions: pack.sandbox_sessions.iter().map(session).collect(),
            model_usage: pack.model_usage.iter().map(usage).collect(),
            artifacts: pack.artifacts.iter().map(artifact).collect(),
            audit_log: pack.audit_log.iter().map(audit).collect(),
        }
    }
}

fn summary(pack: &EvidencePack) -> Summary {
    let (workflow, run) = (&pack.workflow, &pack.run);
    Summary {
        run_id: pack.run_id.clone(),
        generated_at: pack.generated_at.clone(),
        workflow: format!("{} ({}) v{}", workflow.id, workflow.name, workflow.version),
        bpmn_sha256: workflow.bpmn_sha256.clone(),
        status: run.status.as_str().to_owned(),
        requested_by: run.requested_by.clone(),
        started_at: run.started_at.clone(),
        completed_at: or_empty(&run.completed_at),
        risk_level: or_empty(&run.risk_level),
        inputs: pretty(&run.inputs),
    }
}

fn step(s: &StepRecord) -> StepLine {
    StepLine {
        node: s.node_id.clone(),
        name: or_empty(&s.name),
        kind: s.node_type.clone(),
        status: s.status.clone(),
        attempt: s.attempt,
        agent: or_empty(&s.agent),
        started_at: or_empty(&s.started_at),
        ended_at: or_empty(&s.ended_at),
        output: s.output.as_ref().map(pretty).unwrap_or_default(),
        error: or_empty(&s.error),
    }
}

fn prompt(p: &PromptSnapshot) -> PromptLine {
    PromptLine {
        node: p.node_id.clone(),
        agent: p.agent.clone(),
        sha256: p.sha256.clone(),
        text: p.text.clone(),
    }
}

fn approval(a: &ApprovalRecord) -> ApprovalLine {
    ApprovalLine {
        id: a.id.clone(),
        node: a.node_id.clone(),
        kind: wire_name(&a.kind),
        status: a.status.clone(),
        requested_at: a.requested_at.clone(),
        requested_action: a.requested_action.clone(),
        requester: a.requester.clone(),
        rationale: or_empty(&a.rationale),
        risk: risk(a.risk_score, &a.risk_factors),
        decision: or_empty(&a.decision),
        decided_by: or_empty(&a.decided_by),
        decided_at: or_empty(&a.decided_at),
        comment: or_empty(&a.comment),
    }
}

fn question(q: &ConversationEntry) -> QuestionLine {
    QuestionLine {
        node: q.node_id.clone(),
        agent: q.agent.clone(),
        question: q.question.clone(),
        asked_at: q.asked_at.clone(),
        status: q.status.clone(),
        answer: or_empty(&q.answer),
        answered_by: or_empty(&q.answered_by),
    }
}

fn policy(p: &PolicyDecisionRecord) -> PolicyLine {
    PolicyLine {
        at: p.at.clone(),
        subject: p.subject.clone(),
        decision: p.decision.clone(),
        policies: p.policy_ids.join(", "),
        rationale: or_empty(&p.rationale),
        risk: risk(p.risk_score, &p.risk_factors),
    }
}

fn call(c: &ToolCallRecord) -> CallLine {
    CallLine {
        at: c.at.clone(),
        tool: c.tool.clone(),
        category: c.category.clone(),
        decision: c.decision.clone(),
        status: c.status.clone(),
        policies: c.policy_ids.join(", "),
        rationale: or_empty(&c.rationale),
        risk: risk(c.risk_score, &c.risk_factors),
        arguments_sha256: c.arguments_sha256.clone(),
        duration_ms: c.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        secrets: c
            .secrets
            .iter()
            .map(|s| format!("{} ({})", s.name, s.fingerprint))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn sandbox(x: &SandboxExecutionRecord) -> SandboxLine {
    let ended = match (x.exit_code, x.signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "killed".to_owned(),
    };
    let ended = if x.timed_out {
        format!("{ended}, timed out")
    } else {
        ended
    };
    SandboxLine {
        at: x.at.clone(),
        command: x.command.clone(),
        profile: x.profile.clone(),
        mode: [x.mode.as_deref(), x.isolation.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
        ended,
        duration_ms: x.duration_ms,
        egress: connections(&x.egress),
        output_sha256: or_empty(&x.output_sha256),
    }
}

fn session(x: &SandboxSessionRecord) -> SessionLine {
    SessionLine {
        session: x.session.clone(),
        profile: x.profile.clone(),
        closed_at: x.closed_at.clone(),
        commands: x.commands,
        egress: connections(&x.egress),
    }
}

/// Connections through the egress proxy as `host:port decision`.
fn connections(egress: &[EgressConnectionRecord]) -> String {
    egress
        .iter()
        .map(|e| format!("{}:{} {}", e.host, e.port, e.decision))
        .collect::<Vec<_>>()
        .join(", ")
}

fn usage(u: &ModelUsageRecord) -> UsageLine {
    UsageLine {
        provider: u.provider.clone(),
        model: u.model.clone(),
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cost_usd: format!("{:.4}", u.cost_usd),
        latency_ms: u.latency_ms,
        retries: u.retries,
    }
}

fn artifact(a: &ArtifactRecord) -> ArtifactLine {
    ArtifactLine {
        name: a.name.clone(),
        sha256: a.sha256.clone(),
        size: a.size,
        media_type: a.media_type.clone(),
    }
}

fn audit(r: &AuditRecord) -> AuditLine {
    AuditLine {
        seq: r.seq,
        at: r.at.clone(),
        actor: r.actor.clone(),
        kind: r.kind.clone(),
        hash: r.hash.clone(),
        data: pretty(&r.data),
        redacted_after_chaining: r.redacted_after_chaining,
    }
}

/// `40 (network, production)`, or what there is of it.
fn risk(score: Option<f64>, factors: &[String]) -> String {
    match (score, factors.is_empty()) {
        (Some(score), true) => score.to_string(),
        (Some(score), false) => format!("{score} ({})", factors.join(", ")),
        (None, false) => factors.join(", "),
        (None, true) => String::new(),
    }
}

fn or_empty(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

/// A serde-tagged enum's wire name (`tool_escalation`).
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(name)) => name,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_evidence::sections::ApprovalKind;

    use super::*;

    #[test]
    fn risk_and_kinds_read_as_the_pack_writes_them() {
        assert_eq!(risk(Some(40.0), &[]), "40");
        assert_eq!(
            risk(Some(55.5), &["network".to_owned(), "production".to_owned()]),
            "55.5 (network, production)"
        );
        assert_eq!(risk(None, &["network".to_owned()]), "network");
        assert_eq!(risk(None, &[]), "");
        assert_eq!(wire_name(&ApprovalKind::ToolEscalation), "tool_escalation");
        assert_eq!(wire_name(&ApprovalKind::Gate), "gate");
    }

    #[test]
    fn a_session_shows_the_connections_made_outside_its_commands() {
        let record = SandboxSessionRecord {
            work_id: "w1".into(),
            session: "s-1".into(),
            profile: "repo-read".into(),
            closed_at: "2026-01-01T00:00:00.000Z".into(),
            commands: 3,
            egress: vec![EgressConnectionRecord {
                host: "blocked.example".into(),
                port: 80,
                method: "GET".into(),
                addresses: vec![],
                decision: "refused".into(),
                code: Some("gateway.egress.host_not_allowed".into()),
                bytes_up: 0,
                bytes_down: 0,
            }],
        };
        let line = session(&record);
        assert_eq!((line.session.as_str(), line.commands), ("s-1", 3));
        assert_eq!(line.egress, "blocked.example:80 refused");
    }
}
