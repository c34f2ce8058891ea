//! The hand-written JSON Schema describes what the crate writes.

use agentwerke_evidence::{PACK_SCHEMA, build};
use serde_json::{Value, json};

use crate::fixture::{self, signed_value};

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(PACK_SCHEMA).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

fn errors(instance: &Value) -> Vec<String> {
    validator()
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn a_signed_pack_validates() {
    let pack = signed_value();
    // The fixture has a question, so its entry shape and digests are checked.
    assert_eq!(pack["conversation"].as_array().map(Vec::len), Some(1));
    assert_eq!(errors(&pack), Vec::<String>::new());
}

#[test]
fn packs_without_a_conversation_and_open_questions_validate() {
    let old: Value =
        serde_json::from_slice(include_bytes!("pack-before-conversation.json")).unwrap();
    assert!(old.get("conversation").is_none());
    assert_eq!(errors(&old), Vec::<String>::new());

    let mut input = fixture::input();
    input.conversation[0].status = "open".to_owned();
    input.conversation[0].answer = None;
    input.conversation[0].answered_by = None;
    input.conversation[0].answered_at = None;
    let mut pack = build(input);
    agentwerke_evidence::sign(&mut pack, &fixture::key());
    assert_eq!(
        errors(&serde_json::to_value(pack).unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn conversation_entries_are_closed_and_typed() {
    type Alteration = (&'static str, fn(&mut Value));
    let cases: [Alteration; 5] = [
        ("missing answeredBy", |p| {
            p["conversation"][0]
                .as_object_mut()
                .unwrap()
                .remove("answeredBy");
        }),
        ("unknown key", |p| {
            p["conversation"][0]["mood"] = json!("calm")
        }),
        ("status", |p| {
            p["conversation"][0]["status"] = json!("ignored")
        }),
        ("askedAt", |p| {
            p["conversation"][0]["askedAt"] = json!("yesterday")
        }),
        ("digest", |p| {
            p["integrity"]["digests"]["conversation"][0] = json!("XYZ")
        }),
    ];
    for (what, alter) in cases {
        let mut pack = signed_value();
        alter(&mut pack);
        assert!(!validator().is_valid(&pack), "{what}");
    }
}

#[test]
fn an_unsigned_projection_validates() {
    let pack = serde_json::to_value(build(fixture::input())).unwrap();
    assert!(pack.get("integrity").is_none());
    assert_eq!(errors(&pack), Vec::<String>::new());
}

#[test]
fn an_empty_run_validates() {
    let mut input = fixture::input();
    input.run.steps.clear();
    input.prompts.clear();
    input.approvals.clear();
    input.conversation.clear();
    input.audit_log.truncate(1);
    let mut pack = build(input);
    agentwerke_evidence::sign(&mut pack, &fixture::key());
    assert_eq!(
        errors(&serde_json::to_value(pack).unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn a_pack_missing_a_required_key_does_not_validate() {
    for key in ["runId", "workflow", "auditLog", "modelUsage"] {
        let mut pack = signed_value();
        pack.as_object_mut().unwrap().remove(key);
        assert!(!validator().is_valid(&pack), "{key}");
    }
    let mut pack = signed_value();
    pack["approvals"][0]
        .as_object_mut()
        .unwrap()
        .remove("decidedBy");
    assert!(!validator().is_valid(&pack));
    let mut pack = signed_value();
    pack["integrity"]
        .as_object_mut()
        .unwrap()
        .remove("signature");
    assert!(!validator().is_valid(&pack));
}

#[test]
fn closed_objects_refuse_unknown_keys_and_wrong_types() {
    type Alteration = (&'static str, fn(&mut Value));
    let cases: [Alteration; 5] = [
        ("top-level key", |p| p["surprise"] = json!(1)),
        ("step key", |p| {
            p["run"]["steps"][0]["shell"] = json!("rm -rf /")
        }),
        ("status", |p| p["run"]["status"] = json!("paused")),
        ("digest", |p| p["artifacts"][0]["sha256"] = json!("ABC")),
        ("schema version", |p| p["schemaVersion"] = json!("v2")),
    ];
    for (what, alter) in cases {
        let mut pack = signed_value();
        alter(&mut pack);
        assert!(!validator().is_valid(&pack), "{what}");
    }
}

#[test]
fn open_payloads_accept_any_json() {
    let mut pack = signed_value();
    pack["run"]["inputs"] = json!([1, {"deep": [null]}]);
    pack["auditLog"][0]["data"] = json!("text");
    assert!(validator().is_valid(&pack));
}
