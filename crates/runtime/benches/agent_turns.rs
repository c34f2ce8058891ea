//! The agent loop's own overhead per model turn: everything an agent step
//! does between two model calls (handling the answer, each tool call through
//! the real Tool Gateway with its policy decision and durable records, the
//! journal, the evidence, assembling the next request), without the wait
//! for the model.
//!
//! ```text
//! cargo bench -p agentwerke-runtime --bench agent_turns
//! BENCH_RUNS=500 cargo bench -p agentwerke-runtime --bench agent_turns
//! ```
//!
//! The real runtime (`Runtime::start`: applier, executor, timers) on a
//! file-backed SQLite store opened as production opens it, with the real
//! gateway (built-in tools, the shipped default policy set). The model is
//! the scripted provider, which answers at once; a timing wrapper records
//! when each call went out and when its answer came back. Each run's agent
//! step takes five turns: four ask for a tool call (`knowledge.search`
//! three times, `artifact.write` once), the fifth answers. Runs go one at a
//! time, so no turn waits for another run's work. A turn's overhead is the
//! time from one model answer to the next model request of the same step.
//! Not a timed test: it measures, prints and checks that every run
//! completed with every call executed, and never fails on a number.

#[path = "common/mod.rs"]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentwerke_agents::provider::{ModelProvider, ModelRequest, ModelResponse, ProviderError};
use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_gateway::{AgentProfile, SandboxProfile};
use agentwerke_runtime::command::{Command, ImportWorkflow, PublishWorkflow, StartRun};
use agentwerke_runtime::{
    Clock, GatewayService, GatewaySettings, Runtime, RuntimeDeps, RuntimeOptions, SystemClock,
};
use agentwerke_store::{SqliteStore, Store};
use agentwerke_types::{RunStatus, ToolCallStatus};
use serde_json::json;

/// The allocator the `agentwerke` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One agent task that may read and write, in staging.
const WORKFLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:aw="https://agentwerke.de/bpmn/extensions/v1" id="defs" targetNamespace="https://agentwerke.de/bench">
  <bpmn:process id="turns" name="Agent turns" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Research"/>
    <bpmn:serviceTask id="Research" name="Research">
      <bpmn:extensionElements>
        <aw:agentTask agent="analyst" purposeType="analysis" environment="staging"
                      permissionLevel="read-write" sandboxProfile="offline">
          <aw:prompt>Research "{{input.title}}" and write notes.</aw:prompt>
        </aw:agentTask>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f2" sourceRef="Research" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Five turns: four tool calls, then the answer.
const SCRIPT: &str = r#"
[[agents.analyst]]
tool_calls = [{ name = "knowledge.search", arguments = { query = "rollback plan" } }]
[[agents.analyst]]
tool_calls = [{ name = "knowledge.search", arguments = { query = "release process" } }]
[[agents.analyst]]
tool_calls = [{ name = "artifact.write", arguments = { path = "notes/{{input.title}}.md", content = "Notes on {{input.title}}: {{last_tool_result}}" } }]
[[agents.analyst]]
tool_calls = [{ name = "knowledge.search", arguments = { query = "secrets" } }]
[[agents.analyst]]
reply = "Researched {{input.title}}."
"#;

/// Model turns per step, and so gaps between them.
const TURNS: usize = 5;

/// One model call: the step it belongs to, when it went out, when it came back.
struct Call {
    step: (String, String),
    sent: Instant,
    answered: Instant,
}

/// The scripted provider, timed: what is spent inside it is the model's
/// share and is left out of the loop's overhead.
struct Timed {
    inner: ScriptedProvider,
    calls: Mutex<Vec<Call>>,
}

