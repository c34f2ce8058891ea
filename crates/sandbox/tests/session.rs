//! Sessions against the real sandbox: one sandbox, several commands, each
//! confined and bounded on its own, and nothing left once it closes.

use std::path::Path;
use std::time::{Duration, Instant};

use agentwerke_types::ErrorCode;

use agentwerke_sandbox::{
    ExecRequest, Execution, Isolation, LocalConfig, LocalSandbox, Sandbox, SandboxProfile,
    SandboxSession, Termination,
};

const HELPER: &str = env!("CARGO_BIN_EXE_agentwerke-sandbox-init");

fn sandbox() -> LocalSandbox {
    LocalSandbox::new(LocalConfig::new(HELPER)).expect("bubblewrap runs here")
}

fn degraded_sandbox() -> LocalSandbox {
    let mut config = LocalConfig::new(HELPER);
    config.bwrap = "/nonexistent/bwrap".into();
    config.allow_degraded = true;
    LocalSandbox::new(config).expect("landlock is enforced here")
}

/// A folder on the host outside `/tmp` (which is private inside).
fn host_dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn bash(workspace: &Path, profile: SandboxProfile, script: &str) -> ExecRequest {
    ExecRequest::new("bash", ["-c", script], workspace, profile)
}

fn run(session: &mut Box<dyn SandboxSession>, request: &ExecRequest) -> Execution {
    session.run(request).expect("the command runs")
}

fn stdout(e: &Execution) -> String {
    String::from_utf8_lossy(&e.stdout.captured).into_owned()
}

/// Whether a process whose command line contains `marker` runs on the host.
fn running(marker: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        std::fs::read(entry.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
}

/// Waits a little for a process that was just started to show.
fn eventually_running(marker: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if running(marker) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn files_carry_to_the_next_command_of_the_same_session_only() {
    let ws = tempfile::tempdir().unwrap();
    let other_ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::RepoWrite;
    let mut first = sb.open(ws.path(), profile).unwrap();
    let mut second = sb.open(other_ws.path(), profile).unwrap();
    assert_ne!(first.id(), second.id());

    let e = run(
        &mut first,
        &bash(ws.path(), profile, "echo kept > /tmp/note && echo made > made"),
    );
    assert_eq!(e.termination, Termination::Exited { code: 0 });
    assert_eq!(e.session.as_ref(), Some(first.id()));
    assert!(!e.degraded);
    let e = run(
        &mut first,
        &bash(ws.path(), profile, "cat /tmp/note made"),
    );
    assert_eq!(stdout(&e), "kept\nmade\n");
    assert_eq!(e.session.as_ref(), Some(first.id()));

    // Another session, and a one-off execution, have their own `/tmp`.
    let e = run(
        &mut second,
        &bash(other_ws.path(), profile, "cat /tmp/note"),
    );
    assert_eq!(stdout(&e), "");
    assert_ne!(e.termination, Termination::Exited { code: 0 });
    assert_eq!(e.session.as_ref(), Some(second.id()));
    let e = sb
        .run(&bash(ws.path(), profile, "cat /tmp/note"))
        .unwrap();
    assert_eq!(stdout(&e), "");
    assert_eq!(e.session, None);
    first.close().unwrap();
    second.close().unwrap();
}

#[test]
fn a_background_process_lives_between_commands_and_dies_with_the_session() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(ws.path(), profile).unwrap();
    // One in the command's group, one that left it.
    let e = run(
        &mut session,
        &bash(
            ws.path(),
            profile,
            "sleep 1001.17 >/dev/null 2>&1 & setsid sleep 1001.18 >/dev/null 2>&1 & echo started",
        ),
    );
    assert_eq!(stdout(&e), "started\n");
    assert!(eventually_running("1001.17") && eventually_running("1001.18"));
    let e = run(
        &mut session,
        &bash(ws.path(), profile, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"),
    );
    assert!(stdout(&e).contains("1001.17") && stdout(&e).contains("1001.18"));
    session.close().unwrap();
    assert!(!running("1001.17") && !running("1001.18"));
}

#[test]
fn dropping_the_session_kills_everything_in_it() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(ws.path(), profile).unwrap();
    run(
        &mut session,
        &bash(
            ws.path(),
            profile,
            "setsid bash -c 'while :; do sleep 1002.5; done' >/dev/null 2>&1 &",
        ),
    );
    assert!(eventually_running("1002.5"));
    drop(session);
    assert!(!running("1002.5"));
}

#[test]
fn each_command_has_its_own_bounds_and_the_next_one_still_runs() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(ws.path(), profile).unwrap();

    let mut looping = bash(ws.path(), profile, "sleep 1003 & while :; do :; done");
    looping.limits.wall_clock_ms = 500;
    let start = Instant::now();
    let e = run(&mut session, &looping);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.timed_out && e.killed && e.duration_ms >= 500);
    assert_eq!(e.termination, Termination::Signaled { signal: 9 });
    // The kill took the command's whole group.
    assert!(!running("sleep 1003"));

    let e = run(&mut session, &bash(ws.path(), profile, "echo next"));
    assert_eq!(stdout(&e), "next\n");
    assert!(!e.timed_out && !e.killed);

    let mut flood = ExecRequest::new("yes", ["flood"], ws.path(), profile);
    flood.limits.output_bytes = 64 * 1024;
    let e = run(&mut session, &flood);
    assert!(e.stdout.truncated && e.killed && !e.timed_out);
    assert_eq!(e.stdout.captured.len(), 64 * 1024);
    assert!(e.stdout.excerpt.starts_with("flood\nflood\n"));

    // The rlimits are each command's own.
    let mut bounded = bash(ws.path(), profile, "ulimit -t; ulimit -n");
    bounded.limits.cpu_seconds = 7;
    bounded.limits.open_files = 33;
    assert_eq!(stdout(&run(&mut session, &bounded)), "7\n33\n");
    let mut bomb = bash(ws.path(), profile, "a=x; while true; do a=$a$a; done");
    bomb.limits.address_space_bytes = 256 << 20;
    bomb.limits.wall_clock_ms = 20_000;
    let e = run(&mut session, &bomb);
    assert!(!e.timed_out, "the address space limit stopped it");
    assert_ne!(e.termination, Termination::Exited { code: 0 });
    let plain = bash(ws.path(), profile, "ulimit -t; ulimit -n");
    assert_eq!(stdout(&run(&mut session, &plain)), "60\n256\n");
}

