//! A policy author publishes a draft: from then on every call is decided
//! under it, in every process sharing the database. A set is published
//! once; the text is checked against the gateway's schema again before the
//! command is made.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_store::gateway::PolicySetRow;
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind, WorkflowStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Publish a draft policy set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishPolicy {
    /// The draft's version.
    pub version: i64,
    /// Who publishes it (token subject).
    pub by: String,
}

/// What publishing reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The policy set as stored, if it exists.
    pub policy_set: Option<PolicySetRow>,
}

/// Plans a publication: the set exists and is a draft; then the row and
/// the `policy.published` record, which cites the text's hash.
pub fn plan(
    snapshot: &Snapshot,
    command: PublishPolicy,
    ctx: &Ctx<'_>,
) -> Result<GlobalPlan, Error> {
    let set = snapshot
        .policy_set
        .as_ref()
        .ok_or_else(|| Error::NotFound {
            what: "policy set",
            id: command.version.to_string(),
        })?;
    if set.status == WorkflowStatus::Published {
        return Err(Error::PolicyPublished {
            version: set.version,
        });
    }
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::PolicyPublished,
            data: json!({"version": set.version, "sha256": set.sha256}),
        }],
        rows: vec![Row::PublishPolicySet {
            version: set.version,
            published_by: command.by,
        }],
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::{ErrorCode, Timestamp};

    use super::*;

    fn stored(status: WorkflowStatus) -> PolicySetRow {
        PolicySetRow {
            version: 3,
            text: "permit (principal, action, resource);".to_owned(),
            sha256: "abc".to_owned(),
            status,
            note: None,
            created_by: "paula".to_owned(),
            created_at: Timestamp::from_millis(0),
            published_by: None,
            published_at: None,
        }
    }

    fn publish() -> PublishPolicy {
        PublishPolicy {
            version: 3,
            by: "pete".to_owned(),
        }
    }

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    #[test]
    fn a_draft_is_published_with_its_record() {
        let snapshot = Snapshot {
            policy_set: Some(stored(WorkflowStatus::Draft)),
        };
        let plan = plan(&snapshot, publish(), &ctx()).unwrap();
        assert_eq!(
            plan,
            GlobalPlan::Write {
                rows: vec![Row::PublishPolicySet {
                    version: 3,
                    published_by: "pete".to_owned(),
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("pete"),
                    kind: AuditKind::PolicyPublished,
                    data: json!({"version": 3, "sha256": "abc"}),
                }],
            }
        );
    }

    #[test]
    fn a_set_is_published_once_and_must_exist() {
        let snapshot = Snapshot {
            policy_set: Some(stored(WorkflowStatus::Published)),
        };
        let refused = plan(&snapshot, publish(), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "policy.already_published");
        assert_eq!(refused.to_string(), "policy set 3 is already published");
        let refused = plan(&Snapshot::default(), publish(), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "command.not_found");
        assert_eq!(refused.to_string(), "policy set '3' does not exist");
    }
}
