//! Throughput of the sample shape through the real runtime and a durable store.
//!
//! ```text
//! cargo bench -p agentwerke-runtime --bench throughput
//! cargo bench -p agentwerke-runtime --bench throughput -- --runs 5000 --in-flight 512 --steps 256 --shape gated
//! BENCH_RUNS=5000 cargo bench -p agentwerke-runtime --bench throughput
//! ```
//!
//! Not a timed test: it measures, prints and checks correctness, and never
//! fails on a number. Each shape gets a fresh file-backed SQLite store in a
//! temporary folder, opened exactly as production opens it (WAL, the store's
//! own `synchronous` setting, which the output states), and the real loops
//! (`Runtime::start`: applier, executor with the scripted provider, timers).
//!
//! The driver plays the clients: it keeps at most `--in-flight` runs open,
//! starting new ones the way `POST /api/runs` does (`RuntimeHandle::submit`
//! with a `start_run` command: the run is created with its start event
//! applied) as others finish, and decides every
//! pending approval the way `POST /api/approvals/{id}/decision` does
//! (`RuntimeHandle::submit` with a `decide_approval` command). Requests are issued
//! concurrently, as many HTTP clients would.
//!
//! Step latency is taken from the database afterwards, so the measurement
//! cannot slow the loops down: for engine steps, the time from an event being
//! committed to a run's inbox to the commit that applied it; for agent steps,
//! from the work row's commit to the commit of its result. The store stamps
//! rows in milliseconds, so latencies have millisecond resolution.

use agentwerke_types::ApprovalStatus;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentwerke_agents::scripted::ScriptedProvider;
use agentwerke_auth::{Principal, Role};
use agentwerke_engine::ApprovalDecision;
use agentwerke_evidence::chain::verify_chain;
use agentwerke_runtime::command::{
    Command, DecideApproval, ImportWorkflow, PublishWorkflow, StartRun,
};
use agentwerke_runtime::{Clock, Runtime, RuntimeDeps, RuntimeHandle, RuntimeOptions, SystemClock};
use agentwerke_store::{ApprovalFilter, SqliteStore, Store, WorkflowVersion};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};
use tokio::task::JoinSet;

/// The allocator the `agentwerke` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The sample shape: Start -> Analyze (agent) -> Review (approval) -> End.
const HELLO_SDLC: &str = include_str!("../../../examples/hello-sdlc.bpmn");

/// The same shape without the gate: Start -> Analyze (agent) -> End.
const HELLO_NO_GATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:autofac="https://agentwerke.de/bpmn/extensions/v1"
                  id="hello-nogate-definitions" name="Hello without gate"
                  targetNamespace="https://agentwerke.de/samples">
  <bpmn:process id="hello-nogate" name="Hello without gate" isExecutable="true">
    <bpmn:startEvent id="Start" name="Start">
      <bpmn:outgoing>Flow_Start_Analyze</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:serviceTask id="Analyze" name="Analyze">
      <bpmn:extensionElements>
        <autofac:agentTask agent="analyst" purposeType="analysis" policyTag="sdlc"
                           permissionLevel="read-only" sandboxProfile="offline"
                           environment="staging" requiresEvidence="true">
          <autofac:prompt>Analyze the change request "{{input.title}}" (run {{run_id}}) and list its risks.</autofac:prompt>
        </autofac:agentTask>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_Start_Analyze</bpmn:incoming>
      <bpmn:outgoing>Flow_Analyze_End</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="End" name="End">
      <bpmn:incoming>Flow_Analyze_End</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_Start_Analyze" sourceRef="Start" targetRef="Analyze"/>
    <bpmn:sequenceFlow id="Flow_Analyze_End" sourceRef="Analyze" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// How often the driver looks for pending approvals and counts open runs,
/// as an approver's inbox would poll. Each look reads every pending approval,
/// on the same two cores as the system being measured, so it is kept to what
/// a busy approval inbox does rather than as often as possible.
const POLL: Duration = Duration::from_millis(10);

/// How many create or decide requests the driver keeps outstanding at once,
/// like that many concurrent HTTP clients.
const CLIENTS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Gated,
    Ungated,
}

