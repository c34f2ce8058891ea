//! The policy simulation's replay: recorded gateway calls decided again
//! under a policy set, and what would change.
//!
//! Pure over a gateway and stored records, so the handler only loads runs
//! and answers. Only [`Record::GatewayCall`] records are replayed: they keep
//! the whole request (arguments redacted) that the other kinds reduce to a
//! digest.

use std::collections::BTreeMap;

use agentwerke_evidence::Record;
use agentwerke_gateway::{CallRequest, Gateway, Halts};
use agentwerke_store::EvidenceRecord;
use serde_json::{Value, json};

/// The tally of a simulation over recorded traffic.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Calls decided again.
    pub(crate) replayed: usize,
    /// New decisions by kind (`allow`, `escalate`, `reject`).
    pub(crate) by_kind: BTreeMap<String, usize>,
    /// Calls whose decision would change.
    pub(crate) changed: Vec<Value>,
    /// Recorded calls whose request no longer reads as a call of this
    /// version (written by an incompatible version, or edited).
    ///
    /// Listed rather than skipped: a report that quietly left them out
    /// would understate what the new policy set changes.
    pub(crate) unreplayable: Vec<Value>,
}

impl Replay {
    /// Decides `run_id`'s recorded gateway calls again under `gateway`.
    pub(crate) fn run(&mut self, gateway: &Gateway, run_id: &str, records: &[EvidenceRecord]) {
        for stored in records {
            let Record::GatewayCall(recorded) = &stored.record else {
                continue;
            };
            let Ok(call) = serde_json::from_value::<CallRequest>(recorded.request.clone()) else {
                self.unreplayable.push(json!({
                    "runId": run_id, "recordId": stored.id,
                    "workId": recorded.work_id, "at": recorded.at,
                }));
                continue;
            };
            self.replayed += 1;
            let after = gateway.decide(&call, &Halts::none());
            let after_kind = after.kind.as_str();
            *self.by_kind.entry(after_kind.to_owned()).or_default() += 1;
            if recorded.decision != after_kind {
                self.changed.push(json!({
                    "runId": run_id, "workId": recorded.work_id, "at": recorded.at,
                    "tool": call.tool, "agent": call.agent, "nodeId": call.node_id,
                    "before": recorded.decision, "after": after_kind,
                    "beforePolicySetVersion": recorded.policy_set_version,
                    "determiningPolicies": after.determining_policies,
                    "reason": after.reason, "rationale": after.rationale,
                }));
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
        assert_eq!(replay.by_kind, BTreeMap::from([("allow".to_owned(), 2)]));
        assert_eq!(replay.changed.len(), 1);
        assert_eq!(replay.changed[0]["before"], "reject");
        assert_eq!(replay.changed[0]["after"], "allow");
        let ids: Vec<&Value> = replay.unreplayable.iter().map(|u| &u["recordId"]).collect();
        assert_eq!(ids, [&json!(3), &json!(4)]);
    }
}
