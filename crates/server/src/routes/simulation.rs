//! The policy simulation's replay: recorded gateway calls decided again
//! under a policy set, and what would change.
//!
//! Pure over a gateway and stored records, so the handler only loads runs
//! and answers. Only [`Record::GatewayCall`] records are replayed: they keep
//! the whole request (arguments redacted) that the other kinds reduce to a
//! digest.

use agentwerke_evidence::Record;
use agentwerke_gateway::{CallRequest, DecisionKind, Gateway, Halts};
use agentwerke_store::EvidenceRecord;
use serde::Serialize;

/// How many replayed calls the policy set would allow, escalate and reject.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DecisionTally {
    /// Calls it would let run.
    pub allow: usize,
    /// Calls it would put before a human.
    pub escalate: usize,
    /// Calls it would block.
    pub reject: usize,
}

impl DecisionTally {
    fn count(&mut self, kind: DecisionKind) {
        match kind {
            DecisionKind::Allow => self.allow += 1,
            DecisionKind::Escalate => self.escalate += 1,
            DecisionKind::Reject => self.reject += 1,
        }
    }
}

/// A recorded call whose decision the policy set would change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangedDecision {
    /// The run.
    pub run_id: String,
    /// The agent attempt that made the call.
    pub work_id: String,
    /// When it was made (RFC 3339).
    pub at: String,
    /// The tool.
    pub tool: String,
    /// The calling agent.
    pub agent: String,
    /// The task's BPMN node.
    pub node_id: String,
    /// The decision recorded then: `allow`, `escalate` or `reject`.
    #[schema(pattern = "^(allow|escalate|reject)$")]
    pub before: String,
    /// The decision under the simulated set.
    #[schema(pattern = "^(allow|escalate|reject)$")]
    pub after: String,
    /// The policy set the recorded decision was made under.
    pub before_policy_set_version: String,
    /// `@id`s of the policies that determine the new decision, sorted.
    pub determining_policies: Vec<String>,
    /// The new decision's stable reason, e.g. `forbidden` or `no_permit`.
    pub reason: String,
    /// The new decision's reason, for humans (redacted).
    pub rationale: String,
}

/// A recorded call that can no longer be decided again: its request does
/// not read as a call of this version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreplayableCall {
    /// The run.
    pub run_id: String,
    /// The evidence record that holds the call.
    pub record_id: i64,
    /// The agent attempt that made the call.
    pub work_id: String,
    /// When it was made (RFC 3339).
    pub at: String,
}

/// What a policy set would change in recorded traffic: the answer of
/// `POST /api/policies/{version}/simulate`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Simulation {
    /// The simulated set's version.
    pub policy_set_version: i64,
    /// SHA-256 of its text.
    pub policy_set_hash: String,
    /// How many of the most recent runs were read.
    pub runs_examined: usize,
    /// How many recorded calls were decided again.
    pub calls_replayed: usize,
    /// The new decisions, by kind.
    pub decisions: DecisionTally,
    /// Every call whose decision would change.
    pub changed: Vec<ChangedDecision>,
    /// Every recorded call that could not be decided again.
    pub unreplayable: Vec<UnreplayableCall>,
}

/// The tally of a simulation over recorded traffic.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Calls decided again.
    pub(crate) replayed: usize,
    /// New decisions by kind.
    pub(crate) by_kind: DecisionTally,
    /// Calls whose decision would change.
    pub(crate) changed: Vec<ChangedDecision>,
    /// Recorded calls whose request no longer reads as a call of this
    /// version (written by an incompatible version, or edited).
    ///
    /// Listed rather than skipped: a report that quietly left them out
    /// would understate what the new policy set changes.
    pub(crate) unreplayable: Vec<UnreplayableCall>,
}

