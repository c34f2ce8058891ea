//! Offline verification of a pack's bytes.
//!
//! The verifier works on the parsed JSON value, never on a re-serialised
//! struct, so that nothing in the file escapes the check (an unknown field
//! changes a digest instead of being dropped). It does not stop at the first
//! problem: it checks the shape, the signature, every section digest, the
//! audit chain and the prompt digests, and lists everything it finds.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::canonical::sha256_hex;
use crate::chain::{AuditRecord, ChainHead, check_chain};
use crate::integrity::{
    ALGORITHM, Kind, SECTIONS, Section, SectionDigest, section_digest, signed_payload,
};
use crate::keys::{decode_public_key, key_id};
use crate::pack::{EvidencePack, OPTIONAL_TOP_LEVEL_KEYS, SCHEMA_VERSION, TOP_LEVEL_KEYS};
use crate::problem::Problem;

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// `schemaVersion` as found.
    pub schema_version: Option<String>,
    /// `runId` as found.
    pub run_id: Option<String>,
    /// Id of the key in `integrity.publicKey` (or the declared `keyId` if
    /// the key does not decode).
    pub key_id: Option<String>,
    /// Number of audit records.
    pub chain_length: usize,
    /// `hash` of the last audit record.
    pub chain_head: Option<String>,
    /// Every problem found; empty means the pack verifies.
    pub problems: Vec<Problem>,
    /// Things that do not invalidate the pack but limit what it proves.
    pub warnings: Vec<String>,
    /// `seq` of each record redacted after it was chained (one warning
    /// each): a value in it became a known secret later, so the signature,
    /// not the chain, vouches for its content.
    pub redacted_after_chaining: Vec<u64>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a pack's bytes. With `trusted_key`, the pack must also be signed
/// by that key; without it, the pack's own key is used, which proves the
/// pack is intact but not who produced it.
pub fn verify(pack_json: &[u8], trusted_key: Option<&VerifyingKey>) -> VerifyReport {
    let mut report = VerifyReport::default();
    let Some(pack) = open_document(pack_json, "pack", &mut report) else {
        return report;
    };
    let object = pack.as_object().expect("open_document returns objects");
    report.run_id = object
        .get("runId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    check_shape(&pack, object, &mut report.problems);
    let declared_head = check_integrity(&pack, trusted_key, &mut report);
    check_audit_log(&pack, declared_head.as_ref(), &mut report);
    check_prompts(&pack, &mut report.problems);
    report
}

/// Parses a signed document (a pack, an audit export) as a JSON object and
/// notes its `schemaVersion`; `None`, with the problem in `report`, when it
/// is not JSON or not an object.
pub(crate) fn open_document(bytes: &[u8], what: &str, report: &mut VerifyReport) -> Option<Value> {
    let document: Value = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(e) => {
            report.problems.push(malformed(&e));
            return None;
        }
    };
    let Some(object) = document.as_object() else {
        report.problems.push(Problem::InvalidShape(format!(
            "the {what} is not a JSON object"
        )));
        return None;
    };
    report.schema_version = object
        .get("schemaVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(document)
}

fn malformed(e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    Problem::MalformedJson {
        line: e.line(),
        column: e.column(),
        message,
    }
}

fn check_shape(pack: &Value, object: &Map<String, Value>, problems: &mut Vec<Problem>) {
    match object.get("schemaVersion") {
        Some(Value::String(v)) if v == SCHEMA_VERSION => {}
        Some(other) => problems.push(Problem::UnsupportedSchema {
            found: other.to_string(),
        }),
        None => {}
    }
    let mut complete = true;
    for key in TOP_LEVEL_KEYS
        .iter()
        .filter(|k| !OPTIONAL_TOP_LEVEL_KEYS.contains(k))
    {
        if !object.contains_key(*key) {
            complete = false;
            problems.push(Problem::InvalidShape(format!(
                "missing top-level key '{key}'"
            )));
        }
    }
    for key in object
        .keys()
        .filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()))
    {
        complete = false;
        problems.push(Problem::InvalidShape(format!(
            "unexpected top-level key '{key}' (not covered by the signature)"
        )));
    }
    if complete && let Err(e) = serde_json::from_value::<EvidencePack>(pack.clone()) {
        problems.push(Problem::InvalidShape(format!(
            "the pack does not match the {SCHEMA_VERSION} format: {e}"
        )));
    }
}

