//! An operator pulls the kill switch: every agent step the halt covers
//! (all of them, one agent's, or those in runs of one workflow) pauses
//! before its next model turn, tool call or question, on every server
//! sharing the database. Halting a scope that is halted already sets it
//! again with the new reason.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::gateway::HaltScope;
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Halt a scope of the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halt {
    /// What the halt covers.
    pub scope: HaltScope,
    /// The agent name or workflow id; none for a global halt (one given is
    /// ignored).
    pub target: Option<String>,
    /// Why; required, since operators and auditors see it.
    pub reason: Option<String>,
    /// Who halts (token subject).
    pub by: String,
}

/// Plans a halt: an agent or workflow halt names its target, every halt
/// says why; then the halt row and the `gateway.halted` record. Nothing is
/// read: a halt in force is set again.
pub fn plan(command: Halt, ctx: &Ctx<'_>) -> Result<GlobalPlan, Error> {
    let target = target_of(command.scope, command.target)?;
    let reason = command
        .reason
        .filter(|r| !r.trim().is_empty())
        .ok_or(Error::MissingReason)?;
    // The reason is shown to every operator and hashed into the audit
    // chain: a credential pasted into it is replaced first.
    let reason = ctx.redactor.redact_str(&reason);
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::GatewayHalted,
            data: json!({"scope": command.scope, "target": target, "reason": reason}),
        }],
        rows: vec![Row::SetHalt {
            scope: command.scope,
            target,
            reason,
            halted_by: command.by,
        }],
    })
}

/// The target a halt of `scope` is stored under: empty for a global halt,
/// the agent or workflow id otherwise, which must be given.
pub(super) fn target_of(scope: HaltScope, target: Option<String>) -> Result<String, Error> {
    let target = target.unwrap_or_default();
    match scope {
        HaltScope::Global => Ok(String::new()),
        HaltScope::Agent | HaltScope::Workflow if target.trim().is_empty() => {
            Err(Error::MissingTarget { scope })
        }
        HaltScope::Agent | HaltScope::Workflow => Ok(target),
    }
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(1_700_000_000_000),
            redactor: crate::command::no_secrets(),
        }
    }

    fn halt(scope: HaltScope, target: Option<&str>, reason: Option<&str>) -> Halt {
        Halt {
            scope,
            target: target.map(str::to_owned),
            reason: reason.map(str::to_owned),
            by: "olga".to_owned(),
        }
    }

    #[test]
    fn an_agent_halt_writes_its_row_and_record() {
        let plan = plan(
            halt(HaltScope::Agent, Some("writer"), Some("incident 7")),
            &ctx(),
        )
        .unwrap();
        let GlobalPlan::Write { rows, audit } = plan else {
            panic!("a halt writes");
        };
        assert_eq!(
            rows,
            [Row::SetHalt {
                scope: HaltScope::Agent,
                target: "writer".to_owned(),
                reason: "incident 7".to_owned(),
                halted_by: "olga".to_owned(),
            }]
        );
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].run_id, GLOBAL_STREAM);
        assert_eq!(audit[0].kind, AuditKind::GatewayHalted);
        assert_eq!(audit[0].actor, Actor::user("olga"));
        assert_eq!(
            audit[0].data,
            json!({"scope": "agent", "target": "writer", "reason": "incident 7"})
        );
        assert_eq!(audit[0].at, "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn a_global_halt_has_no_target() {
        let plan = plan(
            halt(HaltScope::Global, Some("ignored"), Some("incident")),
            &ctx(),
        )
        .unwrap();
        let GlobalPlan::Write { rows, audit } = plan else {
            panic!("a halt writes");
        };
        assert!(matches!(&rows[0], Row::SetHalt { target, .. } if target.is_empty()));
        assert_eq!(audit[0].data["target"], "");
    }

    #[test]
    fn a_scoped_halt_names_its_target_and_every_halt_says_why() {
        for target in [None, Some(""), Some("  ")] {
            let refused = plan(halt(HaltScope::Workflow, target, Some("x")), &ctx()).unwrap_err();
            assert_eq!(refused.code(), "gateway.missing_target");
            assert_eq!(refused.to_string(), "a workflow halt names its target");
        }
        for reason in [None, Some(""), Some(" \n")] {
            let refused = plan(halt(HaltScope::Global, None, reason), &ctx()).unwrap_err();
            assert_eq!(refused.code(), "gateway.missing_reason");
        }
        let refused = plan(halt(HaltScope::Agent, None, None), &ctx()).unwrap_err();
        assert_eq!(
            refused.code(),
            "gateway.missing_target",
            "the target is checked first"
        );
    }

    /// A credential pasted into a reason is replaced in the row and in the
    /// record hashed into the chain.
    #[test]
    fn a_reason_is_redacted_before_it_is_kept() {
        let redactor = agentwerke_evidence::redact::Redactor::new(["leaked-value-1"]);
        let ctx = Ctx {
            at: Timestamp::from_millis(1),
            redactor: &redactor,
        };
        let reason = "key leaked-value-1 and ghp_abcdefghijklmnopqrstuvwxyz0123 exposed";
        let GlobalPlan::Write { rows, audit } =
            plan(halt(HaltScope::Global, None, Some(reason)), &ctx).unwrap()
        else {
            panic!("a halt writes");
        };
        let kept = format!("{rows:?} {}", audit[0].data);
        assert!(!kept.contains("leaked-value-1"), "{kept}");
        assert!(!kept.contains("ghp_abc"), "{kept}");
        assert!(
            kept.contains("key [REDACTED] and [REDACTED] exposed"),
            "{kept}"
        );
    }
}
