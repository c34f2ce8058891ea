//! A realistic signed pack: a run with steps, a prompt, an approval, a
//! question to a human, tool calls, a sandbox execution, usage, an artifact
//! and its audit log.

use agentwerke_evidence::chain::{self, AuditRecord};
use agentwerke_evidence::keys::signing_key_from_seed;
use agentwerke_evidence::pack::{self, EvidencePack, PackInput};
use agentwerke_evidence::sections::{
    ApprovalKind, ApprovalRecord, ArtifactRecord, ConversationEntry, EgressConnectionRecord,
    ModelKeyRecord, ModelUsageRecord, PolicyDecisionRecord, PromptSnapshot, RiskFactorDetail,
    RunInfo, SandboxExecutionRecord, SandboxSessionRecord, SandboxStreamRecord, StepRecord,
    ToolCallRecord, WorkflowInfo,
};
use agentwerke_evidence::{canonical::sha256_hex, sign};
use agentwerke_types::RunStatus;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

pub(crate) const RUN: &str = "run-0193";

pub(crate) fn key() -> SigningKey {
    signing_key_from_seed([7; 32])
}

pub(crate) fn audit_log() -> Vec<AuditRecord> {
    let events: [(&str, &str, Value); 6] = [
        (
            "user:alice",
            "run.started",
            json!({"workflowId": "release", "version": 3}),
        ),
        (
            "system",
            "step.started",
            json!({"nodeId": "Draft", "attempt": 1}),
        ),
        (
            "agent:writer",
            "step.completed",
            json!({"nodeId": "Draft", "tokens": 1234}),
        ),
        (
            "system",
            "approval.requested",
            json!({"approvalId": "ap-1"}),
        ),
        (
            "user:bob",
            "approval.decided",
            json!({"approvalId": "ap-1", "decision": "approve"}),
        ),
        ("system", "run.completed", json!({})),
    ];
    // Chained by hand rather than through `chain::next`: `run.started` is a
    // kind of an older release, which a pack written then still carries
    // (`pack-before-conversation.json` was made from this log).
    let mut records: Vec<AuditRecord> = Vec::new();
    for (i, (actor, kind, data)) in events.into_iter().enumerate() {
        let mut record = AuditRecord {
            seq: i as u64 + 1,
            run_id: RUN.to_owned(),
            at: format!("2025-01-31T09:15:0{i}.123Z"),
            actor: actor.to_owned(),
            kind: kind.to_owned(),
            data,
            prev_hash: records
                .last()
                .map_or_else(|| chain::GENESIS.to_owned(), |r| r.hash.clone()),
            hash: String::new(),
            redacted_after_chaining: false,
        };
        record.hash = record.compute_hash();
        records.push(record);
    }
    records
}

fn step(node: &str, node_type: &str, agent: Option<&str>) -> StepRecord {
    StepRecord {
        work_id: format!("w-{node}"),
        node_id: node.to_owned(),
        name: Some(format!("{node} step")),
        node_type: node_type.to_owned(),
        status: "completed".to_owned(),
        attempt: 1,
        started_at: Some("2025-01-31T09:15:01.000Z".to_owned()),
        ended_at: Some("2025-01-31T09:15:02.500Z".to_owned()),
        agent: agent.map(str::to_owned),
        output: Some(json!({"summary": format!("{node} done"), "score": 0.75})),
        error: None,
    }
}

/// An answered `human.ask` from the drafting agent.
pub(crate) fn question() -> ConversationEntry {
    ConversationEntry {
        id: "q-1".to_owned(),
        work_id: "w-Draft".to_owned(),
        node_id: "Draft".to_owned(),
        agent: "writer".to_owned(),
        question: "Should the notes mention the deprecated v1 API?".to_owned(),
        asked_at: "2025-01-31T09:15:01.700Z".to_owned(),
        status: "answered".to_owned(),
        answer: Some("Yes, with the removal date.".to_owned()),
        answered_by: Some("user:alice".to_owned()),
        answered_at: Some("2025-01-31T09:15:01.900Z".to_owned()),
    }
}

