//! The audit log stays a valid hash chain through every kind of write.

use agentwerke_evidence::chain::verify_chain;
use agentwerke_store::gateway::HaltScope;
use agentwerke_store::{
    Change, GLOBAL_STREAM, JsonText, NewApproval, Op, Row, RunEvent, Store, Stream,
};
use agentwerke_types::{ApprovalDecision, ApprovalKind};
use serde_json::json;

use super::support::{
    clear_halt, draft, finish, fire_due, global, published, queue, set_halt, start_run, step, t,
    usage,
};

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
        .commit(Change {
            stream: agentwerke_store::Stream::Global,
            at: t(400),
            rows: vec![Row::DeliverMessage(agentwerke_store::MessageDelivery {
                delivery_id: "d".to_owned(),
                message_name: "ping".to_owned(),
                correlation_key: String::new(),
                payload: JsonText::from(&json!(null)),
                event: JsonText::from(&json!({"type": "message_received"})),
                fact: agentwerke_store::RunFact {
                    at: "2023-11-14T22:13:20Z".to_owned(),
                    actor: agentwerke_types::Actor::System,
                    kind: agentwerke_types::AuditKind::MessageReceived,
                    data: json!({"deliveryId": "d"}),
                },
            })],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
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
    let record = |kind: &str, data| draft(GLOBAL_STREAM, kind, data);
    let drafted = Row::DraftPolicySet {
        version: 1,
        text: "permit (principal, action, resource);".to_owned(),
        sha256: "policy-sha".to_owned(),
        note: None,
        created_by: "ada".to_owned(),
    };
    global(
        store,
        t(2),
        vec![drafted],
        vec![record("policy.drafted", json!({"sha256": "policy-sha"}))],
    )
    .await
    .unwrap();
    let publish = Row::PublishPolicySet {
        version: 1,
        published_by: "ada".to_owned(),
    };
    global(
        store,
        t(3),
        vec![publish],
        vec![record("policy.published", json!({"version": 1}))],
    )
    .await
    .unwrap();
    set_halt(store, HaltScope::Global, "", t(4)).await.unwrap();
    clear_halt(store, HaltScope::Global, "", t(5))
        .await
        .unwrap();

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

/// The head of a stream is its newest record's seq, 0 before the first:
/// where a live follower that has seen everything starts.
pub(crate) async fn head_is_the_newest_seq(store: &dyn agentwerke_store::Store) {
    assert_eq!(store.audit_head("run-1").await.unwrap(), 0);
    super::support::one_run(store, "wf", "run-1").await;
    let log = store.audit_log("run-1").await.unwrap();
    let newest = log.last().expect("the run's first record").seq;
    assert_eq!(store.audit_head("run-1").await.unwrap(), newest);
    assert_eq!(store.audit_head("run-2").await.unwrap(), 0);
}
