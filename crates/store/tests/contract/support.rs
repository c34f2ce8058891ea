//! Fixtures shared by the contract suite.

use agentwerke_evidence::Record;
use agentwerke_evidence::chain::AuditDraft;
use agentwerke_evidence::record::ModelCallRecord;
use agentwerke_store::gateway::HaltScope;
use agentwerke_store::{
    Change, ClaimedRun, Commit, GLOBAL_STREAM, JsonText, NewRun, NewWorkflowVersion, Op, Row,
    RunEvent, Store, Stream, WorkflowVersion,
};
use agentwerke_types::{RunStatus, Timestamp};
use serde_json::{Value, json};

/// A fixed instant plus `ms`, so tests never read a clock.
pub(crate) fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + ms)
}

/// A model-usage evidence record; `model` tells records apart.
pub(crate) fn usage(model: &str, cost_usd: f64) -> Record {
    Record::ModelUsage(ModelCallRecord {
        work_id: "w-1".to_owned(),
        node_id: "Draft".to_owned(),
        attempt: 1,
        provider: "scripted".to_owned(),
        model: model.to_owned(),
        input_tokens: 3,
        output_tokens: 5,
        cost_usd,
        cached_input_tokens: 0,
        latency_ms: 0,
        retries: 0,
        key: None,
    })
}

/// An audit draft for `run_id`.
pub(crate) fn draft(run_id: &str, kind: &str, data: Value) -> AuditDraft {
    AuditDraft {
        run_id: run_id.to_owned(),
        at: "2023-11-14T22:13:20Z".to_owned(),
        actor: "user:ada".parse().expect("an actor"),
        kind: kind.parse().expect("an audit kind"),
        data,
    }
}

/// A version of `workflow_id` whose document is `body`, to import as a
/// draft.
pub(crate) fn import(workflow_id: &str, body: &str) -> NewWorkflowVersion {
    NewWorkflowVersion {
        workflow_id: workflow_id.to_owned(),
        name: format!("Workflow {workflow_id}"),
        bpmn_xml: format!("<definitions>{body}</definitions>"),
        bpmn_sha256: format!("sha-of-{body}"),
        diagnostics: JsonText::from(&json!([{"severity": "warning", "code": "bpmn.unused"}])),
        created_by: "ada".to_owned(),
    }
}

/// Commits `rows` with `audit` on the global stream at `at`, as a command
/// on workflows, policy sets or halts does.
pub(crate) async fn global(
    store: &dyn Store,
    at: Timestamp,
    rows: Vec<Row>,
    audit: Vec<AuditDraft>,
) -> agentwerke_store::Result<agentwerke_store::Committed> {
    store
        .commit(agentwerke_store::Change {
            stream: Stream::Global,
            at,
            rows,
            event: None,
            audit,
            records: Vec::new(),
        })
        .await
}

/// Imports version 1 of `workflow_id` at `t(0)` and publishes it at `t(1)`,
/// each with its global audit record.
pub(crate) async fn published(store: &dyn Store, workflow_id: &str) -> WorkflowVersion {
    let record = |kind: &str| {
        draft(
            GLOBAL_STREAM,
            kind,
            json!({"workflowId": workflow_id, "version": 1}),
        )
    };
    let import = Row::ImportWorkflowVersion {
        version: 1,
        workflow: import(workflow_id, "v1"),
    };
    global(
        store,
        t(0),
        vec![import],
        vec![record("workflow.version_imported")],
    )
    .await
    .expect("import");
    let publish = Row::PublishWorkflowVersion {
        workflow_id: workflow_id.to_owned(),
        version: 1,
        published_by: "ada".to_owned(),
    };
    global(
        store,
        t(1),
        vec![publish],
        vec![record("workflow.version_published")],
    )
    .await
    .expect("publish")
    .workflow_version()
    .expect("the published version")
    .clone()
}

/// A run `run_id` of `version` in its initial state, with no effects.
pub(crate) fn new_run(version: &WorkflowVersion, run_id: &str) -> NewRun {
    NewRun {
        run_id: run_id.into(),
        workflow_id: version.workflow_id.clone(),
        version: version.version,
        bpmn_sha256: version.bpmn_sha256.clone(),
        requested_by: "ada".to_owned(),
        inputs: JsonText::from(&json!({"ticket": run_id})),
        state: JsonText::from(&json!({"tokens": []})),
        status: RunStatus::Running,
        completed_at: None,
        ops: Vec::new(),
    }
}

