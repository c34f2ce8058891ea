//! The audit log stays a valid hash chain through every kind of write.

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::gateway::{HaltRow, HaltScope, NewPolicySet};
use agentwerke_store::{
    Change, Delivery, GLOBAL_STREAM, JsonText, NewApproval, Op, Row, RunEvent, Store, Stream,
};
use agentwerke_types::{ApprovalDecision, ApprovalKind};
use serde_json::json;

use super::support::{draft, finish, fire_due, published, queue, start_run, step, t, usage};

/// Many runs, many writes of every kind, then every chain verifies and
/// sequence numbers have no gaps.
pub(crate) async fn chains_verify_after_many_ops(store: &dyn Store) {
    let version = published(store, "wf").await;
    for n in 0..5 {
        let run_id = format!("run-{n}");
        start_run(store, &version, &run_id, t(n)).await;
        // Awkward floats and nested data must survive the round trip exactly.
        let data = json!({"n": n, "cost": 0.1 + 0.2, "tiny": 1.0000000000000002e-7,
                          "big": 1.7976931348623157e308, "text": "ünïcødé \"quoted\"",
                          "nested": {"z": [1, 2.5, null], "a": true}});
        queue(
            store,
            &run_id,
            json!({"type": "poke"}),
            None,
            Some(draft(&run_id, "run.cancel_requested", data)),
        )
        .await
        .unwrap();
        step(
            store,
            "engine",
            t(100 + n),
            vec![
                Op::InsertWork {
                    work_id: "w".into(),
                    kind: "agent_task".to_owned(),
                    payload: JsonText::from(&json!({})),
                },
                Op::OpenApproval {
                    approval: NewApproval {
                        id: format!("ap-{n}").into(),
                        work_id: "gate".into(),
                        node_id: "Review".to_owned(),
                        kind: ApprovalKind::ToolEscalation,
                        request: json!({}),
                        expires_at: None,
                        list_run_artifacts: false,
                    },
                },
                Op::AwaitMessage {
                    work_id: "m".into(),
                    message_name: "ping".to_owned(),
                    correlation_key: None,
                },
                Op::ScheduleTimer {
                    timer_id: "tm".to_owned(),
                    due_at: t(500),
                    node_id: "T".to_owned(),
                },
                Op::Record(usage("policy", 0.0)),
            ],
        )
        .await;
    }
    for item in store.claim_work("exec", t(200), 1_000, 10).await.unwrap() {
        let run_id = item.run_id.clone();
        let mut done = finish(
            run_id.as_str(),
            item.work_id.as_str(),
            "exec",
            json!({"type": "task_completed"}),
            format!("work:{run_id}:{}", item.work_id),
            t(250),
        );
        done.records = vec![usage("git", 0.0)];
        done.audit = vec![draft(&run_id, "step.completed", json!({}))];
        store.commit(done).await.unwrap();
        store
            .commit(Change {
                stream: Stream::Run(run_id.clone()),
                at: t(300),
                rows: vec![Row::DecideApproval {
                    id: format!("ap-{}", &run_id[4..]).into(),
                    decision: ApprovalDecision::Approved,
                    comment: None,
                    decided_by: "bob".to_owned(),
                }],
                event: Some(RunEvent {
                    event: JsonText::from(&json!({"type": "approval_decided"})),
                    dedup_key: Some(format!("approval:{run_id}")),
                    step: None,
                }),
                audit: vec![draft(&run_id, "approval.decided", json!({}))],
                records: Vec::new(),
            })
            .await
            .unwrap();
    }
    store
        .deliver_message(Delivery {
            delivery_id: "d".to_owned(),
            message_name: "ping".to_owned(),
            correlation_key: String::new(),
            payload: json!(null),
            at: t(400),
        })
        .await
        .unwrap();
    assert_eq!(fire_due(store, t(500), 100).await, 5);
    for claimed in store.claim_runs("engine", t(600), 1_000, 10).await.unwrap() {
        assert_eq!(claimed.events.len(), 4);
        let audit = vec![draft(&claimed.run.id, "event.applied", json!({})); 3];
        let mut commit = super::support::commit_all(&claimed, "engine", "completed", vec![]);
        commit.audit = audit;
        store.commit_run(commit).await.unwrap();
    }

    for n in 0..5 {
        let run_id = format!("run-{n}");
        let log = store.audit_log(&run_id).await.unwrap();
        assert_eq!(
            log.len(),
            10,
            "{run_id}: {:?}",
            log.iter().map(|r| &r.kind).collect::<Vec<_>>()
        );
        assert!(log.iter().zip(1..).all(|(r, seq)| r.seq == seq), "no gaps");
        assert!(log.iter().all(|r| r.run_id == run_id));
        verify_chain(&log).expect("run chain verifies");
        assert_eq!(log[1].data["cost"], json!(0.1 + 0.2));
        assert_eq!(log[1].data["tiny"], json!(1.0000000000000002e-7));
    }
    let global = store.audit_log(GLOBAL_STREAM).await.unwrap();
    assert_eq!(global.len(), 2);
    verify_chain(&global).expect("global chain verifies");
    assert_eq!(store.records("run-3").await.unwrap().len(), 2);
}

