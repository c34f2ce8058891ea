//! Verification names each alteration precisely.

use agentwerke_evidence::canonical::to_canonical_vec;
use agentwerke_evidence::keys::{key_id, signing_key_from_seed};
use agentwerke_evidence::{Problem, VerifyReport, sign, verify};
use agentwerke_types::ErrorCode;
use serde_json::{Value, json};

use crate::fixture::{self, bytes, key, signed_value};

fn check(value: &Value) -> VerifyReport {
    verify(&bytes(value), Some(&key().verifying_key()))
}

fn messages(report: &VerifyReport) -> Vec<String> {
    report.problems.iter().map(ToString::to_string).collect()
}

fn assert_problems(value: &Value, expected: &[&str]) {
    let report = check(value);
    assert_eq!(messages(&report), expected);
}

#[test]
fn a_signed_pack_verifies_and_reports_its_key_and_chain() {
    let pack = fixture::signed();
    let integrity = pack.integrity.as_ref().unwrap();
    let last = pack.audit_log.last().unwrap();
    assert_eq!(integrity.chain_head, last.head());
    assert_eq!(integrity.key_id, key_id(&key().verifying_key()));

    let report = check(&serde_json::to_value(&pack).unwrap());
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!(report.key_id.as_deref(), Some(integrity.key_id.as_str()));
    assert_eq!(report.chain_length, 6);
    assert_eq!(report.chain_head.as_deref(), Some(last.hash.as_str()));
    assert_eq!(report.run_id.as_deref(), Some(fixture::RUN));
    assert!(report.warnings.is_empty());
}

#[test]
fn signing_is_deterministic() {
    assert_eq!(bytes(&signed_value()), bytes(&signed_value()));
}

#[test]
fn formatting_and_key_order_do_not_matter() {
    fn reverse_keys(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.reverse();
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), reverse_keys(v)))
                        .collect(),
                )
            }
            Value::Array(items) => items.iter().map(reverse_keys).collect(),
            other => other.clone(),
        }
    }
    let pack = signed_value();
    let compact = serde_json::to_vec(&reverse_keys(&pack)).unwrap();
    let report = verify(&compact, Some(&key().verifying_key()));
    assert!(report.is_valid(), "{:?}", report.problems);
}

#[test]
fn without_a_trusted_key_it_warns_that_origin_is_unproven() {
    let report = verify(&bytes(&signed_value()), None);
    assert!(report.is_valid());
    assert_eq!(report.warnings.len(), 1);
}

#[test]
fn names_an_altered_step() {
    let mut pack = signed_value();
    pack["run"]["steps"][2]["status"] = json!("failed");
    assert_problems(&pack, &["run.steps[2] was altered (digest mismatch)"]);
}

#[test]
fn names_altered_object_sections() {
    let mut pack = signed_value();
    pack["workflow"]["bpmnSha256"] = json!("0".repeat(64));
    pack["run"]["inputs"]["title"] = json!("Q2 release");
    assert_problems(
        &pack,
        &[
            "workflow was altered (digest mismatch)",
            "run was altered (digest mismatch)",
        ],
    );
}

#[test]
fn names_an_altered_approval_comment() {
    let mut pack = signed_value();
    pack["approvals"][0]["comment"] = json!("Rubber-stamped.");
    assert_problems(&pack, &["approvals[0] was altered (digest mismatch)"]);
}

#[test]
fn names_added_and_removed_items() {
    let mut pack = signed_value();
    let copy = pack["approvals"][0].clone();
    let mut forged = copy.clone();
    forged["id"] = json!("ap-2");
    pack["approvals"] = json!([copy, forged]);
    pack["toolCalls"] = json!([]);
    assert_problems(
        &pack,
        &[
            "approvals: item added/removed (signed 1 items, found 2)",
            "approvals[1] is not in the signed pack (added or altered)",
            "toolCalls: item added/removed (signed 1 items, found 0)",
            "toolCalls: signed item 0 is missing (removed or altered)",
        ],
    );
}

