//! The Tool Gateway's full overhead per call, including its durable record.
//!
//! For each call: decide (Cedar), read the kill switch from SQLite, run a
//! cheap read-only tool (`knowledge.search` over three documents), then commit
//! the call's records (tool call, policy decision, replay record, audit link)
//! with the step's result in one durable transaction, as the executor does.
//! Prints p50/p99 of each part. `BENCH_CALLS` sets the number of calls.

#[path = "common/mod.rs"]
mod common;

use agentwerke_types::{Actor, AuditKind, RunStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwerke_evidence::chain::AuditDraft;
use agentwerke_gateway::{AgentProfile, CallRequest, Halts, SandboxProfile, TaskSurface};
use agentwerke_runtime::gateway::{StepIdentity, StepTools};
use agentwerke_runtime::{Clock, GatewayService, GatewaySettings, SystemClock};
use agentwerke_store::{
    Change, Commit, JsonText, NewRun, NewWorkflowVersion, Op, Row, RunEvent, SqliteStore, Store,
    Stream,
};
use serde_json::json;

/// The allocator the `agentwerke` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WORKFLOW: &str = include_str!("../../../examples/hello-sdlc.bpmn");

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("bench.db").display().to_string())
            .await
            .expect("store"),
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let service = Arc::new(
        GatewayService::start(
            store.clone(),
            clock.clone(),
            GatewaySettings {
                profiles: agentwerke_profiles::Catalogue::from_config(&[AgentProfile::new(
                    "analyst",
                    [SandboxProfile::Offline],
                )]),
                documents: common::documents(),
                redactor: Default::default(),
                escalation_ttl: Duration::from_secs(3600),
                resolver: None,
                allow_private_hosts: Vec::new(),
                exec: agentwerke_gateway::ExecTools::unavailable(),
            },
        )
        .await
        .expect("gateway"),
    );
    let run_id = seed_run(store.as_ref(), clock.as_ref(), calls).await;
    let surface = TaskSurface {
        purpose_type: "analysis".to_owned(),
        environment: Some("staging".to_owned()),
        ..TaskSurface::default()
    };

    // The policy decision alone, for reference.
    let gateway = service.current();
    let call = CallRequest {
        tool: "knowledge.search".to_owned(),
        arguments: json!({"query": "rollback plan"}),
        agent: "analyst".to_owned(),
        workflow_id: "bench".to_owned(),
        run_id: run_id.clone(),
        node_id: "Analyze".to_owned(),
        attempt: 1,
        task: surface.clone(),
    };
    let mut decide = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        std::hint::black_box(gateway.decide(&call, &Halts::none()));
        decide.push(started.elapsed());
    }

    let (mut brokered, mut recorded, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=calls {
        let started = Instant::now();
        let work_id = format!("w{n}");
        let tools = StepTools::new(
            service.clone(),
            store.clone(),
            clock.clone(),
            StepIdentity {
                run_id: run_id.clone(),
                workflow_id: "bench".to_owned(),
                requested_by: "bench".to_owned(),
                work_id: work_id.clone(),
                node_id: "Analyze".to_owned(),
                node_name: "Analyze".to_owned(),
                agent: "analyst".to_owned(),
                attempt: 1,
            },
            surface.clone(),
        );
        let result = tools
            .broker("knowledge.search", json!({"query": "rollback plan"}))
            .await;
        assert!(
            matches!(result, agentwerke_agents::step::ToolResult::Allowed { .. }),
            "{result:?}"
        );
        let broker_done = Instant::now();
        let trail = tools.into_trail().await;
        store
            .commit(Change {
                stream: Stream::Run(run_id.clone().into()),
                at: clock.now(),
                rows: vec![Row::CompleteWork {
                    work_id: work_id.clone().into(),
                    owner: "bench".to_owned(),
                    resume: None,
                }],
                event: Some(RunEvent {
                    event: JsonText::from(&json!({"type": "task_completed", "work_id": work_id, "output": {}, "at": clock.now()})),
                    dedup_key: Some(format!("bench:{work_id}")),
                    step: None,
                }),
                audit: trail.audit,
                records: trail.records,
            })
            .await
            .expect("durable record");
        let done = Instant::now();
        brokered.push(broker_done - started);
        recorded.push(done - broker_done);
        total.push(done - started);
    }

    println!(
        "Tool Gateway overhead, {calls} calls (knowledge.search, SQLite WAL, one transaction per call)"
    );
    report("policy decision alone (decide)", &mut decide);
    report("brokered call (halts read + decide + tool)", &mut brokered);
    report("durable record (commit of records + audit)", &mut recorded);
    report("full overhead per call", &mut total);
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "  {what:<46} p50 {:>9.1} us   p99 {:>9.1} us",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

/// A published workflow, a run, and one work row per call to complete.
async fn seed_run(store: &dyn Store, clock: &dyn Clock, calls: usize) -> String {
    let now = clock.now();
    // No runtime here: the import and the publication are committed as
    // the global rows their commands plan.
    let workflow = NewWorkflowVersion {
        workflow_id: "bench".to_owned(),
        name: "bench".to_owned(),
        bpmn_xml: WORKFLOW.to_owned(),
        bpmn_sha256: "0".repeat(64),
        diagnostics: JsonText::from(&json!([])),
        created_by: "bench".to_owned(),
    };
    let publish = Row::PublishWorkflowVersion {
        workflow_id: "bench".to_owned(),
        version: 1,
        published_by: "bench".to_owned(),
    };
    let committed = store
        .commit(Change {
            stream: Stream::Global,
            at: now,
            rows: vec![
                Row::ImportWorkflowVersion {
                    version: 1,
                    workflow,
                },
                publish,
            ],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await
        .expect("workflow");
    let version = committed.workflow_version().expect("published").clone();
    let run_id = "bench-run".to_owned();
    // Created with its start event queued, for an applier-style claim below.
    store
        .commit(Change {
            stream: Stream::Run(run_id.clone().into()),
            at: now,
            rows: vec![Row::CreateRun(NewRun {
                run_id: run_id.clone().into(),
                workflow_id: "bench".to_owned(),
                version: version.version,
                bpmn_sha256: "0".repeat(64),
                requested_by: "bench".to_owned(),
                inputs: JsonText::from(&json!({})),
                state: JsonText::from(&json!({})),
                status: RunStatus::Running,
                completed_at: None,
                ops: Vec::new(),
            })],
            event: Some(RunEvent {
                event: JsonText::from(&json!({"type": "start", "input": {}, "at": now})),
                dedup_key: None,
                step: None,
            }),
            audit: vec![AuditDraft {
                run_id: run_id.clone(),
                at: "2026-01-01T00:00:00.000Z".to_owned(),
                actor: Actor::System,
                kind: AuditKind::RunRequested,
                data: json!({}),
            }],
            records: Vec::new(),
        })
        .await
        .expect("run");
    let claimed = store
        .claim_runs("bench", now, 60_000, 1)
        .await
        .expect("claim")
        .pop()
        .expect("claimed run");
    store
        .commit_run(Commit {
            run_id: run_id.clone().into(),
            owner: "bench".to_owned(),
            expected_state_version: claimed.run.state_version,
            state: JsonText::from(&json!({})),
            status: RunStatus::Running,
            risk_level: None,
            completed_at: None,
            processed_inbox_ids: claimed.events.iter().map(|e| e.id).collect(),
            ops: (1..=calls)
                .map(|n| Op::InsertWork {
                    work_id: format!("w{n}").into(),
                    kind: "agent_task".to_owned(),
                    payload: JsonText::from(&json!({})),
                })
                .collect(),
            audit: Vec::new(),
        })
        .await
        .expect("work rows");
    run_id
}
