use serde_json::json;

use super::*;

fn draft(kind: &str, n: u64) -> AuditDraft {
    AuditDraft {
        run_id: "run-1".to_owned(),
        at: format!("2025-01-31T09:15:{n:02}.000Z"),
        actor: Actor::System,
        kind: kind.parse().expect("an audit kind"),
        data: json!({"n": n}),
    }
}

fn log(len: u64) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = Vec::new();
    for n in 1..=len {
        let record = next(records.last(), draft("step.completed", n));
        records.push(record);
    }
    records
}

#[test]
fn starts_at_genesis_and_links_each_record() {
    let records = log(3);
    assert_eq!(records[0].seq, 1);
    assert_eq!(records[0].prev_hash, GENESIS);
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[2].seq, 3);
    assert_eq!(verify_chain(&records), Ok(records[2].head()));
    assert_eq!(verify_chain(&[]), Ok(ChainHead::genesis()));
}

/// A writer that keeps only chain heads links exactly as one that keeps
/// the last record.
#[test]
fn next_after_a_head_equals_next_after_its_record() {
    let records = log(3);
    let last = &records[2];
    assert_eq!(
        next_after(&last.head(), draft("step.completed", 4)),
        next(Some(last), draft("step.completed", 4))
    );
    assert_eq!(
        next_after(&ChainHead::genesis(), draft("step.completed", 1)),
        records[0]
    );
}

#[test]
fn hash_covers_exactly_the_serialised_record_without_hash() {
    let record = &log(1)[0];
    let mut value = serde_json::to_value(record).unwrap();
    value.as_object_mut().unwrap().remove("hash");
    assert_eq!(record.hash, crate::canonical::digest_value(&value));
    let keys: Vec<_> = serde_json::to_value(record)
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys.len(),
        8,
        "camelCase keys: seq runId at actor kind data prevHash hash: {keys:?}"
    );
}

#[test]
fn names_an_edited_record() {
    let mut records = log(4);
    records[2].data = json!({"n": 99});
    assert_eq!(
        verify_chain(&records),
        Err(ChainError::ContentAltered { index: 2, seq: 3 })
    );
}

/// A value that became a known secret after its record was chained is
/// redacted on the way out; the record is marked, keeps its place in the
/// chain, and is not reported as edited. Unmarked, the same change is.
#[test]
fn a_record_redacted_after_chaining_is_marked_and_keeps_its_place() {
    let later = "learned-later-3e7b";
    let mut records: Vec<AuditRecord> = Vec::new();
    for n in 1..=3 {
        let mut draft = draft("step.completed", n);
        if n == 2 {
            draft.data = json!({"reason": format!("incident {later}")});
        }
        let record = next(records.last(), draft);
        records.push(record);
    }
    let redactor = crate::redact::Redactor::new([later]);
    let shown: Vec<AuditRecord> = records
        .iter()
        .cloned()
        .map(|r| r.redacted(&redactor))
        .collect();
    assert_eq!(shown[1].data, json!({"reason": "incident [REDACTED]"}));
    assert_eq!(
        shown
            .iter()
            .map(|r| r.redacted_after_chaining)
            .collect::<Vec<_>>(),
        [false, true, false]
    );
    assert_eq!(shown[1].hash, records[1].hash, "the stored hash is kept");
    assert_eq!(check_chain(&shown, None, None), []);
    let json = serde_json::to_value(&shown).unwrap();
    assert_eq!(json[1]["redactedAfterChaining"], true);
    assert!(json[0].get("redactedAfterChaining").is_none(), "{json}");

    let mut unmarked = shown;
    unmarked[1].redacted_after_chaining = false;
    assert_eq!(
        check_chain(&unmarked, None, None),
        [ChainError::ContentAltered { index: 1, seq: 2 }]
    );
}

#[test]
fn names_the_link_after_a_rehashed_record() {
    let mut records = log(4);
    records[1].kind = "step.skipped".to_owned();
    records[1].hash = records[1].compute_hash();
    assert_eq!(
        check_chain(&records, None, None),
        [ChainError::LinkBroken { index: 2, seq: 3 }]
    );
}