/// Checks key, signature and digests; returns the declared chain head for
/// the audit log check.
fn check_integrity(
    pack: &Value,
    trusted_key: Option<&VerifyingKey>,
    report: &mut VerifyReport,
) -> Option<ChainHead> {
    let problems = &mut report.problems;
    let Some(integrity) = pack.get("integrity") else {
        problems.push(Problem::Unsigned);
        return None;
    };
    if !integrity.is_object() {
        problems.push(Problem::InvalidShape(
            "integrity is not an object".to_owned(),
        ));
        return None;
    }
    match integrity.get("algorithm") {
        Some(Value::String(a)) if a == ALGORITHM => {}
        other => problems.push(Problem::UnsupportedAlgorithm {
            found: json_text(other),
        }),
    }

    let public_key = match integrity.get("publicKey").and_then(Value::as_str) {
        Some(text) => decode_public_key(text)
            .map_err(|e| {
                problems.push(Problem::InvalidPublicKey {
                    reason: e.to_string(),
                });
            })
            .ok(),
        None => {
            problems.push(Problem::InvalidPublicKey {
                reason: "missing or not a string".to_owned(),
            });
            None
        }
    };
    let declared_id = integrity.get("keyId");
    report.key_id = declared_id.and_then(Value::as_str).map(str::to_owned);
    if let Some(key) = &public_key {
        let computed = key_id(key);
        if declared_id.and_then(Value::as_str) != Some(computed.as_str()) {
            problems.push(Problem::KeyIdMismatch {
                declared: json_text(declared_id),
                computed: computed.clone(),
            });
        }
        report.key_id = Some(computed);
    }
    match (trusted_key, &public_key) {
        (Some(trusted), Some(key)) if trusted != key => problems.push(Problem::UntrustedKey {
            key_id: key_id(key),
            trusted_key_id: key_id(trusted),
        }),
        (None, Some(_)) => report.warnings.push(
            "no trusted key given: the signature proves the pack is intact, not who signed it"
                .to_owned(),
        ),
        _ => {}
    }
    // Verify against the key the caller trusts when there is one: a pack
    // re-signed with another key then fails here as well.
    if let Some(key) = trusted_key.or(public_key.as_ref()) {
        check_signature(pack, integrity, key, problems);
    }

    match integrity.get("digests").and_then(Value::as_object) {
        Some(digests) => {
            for section in &SECTIONS {
                check_section(pack, digests, section, problems);
            }
        }
        None => problems.push(Problem::InvalidShape(
            "integrity.digests is missing or not an object".to_owned(),
        )),
    }

    let head = integrity
        .get("chainHead")
        .cloned()
        .and_then(|h| serde_json::from_value::<ChainHead>(h).ok());
    if head.is_none() {
        problems.push(Problem::InvalidShape(
            "integrity.chainHead is missing or not {seq, hash}".to_owned(),
        ));
    }
    head
}

fn check_signature(
    pack: &Value,
    integrity: &Value,
    key: &VerifyingKey,
    problems: &mut Vec<Problem>,
) {
    let signature = integrity
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| "missing or not a string".to_owned())
        .and_then(|text| {
            STANDARD
                .decode(text)
                .map_err(|e| format!("not base64: {e}"))
        })
        .and_then(|bytes| {
            <[u8; 64]>::try_from(bytes.as_slice())
                .map_err(|_| format!("{} bytes, expected 64", bytes.len()))
        })
        .map(|bytes| Signature::from_bytes(&bytes));
    let reason = match signature {
        Err(reason) => reason,
        Ok(signature) => match key.verify_strict(&signed_payload(pack), &signature) {
            Ok(()) => return,
            Err(_) => {
                "it does not verify: schemaVersion, runId, generatedAt, integrity.chainHead, \
                       integrity.digests or integrity.keyId was altered after signing, or the \
                       signature itself was"
                    .to_owned()
            }
        },
    };
    problems.push(Problem::InvalidSignature { reason });
}