impl Shape {
    fn workflow_id(self) -> &'static str {
        match self {
            Shape::Gated => "hello-sdlc",
            Shape::Ungated => "hello-nogate",
        }
    }

    fn xml(self) -> &'static str {
        match self {
            Shape::Gated => HELLO_SDLC,
            Shape::Ungated => HELLO_NO_GATE,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Shape::Gated => {
                "Start -> Analyze (agent) -> Review (approval, decided by the bench) -> End"
            }
            Shape::Ungated => "Start -> Analyze (agent) -> End",
        }
    }
}

struct Args {
    runs: usize,
    in_flight: usize,
    steps: usize,
    shapes: Vec<Shape>,
    keep: bool,
}

impl Args {
    fn parse() -> Self {
        let env_number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
        let mut args = Args {
            runs: env_number("BENCH_RUNS").unwrap_or(2000),
            in_flight: env_number("BENCH_IN_FLIGHT").unwrap_or(512),
            // The scripted provider answers at once, so a step's slot is held
            // mostly by the durable commit of its result; the production
            // default (16) is sized for real model calls and would make the
            // executor, not the store, the bottleneck being measured.
            steps: env_number("BENCH_STEPS").unwrap_or(256),
            shapes: vec![Shape::Gated, Shape::Ungated],
            keep: false,
        };
        let mut given = std::env::args().skip(1);
        while let Some(arg) = given.next() {
            let mut value = |name: &str| {
                given
                    .next()
                    .unwrap_or_else(|| usage(&format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--runs" => args.runs = number(&value("--runs")),
                "--in-flight" => args.in_flight = number(&value("--in-flight")),
                "--steps" => args.steps = number(&value("--steps")),
                "--shape" => {
                    args.shapes = match value("--shape").as_str() {
                        "gated" => vec![Shape::Gated],
                        "ungated" => vec![Shape::Ungated],
                        "both" => vec![Shape::Gated, Shape::Ungated],
                        other => usage(&format!("unknown shape '{other}'")),
                    }
                }
                "--keep" => args.keep = true,
                // `cargo bench` passes `--bench`; a name filter may follow.
                "--bench" => {}
                other if other.starts_with('-') => usage(&format!("unknown option '{other}'")),
                _ => {}
            }
        }
        args.runs = args.runs.max(1);
        args.in_flight = args.in_flight.max(1);
        args
    }
}

fn number(text: &str) -> usize {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("'{text}' is not a number")))
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "throughput: {problem}\n\
         usage: throughput [--runs N] [--in-flight N] [--steps N] [--shape gated|ungated|both] [--keep]\n\
         (env: BENCH_RUNS, BENCH_IN_FLIGHT, BENCH_STEPS)"
    );
    std::process::exit(2)
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "agentwerke throughput bench: {} runs per shape, at most {} in flight, {} CPUs",
        args.runs,
        args.in_flight,
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    runtime.block_on(async {
        for &shape in &args.shapes {
            bench(shape, &args).await;
        }
    });
}

