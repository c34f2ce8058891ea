//! An operator lifts a halt: the steps it held go on where they stood,
//! unless another halt still covers them. Only a halt in force can be
//! lifted.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::gateway::{HaltRow, HaltScope};
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::halt::target_of;
use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Lift a halt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// What the halt covers.
    pub scope: HaltScope,
    /// The agent name or workflow id; none for the global halt.
    pub target: Option<String>,
    /// Who lifts it (token subject).
    pub by: String,
}

/// What resuming reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The halts in force.
    pub halts: Vec<HaltRow>,
}

/// Plans a resume: an agent or workflow halt is named by its target, and
/// the halt is in force; then the row that lifts it (and frees the steps
/// it held) and the `gateway.resumed` record.
pub fn plan(snapshot: &Snapshot, command: Resume, ctx: &Ctx<'_>) -> Result<GlobalPlan, Error> {
    let scope = command.scope;
    let target = target_of(scope, command.target)?;
    if !snapshot
        .halts
        .iter()
        .any(|halt| halt.scope == scope && halt.target == target)
    {
        return Err(Error::NotHalted { scope, target });
    }
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::GatewayResumed,
            data: json!({"scope": scope, "target": target}),
        }],
        rows: vec![Row::ClearHalt { scope, target }],
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    fn in_force(scope: HaltScope, target: &str) -> HaltRow {
        HaltRow {
            scope,
            target: target.to_owned(),
            reason: "incident".to_owned(),
            halted_by: "olga".to_owned(),
            halted_at: Timestamp::from_millis(0),
        }
    }

    fn resume(scope: HaltScope, target: Option<&str>) -> Resume {
        Resume {
            scope,
            target: target.map(str::to_owned),
            by: "olga".to_owned(),
        }
    }

    #[test]
    fn a_halt_in_force_is_lifted_with_its_record() {
        let snapshot = Snapshot {
            halts: vec![
                in_force(HaltScope::Agent, "reader"),
                in_force(HaltScope::Agent, "writer"),
            ],
        };
        let plan = plan(&snapshot, resume(HaltScope::Agent, Some("writer")), &ctx()).unwrap();
        let GlobalPlan::Write { rows, audit } = plan else {
            panic!("a resume writes");
        };
        assert_eq!(
            rows,
            [Row::ClearHalt {
                scope: HaltScope::Agent,
                target: "writer".to_owned(),
            }]
        );
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].run_id.as_str(), audit[0].kind),
            (GLOBAL_STREAM, AuditKind::GatewayResumed)
        );
        assert_eq!(audit[0].data, json!({"scope": "agent", "target": "writer"}));
    }

    #[test]
    fn a_halt_not_in_force_is_not_lifted() {
        let snapshot = Snapshot {
            halts: vec![in_force(HaltScope::Workflow, "writer")],
        };
        let refused =
            plan(&snapshot, resume(HaltScope::Agent, Some("writer")), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "gateway.not_halted");
        assert_eq!(refused.to_string(), "there is no agent halt for 'writer'");
        let refused = plan(&snapshot, resume(HaltScope::Global, None), &ctx()).unwrap_err();
        assert_eq!(refused.to_string(), "there is no global halt");
        let refused = plan(&snapshot, resume(HaltScope::Workflow, None), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "gateway.missing_target");
    }
}