/// The change that creates `run` at `at` with the `run.requested` record,
/// its start event queued when `start` is given.
pub(crate) fn create(run: NewRun, at: Timestamp, start: Option<Value>) -> Change {
    let run_id = run.run_id.clone();
    Change {
        stream: Stream::Run(run_id.clone()),
        at,
        audit: vec![draft(
            run_id.as_str(),
            "run.requested",
            json!({"workflowId": run.workflow_id}),
        )],
        rows: vec![Row::CreateRun(run)],
        event: start.map(|event| RunEvent {
            event: JsonText::from(&event),
            dedup_key: None,
            step: None,
        }),
        records: Vec::new(),
    }
}

/// Starts run `run_id` of `version` at `at` with a `start` event queued.
pub(crate) async fn start_run(
    store: &dyn Store,
    version: &WorkflowVersion,
    run_id: &str,
    at: Timestamp,
) {
    let start = json!({"type": "start", "at": at});
    store
        .commit(create(new_run(version, run_id), at, Some(start)))
        .await
        .expect("create run");
}

/// A workflow `wf` published and one run `run_id` started on it.
pub(crate) async fn one_run(store: &dyn Store, wf: &str, run_id: &str) -> WorkflowVersion {
    let version = published(store, wf).await;
    start_run(store, &version, run_id, t(10)).await;
    version
}

/// The commit of `claimed` by `owner` that applies all its events.
pub(crate) fn commit_all(claimed: &ClaimedRun, owner: &str, status: &str, ops: Vec<Op>) -> Commit {
    Commit {
        run_id: claimed.run.id.clone(),
        owner: owner.to_owned(),
        expected_state_version: claimed.run.state_version,
        state: JsonText::from(
            &json!({"applied": claimed.events.len(), "after": claimed.run.state_version}),
        ),
        status: RunStatus::parse(status).expect("a run status"),
        risk_level: None,
        completed_at: None,
        processed_inbox_ids: claimed.events.iter().map(|e| e.id).collect(),
        ops,
        audit: vec![draft(
            &claimed.run.id,
            "event.applied",
            json!({"n": claimed.events.len()}),
        )],
    }
}

/// Claims `run_id` (alone) for `owner` at `now` and commits `ops` with it.
pub(crate) async fn step(
    store: &dyn Store,
    owner: &str,
    now: Timestamp,
    ops: Vec<Op>,
) -> ClaimedRun {
    let mut claimed = store
        .claim_runs(owner, now, 30_000, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1, "expected exactly one claimable run");
    let claimed = claimed.remove(0);
    store
        .commit_run(commit_all(&claimed, owner, "running", ops))
        .await
        .expect("commit");
    claimed
}

/// Unwraps an error, naming what was expected.
pub(crate) fn code_of<T: std::fmt::Debug>(result: agentwerke_store::Result<T>) -> &'static str {
    use agentwerke_types::ErrorCode;
    result.expect_err("expected an error").code()
}

/// Fires `timer_id` of `run_id` at `at` as the fire-timer command does: the
/// row, the `timer_fired` event with its dedup key, a `timer.fired` record.
pub(crate) async fn fire_timer(
    store: &dyn Store,
    run_id: &str,
    timer_id: &str,
    at: Timestamp,
) -> agentwerke_store::Result<agentwerke_store::Committed> {
    store
        .commit(agentwerke_store::Change {
            stream: Stream::Run(run_id.into()),
            at,
            rows: vec![agentwerke_store::Row::FireTimer {
                timer_id: timer_id.to_owned(),
            }],
            event: Some(agentwerke_store::RunEvent {
                event: JsonText::from(
                    &json!({"type": "timer_fired", "timer_id": timer_id, "at": at}),
                ),
                dedup_key: Some(format!("timer:{run_id}:{timer_id}")),
                step: None,
            }),
            audit: vec![draft(run_id, "timer.fired", json!({"timerId": timer_id}))],
            records: Vec::new(),
        })
        .await
}

