//! The signed export of the global audit stream, for checking offline.
//!
//! Workflow imports and publications, policy drafts and publications, and
//! gateway halts and resumes belong to no run, so no evidence pack carries
//! them. They form one hash chain of their own (the records whose `runId`
//! is [`GLOBAL_STREAM`]), and an export is that whole chain from its first
//! record, with its head signed by the server's evidence key:
//!
//! ```json
//! {
//!   "schemaVersion": "agentwerke.audit-export.v1",
//!   "stream": "global",
//!   "generatedAt": "2025-01-31T09:20:00.000Z",
//!   "auditLog": [ { "seq": 1, "runId": "", "kind": "workflow.version_imported", ... } ],
//!   "integrity": {
//!     "algorithm": "ed25519", "keyId": "...", "publicKey": "...",
//!     "chainHead": { "seq": 1, "hash": "..." }, "signature": "..."
//!   }
//! }
//! ```
//!
//! The signature covers the canonical JSON of
//! `{schemaVersion, stream, generatedAt, chainHead, keyId}`. Every record is
//! bound to the head through the hash chain, so signing the head signs
//! them all, and [`verify_export`] names the first record that no longer
//! fits: `auditLog[3] (seq 4) content altered`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::canonical::to_canonical_vec;
use crate::chain::{AuditRecord, ChainHead, check_chain};
use crate::integrity::ALGORITHM;
use crate::keys::{decode_public_key, encode_public_key, key_id};
use crate::problem::Problem;
use crate::verify::{VerifyReport, open_document};

/// `runId` of every record of the global stream.
pub const GLOBAL_STREAM: &str = "";

/// `schemaVersion` of an export.
pub const EXPORT_SCHEMA_VERSION: &str = "agentwerke.audit-export.v1";

/// `stream` of an export of the global stream.
pub const GLOBAL_STREAM_NAME: &str = "global";

/// Every top-level key of an export: anything else would be unsigned.
const TOP_LEVEL_KEYS: [&str; 5] = [
    "schemaVersion",
    "stream",
    "generatedAt",
    "auditLog",
    "integrity",
];

/// A signed export of the global audit stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditExport {
    /// Always [`EXPORT_SCHEMA_VERSION`].
    pub schema_version: String,
    /// Always [`GLOBAL_STREAM_NAME`].
    pub stream: String,
    /// When the export was made: RFC 3339, UTC, milliseconds.
    pub generated_at: String,
    /// The whole stream, oldest first, from `seq` 1.
    pub audit_log: Vec<AuditRecord>,
    /// The signature over the chain head.
    pub integrity: ExportIntegrity,
}

/// The `integrity` block of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportIntegrity {
    /// Always [`ALGORITHM`].
    pub algorithm: String,
    /// First 16 hex digits of SHA-256 of the public key.
    pub key_id: String,
    /// The signing key's public half, base64 (32 bytes).
    pub public_key: String,
    /// The last record of `auditLog`, or the genesis head for an empty one.
    pub chain_head: ChainHead,
    /// Base64 Ed25519 signature over [`signed_payload`].
    pub signature: String,
}

/// Exports `audit_log` (the global stream, oldest first) signed with `key`.
pub fn signed_export(
    audit_log: Vec<AuditRecord>,
    generated_at: String,
    key: &SigningKey,
) -> AuditExport {
    let verifying = key.verifying_key();
    let mut export = AuditExport {
        schema_version: EXPORT_SCHEMA_VERSION.to_owned(),
        stream: GLOBAL_STREAM_NAME.to_owned(),
        generated_at,
        integrity: ExportIntegrity {
            algorithm: ALGORITHM.to_owned(),
            key_id: key_id(&verifying),
            public_key: encode_public_key(&verifying),
            chain_head: audit_log
                .last()
                .map_or_else(ChainHead::genesis, AuditRecord::head),
            signature: String::new(),
        },
        audit_log,
    };
    let value = serde_json::to_value(&export)
        .expect("exports serialise: all map keys are strings and no Serialize is custom");
    export.integrity.signature = STANDARD.encode(key.sign(&signed_payload(&value)).to_bytes());
    export
}