async fn bench(shape: Shape, args: &Args) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let sqlite = SqliteStore::open(&path.display().to_string())
        .await
        .expect("open store");
    let durability = sqlite.durability().await.expect("durability settings");
    let store: Arc<dyn Store> = Arc::new(sqlite);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let workflow_id = shape.workflow_id();
    let xml = shape.xml();
    let monitor = monitor(&path).await;

    let options = RuntimeOptions {
        owner: "bench-node".to_owned(),
        max_concurrent_steps: args.steps.max(1),
        ..RuntimeOptions::default()
    };
    println!();
    println!("== shape: {} ({})", workflow_id, shape.describe());
    println!(
        "   store: file-backed SQLite, {durability}; runtime: claim lease {:?}, {} concurrent agent steps, scripted provider",
        options.lease, options.max_concurrent_steps
    );
    let runtime = Runtime::start(
        options,
        RuntimeDeps {
            store: store.clone(),
            provider: Arc::new(ScriptedProvider::new()),
            clock: clock.clone(),
            // The sample's agent step calls no tools.
            gateway: None,
        },
    );
    let handle = runtime.handle();
    let version = publish(&handle, workflow_id, xml).await;

    let cpu_before = cpu_by_thread();
    let written_before = bytes_written();
    let started = Instant::now();
    let mut created = 0usize;
    let mut started_runs = 0usize;
    let mut finished = 0usize;
    let mut decided = 0usize;
    let mut requests: JoinSet<Request> = JoinSet::new();
    let mut deciding = std::collections::HashSet::new();
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    while finished < args.runs {
        // Start runs while there is room, and decide what waits for a human.
        while requests.len() < CLIENTS && created < args.runs && created - finished < args.in_flight
        {
            created += 1;
            let handle = handle.clone();
            let version = version.clone();
            requests.spawn(async move {
                start_run(&handle, &version, created).await;
                Request::Started
            });
        }
        let poll = last_poll.elapsed() >= POLL;
        if shape == Shape::Gated && poll && requests.len() < CLIENTS {
            let pending = store
                .list_approvals(ApprovalFilter {
                    status: Some(ApprovalStatus::Pending),
                    run_id: None,
                })
                .await
                .expect("list approvals");
            for approval in pending {
                if requests.len() >= CLIENTS {
                    break;
                }
                if !deciding.insert(approval.id.clone()) {
                    continue;
                }
                let handle = handle.clone();
                requests.spawn(async move {
                    decide(&handle, approval).await;
                    Request::Decided
                });
            }
        }
        // Collect what finished, nudging the loops as the server does.
        let mut progressed = false;
        while let Some(done) = requests.try_join_next() {
            progressed = true;
            match done.expect("request task") {
                Request::Started => started_runs += 1,
                Request::Decided => decided += 1,
            }
        }
        if progressed {
            handle.notify();
        }
        if poll {
            // A run whose creation has not returned yet may already count as
            // open, so this errs low, never high: the loop cannot end early.
            finished = started_runs.saturating_sub(open_runs(&monitor).await);
            last_poll = Instant::now();
        }
        if !progressed {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let wall = started.elapsed();
    let cpu_after = cpu_by_thread();
    let written = bytes_written().saturating_sub(written_before);
    // A decision can finish its run before its own request returns.
    while let Some(done) = requests.join_next().await {
        if let Request::Decided = done.expect("request task") {
            decided += 1;
        }
    }
    runtime.stop().await;

    let secs = wall.as_secs_f64();
    println!(
        "   {} runs in {:.3} s: {:.0} runs/s ({} approvals decided)",
        args.runs,
        secs,
        args.runs as f64 / secs,
        decided
    );
    report_cpu(&cpu_before, &cpu_after, args.runs);
    if written > 0 {
        println!(
            "   written per run: {:.1} KiB (WAL frames and checkpoints)",
            written as f64 / 1024.0 / args.runs as f64
        );
    }
    report_latencies(&monitor).await;
    report_sizes(&monitor, &path, args.runs).await;
    check(store.as_ref(), &monitor, args.runs).await;
    monitor.close().await;
    store.health().await.expect("store still answers");
    if args.keep {
        let kept = dir.keep();
        println!("   database kept at {}", kept.join("bench.db").display());
    }
}

enum Request {
    Started,
    Decided,
}

/// Imports and publishes the shape's workflow through the runtime's
/// commands, as `POST /api/workflows` and its publish do.
async fn publish(handle: &RuntimeHandle, workflow_id: &str, xml: &str) -> WorkflowVersion {
    let import = Command::ImportWorkflow(ImportWorkflow {
        workflow_id: workflow_id.to_owned(),
        name: workflow_id.to_owned(),
        bpmn_xml: xml.to_owned(),
        diagnostics: json!([]),
        by: "bench".to_owned(),
    });
    let draft = handle.submit(import).await.expect("import workflow");
    let version = draft.committed.workflow_version().expect("a draft").version;
    let publish = Command::PublishWorkflow(PublishWorkflow {
        workflow_id: workflow_id.to_owned(),
        version,
        by: "bench".to_owned(),
    });
    let published = handle.submit(publish).await.expect("publish workflow");
    published
        .committed
        .workflow_version()
        .expect("the published version")
        .clone()
}

/// Starts one run exactly as `POST /api/runs` does, naming the version.
async fn start_run(runtime: &RuntimeHandle, version: &agentwerke_store::WorkflowVersion, n: usize) {
    let command = Command::StartRun(StartRun {
        run_id: uuid::Uuid::now_v7().to_string().into(),
        workflow_id: version.workflow_id.clone(),
        version: Some(version.version),
        inputs: json!({"title": format!("change request {n}")}),
        requested_by: "bench-requester".to_owned(),
    });
    runtime.submit(command).await.expect("start run");
}

/// Approves one gate exactly as `POST /api/approvals/{id}/decision` does:
/// through the runtime's one write door, `submit`.
async fn decide(runtime: &RuntimeHandle, approval: agentwerke_store::ApprovalRow) {
    let command = Command::DecideApproval(DecideApproval {
        approval_id: approval.id,
        decision: ApprovalDecision::Approve,
        comment: None,
        by: Principal {
            subject: "bench-approver".to_owned(),
            name: None,
            roles: vec![Role::Approver],
            groups: Vec::new(),
            issuer: "bench".to_owned(),
            token_id: None,
        },
    });
    runtime.submit(command).await.expect("decide approval");
}

/// CPU time so far by thread name, in nanoseconds, from Linux's
/// `/proc/self/task/*/schedstat`; empty where that does not exist. Names
/// group threads: the runtime's workers, the store's writer, its readers.
fn cpu_by_thread() -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let on_cpu = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = on_cpu {
            *by_name.entry(name.trim().to_owned()).or_default() += ns;
        }
    }
    by_name
}

