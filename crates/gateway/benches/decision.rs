//! Decision latency: the Cedar policy evaluation alone, and the whole
//! `Gateway::decide` pipeline (redaction, hashing, schema validation, facts,
//! risk, surface, policy). Plain `std::time`, no harness.
//!
//! `cargo bench -p agentwerke-gateway --bench decision` (set
//! `GATEWAY_BENCH_ITERATIONS` to change the 100 000 iterations).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use agentwerke_gateway::tools::Builtins;
use agentwerke_gateway::{
    AgentProfile, CallRequest, Category, Facts, Gateway, GatewayConfig, Halts, PermissionLevel,
    PolicyRequest, PolicySchema, PolicySet, Redactor, RiskAssessment, SandboxProfile, TaskSurface,
    Tool, ToolContext, ToolError, ToolRegistry,
};

/// The goal for one policy evaluation.
const P99_GOAL: Duration = Duration::from_micros(50);

struct Stub(&'static str, Category);

#[async_trait]
impl Tool for Stub {
    fn name(&self) -> &str {
        self.0
    }
    fn description(&self) -> &str {
        "bench stub"
    }
    fn category(&self) -> Category {
        self.1
    }
    fn input_schema(&self) -> Value {
        json!({"type": "object"})
    }
    async fn execute(&self, _: &Value, _: &ToolContext) -> Result<Value, ToolError> {
        Ok(Value::Null)
    }
}

fn gateway() -> Gateway {
    let registry = ToolRegistry::builtin(Builtins::in_memory())
        .and_then(|r| r.with(Arc::new(Stub("shell.exec", Category::Exec))))
        .and_then(|r| r.with(Arc::new(Stub("github.create_pr", Category::Integration))))
        .expect("registry");
    let schema = Arc::new(PolicySchema::for_registry(&registry).expect("schema"));
    let policies = PolicySet::default_set(schema).expect("default policies");
    let config = GatewayConfig {
        agents: vec![AgentProfile::new("coder", SandboxProfile::ALL)],
        redactor: agentwerke_gateway::Redactor::new(["hunter2-the-secret"]),
        ..GatewayConfig::default()
    };
    Gateway::new(registry, policies, config).expect("gateway")
}

/// A mix of outcomes: allow, escalate, forbid, surface reject.
fn calls() -> Vec<CallRequest> {
    let task = |level, env: Option<&str>| TaskSurface {
        purpose_type: "drafting".to_owned(),
        permission_level: level,
        sandbox_profile: SandboxProfile::RepoWrite,
        environment: env.map(str::to_owned),
        ..TaskSurface::default()
    };
    let call = |tool: &str, arguments, task| CallRequest {
        tool: tool.to_owned(),
        arguments,
        agent: "coder".to_owned(),
        workflow_id: "wf".to_owned(),
        run_id: "run".to_owned(),
        node_id: "node".to_owned(),
        attempt: 1,
        task,
    };
    use PermissionLevel::{Full, ReadOnly, ReadWrite};
    vec![
        call(
            "knowledge.search",
            json!({"query": "deployment runbook"}),
            task(ReadOnly, Some("staging")),
        ),
        call(
            "artifact.write",
            json!({"path": "reports/summary.md", "content": "All good.", "mediaType": "text/markdown"}),
            task(ReadWrite, Some("staging")),
        ),
        call(
            "http.request",
            json!({"url": "https://api.prod.example.com/v1/deploy", "method": "POST", "body": {"version": "1.2.3"}}),
            task(Full, None),
        ),
        call(
            "shell.exec",
            json!({"command": "rm -rf /srv/app"}),
            task(Full, Some("production")),
        ),
        call(
            "github.create_pr",
            json!({"repo": "acme/app", "title": "Bump deps"}),
            task(ReadWrite, Some("staging")),
        ),
        call(
            "shell.exec",
            json!({"command": "ls"}),
            task(ReadOnly, Some("staging")),
        ),
    ]
}

struct Stats {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    mean: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let total: Duration = samples.iter().sum();
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: *samples.last().expect("samples"),
        mean: total / u32::try_from(samples.len()).expect("fits"),
    }
}

fn report(name: &str, s: &Stats) {
    println!(
        "{name:<48} p50 {:>8.2} µs   p99 {:>8.2} µs   p99.9 {:>8.2} µs   max {:>9.2} µs   mean {:>8.2} µs",
        micros(s.p50),
        micros(s.p99),
        micros(s.p999),
        micros(s.max),
        micros(s.mean)
    );
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times `f(i)` for `iterations` values of `i` (after a tenth as warm-up)
/// and returns the samples grouped by `i % groups`.
fn measure(iterations: usize, groups: usize, mut f: impl FnMut(usize)) -> Vec<Vec<Duration>> {
    for i in 0..iterations / 10 {
        f(i);
    }
    let mut samples = vec![Vec::with_capacity(iterations / groups + 1); groups];
    for i in 0..iterations {
        let start = Instant::now();
        f(i);
        samples[i % groups].push(start.elapsed());
    }
    samples
}

fn report_all(name: &str, samples: &[Vec<Duration>], labels: &[String]) -> Stats {
    let all = stats(samples.concat());
    report(name, &all);
    for (label, group) in labels.iter().zip(samples) {
        report(&format!("  {label}"), &stats(group.clone()));
    }
    all
}

fn main() {
    let iterations: usize = std::env::var("GATEWAY_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let gateway = gateway();
    let calls = calls();
    let halts = Halts::none();

    // Inputs of the policy stage, prepared once per call.
    let prepared: Vec<(CallRequest, Category, Facts, RiskAssessment)> = calls
        .iter()
        .map(|c| {
            let category = gateway.registry().category(&c.tool).expect("tool");
            let (facts, _) = Facts::derive(
                &c.arguments,
                c.task.environment.as_deref(),
                "/workspace",
                &Redactor::default(),
            );
            let risk = RiskAssessment::assess(category, &facts, &c.task.purpose_type, c.attempt);
            (c.clone(), category, facts, risk)
        })
        .collect();
    let policies = gateway.policies();

    println!(
        "agentwerke-gateway decision latency: {iterations} iterations over {} calls, policy set {} ({} policies)",
        calls.len(),
        policies.version(),
        policies.policy_ids().len()
    );
    let labels: Vec<String> = prepared
        .iter()
        .map(|(call, ..)| {
            let d = gateway.decide(call, &halts);
            format!("{} -> {} ({})", call.tool, d.kind, d.reason)
        })
        .collect();
    let groups = prepared.len();
    let samples = measure(iterations, groups, |i| {
        let (call, category, facts, risk) = &prepared[i % groups];
        black_box(policies.evaluate(black_box(&PolicyRequest {
            agent: &call.agent,
            tool: &call.tool,
            category: *category,
            task: &call.task,
            attempt: call.attempt,
            facts,
            risk_score: risk.score,
        })));
    });
    let policy = report_all("policy evaluation (Cedar)", &samples, &labels);
    let samples = measure(iterations, groups, |i| {
        black_box(gateway.decide(black_box(&calls[i % groups]), &halts));
    });
    report_all("full decide()", &samples, &labels);

    let verdict = if policy.p99 < P99_GOAL {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "goal: policy evaluation p99 < {} µs: {verdict}",
        P99_GOAL.as_micros()
    );
}