/// The bytes the signature covers: the canonical JSON of
/// `{schemaVersion, stream, generatedAt, chainHead, keyId}`, taken from the
/// export as it stands (missing values count as `null`), and `redacted`
/// when a record was redacted after it was chained.
///
/// The chain binds a record to the head through its hash, but the hash of
/// a record redacted after it was chained cannot be recomputed from what
/// is shown. So such records are signed directly: `redacted` lists each
/// one's `seq` and the SHA-256 of its `data` as shown. Marking a record,
/// or changing one that is marked, breaks the signature. An export without
/// such records signs exactly what it always did.
pub fn signed_payload(export: &Value) -> Vec<u8> {
    let integrity = export.get("integrity");
    let field = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    let mut payload = json!({
        "schemaVersion": field(export.get("schemaVersion")),
        "stream": field(export.get("stream")),
        "generatedAt": field(export.get("generatedAt")),
        "chainHead": field(integrity.and_then(|i| i.get("chainHead"))),
        "keyId": field(integrity.and_then(|i| i.get("keyId"))),
    });
    let redacted: Vec<Value> = export
        .get("auditLog")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| item.get("redactedAfterChaining").is_some())
        .map(|item| {
            json!({
                "seq": field(item.get("seq")),
                "data": crate::canonical::digest_value(&field(item.get("data"))),
            })
        })
        .collect();
    if !redacted.is_empty() {
        payload["redacted"] = Value::Array(redacted);
    }
    to_canonical_vec(&payload)
}

/// Verifies an export's bytes: shape, key, signature, every record's hash
/// and link, and that the log ends at the signed head. With `trusted_key`
/// the export must also be signed by that key; without it the export's own
/// key is used, which proves it is intact but not who produced it. Lists
/// every problem found, like [`crate::verify`] does for packs.
pub fn verify_export(bytes: &[u8], trusted_key: Option<&VerifyingKey>) -> VerifyReport {
    let mut report = VerifyReport::default();
    let Some(export) = open_document(bytes, "export", &mut report) else {
        return report;
    };
    let object = export.as_object().expect("open_document returns objects");
    check_shape(object, &mut report.problems);
    let head = check_integrity(&export, trusted_key, &mut report);
    check_log(object, head.as_ref(), &mut report);
    report
}

fn check_shape(object: &Map<String, Value>, problems: &mut Vec<Problem>) {
    match object.get("schemaVersion").and_then(Value::as_str) {
        Some(EXPORT_SCHEMA_VERSION) => {}
        found => problems.push(Problem::InvalidShape(format!(
            "schemaVersion {} is not '{EXPORT_SCHEMA_VERSION}'",
            found.map_or_else(|| "(missing)".to_owned(), |f| format!("'{f}'"))
        ))),
    }
    match object.get("stream").and_then(Value::as_str) {
        Some(GLOBAL_STREAM_NAME) => {}
        _ => problems.push(Problem::InvalidShape(format!(
            "stream is not '{GLOBAL_STREAM_NAME}'"
        ))),
    }
    if !object.get("generatedAt").is_some_and(Value::is_string) {
        problems.push(Problem::InvalidShape(
            "generatedAt is missing or not a string".to_owned(),
        ));
    }
    for key in object
        .keys()
        .filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()))
    {
        problems.push(Problem::InvalidShape(format!(
            "unexpected top-level key '{key}' (not covered by the signature)"
        )));
    }
}