/// The global stream holds every workflow-level and gateway-level change
/// and reads back page by page, oldest first: the pages put together are
/// the whole chain, and the chain verifies.
pub(crate) async fn global_stream_pages_in_order(store: &dyn Store) {
    published(store, "wf").await;
    let global = |kind: &str, data| draft(GLOBAL_STREAM, kind, data);
    let policy = store
        .create_policy_set(NewPolicySet {
            text: "permit (principal, action, resource);".to_owned(),
            sha256: "policy-sha".to_owned(),
            note: None,
            created_by: "ada".to_owned(),
            at: t(2),
            audit: global("policy.drafted", json!({"sha256": "policy-sha"})),
        })
        .await
        .unwrap();
    store
        .publish_policy_set(
            policy.version,
            "ada",
            t(3),
            global("policy.published", json!({"version": policy.version})),
        )
        .await
        .unwrap();
    let halt = HaltRow {
        scope: HaltScope::Global,
        target: String::new(),
        reason: "incident 7".to_owned(),
        halted_by: "ada".to_owned(),
        halted_at: t(4),
    };
    store
        .set_halt(
            halt,
            global("gateway.halted", json!({"reason": "incident 7"})),
        )
        .await
        .unwrap();
    assert!(
        store
            .clear_halt(HaltScope::Global, "", global("gateway.resumed", json!({})))
            .await
            .unwrap()
            .is_some()
    );

    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_page(GLOBAL_STREAM, after, 2).await.unwrap();
        assert!(page.items.len() <= 2);
        pages.push(page.items.clone());
        match page.next_cursor {
            Some(cursor) => {
                assert_eq!(cursor, page.items.last().unwrap().seq.to_string());
                after = cursor.parse().unwrap();
            }
            None => break,
        }
    }
    assert_eq!(
        pages.len(),
        3,
        "six records, two a page, no empty last page"
    );
    let records: Vec<_> = pages.into_iter().flatten().collect();
    let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "workflow.version_imported",
            "workflow.version_published",
            "policy.drafted",
            "policy.published",
            "gateway.halted",
            "gateway.resumed",
        ]
    );
    assert_eq!(records, store.audit_log(GLOBAL_STREAM).await.unwrap());
    let head = verify_chain(&records).expect("the global chain verifies");
    assert_eq!(head.seq, 6);

    let rest = store.audit_page(GLOBAL_STREAM, 6, 50).await.unwrap();
    assert!(rest.items.is_empty() && rest.next_cursor.is_none());
    let one = store.audit_page(GLOBAL_STREAM, 4, 0).await.unwrap();
    assert_eq!(one.items.len(), 1, "a limit of 0 reads one record");
    assert_eq!(one.items[0].kind, "gateway.halted");
    assert_eq!(one.next_cursor.as_deref(), Some("5"));
    let whole = store.audit_page(GLOBAL_STREAM, 0, u32::MAX).await.unwrap();
    assert_eq!(whole.items.len(), 6);
    assert!(whole.next_cursor.is_none());
}