#[async_trait::async_trait]
impl ModelProvider for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn complete(&self, req: &ModelRequest) -> Result<ModelResponse, ProviderError> {
        let sent = Instant::now();
        let answer = self.inner.complete(req).await;
        let answered = Instant::now();
        self.calls.lock().expect("calls").push(Call {
            step: (req.run_id.clone(), req.work_id.clone()),
            sent,
            answered,
        });
        answer
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(&dir.path().join("bench.db").display().to_string())
        .await
        .expect("store");
    let durability = sqlite.durability().await.expect("durability settings");
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gateway = Arc::new(
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
    let provider = Arc::new(Timed {
        inner: ScriptedProvider::from_toml_str(SCRIPT).expect("script"),
        calls: Mutex::new(Vec::new()),
    });
    let runtime = Runtime::start(
        RuntimeOptions {
            owner: "bench-node".to_owned(),
            poll_interval: Duration::from_millis(5),
            ..RuntimeOptions::default()
        },
        RuntimeDeps {
            store: store.clone(),
            provider: provider.clone(),
            clock: clock.clone(),
            gateway: Some(gateway),
        },
    );
    let handle = runtime.handle();
    let import = Command::ImportWorkflow(ImportWorkflow {
        workflow_id: "turns".to_owned(),
        name: "turns".to_owned(),
        bpmn_xml: WORKFLOW.to_owned(),
        diagnostics: json!([]),
        by: "bench".to_owned(),
    });
    let draft = handle.submit(import).await.expect("import");
    let version = draft.committed.workflow_version().expect("a draft").version;
    handle
        .submit(Command::PublishWorkflow(PublishWorkflow {
            workflow_id: "turns".to_owned(),
            version,
            by: "bench".to_owned(),
        }))
        .await
        .expect("publish");

    println!(
        "agentwerke agent-turn bench: {runs} runs one at a time, {TURNS} model turns each \
         ({} tool calls through the gateway), {} CPUs; store: file-backed SQLite, {durability}",
        TURNS - 1,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let started = Instant::now();
    for n in 0..runs {
        let run_id = uuid::Uuid::now_v7().to_string();
        handle
            .submit(Command::StartRun(StartRun {
                run_id: run_id.clone().into(),
                workflow_id: "turns".to_owned(),
                version: Some(version),
                inputs: json!({"title": format!("change-{n}")}),
                requested_by: "bench".to_owned(),
            }))
            .await
            .expect("start run");
        wait_completed(store.as_ref(), &run_id).await;
        let executed = store
            .tool_calls_for_run(&run_id)
            .await
            .expect("journal")
            .iter()
            .filter(|call| call.status == ToolCallStatus::Executed)
            .count();
        assert_eq!(executed, TURNS - 1, "run {run_id}: every call executed");
    }
    let elapsed = started.elapsed();
    runtime.stop().await;

    let calls = std::mem::take(&mut *provider.calls.lock().expect("calls"));
    let model: Duration = calls.iter().map(|c| c.answered - c.sent).sum();
    let mut gaps = overheads(calls);
    assert_eq!(
        gaps.len(),
        runs * (TURNS - 1),
        "every step took {TURNS} turns"
    );
    gaps.sort();
    println!(
        "   per model turn, the loop's own time (answer in -> next request out): \
         p50 {:?}  p99 {:?}  max {:?}  ({} turns)",
        percentile(&gaps, 50),
        percentile(&gaps, 99),
        gaps.last().copied().unwrap_or_default(),
        gaps.len(),
    );
    println!(
        "   inside the scripted model: {:?} per call; whole runs: {:?} per run",
        model / u32::try_from(runs * TURNS).unwrap_or(u32::MAX).max(1),
        elapsed / u32::try_from(runs).unwrap_or(u32::MAX).max(1),
    );
}

/// The gaps between consecutive model calls of each step.
fn overheads(mut calls: Vec<Call>) -> Vec<Duration> {
    calls.sort_by(|a, b| a.step.cmp(&b.step).then(a.sent.cmp(&b.sent)));
    calls
        .windows(2)
        .filter(|pair| pair[0].step == pair[1].step)
        .map(|pair| pair[1].sent - pair[0].answered)
        .collect()
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p) / 100]
}

async fn wait_completed(store: &dyn Store, run_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = store.get_run(run_id).await.expect("run").expect("the run");
        if run.status == RunStatus::Completed {
            return;
        }
        assert!(
            !run.status.is_terminal() && Instant::now() < deadline,
            "run {run_id} ended as {:?} or took over 30 s",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
