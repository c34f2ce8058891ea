use serde_json::{Value, json};

use super::*;

/// Records as the runtime and the gateway stored them before [`Record`]
/// existed (kind column, JSON body), one per line, captured from what
/// that code wrote.
const STORED: &str = include_str!("../tests/fixtures/stored_records.jsonl");

fn stored_rows() -> Vec<(String, Value)> {
    STORED
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            (
                row["kind"].as_str().unwrap().to_owned(),
                row["data"].clone(),
            )
        })
        .collect()
}

fn one_of_each() -> Vec<Record> {
    let mut seen = Vec::new();
    let mut records = Vec::new();
    for (kind, body) in stored_rows() {
        let record = Record::from_stored(&kind, body).unwrap();
        if !seen.contains(&kind) {
            seen.push(kind);
            records.push(record);
        }
    }
    records
}

#[test]
fn kind_names_are_pinned() {
    assert_eq!(
        Record::KINDS,
        [
            "prompt",
            "model_usage",
            "tool_call",
            "policy_decision",
            "sandbox_execution",
            "artifact",
            "gateway_call",
            "sandbox_session",
        ]
    );
    let records = one_of_each();
    let mut kinds: Vec<&str> = records.iter().map(Record::kind).collect();
    kinds.sort_unstable();
    let mut pinned = Record::KINDS.to_vec();
    pinned.sort_unstable();
    assert_eq!(kinds, pinned, "the fixture holds one record of every kind");
    for record in &records {
        // The serde tag and `kind()` are one name.
        assert_eq!(serde_json::to_value(record).unwrap()["kind"], record.kind());
    }
}

#[test]
fn records_stored_by_earlier_versions_read_as_they_were_written() {
    let rows = stored_rows();
    assert_eq!(rows.len(), 15);
    for (kind, body) in rows {
        let record =
            Record::from_stored(&kind, body.clone()).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(record.kind(), kind);
        // Nothing was dropped or added on the way in: storing it again
        // gives the body it was read from.
        let (again, stored) = record.stored().unwrap();
        assert_eq!((again, &stored), (kind.as_str(), &body));
    }
}

#[test]
fn typed_fields_come_from_the_stored_body() {
    let rows = stored_rows();
    let (kind, body) = &rows[0];
    match Record::from_stored(kind, body.clone()).unwrap() {
        Record::Prompt(prompt) => {
            assert_eq!(prompt.attempt, 1);
            assert_eq!(prompt.unresolved, ["missing"]);
        }
        other => panic!("not a prompt: {other:?}"),
    }
    let (kind, body) = rows.last().unwrap();
    match Record::from_stored(kind, body.clone()).unwrap() {
        Record::ModelUsage(call) => {
            assert_eq!(call.cost_usd, 0.123_456_789_012_3);
            let usage = ModelUsageRecord::from(&call);
            assert_eq!((usage.input_tokens, usage.output_tokens), (2048, 512));
            // Written before calls kept their latency, retries and key.
            assert_eq!(
                (usage.cached_input_tokens, usage.latency_ms, usage.retries),
                (0, 0, 0)
            );
            assert_eq!(usage.key, None);
        }
        other => panic!("not model usage: {other:?}"),
    }
    // A call recorded with its cache, latency, retries and key, as written
    // now; stored again, it is the body it was read from.
    let body = json!({"workId": "w-1", "nodeId": "Analyze", "attempt": 2,
        "provider": "anthropic", "model": "claude-sonnet-4-5", "inputTokens": 4096,
        "outputTokens": 256, "costUsd": 0.0161, "cachedInputTokens": 3072,
        "latencyMs": 2250, "retries": 2,
        "key": {"name": "ANTHROPIC_API_KEY",
                "fingerprint": "hmac-sha256:00112233445566778899aabbccddeeff"}});
    let record = Record::from_stored("model_usage", body.clone()).unwrap();
    assert_eq!(record.stored().unwrap(), ("model_usage", body.clone()));
    match record {
        Record::ModelUsage(call) => {
            let usage = ModelUsageRecord::from(&call);
            assert_eq!(
                (
                    usage.input_tokens,
                    usage.cached_input_tokens,
                    usage.output_tokens
                ),
                (4096, 3072, 256)
            );
            assert_eq!((usage.latency_ms, usage.retries), (2250, 2));
            let key = usage.key.expect("key");
            assert_eq!(key.name, "ANTHROPIC_API_KEY");
            assert_eq!(
                key.fingerprint.as_deref(),
                Some("hmac-sha256:00112233445566778899aabbccddeeff")
            );
            // The pack's view carries them under the same names.
            let pack = serde_json::to_value(ModelUsageRecord::from(&call)).unwrap();
            for field in ["cachedInputTokens", "latencyMs", "retries", "key"] {
                assert_eq!(pack[field], body[field], "{field}");
            }
        }
        other => panic!("not model usage: {other:?}"),
    }
}

#[test]
fn a_body_that_does_not_fit_its_kind_is_an_error_naming_the_kind_not_the_body() {
    let cases = [
        ("tool_exec", json!({}), UnreadableReason::UnknownKind),
        (
            "artifact",
            json!(["reports/a.md"]),
            UnreadableReason::NotAnObject,
        ),
        (
            "artifact",
            json!({"name": "a.md", "sha256": "ab", "size": 5}),
            UnreadableReason::Mismatch,
        ),
        (
            "artifact",
            json!({"name": "a.md", "sha256": "ab", "size": "hunter2", "mediaType": "x"}),
            UnreadableReason::Mismatch,
        ),
        (
            "policy_decision",
            json!({"workId": null, "at": "t", "subject": "s", "decision": "allow",
                   "policyIds": [], "rationale": null, "riskScore": null,
                   "riskFactors": [], "extra": 1}),
            UnreadableReason::Mismatch,
        ),
        (
            "artifact",
            json!({"kind": "prompt", "name": "a.md", "sha256": "ab", "size": 5, "mediaType": "x"}),
            UnreadableReason::Mismatch,
        ),
    ];
    for (kind, body, reason) in cases {
        let error = Record::from_stored(kind, body).unwrap_err();
        assert_eq!(error.reason, reason, "{kind}");
        assert_eq!(error.code(), "evidence.record_unreadable");
        let message = error.to_string();
        assert!(message.contains(kind), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
