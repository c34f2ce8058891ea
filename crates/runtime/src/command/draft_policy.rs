//! A policy author stores a Cedar policy set as the next draft. The text is
//! validated against the gateway's schema before the command is made (the
//! schema lives with the gateway); a draft decides nothing until it is
//! published.

use agentwerke_evidence::canonical::sha256_hex;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Store a policy set as a draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftPolicy {
    /// The `.cedar` text, valid against the gateway's schema.
    pub text: String,
    /// What changed and why.
    pub note: Option<String>,
    /// Who wrote it (token subject).
    pub by: String,
}

/// What drafting reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The newest policy set's version, if there is one.
    pub newest: Option<i64>,
}

/// Plans a draft: the next version after the newest, the text's SHA-256
/// (which every decision made under the set will cite), and the
/// `policy.drafted` record.
pub fn plan(snapshot: &Snapshot, command: DraftPolicy, ctx: &Ctx<'_>) -> Result<GlobalPlan, Error> {
    let sha256 = sha256_hex(command.text.as_bytes());
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::PolicyDrafted,
            data: json!({"sha256": sha256}),
        }],
        rows: vec![Row::DraftPolicySet {
            version: snapshot.newest.unwrap_or(0) + 1,
            text: command.text,
            sha256,
            note: command.note,
            created_by: command.by,
        }],
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::Timestamp;

    use super::*;

    fn draft() -> DraftPolicy {
        DraftPolicy {
            text: "permit (principal, action, resource);".to_owned(),
            note: Some("open".to_owned()),
            by: "paula".to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_draft_is_the_next_version_with_its_hash_and_record() {
        let plan = plan(&Snapshot { newest: Some(4) }, draft(), &ctx()).unwrap();
        let sha256 = sha256_hex(b"permit (principal, action, resource);");
        assert_eq!(
            plan,
            GlobalPlan::Write {
                rows: vec![Row::DraftPolicySet {
                    version: 5,
                    text: "permit (principal, action, resource);".to_owned(),
                    sha256: sha256.clone(),
                    note: Some("open".to_owned()),
                    created_by: "paula".to_owned(),
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("paula"),
                    kind: AuditKind::PolicyDrafted,
                    data: json!({"sha256": sha256}),
                }],
            }
        );
    }

    #[test]
    fn the_first_draft_is_version_one() {
        let GlobalPlan::Write { rows, .. } = plan(&Snapshot::default(), draft(), &ctx()).unwrap()
        else {
            panic!("a draft writes");
        };
        assert!(matches!(rows[0], Row::DraftPolicySet { version: 1, .. }));
    }
}
