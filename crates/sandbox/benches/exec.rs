//! Sandbox overhead: `true` run through [`LocalSandbox`] (bubblewrap, the
//! helper's rlimits, Landlock and seccomp, output capture and the record)
//! against bare `bwrap --unshare-all --ro-bind / / true`, interleaved in the
//! same run so both see the same machine, and `true` run in an open session
//! (the sandbox started once; each command still confined, bounded and
//! recorded). Plain `std::time`, no harness.
//!
//! `cargo bench -p agentwerke-sandbox --bench exec` (set
//! `SANDBOX_BENCH_ITERATIONS` to change the 200 iterations).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentwerke_sandbox::{
    ExecRequest, LocalConfig, LocalSandbox, Sandbox, SandboxProfile, SessionSpec,
};

/// The goal for the sandbox's p50 against bare bubblewrap.
const P50_RATIO_GOAL: f64 = 1.5;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let iterations: usize = std::env::var("SANDBOX_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let sandbox = LocalSandbox::new(LocalConfig::new(env!(
        "CARGO_BIN_EXE_agentwerke-sandbox-init"
    )))
    .expect("bubblewrap runs here");
    let workspace = tempfile::tempdir().expect("a workspace");
    let request = ExecRequest::new(
        "true",
        Vec::<String>::new(),
        workspace.path(),
        SandboxProfile::Offline,
    );
    let mut session = sandbox
        .open(&SessionSpec::new(workspace.path(), SandboxProfile::Offline))
        .expect("a session opens");
    let mut sandboxed = Vec::with_capacity(iterations);
    let mut bare = Vec::with_capacity(iterations);
    let mut in_session = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let execution = sandbox.run(&request).expect("runs");
        sandboxed.push(start.elapsed());
        assert_eq!(execution.stdout.bytes, 0);

        let start = Instant::now();
        let status = Command::new("bwrap")
            .args(["--unshare-all", "--ro-bind", "/", "/", "true"])
            .stdin(Stdio::null())
            .status()
            .expect("bwrap runs");
        bare.push(start.elapsed());
        assert!(status.success());

        let start = Instant::now();
        let execution = session.run(&request).expect("runs in the session");
        in_session.push(start.elapsed());
        assert!(execution.session.is_some());
    }
    session.close().expect("the session closes");
    sandboxed.sort();
    bare.sort();
    in_session.sort();
    let (s50, s99) = (percentile(&sandboxed, 0.5), percentile(&sandboxed, 0.99));
    let (b50, b99) = (percentile(&bare, 0.5), percentile(&bare, 0.99));
    let ratio50 = s50.as_secs_f64() / b50.as_secs_f64();
    let ratio99 = s99.as_secs_f64() / b99.as_secs_f64();
    println!("`true`, {iterations} iterations each, interleaved");
    println!("  sandbox:    p50 {s50:>10.2?}  p99 {s99:>10.2?}");
    println!("  bare bwrap: p50 {b50:>10.2?}  p99 {b99:>10.2?}");
    let (i50, i99) = (percentile(&in_session, 0.5), percentile(&in_session, 0.99));
    println!("  in session: p50 {i50:>10.2?}  p99 {i99:>10.2?}  (sandbox started once)");
    println!(
        "  ratio:      p50 {ratio50:.2}x  p99 {ratio99:.2}x  (goal: p50 at most {P50_RATIO_GOAL}x) {}",
        if ratio50 <= P50_RATIO_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
}