/// `ptrace(PTRACE_TRACEME)` and `keyctl(KEYCTL_GET_KEYRING_ID, session)`,
/// which only the seccomp filter refuses.
const SECCOMP_ONLY: &str = "for call in '101, 0, 0, 0, 0' '250, 0, -3, 0'; do perl -e \"syscall($call) == -1 ? print qq(refused: \\$!\\n) : print qq(allowed\\n)\"; done";

#[test]
fn the_commands_of_a_session_fail_the_escapes() {
    let ws = tempfile::tempdir().unwrap();
    let outside = host_dir();
    let target = outside.path().join("escaped");
    let mut marker = std::process::Command::new("sleep")
        .arg("1004.25")
        .spawn()
        .unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::RepoWrite;
    let mut session = sb.open(ws.path(), profile).unwrap();
    let script = format!(
        "echo x > {t}; echo x > /etc/escaped; echo x > inside && echo wrote",
        t = target.display()
    );
    let e = run(&mut session, &bash(ws.path(), profile, &script));
    assert_eq!(stdout(&e), "wrote\n");
    assert!(!target.exists() && !Path::new("/etc/escaped").exists());
    assert!(ws.path().join("inside").exists());

    let e = run(
        &mut session,
        &bash(ws.path(), profile, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"),
    );
    assert!(!stdout(&e).contains("1004.25"), "{}", stdout(&e));
    marker.kill().unwrap();
    marker.wait().unwrap();

    let e = run(
        &mut session,
        &bash(
            ws.path(),
            profile,
            "unshare -U true && echo unshared; unshare -m true && echo mounted",
        ),
    );
    assert!(!stdout(&e).contains("unshared") && !stdout(&e).contains("mounted"));

    let e = run(&mut session, &bash(ws.path(), profile, SECCOMP_ONLY));
    assert_eq!(
        stdout(&e),
        "refused: Operation not permitted\nrefused: Operation not permitted\n"
    );

    // The workspace of a read-only profile stays read-only in its session.
    let ro = tempfile::tempdir().unwrap();
    let mut read_only = sb.open(ro.path(), SandboxProfile::RepoRead).unwrap();
    let e = run(
        &mut read_only,
        &bash(ro.path(), SandboxProfile::RepoRead, "echo x > file"),
    );
    assert_ne!(e.termination, Termination::Exited { code: 0 });
    assert!(!ro.path().join("file").exists());
}

#[test]
fn a_command_cannot_reach_the_sessions_server() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(ws.path(), profile).unwrap();
    // The command's parent is the server; its fd 0 is the host's control
    // pipe, which opened for writing would take forged frames.
    let e = run(
        &mut session,
        &bash(
            ws.path(),
            profile,
            "grep -q serve /proc/$PPID/cmdline && echo server; \
             readlink /proc/$PPID/fd/0 && echo link; \
             printf '\\001\\000\\000\\000\\000' > /proc/$PPID/fd/0 && echo injected; \
             cat /proc/$PPID/environ && echo environ; \
             echo x > /proc/$PPID/mem && echo mem; kill -9 $PPID && echo killed",
        ),
    );
    let out = stdout(&e);
    assert!(out.starts_with("server\n"), "{out}");
    for reached in ["link", "injected", "environ", "mem", "killed"] {
        assert!(!out.lines().any(|l| l == reached), "{reached}: {out}");
    }
    // The server still serves.
    let e = run(&mut session, &bash(ws.path(), profile, "echo alive"));
    assert_eq!(stdout(&e), "alive\n");
}