#[test]
fn names_an_edited_audit_record() {
    let mut pack = signed_value();
    pack["auditLog"][4]["data"]["decision"] = json!("reject");
    assert_problems(
        &pack,
        &[
            "auditLog[4] was altered (digest mismatch)",
            "auditLog[4] (seq 5) content altered: hash mismatch",
        ],
    );
}

#[test]
fn names_the_broken_link_after_a_rehashed_audit_record() {
    let mut pack = signed_value();
    let mut record: agentwerke_evidence::AuditRecord =
        serde_json::from_value(pack["auditLog"][4].clone()).unwrap();
    record.data = json!({"approvalId": "ap-1", "decision": "reject"});
    record.hash = record.compute_hash();
    pack["auditLog"][4] = serde_json::to_value(record).unwrap();
    let report = check(&pack);
    let messages = messages(&report);
    assert!(messages.contains(&"auditLog[4] was altered (digest mismatch)".to_owned()));
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("auditLog[5] (seq 6) link broken")),
        "{messages:?}"
    );
}

#[test]
fn names_a_truncated_audit_log() {
    let mut pack = signed_value();
    pack["auditLog"].as_array_mut().unwrap().pop();
    assert_problems(
        &pack,
        &[
            "auditLog: item added/removed (signed 6 items, found 5)",
            "auditLog: signed item 5 is missing (removed or altered)",
            "auditLog truncated: ends at seq 5, but the declared chain head is seq 6",
        ],
    );
}

#[test]
fn a_pack_resigned_by_another_key_is_not_trusted() {
    let mut pack = fixture::signed();
    pack.approvals[0].comment = Some("Rubber-stamped.".to_owned());
    let forger = signing_key_from_seed([9; 32]);
    sign(&mut pack, &forger);
    let value = serde_json::to_value(&pack).unwrap();
    // Intact as far as its own key goes...
    assert!(verify(&bytes(&value), None).is_valid());
    // ...but not signed by the key we trust.
    let report = check(&value);
    let codes: Vec<_> = report.problems.iter().map(ErrorCode::code).collect();
    assert_eq!(
        codes,
        [
            "evidence.integrity.untrusted_key",
            "evidence.integrity.invalid_signature"
        ]
    );
    assert_eq!(
        report.problems[0].to_string(),
        format!(
            "signing key {} is not the trusted key {}",
            key_id(&forger.verifying_key()),
            key_id(&key().verifying_key())
        )
    );
}

#[test]
fn names_changes_to_signed_header_fields() {
    let mut pack = signed_value();
    pack["generatedAt"] = json!("2025-02-01T00:00:00.000Z");
    let report = check(&pack);
    assert!(matches!(
        report.problems[..],
        [Problem::InvalidSignature { .. }]
    ));

    let mut pack = signed_value();
    pack["schemaVersion"] = json!("agentwerke.evidence-pack.v2");
    let messages = messages(&check(&pack));
    assert!(
        messages[0].starts_with("schemaVersion unsupported"),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("integrity.signature invalid"))
    );
}

#[test]
fn names_changes_to_the_integrity_block() {
    let mut pack = signed_value();
    pack["integrity"]["keyId"] = json!("0123456789abcdef");
    let codes: Vec<_> = check(&pack).problems.iter().map(ErrorCode::code).collect();
    assert_eq!(
        codes,
        [
            "evidence.integrity.key_id_mismatch",
            "evidence.integrity.invalid_signature"
        ]
    );

    let mut pack = signed_value();
    pack["integrity"]["algorithm"] = json!("rsa");
    assert_problems(
        &pack,
        &["integrity.algorithm unsupported: \"rsa\" (expected \"ed25519\")"],
    );

    let mut pack = signed_value();
    pack["integrity"]["digests"]["runSteps"][1] = json!("0".repeat(64));
    let codes: Vec<_> = check(&pack).problems.iter().map(ErrorCode::code).collect();
    assert_eq!(
        codes,
        [
            "evidence.integrity.invalid_signature",
            "evidence.integrity.digest_mismatch"
        ]
    );
}