impl Replay {
    /// Decides `run_id`'s recorded gateway calls again under `gateway`.
    pub(crate) fn run(&mut self, gateway: &Gateway, run_id: &str, records: &[EvidenceRecord]) {
        for stored in records {
            let Record::GatewayCall(recorded) = &stored.record else {
                continue;
            };
            let Ok(call) = serde_json::from_value::<CallRequest>(recorded.request.clone()) else {
                self.unreplayable.push(UnreplayableCall {
                    run_id: run_id.to_owned(),
                    record_id: stored.id,
                    work_id: recorded.work_id.clone(),
                    at: recorded.at.clone(),
                });
                continue;
            };
            self.replayed += 1;
            let after = gateway.decide(&call, &Halts::none());
            let after_kind = after.kind.as_str();
            self.by_kind.count(after.kind);
            if recorded.decision != after_kind {
                self.changed.push(ChangedDecision {
                    run_id: run_id.to_owned(),
                    work_id: recorded.work_id.clone(),
                    at: recorded.at.clone(),
                    tool: call.tool,
                    agent: call.agent,
                    node_id: call.node_id,
                    before: recorded.decision.clone(),
                    after: after_kind.to_owned(),
                    before_policy_set_version: recorded.policy_set_version.clone(),
                    determining_policies: after.determining_policies,
                    reason: after.reason.as_str().to_owned(),
                    rationale: after.rationale,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agentwerke_evidence::record::GatewayCallRecord;
    use agentwerke_gateway::{
        AgentProfile, Builtins, GatewayConfig, PolicySchema, PolicySet, SandboxProfile,
        ToolRegistry,
    };
    use agentwerke_types::Timestamp;
    use serde_json::{Value, json};

    use super::*;

    fn gateway() -> Gateway {
        let registry = ToolRegistry::builtin(Builtins::in_memory()).unwrap();
        let schema = Arc::new(PolicySchema::for_registry(&registry).unwrap());
        let policies = PolicySet::default_set(schema).unwrap();
        let config = GatewayConfig {
            agents: vec![AgentProfile::new("analyst", [SandboxProfile::Offline])],
            ..GatewayConfig::default()
        };
        Gateway::new(registry, policies, config).unwrap()
    }

    fn gateway_call(id: i64, request: Value, decision: &str) -> EvidenceRecord {
        EvidenceRecord {
            id,
            record: Record::GatewayCall(GatewayCallRecord {
                work_id: "w1".into(),
                at: "2026-12-04T21:36:55.965Z".into(),
                request,
                decision: decision.into(),
                stage: "policy".into(),
                reason: "permitted".into(),
                policy_set_version: "builtin-1".into(),
                policy_set_hash: "93".repeat(32),
            }),
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn recorded_calls_are_decided_again_and_an_unreadable_request_is_listed() {
        let search = json!({
            "tool": "knowledge.search", "arguments": {"query": "rollback plan"},
            "agent": "analyst", "workflowId": "wf", "runId": "run-1", "nodeId": "Analyze",
            "attempt": 1,
            "task": {"purposeType": "analysis", "policyTag": null, "environment": "staging",
                     "permissionLevel": "read-only", "allowedTools": [], "deniedTools": [],
                     "sandboxProfile": "offline", "toolEscalation": "reject"},
        });
        let records = [
            gateway_call(1, search.clone(), "allow"),
            // Recorded as rejected under another policy set: now allowed.
            gateway_call(2, search, "reject"),
            gateway_call(3, json!({"tool": 7}), "allow"),
            gateway_call(4, Value::Null, "allow"),
        ];
        let mut replay = Replay::default();
        replay.run(&gateway(), "run-1", &records);
        assert_eq!(replay.replayed, 2);
        assert_eq!(
            replay.by_kind,
            DecisionTally {
                allow: 2,
                escalate: 0,
                reject: 0
            }
        );
        assert_eq!(replay.changed.len(), 1);
        assert_eq!(replay.changed[0].before, "reject");
        assert_eq!(replay.changed[0].after, "allow");
        let ids: Vec<i64> = replay.unreplayable.iter().map(|u| u.record_id).collect();
        assert_eq!(ids, [3, 4]);
    }
}
