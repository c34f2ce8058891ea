//! A run's evidence page and its download.
//!
//! The page shows the pack the API serves (`routes::evidence`, with its
//! permission check) section by section, and what the server found when it
//! verified that pack's bytes with the verifier `agentwerke evidence verify`
//! runs ([`agentwerke_evidence::verify`]), against the server's own
//! evidence key: the audit chain recomputed record by record, every section
//! digest and the signature. A pack the server has just signed can still
//! fail: a record altered in the database no longer hashes to the chain the
//! store keeps, and the page names it.

use agentwerke_evidence::keys::key_id;
use agentwerke_types::ErrorCode;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use ed25519_dalek::VerifyingKey;

use crate::routes::evidence::{attachment, pack_bytes, readable_pack};
use crate::state::AppState;
use crate::ui::auth::{Chrome, SignedIn, UiError, render};
use crate::ui::evidence_sections::Sections;

/// One thing the verifier found wrong.
pub(crate) struct Finding {
    /// Its stable code, e.g. `evidence.chain.content_altered`.
    pub(crate) code: &'static str,
    /// Where the pack disagrees with what was signed or chained.
    pub(crate) message: String,
}

/// What the server's verification of a pack's bytes found.
pub(crate) struct Verification {
    /// No problem was found.
    pub(crate) verified: bool,
    /// The id (fingerprint) of the server's evidence key it was checked
    /// against.
    pub(crate) trusted_key_id: String,
    /// The id of the key the pack names as its signer.
    pub(crate) signer_key_id: String,
    /// Records in the audit chain.
    pub(crate) chain_length: usize,
    /// The last record's hash, as recomputed ("" when it could not be).
    pub(crate) chain_head: String,
    pub(crate) problems: Vec<Finding>,
    pub(crate) warnings: Vec<String>,
}

impl Verification {
    /// Verifies `bytes` against `trusted`, the server's own key, with the
    /// CLI's verifier.
    pub(crate) fn of(bytes: &[u8], trusted: &VerifyingKey) -> Self {
        let report = agentwerke_evidence::verify(bytes, Some(trusted));
        Self {
            verified: report.is_valid(),
            trusted_key_id: key_id(trusted),
            signer_key_id: report.key_id.clone().unwrap_or_default(),
            chain_length: report.chain_length,
            chain_head: report.chain_head.clone().unwrap_or_default(),
            problems: report
                .problems
                .iter()
                .map(|p| Finding {
                    code: p.code(),
                    message: p.to_string(),
                })
                .collect(),
            warnings: report.warnings,
        }
    }
}

#[derive(Template)]
#[template(path = "evidence.html")]
struct EvidencePage {
    chrome: Chrome,
    id: String,
    verification: Verification,
    pack: Sections,
}

/// `GET /runs/{id}/evidence`: the pack by section and its verification.
pub(crate) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let pack = readable_pack(&state, &signed.caller(), &id).await?;
    let bytes = pack_bytes(&pack)?;
    let page = EvidencePage {
        chrome: signed.chrome("runs"),
        verification: Verification::of(&bytes, &state.evidence_key.verifying_key()),
        pack: Sections::of(&pack),
        id,
    };
    Ok(render(&page))
}

/// `GET /runs/{id}/evidence/download`: the file the API's download serves,
/// for a browser that carries a session instead of a token.
pub(crate) async fn download(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let pack = readable_pack(&state, &signed.caller(), &id).await?;
    Ok(attachment(&id, &pack)?)
}

#[cfg(test)]
mod tests {
    use agentwerke_evidence::chain::{self, AuditDraft};
    use agentwerke_evidence::keys::signing_key_from_seed;
    use agentwerke_evidence::pack::{self, PackInput};
    use agentwerke_evidence::sections::{RunInfo, WorkflowInfo};
    use agentwerke_types::{Actor, AuditKind, RunStatus};
    use serde_json::json;

    use super::*;

    /// A signed pack of a run with two audit records.
    fn signed_pack(seed: u8) -> agentwerke_evidence::EvidencePack {
        let requested = chain::next(
            None,
            AuditDraft {
                run_id: "run-1".into(),
                at: "2025-01-31T09:15:02.123Z".into(),
                actor: Actor::user("alice"),
                kind: AuditKind::RunRequested,
                data: json!({"note": "first"}),
            },
        );
        let completed = chain::next(
            Some(&requested),
            AuditDraft {
                run_id: "run-1".into(),
                at: "2025-01-31T09:16:02.123Z".into(),
                actor: Actor::System,
                kind: AuditKind::RunCompleted,
                data: json!({}),
            },
        );
        let mut pack = pack::build(PackInput {
            run_id: "run-1".into(),
            generated_at: "2025-01-31T09:20:00.000Z".into(),
            workflow: WorkflowInfo {
                id: "hello".into(),
                name: "Hello".into(),
                version: 1,
                bpmn_sha256: "ab".repeat(32),
            },
            run: RunInfo {
                status: RunStatus::Completed,
                started_at: requested.at.clone(),
                completed_at: Some(completed.at.clone()),
                requested_by: "user:alice".into(),
                inputs: json!({"title": "x"}),
                risk_level: None,
                steps: vec![],
            },
            prompts: vec![],
            approvals: vec![],
            conversation: vec![],
            policy_decisions: vec![],
            tool_calls: vec![],
            sandbox_sessions: vec![],
            sandbox_executions: vec![],
            model_usage: vec![],
            artifacts: vec![],
            audit_log: vec![requested, completed],
        });
        agentwerke_evidence::sign(&mut pack, &signing_key_from_seed([seed; 32]));
        pack
    }

    fn bytes(pack: &agentwerke_evidence::EvidencePack) -> Vec<u8> {
        pack_bytes(pack).expect("bytes")
    }

    #[test]
    fn a_pack_signed_by_the_server_key_is_verified_with_its_chain_head() {
        let key = signing_key_from_seed([7; 32]).verifying_key();
        let pack = signed_pack(7);
        let found = Verification::of(&bytes(&pack), &key);
        assert!(
            found.verified,
            "{:?}",
            found.problems.first().map(|p| p.code)
        );
        assert_eq!(found.trusted_key_id, key_id(&key));
        assert_eq!(found.signer_key_id, key_id(&key));
        assert_eq!(found.chain_length, 2);
        assert_eq!(found.chain_head, pack.audit_log[1].hash);
    }

    #[test]
    fn an_altered_record_and_a_foreign_key_are_named() {
        let key = signing_key_from_seed([7; 32]).verifying_key();
        // A record altered after it was chained (as an edit of the database
        // would leave it), then signed: the signature holds, the chain not.
        let mut pack = signed_pack(7);
        pack.audit_log[0].data = json!({"note": "rewritten"});
        pack.integrity = None;
        agentwerke_evidence::sign(&mut pack, &signing_key_from_seed([7; 32]));
        let found = Verification::of(&bytes(&pack), &key);
        assert!(!found.verified);
        let codes: Vec<&str> = found.problems.iter().map(|p| p.code).collect();
        assert_eq!(codes, ["evidence.chain.content_altered"], "{codes:?}");
        assert!(found.problems[0].message.contains("seq 1"));

        let foreign = Verification::of(&bytes(&signed_pack(9)), &key);
        assert!(!foreign.verified);
        assert_eq!(foreign.problems[0].code, "evidence.integrity.untrusted_key");
        assert_ne!(foreign.signer_key_id, foreign.trusted_key_id);
    }
}