#[test]
fn names_a_prompt_whose_digest_disagrees_with_its_text() {
    let mut pack = signed_value();
    pack["prompts"][0]["text"] = json!("Something else");
    assert_problems(
        &pack,
        &[
            "prompts[0] was altered (digest mismatch)",
            "prompts[0].sha256 does not match its text",
        ],
    );
}

#[test]
fn names_unexpected_and_missing_keys() {
    let mut pack = signed_value();
    pack["extra"] = json!(true);
    pack.as_object_mut().unwrap().remove("artifacts");
    let messages = messages(&check(&pack));
    assert!(messages.contains(&"missing top-level key 'artifacts'".to_owned()));
    assert!(
        messages.contains(
            &"unexpected top-level key 'extra' (not covered by the signature)".to_owned()
        )
    );
    assert!(messages.contains(&"artifacts is missing or not a list".to_owned()));
}

#[test]
fn an_unsigned_pack_does_not_verify() {
    let mut pack = signed_value();
    pack.as_object_mut().unwrap().remove("integrity");
    assert_problems(&pack, &["integrity missing: the pack is not signed"]);
}

#[test]
fn malformed_json_is_located() {
    let report = verify(b"{\n  \"schemaVersion\": \"x\",\n  oops\n}", None);
    assert_eq!(
        messages(&report),
        ["malformed JSON at line 3, column 3: key must be a string"]
    );
    let report = verify(b"[]", None);
    assert_eq!(messages(&report), ["the pack is not a JSON object"]);
}

#[test]
fn reports_serialise_for_the_api() {
    let mut pack = signed_value();
    pack["run"]["steps"][0]["attempt"] = json!(2);
    let report = serde_json::to_value(check(&pack)).unwrap();
    assert_eq!(
        report["problems"],
        json!([{"code": "evidence.integrity.digest_mismatch",
                "message": "run.steps[0] was altered (digest mismatch)"}])
    );
    assert_eq!(report["chainLength"], json!(6));
}

/// A pack built from `input` and signed with the fixture key.
fn signed_from(input: agentwerke_evidence::PackInput) -> Value {
    let mut pack = agentwerke_evidence::build(input);
    sign(&mut pack, &key());
    serde_json::to_value(&pack).unwrap()
}

/// The fixture with a second, still open question after the answered one.
fn two_questions() -> Value {
    let mut input = fixture::input();
    let mut open = fixture::question();
    open.id = "q-2".to_owned();
    open.question = "Which release date?".to_owned();
    open.status = "open".to_owned();
    open.answer = None;
    open.answered_by = None;
    open.answered_at = None;
    input.conversation.push(open);
    signed_from(input)
}

#[test]
fn a_pack_with_questions_signs_and_verifies() {
    let pack = two_questions();
    assert_eq!(pack["conversation"].as_array().unwrap().len(), 2);
    assert_eq!(
        pack["conversation"][0]["answer"],
        "Yes, with the removal date."
    );
    // Open questions keep every key, with null for what is not known yet.
    assert_eq!(pack["conversation"][1]["answer"], Value::Null);
    assert_eq!(pack["conversation"][1]["answeredBy"], Value::Null);
    assert_eq!(pack["conversation"][1]["answeredAt"], Value::Null);
    let digests = pack["integrity"]["digests"]["conversation"]
        .as_array()
        .unwrap();
    assert_eq!(digests.len(), 2);
    assert_ne!(digests[0], digests[1]);
    let report = check(&pack);
    assert!(report.is_valid(), "{:?}", report.problems);
}

#[test]
fn names_a_one_byte_change_to_an_answer() {
    let bytes = bytes(&signed_value());
    let answer = b"Yes, with the removal date.";
    let at = bytes
        .windows(answer.len())
        .position(|w| w == answer)
        .unwrap();
    let mut altered = bytes;
    altered[at] = b'N';
    let report = verify(&altered, Some(&key().verifying_key()));
    assert_eq!(
        messages(&report),
        ["conversation[0] was altered (digest mismatch)"]
    );
}

