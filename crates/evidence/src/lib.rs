//! Evidence for Agentwerke runs: the audit hash chain, the evidence pack,
//! and its signature — bytes in, bytes out.
//!
//! Every run leaves a signed evidence pack that an auditor can check
//! offline, with nothing but the file and (ideally) the server's public key.
//! This crate is everything that check needs and nothing else: no IO, no
//! clock, no randomness. The shell reads the clock, draws key seeds, and
//! loads records from the store; this crate turns them into bytes and back.
//!
//! The design, in four layers:
//!
//! - [`canonical`]: one byte sequence per JSON value (RFC 8785 style), so
//!   hashes survive pretty-printing and key reordering.
//! - [`chain`]: each audit record hashes its content and its predecessor's
//!   hash; the last record (the *chain head*) stands for the whole log.
//! - [`pack`]: a schema-versioned projection of the run ([`PACK_SCHEMA`]).
//! - [`integrity`]: per-section digests plus the chain head, signed with
//!   Ed25519. [`verify`] recomputes everything from the parsed file and names
//!   each section, item or audit record that no longer matches.
//! - [`record`]: the evidence records a run leaves behind, one closed enum
//!   ([`Record`]) that the runtime writes and every reader matches on.
//! - [`export`]: the global audit stream (records that belong to no run),
//!   its chain head signed the same way, and [`verify_export`] for it.
//!
//! ```
//! use agentwerke_evidence::chain::{self, AuditDraft};
//! use agentwerke_evidence::keys::signing_key_from_seed;
//! use agentwerke_evidence::pack::{self, PackInput};
//! use agentwerke_evidence::sections::{RunInfo, WorkflowInfo};
//! use agentwerke_types::{Actor, AuditKind, RunStatus};
//! use serde_json::json;
//!
//! let started = chain::next(None, AuditDraft {
//!     run_id: "run-1".into(),
//!     at: "2025-01-31T09:15:02.123Z".into(),
//!     actor: Actor::user("alice"),
//!     kind: AuditKind::RunRequested,
//!     data: json!({}),
//! });
//! let mut pack = pack::build(PackInput {
//!     run_id: "run-1".into(),
//!     generated_at: "2025-01-31T09:20:00.000Z".into(),
//!     workflow: WorkflowInfo {
//!         id: "hello".into(), name: "Hello".into(), version: 1,
//!         bpmn_sha256: "ab".repeat(32),
//!     },
//!     run: RunInfo {
//!         status: RunStatus::Running, started_at: started.at.clone(),
//!         completed_at: None, requested_by: "user:alice".into(),
//!         inputs: json!({"title": "x"}), risk_level: None, steps: vec![],
//!     },
//!     prompts: vec![], approvals: vec![], conversation: vec![],
//!     policy_decisions: vec![], tool_calls: vec![], sandbox_executions: vec![],
//!     sandbox_sessions: vec![],
//!     model_usage: vec![], artifacts: vec![], audit_log: vec![started],
//! });
//! let key = signing_key_from_seed([7; 32]);
//! agentwerke_evidence::sign(&mut pack, &key);
//!
//! let bytes = serde_json::to_vec_pretty(&pack).unwrap();
//! let report = agentwerke_evidence::verify(&bytes, Some(&key.verifying_key()));
//! assert!(report.is_valid(), "{:?}", report.problems);
//!
//! let tampered = String::from_utf8(bytes).unwrap().replace("\"x\"", "\"y\"");
//! let report = agentwerke_evidence::verify(tampered.as_bytes(), None);
//! assert_eq!(report.problems[0].to_string(), "run was altered (digest mismatch)");
//! ```
#![deny(missing_docs)]

pub mod canonical;
pub mod chain;
mod error;
pub mod export;
pub mod integrity;
pub mod keys;
pub mod pack;
mod problem;
pub mod record;
pub mod redact;
pub mod sections;
pub mod timestamp;
mod verify;

pub use chain::{AuditDraft, AuditRecord, ChainError, ChainHead, SealedDraft, verify_chain};
pub use error::Error;
pub use export::{AuditExport, signed_export, verify_export};
pub use integrity::{Digests, Integrity, sign};
pub use pack::{EvidencePack, PackInput, SCHEMA_VERSION, build};
pub use problem::Problem;
pub use record::{Record, UnreadableRecord};
pub use verify::{VerifyReport, verify};