/// Checks key and signature; returns the signed chain head.
fn check_integrity(
    export: &Value,
    trusted_key: Option<&VerifyingKey>,
    report: &mut VerifyReport,
) -> Option<ChainHead> {
    let Some(integrity) = export.get("integrity") else {
        report.problems.push(Problem::Unsigned);
        return None;
    };
    let integrity: ExportIntegrity = match serde_json::from_value(integrity.clone()) {
        Ok(integrity) => integrity,
        Err(e) => {
            report.problems.push(Problem::InvalidShape(format!(
                "integrity is not {{algorithm, keyId, publicKey, chainHead, signature}}: {e}"
            )));
            return None;
        }
    };
    let problems = &mut report.problems;
    if integrity.algorithm != ALGORITHM {
        problems.push(Problem::UnsupportedAlgorithm {
            found: Value::String(integrity.algorithm.clone()).to_string(),
        });
    }
    report.key_id = Some(integrity.key_id.clone());
    let own_key = match decode_public_key(&integrity.public_key) {
        Ok(key) => {
            let computed = key_id(&key);
            if computed != integrity.key_id {
                problems.push(Problem::KeyIdMismatch {
                    declared: Value::String(integrity.key_id.clone()).to_string(),
                    computed: computed.clone(),
                });
            }
            report.key_id = Some(computed);
            Some(key)
        }
        Err(e) => {
            problems.push(Problem::InvalidPublicKey {
                reason: e.to_string(),
            });
            None
        }
    };
    match (trusted_key, &own_key) {
        (Some(trusted), Some(key)) if trusted != key => problems.push(Problem::UntrustedKey {
            key_id: key_id(key),
            trusted_key_id: key_id(trusted),
        }),
        (None, Some(_)) => report.warnings.push(
            "no trusted key given: the signature proves the export is intact, not who signed it"
                .to_owned(),
        ),
        _ => {}
    }
    // The trusted key when there is one: an export re-signed with another
    // key fails here as well.
    if let Some(key) = trusted_key.or(own_key.as_ref())
        && let Some(reason) = signature_problem(export, &integrity.signature, key)
    {
        problems.push(Problem::InvalidSignature { reason });
    }
    Some(integrity.chain_head)
}

fn signature_problem(export: &Value, signature: &str, key: &VerifyingKey) -> Option<String> {
    let bytes = match STANDARD.decode(signature) {
        Ok(bytes) => bytes,
        Err(e) => return Some(format!("not base64: {e}")),
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return Some(format!("{} bytes, expected 64", bytes.len()));
    };
    key.verify_strict(&signed_payload(export), &Signature::from_bytes(&bytes))
        .err()
        .map(|_| {
            "it does not verify: schemaVersion, stream, generatedAt, integrity.chainHead, \
             integrity.keyId or a record redacted after it was chained was altered after \
             signing, or the signature itself was"
                .to_owned()
        })
}

/// Parses every record, then checks the chain from genesis to the signed head.
fn check_log(object: &Map<String, Value>, head: Option<&ChainHead>, report: &mut VerifyReport) {
    let Some(items) = object.get("auditLog").and_then(Value::as_array) else {
        report.problems.push(Problem::InvalidShape(
            "auditLog is missing or not a list".to_owned(),
        ));
        return;
    };
    report.chain_length = items.len();
    let mut records = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match serde_json::from_value::<AuditRecord>(item.clone()) {
            Ok(record) => records.push(record),
            Err(e) => report.problems.push(Problem::InvalidShape(format!(
                "auditLog[{index}] is not an audit record ({e}); the hash chain was not checked"
            ))),
        }
    }
    if records.len() != items.len() {
        return;
    }
    report.chain_head = records.last().map(|r| r.hash.clone());
    for (index, record) in records.iter().enumerate() {
        if record.redacted_after_chaining {
            report
                .warnings
                .push(crate::verify::redacted_after_chaining(index, record.seq));
            report.redacted_after_chaining.push(record.seq);
        }
    }
    report.problems.extend(
        check_chain(&records, Some(GLOBAL_STREAM), head)
            .into_iter()
            .map(Problem::Chain),
    );
}

#[cfg(test)]
mod tests {
    use agentwerke_types::ErrorCode;

    use super::*;
    use crate::chain::{AuditDraft, next};
    use crate::keys::signing_key_from_seed;