#[test]
fn names_altered_answer_metadata_and_reordered_questions() {
    let mut pack = signed_value();
    pack["conversation"][0]["answeredBy"] = json!("user:mallory");
    assert_problems(&pack, &["conversation[0] was altered (digest mismatch)"]);

    let mut pack = two_questions();
    pack["conversation"].as_array_mut().unwrap().swap(0, 1);
    assert_problems(
        &pack,
        &[
            "conversation[0] was altered (digest mismatch)",
            "conversation[1] was altered (digest mismatch)",
        ],
    );
}

#[test]
fn names_added_and_removed_questions() {
    let removed = [
        "conversation: item added/removed (signed 1 items, found 0)",
        "conversation: signed item 0 is missing (removed or altered)",
    ];
    // Emptied, or dropped altogether (which is how an empty section looks):
    // either way the signed question is missing.
    let mut pack = signed_value();
    pack["conversation"] = json!([]);
    assert_problems(&pack, &removed);
    let mut pack = signed_value();
    pack.as_object_mut().unwrap().remove("conversation");
    assert_problems(&pack, &removed);

    let mut pack = signed_value();
    let mut forged = pack["conversation"][0].clone();
    forged["id"] = json!("q-9");
    pack["conversation"].as_array_mut().unwrap().push(forged);
    assert_problems(
        &pack,
        &[
            "conversation: item added/removed (signed 1 items, found 2)",
            "conversation[1] is not in the signed pack (added or altered)",
        ],
    );
}

#[test]
fn names_a_question_added_to_a_pack_signed_without_any() {
    let mut input = fixture::input();
    input.conversation.clear();
    let mut pack = signed_from(input);
    assert!(pack["integrity"]["digests"].get("conversation").is_none());
    pack["conversation"] = serde_json::to_value([fixture::question()]).unwrap();
    assert_problems(
        &pack,
        &[
            "conversation: item added/removed (signed 0 items, found 1)",
            "conversation[0] is not in the signed pack (added or altered)",
        ],
    );
}

#[test]
fn dropping_the_signed_conversation_digests_breaks_the_signature() {
    let mut pack = signed_value();
    pack["integrity"]["digests"]
        .as_object_mut()
        .unwrap()
        .remove("conversation");
    let codes: Vec<_> = check(&pack).problems.iter().map(ErrorCode::code).collect();
    assert_eq!(
        codes,
        [
            "evidence.integrity.invalid_signature",
            "evidence.integrity.item_count_changed",
            "evidence.integrity.unsigned_item"
        ]
    );
}

#[test]
fn a_conversation_that_is_not_a_list_is_a_shape_problem() {
    let mut pack = signed_value();
    pack["conversation"] = json!({"q-1": "Yes"});
    let messages = messages(&check(&pack));
    assert!(
        messages.contains(&"conversation is missing or not a list".to_owned()),
        "{messages:?}"
    );
}

#[test]
fn a_pack_without_questions_has_no_conversation_key_and_verifies() {
    let mut input = fixture::input();
    input.conversation.clear();
    let pack = signed_from(input);
    assert!(pack.get("conversation").is_none(), "{pack:#}");
    assert!(
        pack["integrity"]["digests"].get("conversation").is_none(),
        "{pack:#}"
    );
    let report = check(&pack);
    assert!(report.is_valid(), "{:?}", report.problems);
}

/// Written by this crate before `conversation` existed (the fixture then had
/// no question). It must keep verifying, and a pack built today from the
/// same facts must be the same canonical JSON (the bytes every digest and
/// the signature cover; key order inside free-form values depends on how
/// serde_json is built, so raw bytes are not compared). If the fixture
/// changes for another reason, regenerate the file from the old fixture's
/// input.
const PACK_BEFORE_CONVERSATION: &[u8] = include_bytes!("pack-before-conversation.json");

