//! An administrator deletes a stored secret. What used it finds it
//! missing from then on; the value stays known to redaction.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_secrets::SecretName;
use agentwerke_store::secrets::SecretRow;
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Delete a stored secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteSecret {
    /// The secret.
    pub name: SecretName,
    /// Who deletes it (token subject).
    pub by: String,
}

/// What deleting reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The secret as stored now, if it is.
    pub current: Option<SecretRow>,
}

/// Plans the deletion of a stored secret, expecting the fingerprint read,
/// and the `secret.deleted` record with it; `secret.not_found` when there
/// is no such secret.
pub fn plan(
    snapshot: &Snapshot,
    command: DeleteSecret,
    ctx: &Ctx<'_>,
) -> Result<GlobalPlan, Error> {
    let current = snapshot
        .current
        .as_ref()
        .ok_or_else(|| Error::SecretNotFound {
            name: command.name.as_str().to_owned(),
        })?;
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind: AuditKind::SecretDeleted,
            data: json!({"name": command.name, "fingerprint": current.fingerprint}),
        }],
        rows: vec![Row::DeleteSecret {
            name: command.name.as_str().to_owned(),
            fingerprint: current.fingerprint.clone(),
        }],
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

    fn delete() -> DeleteSecret {
        DeleteSecret {
            name: SecretName::parse("api_key").unwrap(),
            by: "ada".to_owned(),
        }
    }

    #[test]
    fn a_stored_secret_is_deleted_with_its_fingerprint() {
        let snapshot = Snapshot {
            current: Some(SecretRow {
                name: "api_key".to_owned(),
                fingerprint: "hmac-sha256:01".to_owned(),
                created_by: "bob".to_owned(),
                created_at: Timestamp::from_millis(0),
                updated_by: "bob".to_owned(),
                updated_at: Timestamp::from_millis(0),
            }),
        };
        assert_eq!(
            plan(&snapshot, delete(), &ctx()).unwrap(),
            GlobalPlan::Write {
                rows: vec![Row::DeleteSecret {
                    name: "api_key".to_owned(),
                    fingerprint: "hmac-sha256:01".to_owned(),
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("ada"),
                    kind: AuditKind::SecretDeleted,
                    data: json!({"name": "api_key", "fingerprint": "hmac-sha256:01"}),
                }],
            }
        );
    }

    #[test]
    fn an_absent_secret_is_not_found() {
        let refused = plan(&Snapshot::default(), delete(), &ctx()).unwrap_err();
        assert_eq!(refused.code(), "secret.not_found");
        assert_eq!(refused.to_string(), "secret 'api_key' does not exist");
    }
}