/// Fires every timer [`Store::due_timers`] names at `at` (at most `limit`),
/// as the timer loop does; how many fired.
pub(crate) async fn fire_due(store: &dyn Store, at: Timestamp, limit: usize) -> usize {
    let mut fired = 0;
    for timer in store.due_timers(at, limit).await.unwrap() {
        assert!(timer.due_at <= at, "only due timers are named");
        fire_timer(store, timer.run_id.as_str(), &timer.timer_id, at)
            .await
            .unwrap();
        fired += 1;
    }
    fired
}

/// Queues `event` for `run_id` the way a command without rows does (a
/// cancel request): one [`Store::commit`] of the event and its audit record;
/// true when the event was queued, false when its dedup key was used before.
pub(crate) async fn queue(
    store: &dyn Store,
    run_id: &str,
    event: Value,
    dedup_key: Option<String>,
    audit: Option<AuditDraft>,
) -> agentwerke_store::Result<bool> {
    let committed = store
        .commit(agentwerke_store::Change {
            stream: Stream::Run(run_id.into()),
            at: t(0),
            rows: Vec::new(),
            event: Some(agentwerke_store::RunEvent {
                event: JsonText::from(&event),
                dedup_key,
                step: None,
            }),
            audit: audit.into_iter().collect(),
            records: Vec::new(),
        })
        .await?;
    Ok(committed.delivered != agentwerke_store::Delivered::Dropped)
}

/// Halts `scope`'s `target` at `at` for "incident", with its
/// `gateway.halted` record, as the halt command does.
pub(crate) async fn set_halt(
    store: &dyn Store,
    scope: HaltScope,
    target: &str,
    at: Timestamp,
) -> agentwerke_store::Result<agentwerke_store::Committed> {
    let row = Row::SetHalt {
        scope,
        target: target.to_owned(),
        reason: "incident".to_owned(),
        halted_by: "ada".to_owned(),
    };
    let record = draft(GLOBAL_STREAM, "gateway.halted", json!({"target": target}));
    global(store, at, vec![row], vec![record]).await
}

/// Lifts the halt of `scope`'s `target` at `at`, with its
/// `gateway.resumed` record, as the resume command does.
pub(crate) async fn clear_halt(
    store: &dyn Store,
    scope: HaltScope,
    target: &str,
    at: Timestamp,
) -> agentwerke_store::Result<agentwerke_store::Committed> {
    let row = Row::ClearHalt {
        scope,
        target: target.to_owned(),
    };
    let record = draft(GLOBAL_STREAM, "gateway.resumed", json!({"target": target}));
    global(store, at, vec![row], vec![record]).await
}

/// A step's end as the executor commits it: `work_id` of `run_id` done by
/// `owner` at `at`, its result `event` keyed by `dedup_key`; no records, no
/// audit, no step offered.
pub(crate) fn finish(
    run_id: &str,
    work_id: &str,
    owner: &str,
    event: Value,
    dedup_key: String,
    at: Timestamp,
) -> agentwerke_store::Change {
    agentwerke_store::Change {
        stream: Stream::Run(run_id.into()),
        at,
        rows: vec![agentwerke_store::Row::CompleteWork {
            work_id: work_id.into(),
            owner: owner.to_owned(),
            resume: None,
        }],
        event: Some(agentwerke_store::RunEvent {
            event: JsonText::from(&event),
            dedup_key: Some(dedup_key),
            step: None,
        }),
        audit: Vec::new(),
        records: Vec::new(),
    }
}

/// Raises the assessed risk of `run_id` as a step's end does, alone.
pub(crate) async fn raise_risk(
    store: &dyn Store,
    run_id: &str,
    level: agentwerke_types::RiskLevel,
    peak: Option<agentwerke_store::RiskPeak>,
) -> agentwerke_store::Committed {
    store
        .commit(agentwerke_store::Change {
            stream: Stream::Run(run_id.into()),
            at: t(900),
            rows: vec![agentwerke_store::Row::RaiseRisk { level, peak }],
            event: None,
            audit: Vec::new(),
            records: Vec::new(),
        })
        .await
        .expect("a raise is never refused")
}
