//! An administrator stores a secret, or replaces its value (a rotation).
//!
//! The value is sealed at the edge, before the command is made: sealing
//! draws a random nonce, so it cannot be part of a pure plan, and the value
//! itself never enters a command, a plan, a row, an audit record or a log.
//! What the command carries is the name, the sealed envelope and the keyed
//! fingerprint; the audit record shows the fingerprints only.

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_secrets::{Fingerprint, SecretName};
use agentwerke_store::secrets::SecretRow;
use agentwerke_store::{GLOBAL_STREAM, Row};
use agentwerke_types::{Actor, AuditKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Ctx, Error, GlobalPlan};
use crate::clock::rfc3339;

/// Store a secret's sealed value under its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetSecret {
    /// The secret.
    pub name: SecretName,
    /// The envelope `SecretCipher::seal` returned for `name`.
    pub sealed: String,
    /// The keyed fingerprint of the value.
    pub fingerprint: Fingerprint,
    /// Who sets it (token subject).
    pub by: String,
}

/// What setting reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The secret as stored now, if it is.
    pub current: Option<SecretRow>,
}

/// Plans a put of the sealed value: `secret.set` for a new secret,
/// `secret.rotated` with the old and new fingerprints for a stored one. The
/// row expects the fingerprint read, so a concurrent change is planned
/// again on what it left.
pub fn plan(snapshot: &Snapshot, command: SetSecret, ctx: &Ctx<'_>) -> Result<GlobalPlan, Error> {
    let previous = snapshot.current.as_ref().map(|row| row.fingerprint.clone());
    let (kind, data) = match &previous {
        None => (
            AuditKind::SecretSet,
            json!({"name": command.name, "fingerprint": command.fingerprint}),
        ),
        Some(previous) => (
            AuditKind::SecretRotated,
            json!({
                "name": command.name,
                "previousFingerprint": previous,
                "fingerprint": command.fingerprint,
            }),
        ),
    };
    Ok(GlobalPlan::Write {
        audit: vec![AuditDraft {
            run_id: GLOBAL_STREAM.to_owned(),
            at: rfc3339(ctx.at),
            actor: Actor::user(&command.by),
            kind,
            data,
        }],
        rows: vec![Row::PutSecret {
            name: command.name.as_str().to_owned(),
            sealed: command.sealed,
            fingerprint: command.fingerprint.as_str().to_owned(),
            previous,
            by: command.by,
        }],
    })
}

#[cfg(test)]
mod tests {
    use agentwerke_types::Timestamp;

    use super::*;

    fn ctx() -> Ctx<'static> {
        Ctx {
            at: Timestamp::from_millis(0),
            redactor: crate::command::no_secrets(),
        }
    }

    pub(crate) fn fingerprint(text: &str) -> Fingerprint {
        serde_json::from_value(json!(text)).unwrap()
    }

    fn set(print: &str) -> SetSecret {
        SetSecret {
            name: SecretName::parse("api_key").unwrap(),
            sealed: "v1:k:AAAA".to_owned(),
            fingerprint: fingerprint(print),
            by: "ada".to_owned(),
        }
    }

    fn stored(print: &str) -> SecretRow {
        SecretRow {
            name: "api_key".to_owned(),
            fingerprint: print.to_owned(),
            created_by: "bob".to_owned(),
            created_at: Timestamp::from_millis(0),
            updated_by: "bob".to_owned(),
            updated_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn a_new_secret_is_set_with_its_fingerprint() {
        let plan = plan(&Snapshot::default(), set("hmac-sha256:01"), &ctx()).unwrap();
        assert_eq!(
            plan,
            GlobalPlan::Write {
                rows: vec![Row::PutSecret {
                    name: "api_key".to_owned(),
                    sealed: "v1:k:AAAA".to_owned(),
                    fingerprint: "hmac-sha256:01".to_owned(),
                    previous: None,
                    by: "ada".to_owned(),
                }],
                audit: vec![AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: rfc3339(ctx().at),
                    actor: Actor::user("ada"),
                    kind: AuditKind::SecretSet,
                    data: json!({"name": "api_key", "fingerprint": "hmac-sha256:01"}),
                }],
            }
        );
    }

    #[test]
    fn a_stored_secret_is_rotated_from_the_fingerprint_read() {
        let snapshot = Snapshot {
            current: Some(stored("hmac-sha256:01")),
        };
        let GlobalPlan::Write { rows, audit } =
            plan(&snapshot, set("hmac-sha256:02"), &ctx()).unwrap()
        else {
            panic!("a put writes");
        };
        assert!(
            matches!(&rows[0], Row::PutSecret { previous: Some(p), fingerprint, .. }
                if p == "hmac-sha256:01" && fingerprint == "hmac-sha256:02")
        );
        assert_eq!(audit[0].kind, AuditKind::SecretRotated);
        assert_eq!(
            audit[0].data,
            json!({
                "name": "api_key",
                "previousFingerprint": "hmac-sha256:01",
                "fingerprint": "hmac-sha256:02",
            })
        );
    }

    #[test]
    fn the_envelope_goes_to_the_row_only() {
        let GlobalPlan::Write { audit, .. } =
            plan(&Snapshot::default(), set("hmac-sha256:01"), &ctx()).unwrap()
        else {
            panic!("a put writes");
        };
        assert!(!audit[0].data.to_string().contains("v1:k:"));
    }
}