    fn stream(kinds: &[&str]) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for (n, kind) in kinds.iter().enumerate() {
            let record = next(
                records.last(),
                AuditDraft {
                    run_id: GLOBAL_STREAM.to_owned(),
                    at: format!("2025-01-31T09:15:0{n}.000Z"),
                    actor: agentwerke_types::Actor::user("ada"),
                    kind: agentwerke_types::AuditKind::parse(kind).expect("a persisted audit kind"),
                    data: json!({"n": n}),
                },
            );
            records.push(record);
        }
        records
    }

    fn exported() -> (Vec<u8>, SigningKey) {
        let key = signing_key_from_seed([3; 32]);
        let export = signed_export(
            stream(&[
                "workflow.version_imported",
                "workflow.version_published",
                "gateway.halted",
            ]),
            "2025-01-31T09:20:00.000Z".to_owned(),
            &key,
        );
        (serde_json::to_vec_pretty(&export).unwrap(), key)
    }

    fn edit(bytes: &[u8], change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value: Value = serde_json::from_slice(bytes).unwrap();
        change(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    fn codes(report: &VerifyReport) -> Vec<&'static str> {
        report.problems.iter().map(ErrorCode::code).collect()
    }

    #[test]
    fn a_signed_export_verifies_against_its_key() {
        let (bytes, key) = exported();
        let report = verify_export(&bytes, Some(&key.verifying_key()));
        assert!(report.is_valid(), "{:?}", report.problems);
        assert!(report.warnings.is_empty());
        assert_eq!(report.chain_length, 3);
        assert_eq!(report.key_id, Some(key_id(&key.verifying_key())));

        let unanchored = verify_export(&bytes, None);
        assert!(unanchored.is_valid());
        assert_eq!(unanchored.warnings.len(), 1, "origin is not proven");
    }

    /// A record redacted after it was chained is signed as shown: the
    /// export verifies with an explanation, and marking another record or
    /// changing the marked one breaks the signature.
    #[test]
    fn a_record_redacted_after_chaining_is_signed_as_shown() {
        let key = signing_key_from_seed([3; 32]);
        let mut records = stream(&["gateway.halted", "gateway.resumed", "gateway.halted"]);
        records[1].data = json!({"reason": "incident later-known-5d1c"});
        records[1].hash = records[1].compute_hash();
        records[2].prev_hash = records[1].hash.clone();
        records[2].hash = records[2].compute_hash();
        let redactor = crate::redact::Redactor::new(["later-known-5d1c"]);
        let shown = records.into_iter().map(|r| r.redacted(&redactor)).collect();
        let export = signed_export(shown, "2025-01-31T09:20:00.000Z".to_owned(), &key);
        let bytes = serde_json::to_vec(&export).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("later-known-5d1c"));
        let trusted = key.verifying_key();
        let report = verify_export(&bytes, Some(&trusted));
        assert!(report.is_valid(), "{:?}", report.problems);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        assert!(
            report.warnings[0].starts_with("auditLog[1] (seq 2) was redacted after it was chained")
        );

        let changed = edit(&bytes, |v| {
            v["auditLog"][1]["data"] = json!({"reason": "nothing happened"});
        });
        assert_eq!(
            codes(&verify_export(&changed, Some(&trusted))),
            ["evidence.integrity.invalid_signature"]
        );
        let marked = edit(&bytes, |v| {
            v["auditLog"][0]["data"] = json!({"n": 99});
            v["auditLog"][0]["redactedAfterChaining"] = json!(true);
        });
        assert_eq!(
            codes(&verify_export(&marked, Some(&trusted))),
            ["evidence.integrity.invalid_signature"]
        );
    }

    #[test]
    fn an_empty_stream_exports_the_genesis_head() {
        let key = signing_key_from_seed([3; 32]);
        let export = signed_export(Vec::new(), "2025-01-31T09:20:00.000Z".to_owned(), &key);
        assert_eq!(export.integrity.chain_head, ChainHead::genesis());
        let bytes = serde_json::to_vec(&export).unwrap();
        assert!(verify_export(&bytes, Some(&key.verifying_key())).is_valid());
    }

    #[test]
    fn an_edited_record_is_named() {
        let (bytes, key) = exported();
        let tampered = edit(&bytes, |v| {
            v["auditLog"][1]["actor"] = json!("user:mallory")
        });
        let report = verify_export(&tampered, Some(&key.verifying_key()));
        assert_eq!(codes(&report), ["evidence.chain.content_altered"]);
        assert_eq!(
            report.problems[0].to_string(),
            "auditLog[1] (seq 2) content altered: hash mismatch"
        );
    }

    #[test]
    fn a_rehashed_or_removed_record_breaks_the_chain_or_the_head() {
        let (bytes, key) = exported();
        let trusted = key.verifying_key();
        let rehashed = edit(&bytes, |v| {
            let mut record: AuditRecord = serde_json::from_value(v["auditLog"][0].clone()).unwrap();
            record.data = json!({"n": 99});
            record.hash = record.compute_hash();
            v["auditLog"][0] = serde_json::to_value(record).unwrap();
        });
        assert_eq!(
            codes(&verify_export(&rehashed, Some(&trusted))),
            ["evidence.chain.link_broken"]
        );
        let cut = edit(&bytes, |v| {
            v["auditLog"].as_array_mut().unwrap().pop();
        });
        assert_eq!(
            codes(&verify_export(&cut, Some(&trusted))),
            ["evidence.chain.truncated"]
        );
        let dropped = edit(&bytes, |v| {
            v["auditLog"].as_array_mut().unwrap().remove(1);
        });
        assert_eq!(
            codes(&verify_export(&dropped, Some(&trusted))),
            ["evidence.chain.seq_gap", "evidence.chain.link_broken"]
        );
    }

    #[test]
    fn a_moved_head_or_a_foreign_key_fails_the_signature() {
        let (bytes, key) = exported();
        let trusted = key.verifying_key();
        let moved = edit(&bytes, |v| {
            v["auditLog"].as_array_mut().unwrap().pop();
            v["integrity"]["chainHead"] = json!({"seq": 2, "hash": v["auditLog"][1]["hash"]});
        });
        assert_eq!(
            codes(&verify_export(&moved, Some(&trusted))),
            ["evidence.integrity.invalid_signature"]
        );
        let other = signing_key_from_seed([4; 32]);
        let export: AuditExport = serde_json::from_slice(&bytes).unwrap();
        let resigned = serde_json::to_vec(&signed_export(
            export.audit_log,
            export.generated_at,
            &other,
        ))
        .unwrap();
        assert!(verify_export(&resigned, None).is_valid());
        assert_eq!(
            codes(&verify_export(&resigned, Some(&trusted))),
            [
                "evidence.integrity.untrusted_key",
                "evidence.integrity.invalid_signature"
            ]
        );
    }

    #[test]
    fn records_of_a_run_and_unsigned_keys_are_refused() {
        let (bytes, key) = exported();
        let trusted = key.verifying_key();
        let smuggled = edit(&bytes, |v| v["note"] = json!("trust me"));
        assert_eq!(
            codes(&verify_export(&smuggled, Some(&trusted))),
            ["evidence.pack.invalid_shape"]
        );
        let foreign = edit(&bytes, |v| v["auditLog"][0]["runId"] = json!("run-1"));
        assert_eq!(
            codes(&verify_export(&foreign, Some(&trusted))),
            [
                "evidence.chain.run_mismatch",
                "evidence.chain.content_altered"
            ]
        );
        let unsigned = edit(&bytes, |v| {
            v.as_object_mut().unwrap().remove("integrity");
        });
        assert_eq!(
            codes(&verify_export(&unsigned, Some(&trusted))),
            ["evidence.integrity.missing"]
        );
        assert_eq!(
            codes(&verify_export(b"{\"auditLog\": [", Some(&trusted))),
            ["evidence.pack.malformed_json"]
        );
    }
}