fn check_section(
    pack: &Value,
    digests: &Map<String, Value>,
    section: &Section,
    problems: &mut Vec<Problem>,
) {
    let path = section.path;
    // A pack signed without any items of an optional section has no digest
    // key for it: that signed "no items", so adding one is still named.
    let no_items = Value::Array(Vec::new());
    let declared = match digests.get(section.digest_key) {
        None if section.optional => Some(&no_items),
        declared => declared,
    };
    let malformed_digest = || {
        Problem::InvalidShape(format!(
            "integrity.digests.{} is missing or not {}",
            section.digest_key,
            match section.kind {
                Kind::Object { .. } => "a digest",
                Kind::Items => "a list of digests",
            }
        ))
    };
    match section_digest(pack, section) {
        None => problems.push(Problem::InvalidShape(format!(
            "{path} is missing or not {}",
            match section.kind {
                Kind::Object { .. } => "an object",
                Kind::Items => "a list",
            }
        ))),
        Some(SectionDigest::One(computed)) => match declared.and_then(Value::as_str) {
            None => problems.push(malformed_digest()),
            Some(d) if d != computed => problems.push(Problem::DigestMismatch {
                path: path.to_owned(),
            }),
            Some(_) => {}
        },
        Some(SectionDigest::Items(computed)) => {
            let signed: Option<Vec<&str>> = declared
                .and_then(Value::as_array)
                .and_then(|items| items.iter().map(Value::as_str).collect());
            match signed {
                None => problems.push(malformed_digest()),
                Some(signed) => compare_items(path, &signed, &computed, problems),
            }
        }
    }
}

/// Same length: name each altered position. Different length: say so, then
/// name what is new and what is gone by digest, since positions shifted.
fn compare_items(path: &str, signed: &[&str], found: &[String], problems: &mut Vec<Problem>) {
    if signed.len() == found.len() {
        for (index, (s, f)) in signed.iter().zip(found).enumerate() {
            if s != f {
                problems.push(Problem::DigestMismatch {
                    path: format!("{path}[{index}]"),
                });
            }
        }
        return;
    }
    problems.push(Problem::ItemCountChanged {
        section: path.to_owned(),
        signed: signed.len(),
        found: found.len(),
    });
    let signed_set: HashSet<&str> = signed.iter().copied().collect();
    let found_set: HashSet<&str> = found.iter().map(String::as_str).collect();
    for (index, f) in found.iter().enumerate() {
        if !signed_set.contains(f.as_str()) {
            problems.push(Problem::UnsignedItem {
                path: format!("{path}[{index}]"),
            });
        }
    }
    for (index, s) in signed.iter().enumerate() {
        if !found_set.contains(s) {
            problems.push(Problem::MissingItem {
                section: path.to_owned(),
                index,
            });
        }
    }
}

fn check_audit_log(pack: &Value, declared: Option<&ChainHead>, report: &mut VerifyReport) {
    let Some(items) = pack.get("auditLog").and_then(Value::as_array) else {
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
                .push(redacted_after_chaining(index, record.seq));
            report.redacted_after_chaining.push(record.seq);
        }
    }
    let run_id = pack.get("runId").and_then(Value::as_str);
    report.problems.extend(
        check_chain(&records, run_id, declared)
            .into_iter()
            .map(Problem::Chain),
    );
}

/// What a verifier says of a record redacted after it was chained: not a
/// problem (the pack is honest), but a limit on what the chain proves.
pub(crate) fn redacted_after_chaining(index: usize, seq: u64) -> String {
    format!(
        "auditLog[{index}] (seq {seq}) was redacted after it was chained: a value in it \
         became a known secret later, so its content cannot be re-hashed; its place in the \
         chain (its link and the next record's) is checked, and its content as shown is \
         vouched for by the signature, not by the chain"
    )
}

fn check_prompts(pack: &Value, problems: &mut Vec<Problem>) {
    let Some(prompts) = pack.get("prompts").and_then(Value::as_array) else {
        return;
    };
    for (index, prompt) in prompts.iter().enumerate() {
        let text = prompt.get("text").and_then(Value::as_str);
        let digest = prompt.get("sha256").and_then(Value::as_str);
        if let (Some(text), Some(digest)) = (text, digest)
            && sha256_hex(text.as_bytes()) != digest
        {
            problems.push(Problem::PromptDigestMismatch { index });
        }
    }
}

fn json_text(value: Option<&Value>) -> String {
    value.map_or_else(|| "(missing)".to_owned(), Value::to_string)
}