/// Bytes this process has written to files so far (`write()` calls, as
/// Linux's `/proc/self/io` counts them); 0 where that does not exist.
fn bytes_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("wchar:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Where the CPU went while the runs ran, per run: which stage costs what.
fn report_cpu(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, runs: usize) {
    if after.is_empty() {
        return;
    }
    let mut spent: Vec<(String, u64)> = after
        .iter()
        .map(|(name, ns)| {
            let was = before.get(name).copied().unwrap_or(0);
            (name.clone(), ns.saturating_sub(was))
        })
        .filter(|(_, ns)| *ns > 0)
        .collect();
    spent.sort_by_key(|(_, ns)| std::cmp::Reverse(*ns));
    let per_run = |ns: u64| ns as f64 / 1000.0 / runs as f64;
    let total: u64 = spent.iter().map(|(_, ns)| ns).sum();
    let parts: Vec<String> = spent
        .iter()
        .map(|(name, ns)| format!("{name} {:.0}", per_run(*ns)))
        .collect();
    println!(
        "   CPU per run: {:.0} µs ({})",
        per_run(total),
        parts.join(", ")
    );
}

/// A read-only connection of the bench's own, for progress and statistics.
async fn monitor(path: &std::path::Path) -> SqlitePool {
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(path).read_only(true))
        .await
        .expect("monitor connection")
}

/// Runs not yet in a terminal status; counted on the status index, which
/// never touches the (large) state column, and only over the few open runs.
async fn open_runs(monitor: &SqlitePool) -> usize {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM runs WHERE status IN \
           ('running', 'awaiting_approval', 'waiting_user', 'waiting_event', 'waiting_timer')",
    )
    .fetch_one(monitor)
    .await
    .expect("count runs");
    usize::try_from(count).unwrap_or_default()
}

async fn report_latencies(monitor: &SqlitePool) {
    println!("   latency per step (committed -> committed, ms resolution):");
    let mut kinds: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT json_extract(event, '$.type') FROM inbox ORDER BY 1")
            .fetch_all(monitor)
            .await
            .expect("event kinds");
    kinds.retain(|k| !k.is_empty());
    if kinds.is_empty() {
        println!("     no event waited in an inbox: every step went with its event");
    }
    // Only events that waited are kept; those stepped with their delivery
    // leave no inbox row.
    for kind in kinds {
        let values = millis(
            monitor,
            "SELECT processed_at - created_at FROM inbox \
             WHERE processed_at IS NOT NULL AND json_extract(event, '$.type') = ?1",
            Some(&kind),
        )
        .await;
        print_line(&format!("inbox wait, {kind} event"), &values);
    }
    let work = millis(
        monitor,
        "SELECT completed_at - created_at FROM work WHERE status = 'done'",
        None,
    )
    .await;
    print_line("agent step (work queued -> result committed)", &work);
    let approvals = millis(
        monitor,
        "SELECT decided_at - created_at FROM approvals WHERE decided_at IS NOT NULL",
        None,
    )
    .await;
    if !approvals.is_empty() {
        print_line("approval wait (opened -> decided by bench)", &approvals);
    }
    let runs = millis(
        monitor,
        "SELECT completed_at - created_at FROM runs WHERE completed_at IS NOT NULL",
        None,
    )
    .await;
    print_line("whole run (created -> completed)", &runs);
}