pub(crate) fn input() -> PackInput {
    PackInput {
        run_id: RUN.to_owned(),
        generated_at: "2025-01-31T10:00:00.000Z".to_owned(),
        workflow: WorkflowInfo {
            id: "release".to_owned(),
            name: "Release notes".to_owned(),
            version: 3,
            bpmn_sha256: sha256_hex(b"<definitions/>"),
        },
        run: RunInfo {
            status: RunStatus::Completed,
            started_at: "2025-01-31T09:15:00.123Z".to_owned(),
            completed_at: Some("2025-01-31T09:15:05.123Z".to_owned()),
            requested_by: "user:alice".to_owned(),
            inputs: json!({"title": "Q1 release", "token": "[REDACTED]"}),
            risk_level: Some("medium".to_owned()),
            steps: vec![
                step("Draft", "serviceTask", Some("writer")),
                step("Review", "userTask", None),
                step("Publish", "serviceTask", Some("publisher")),
            ],
        },
        prompts: vec![PromptSnapshot::new(
            "w-Draft",
            "Draft",
            "writer",
            "Write release notes for Q1 release. Key: [REDACTED]",
        )],
        approvals: vec![ApprovalRecord {
            id: "ap-1".to_owned(),
            node_id: "Review".to_owned(),
            kind: ApprovalKind::Gate,
            status: "approved".to_owned(),
            requested_at: "2025-01-31T09:15:03.123Z".to_owned(),
            requested_action: "Publish release notes".to_owned(),
            requester: "agent:writer".to_owned(),
            agent: Some("writer".to_owned()),
            rationale: Some("External publication".to_owned()),
            risk_score: Some(0.4),
            risk_factors: vec!["external".to_owned()],
            risk_factor_details: vec![RiskFactorDetail {
                name: "external".to_owned(),
                weight: 40,
                detail: "the page is published outside".to_owned(),
            }],
            affected_systems: vec!["website".to_owned()],
            related_output: json!({"Draft": {"text": "draft"}}),
            artifacts: vec![ArtifactRecord {
                name: "site/index.html".to_owned(),
                sha256: sha256_hex(b"<html/>"),
                size: 7,
                media_type: "text/html".to_owned(),
            }],
            decision: Some("approve".to_owned()),
            comment: Some("Reviewed generated output and risk rationale.".to_owned()),
            decided_by: Some("user:bob".to_owned()),
            decided_at: Some("2025-01-31T09:15:04.123Z".to_owned()),
        }],
        conversation: vec![question()],
        policy_decisions: vec![PolicyDecisionRecord {
            work_id: Some("w-Publish".to_owned()),
            at: "2025-01-31T09:15:04.500Z".to_owned(),
            subject: "tool:http.post".to_owned(),
            decision: "allow".to_owned(),
            policy_ids: vec!["p-web".to_owned()],
            rationale: Some("host on allow-list".to_owned()),
            risk_score: Some(0.2),
            risk_factors: vec![],
        }],
        tool_calls: vec![ToolCallRecord {
            work_id: "w-Publish".to_owned(),
            at: "2025-01-31T09:15:04.510Z".to_owned(),
            tool: "http.post".to_owned(),
            category: "network".to_owned(),
            arguments_sha256: sha256_hex(b"{}"),
            decision: "allow".to_owned(),
            policy_ids: vec!["p-web".to_owned()],
            rationale: None,
            risk_score: Some(0.2),
            risk_factors: vec![],
            status: "succeeded".to_owned(),
            duration_ms: Some(120),
            output_sha256: Some(sha256_hex(b"ok")),
            secrets: Vec::new(),
        }],
        sandbox_executions: vec![SandboxExecutionRecord {
            work_id: "w-Draft".to_owned(),
            at: "2025-01-31T09:15:01.500Z".to_owned(),
            command: "make notes".to_owned(),
            profile: "offline".to_owned(),
            exit_code: Some(0),
            duration_ms: 830,
            limits: json!({"cpuSeconds": 30, "memoryMb": 512}),
            output_sha256: Some(sha256_hex(b"notes")),
            mode: Some("tool_sandboxed".to_owned()),
            isolation: Some("namespaces".to_owned()),
            degraded: false,
            signal: None,
            timed_out: false,
            killed: false,
            bytes_out: Some(5),
            stdout: Some(Box::new(SandboxStreamRecord {
                bytes: 5,
                sha256: sha256_hex(b"notes"),
                excerpt: "notes".to_owned(),
                truncated: false,
            })),
            stderr: Some(Box::new(SandboxStreamRecord {
                bytes: 0,
                sha256: sha256_hex(b""),
                excerpt: String::new(),
                truncated: false,
            })),
            egress: Vec::new(),
            session: None,
            secret_files: Vec::new(),
        }],
        sandbox_sessions: vec![SandboxSessionRecord {
            work_id: "w-Draft".to_owned(),
            session: "0194b0a1-0000-7000-8000-00000000c0de".to_owned(),
            profile: "repo-read".to_owned(),
            closed_at: "2025-01-31T09:15:03.000Z".to_owned(),
            commands: 2,
            egress: vec![EgressConnectionRecord {
                host: "docs.example.com".to_owned(),
                port: 443,
                method: "CONNECT".to_owned(),
                addresses: vec!["203.0.113.7".to_owned()],
                decision: "allowed".to_owned(),
                code: None,
                bytes_up: 517,
                bytes_down: 2048,
            }],
        }],
        model_usage: vec![ModelUsageRecord {
            work_id: "w-Draft".to_owned(),
            provider: "scripted".to_owned(),
            model: "echo-1".to_owned(),
            input_tokens: 1000,
            output_tokens: 234,
            cost_usd: 0.0123,
            cached_input_tokens: 800,
            latency_ms: 1520,
            retries: 1,
            key: Some(ModelKeyRecord {
                name: "OPENAI_API_KEY".to_owned(),
                fingerprint: Some("hmac-sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0".to_owned()),
            }),
        }],
        artifacts: vec![ArtifactRecord {
            name: "notes.md".to_owned(),
            sha256: sha256_hex(b"# Notes"),
            size: 7,
            media_type: "text/markdown".to_owned(),
        }],
        audit_log: audit_log(),
    }
}

pub(crate) fn signed() -> EvidencePack {
    let mut pack = pack::build(input());
    sign(&mut pack, &key());
    pack
}

pub(crate) fn signed_value() -> Value {
    serde_json::to_value(signed()).unwrap()
}

pub(crate) fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap()
}