/// JSON Schema (draft 2020-12) of a v1 evidence pack.
pub const PACK_SCHEMA: &str = include_str!("../schema/evidence-pack.v1.schema.json");

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;

    /// Codes are published: clients and dashboards match on them. This list
    /// changes only by adding.
    #[test]
    fn error_codes_are_stable() {
        let head = ChainHead::genesis();
        let errors: [(&dyn ErrorCode, &str); 27] = [
            (
                &Error::InvalidPublicKey(String::new()),
                "evidence.key.invalid_public_key",
            ),
            (
                &Error::InvalidKeyFile(String::new()),
                "evidence.key.invalid_key_file",
            ),
            (
                &Error::UnsupportedAlgorithm(String::new()),
                "evidence.key.unsupported_algorithm",
            ),
            (
                &Error::KeyFileMismatch {
                    computed: String::new(),
                    recorded: String::new(),
                },
                "evidence.key.key_file_mismatch",
            ),
            (&Error::TimestampOutOfRange(0), "evidence.time.out_of_range"),
            (
                &ChainError::ContentAltered { index: 0, seq: 1 },
                "evidence.chain.content_altered",
            ),
            (
                &ChainError::LinkBroken { index: 0, seq: 1 },
                "evidence.chain.link_broken",
            ),
            (
                &ChainError::SeqGap {
                    index: 0,
                    expected: 1,
                    found: 2,
                },
                "evidence.chain.seq_gap",
            ),
            (
                &ChainError::OutOfOrder {
                    index: 0,
                    expected: 2,
                    found: 1,
                },
                "evidence.chain.out_of_order",
            ),
            (
                &ChainError::RunMismatch {
                    index: 0,
                    seq: 1,
                    expected: String::new(),
                    found: String::new(),
                },
                "evidence.chain.run_mismatch",
            ),
            (
                &ChainError::Truncated {
                    declared_seq: 2,
                    last_seq: 1,
                },
                "evidence.chain.truncated",
            ),
            (
                &ChainError::HeadMismatch {
                    declared: head.clone(),
                    found: head,
                },
                "evidence.chain.head_mismatch",
            ),
            (
                &Problem::MalformedJson {
                    line: 1,
                    column: 1,
                    message: String::new(),
                },
                "evidence.pack.malformed_json",
            ),
            (
                &Problem::InvalidShape(String::new()),
                "evidence.pack.invalid_shape",
            ),
            (
                &Problem::UnsupportedSchema {
                    found: String::new(),
                },
                "evidence.pack.unsupported_schema",
            ),
            (&Problem::Unsigned, "evidence.integrity.missing"),
            (
                &Problem::UnsupportedAlgorithm {
                    found: String::new(),
                },
                "evidence.integrity.unsupported_algorithm",
            ),
            (
                &Problem::InvalidPublicKey {
                    reason: String::new(),
                },
                "evidence.integrity.invalid_public_key",
            ),
            (
                &Problem::KeyIdMismatch {
                    declared: String::new(),
                    computed: String::new(),
                },
                "evidence.integrity.key_id_mismatch",
            ),
            (
                &Problem::UntrustedKey {
                    key_id: String::new(),
                    trusted_key_id: String::new(),
                },
                "evidence.integrity.untrusted_key",
            ),
            (
                &Problem::InvalidSignature {
                    reason: String::new(),
                },
                "evidence.integrity.invalid_signature",
            ),
            (
                &Problem::DigestMismatch {
                    path: String::new(),
                },
                "evidence.integrity.digest_mismatch",
            ),
            (
                &Problem::ItemCountChanged {
                    section: String::new(),
                    signed: 1,
                    found: 2,
                },
                "evidence.integrity.item_count_changed",
            ),
            (
                &Problem::UnsignedItem {
                    path: String::new(),
                },
                "evidence.integrity.unsigned_item",
            ),
            (
                &Problem::MissingItem {
                    section: String::new(),
                    index: 0,
                },
                "evidence.integrity.missing_item",
            ),
            (
                &Problem::PromptDigestMismatch { index: 0 },
                "evidence.pack.prompt_digest_mismatch",
            ),
            (
                &Problem::Chain(ChainError::LinkBroken { index: 0, seq: 1 }),
                "evidence.chain.link_broken",
            ),
        ];
        for (error, code) in errors {
            assert_eq!(error.code(), code);
            assert!(code.starts_with("evidence."));
        }
    }

    #[test]
    fn problems_serialise_with_their_code() {
        let json = serde_json::to_value(Problem::DigestMismatch {
            path: "run.steps[2]".to_owned(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "code": "evidence.integrity.digest_mismatch",
                "message": "run.steps[2] was altered (digest mismatch)"
            })
        );
    }
}