#[test]
fn a_pack_written_before_the_conversation_section_still_verifies() {
    let report = verify(PACK_BEFORE_CONVERSATION, Some(&key().verifying_key()));
    assert!(report.is_valid(), "{:?}", report.problems);
    assert!(report.warnings.is_empty());
    let old: Value = serde_json::from_slice(PACK_BEFORE_CONVERSATION).unwrap();
    assert!(old.get("conversation").is_none());
    let parsed: agentwerke_evidence::EvidencePack =
        serde_json::from_slice(PACK_BEFORE_CONVERSATION).unwrap();
    assert!(parsed.conversation.is_empty());
    assert!(parsed.integrity.unwrap().digests.conversation.is_empty());
}

#[test]
fn a_pack_without_questions_is_what_it_was() {
    let mut input = fixture::input();
    input.conversation.clear();
    // Nor did approvals carry their factors' weights, output or artifacts.
    for approval in &mut input.approvals {
        approval.risk_factor_details.clear();
        approval.related_output = Value::Null;
        approval.artifacts.clear();
    }
    // Nor did model calls keep cached tokens, latency, retries or the key.
    for usage in &mut input.model_usage {
        usage.cached_input_tokens = 0;
        usage.latency_ms = 0;
        usage.retries = 0;
        usage.key = None;
    }
    // Nor did sandboxed executions keep their mode, isolation or streams.
    for execution in &mut input.sandbox_executions {
        execution.mode = None;
        execution.isolation = None;
        execution.bytes_out = None;
        execution.stdout = None;
        execution.stderr = None;
    }
    // Nor were sandbox sessions kept.
    input.sandbox_sessions.clear();
    let mut pack = agentwerke_evidence::build(input);
    sign(&mut pack, &key());
    let now = serde_json::to_value(&pack).unwrap();
    let before: Value = serde_json::from_slice(PACK_BEFORE_CONVERSATION).unwrap();
    assert!(
        to_canonical_vec(&now) == to_canonical_vec(&before),
        "packs without questions changed:\n{now:#}"
    );
}

/// A record kept before one of its values became a known secret is
/// redacted from the pack and marked: the pack verifies, and the report
/// says which records the chain can no longer vouch for and why, instead
/// of calling an honest pack tampered. The marker is signed with the rest:
/// removed (and the pack signed again), the record is reported as altered.
#[test]
fn a_record_redacted_after_chaining_verifies_with_an_explanation() {
    use agentwerke_evidence::pack;
    use agentwerke_evidence::redact::Redactor;

    let redactor = Redactor::new(["Draft"]);
    let mut input = fixture::input();
    input.audit_log = input
        .audit_log
        .into_iter()
        .map(|record| record.redacted(&redactor))
        .collect();
    let mut redacted = pack::build(input);
    sign(&mut redacted, &key());
    let value = serde_json::to_value(&redacted).unwrap();
    assert!(!value["auditLog"].to_string().contains("Draft"));
    let report = check(&value);
    assert!(report.is_valid(), "{:?}", messages(&report));
    let explained: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("was redacted after it was chained"))
        .collect();
    assert_eq!(explained.len(), 2, "{:?}", report.warnings);
    assert!(
        explained[0].starts_with("auditLog[1] (seq 2)"),
        "{explained:?}"
    );

    // Marked after the fact by someone without the key: the signed digest
    // of the item no longer holds.
    let mut marked = fixture::signed_value();
    marked["auditLog"][2]["data"] = json!({"nodeId": "[REDACTED]", "tokens": 1234});
    marked["auditLog"][2]["redactedAfterChaining"] = json!(true);
    assert!(!check(&marked).is_valid());

    // Unmarked and signed again: the chain names the record.
    redacted.audit_log[1].redacted_after_chaining = false;
    sign(&mut redacted, &key());
    let report = check(&serde_json::to_value(&redacted).unwrap());
    assert_eq!(
        messages(&report),
        ["auditLog[1] (seq 2) content altered: hash mismatch"]
    );
}