/// What a run leaves behind, to see where written bytes go.
async fn report_sizes(monitor: &SqlitePool, path: &std::path::Path, runs: usize) {
    let sizes: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(SUM(length(state)), 0) FROM runs), \
                (SELECT COALESCE(SUM(length(event)), 0) FROM inbox), \
                (SELECT COALESCE(SUM(length(payload)), 0) FROM work), \
                (SELECT COALESCE(SUM(length(request)), 0) FROM approvals), \
                (SELECT COALESCE(SUM(length(data)), 0) FROM records), \
                (SELECT COALESCE(SUM(length(data) + length(hash) * 2 + length(at)), 0) FROM audit_log)",
    )
    .fetch_one(monitor)
    .await
    .expect("sizes");
    let per_run = |bytes: i64| bytes / i64::try_from(runs).unwrap_or(1);
    let file = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::fs::metadata(name).map_or(0, |m| m.len())
    };
    println!(
        "   bytes per run at rest: state {} (rewritten each step), inbox {}, work {}, approvals {}, records {}, audit {}; \
         files: db {} KiB, wal {} KiB",
        per_run(sizes.0),
        per_run(sizes.1),
        per_run(sizes.2),
        per_run(sizes.3),
        per_run(sizes.4),
        per_run(sizes.5),
        file("") / 1024,
        file("-wal") / 1024,
    );
}

async fn millis(monitor: &SqlitePool, sql: &'static str, bind: Option<&str>) -> Vec<i64> {
    let mut query = sqlx::query(sql);
    if let Some(value) = bind {
        query = query.bind(value.to_owned());
    }
    let mut values: Vec<i64> = query
        .fetch_all(monitor)
        .await
        .expect("latency query")
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect();
    values.sort_unstable();
    values
}

fn print_line(what: &str, sorted: &[i64]) {
    if sorted.is_empty() {
        return;
    }
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "     {what:<48} n={:<6} p50={:>4} ms  p99={:>4} ms  max={:>4} ms",
        sorted.len(),
        at(0.50),
        at(0.99),
        sorted[sorted.len() - 1],
    );
}

/// Correctness after the fact: every run completed, nothing left pending,
/// every inbox event applied once, and every audit chain verifies.
async fn check(store: &dyn Store, monitor: &SqlitePool, runs: usize) {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status")
            .fetch_all(monitor)
            .await
            .expect("statuses");
    let completed = by_status
        .iter()
        .find(|(status, _)| status == "completed")
        .map_or(0, |(_, n)| *n);
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM inbox WHERE processed_at IS NULL) \
              + (SELECT count(*) FROM work WHERE status = 'pending') \
              + (SELECT count(*) FROM approvals WHERE status = 'pending') \
              + (SELECT count(*) FROM runs WHERE lease_owner IS NOT NULL)",
    )
    .fetch_one(monitor)
    .await
    .expect("leftovers");
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM runs")
        .fetch_all(monitor)
        .await
        .expect("run ids");
    let mut broken = 0;
    let mut records = 0;
    for id in &ids {
        let log = store.audit_log(id).await.expect("audit log");
        records += log.len();
        if verify_chain(&log).is_err() {
            broken += 1;
        }
    }
    let ok = completed as usize == runs && leftovers == 0 && broken == 0;
    println!(
        "   check: {} ({} of {} runs completed {:?}; {} unprocessed events/pending work/open approvals/leases; \
         {} audit records in {} chains, {} broken)",
        if ok { "ok" } else { "FAILED" },
        completed,
        runs,
        by_status,
        leftovers,
        records,
        ids.len(),
        broken
    );
}