#[test]
fn names_a_deleted_record() {
    let mut records = log(4);
    records.remove(1);
    assert_eq!(
        check_chain(&records, None, None),
        [
            ChainError::SeqGap {
                index: 1,
                expected: 2,
                found: 3
            },
            ChainError::LinkBroken { index: 1, seq: 3 },
        ]
    );
}

#[test]
fn names_reordered_records() {
    let mut records = log(4);
    records.swap(1, 2);
    let problems = check_chain(&records, None, None);
    assert_eq!(
        problems[0],
        ChainError::SeqGap {
            index: 1,
            expected: 2,
            found: 3
        }
    );
    assert!(problems.contains(&ChainError::OutOfOrder {
        index: 2,
        expected: 4,
        found: 2
    }));
}

#[test]
fn names_truncation_and_foreign_heads() {
    let records = log(4);
    let declared = records[3].head();
    assert_eq!(verify_chain_to(&records, &declared), Ok(declared.clone()));
    assert_eq!(
        verify_chain_to(&records[..2], &declared),
        Err(ChainError::Truncated {
            declared_seq: 4,
            last_seq: 2
        })
    );
    let other = ChainHead {
        seq: 4,
        hash: GENESIS.to_owned(),
    };
    assert!(matches!(
        verify_chain_to(&records, &other),
        Err(ChainError::HeadMismatch { .. })
    ));
}

#[test]
fn names_a_record_from_another_run() {
    let mut records = log(2);
    let mut foreign = next(Some(&records[1]), draft("run.completed", 3));
    foreign.run_id = "run-2".to_owned();
    foreign.hash = foreign.compute_hash();
    records.push(foreign);
    assert!(matches!(
        verify_chain(&records),
        Err(ChainError::RunMismatch {
            index: 2,
            seq: 3,
            ..
        })
    ));
}

#[test]
fn messages_name_index_and_seq() {
    assert_eq!(
        ChainError::ContentAltered { index: 4, seq: 5 }.to_string(),
        "auditLog[4] (seq 5) content altered: hash mismatch"
    );
    assert!(
        ChainError::LinkBroken { index: 5, seq: 6 }
            .to_string()
            .starts_with("auditLog[5] (seq 6) link broken")
    );
}

mod sealed {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::super::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[\"\\\\\u{0}-\u{1f}\u{e000}\u{1f600}a-z]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("[a-zA-Z\u{e000}\u{1f600}_]{0,5}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Sealing is only a way of computing the same hash sooner: for any
        /// draft and any previous head it links exactly like `next_after`,
        /// and keeps the data in canonical form.
        #[test]
        fn a_sealed_draft_links_like_next_after(
            data in any_json(),
            actor in "\\PC{0,10}",
            kind in proptest::sample::select(AuditKind::ALL.to_vec()),
            run_id in "\\PC{0,10}",
            seq in 0u64..u64::MAX / 2,
            prev_hash in "[0-9a-f]{64}",
        ) {
            let draft = AuditDraft {
                run_id,
                at: "2026-12-02T09:15:00.000Z".to_owned(),
                actor: Actor::user(actor),
                kind,
                data,
            };
            let head = ChainHead { seq, hash: prev_hash };
            let sealed = SealedDraft::new(draft.clone());
            let record = next_after(&head, draft.clone());
            prop_assert_eq!(sealed.link(&head), record.head());
            prop_assert_eq!(sealed.draft(), &draft);
            // The data is kept in its canonical form: what the hash commits
            // to, and read back it hashes the same (-0.0 is kept as 0).
            let stored: Value = serde_json::from_str(sealed.data_json()).unwrap();
            let canonical = crate::canonical::to_canonical_vec(&draft.data);
            prop_assert_eq!(sealed.data_json().as_bytes(), &canonical[..]);
            prop_assert_eq!(crate::canonical::to_canonical_vec(&stored), canonical);
        }
    }

    #[test]
    fn a_sealed_draft_starts_a_chain_like_next() {
        let draft = AuditDraft {
            run_id: "run-1".to_owned(),
            at: "2026-12-02T09:15:00.000Z".to_owned(),
            actor: Actor::user("alice"),
            kind: AuditKind::RunRequested,
            data: json!({"b": [1, 2.5, "x"], "a": {"ü": null}}),
        };
        let sealed = SealedDraft::new(draft.clone());
        assert_eq!(sealed.link(&ChainHead::genesis()), next(None, draft).head());
    }
}