#[test]
fn requests_outside_the_session_are_refused_and_setup_failures_leave_it_usable() {
    let ws = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let mut session = sb.open(ws.path(), SandboxProfile::RepoRead).unwrap();
    let err = session
        .run(&bash(other.path(), SandboxProfile::RepoRead, "true"))
        .unwrap_err();
    assert_eq!(err.code(), "sandbox.invalid_request");
    let err = session
        .run(&bash(ws.path(), SandboxProfile::RepoWrite, "true"))
        .unwrap_err();
    assert_eq!(err.code(), "sandbox.invalid_request");
    let err = session
        .run(&ExecRequest::new(
            "/nonexistent/program",
            Vec::<String>::new(),
            ws.path(),
            SandboxProfile::RepoRead,
        ))
        .unwrap_err();
    assert_eq!(err.code(), "sandbox.setup_failed");
    let e = run(
        &mut session,
        &bash(ws.path(), SandboxProfile::RepoRead, "echo still"),
    );
    assert_eq!(stdout(&e), "still\n");
    let err = sb
        .open(&ws.path().join("missing"), SandboxProfile::RepoRead)
        .err()
        .unwrap();
    assert_eq!(err.code(), "sandbox.invalid_request");
}

#[test]
fn a_degraded_session_confines_each_command_and_kills_what_left_its_group() {
    let ws = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let sb = degraded_sandbox();
    assert_eq!(sb.isolation(), Isolation::LandlockOnly);
    let profile = SandboxProfile::RepoWrite;
    let mut session = sb.open(ws.path(), profile).unwrap();
    let script = format!(
        "echo kept > \"$TMPDIR/note\"; echo x > {o}/escaped; \
         setsid sleep 1005.75 >/dev/null 2>&1 & echo started",
        o = outside.path().display()
    );
    let e = run(&mut session, &bash(ws.path(), profile, &script));
    assert!(e.degraded && e.isolation == Isolation::LandlockOnly);
    assert_eq!(e.session.as_ref(), Some(session.id()));
    assert_eq!(stdout(&e), "started\n");
    assert!(!outside.path().join("escaped").exists());
    assert!(eventually_running("1005.75"));
    let e = run(
        &mut session,
        &bash(ws.path(), profile, "cat \"$TMPDIR/note\""),
    );
    assert_eq!(stdout(&e), "kept\n");
    session.close().unwrap();
    assert!(!running("1005.75"));
}

