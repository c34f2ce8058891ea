//! Sessions against the real sandbox: one sandbox, several commands, each
//! confined and bounded on its own, and nothing left once it closes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use agentwerke_types::ErrorCode;

use agentwerke_sandbox::{
    ExecRequest, Execution, Isolation, LocalConfig, LocalSandbox, Sandbox, SandboxProfile,
    SandboxSession, SecretFile, SessionSpec, Termination,
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

/// A `sleep` argument no other test process uses: the same tests run
/// concurrently as root and as `nobody`.
fn marker(seconds: u32) -> String {
    format!("{seconds}.{:07}", std::process::id())
}

/// Waits a little for a process that was just killed to go.
fn eventually_gone(marker: &str) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if !running(marker) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
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
    let mut first = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
    let mut second = sb
        .open(&SessionSpec::new(other_ws.path(), profile))
        .unwrap();
    assert_ne!(first.id(), second.id());

    let e = run(
        &mut first,
        &bash(
            ws.path(),
            profile,
            "echo kept > /tmp/note && echo made > made",
        ),
    );
    assert_eq!(e.termination, Termination::Exited { code: 0 });
    assert_eq!(e.session.as_ref(), Some(first.id()));
    assert!(!e.degraded);
    let e = run(&mut first, &bash(ws.path(), profile, "cat /tmp/note made"));
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
    let e = sb.run(&bash(ws.path(), profile, "cat /tmp/note")).unwrap();
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
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
    let (grouped, left) = (marker(1001), marker(1002));
    // One in the command's group, one that left it.
    let script = format!(
        "sleep {grouped} >/dev/null 2>&1 & setsid sleep {left} >/dev/null 2>&1 & echo started"
    );
    let e = run(&mut session, &bash(ws.path(), profile, &script));
    assert_eq!(stdout(&e), "started\n");
    assert!(eventually_running(&grouped) && eventually_running(&left));
    let e = run(
        &mut session,
        &bash(
            ws.path(),
            profile,
            "cat /proc/[0-9]*/cmdline | tr '\\0' ' '",
        ),
    );
    assert!(stdout(&e).contains(&grouped) && stdout(&e).contains(&left));
    session.close().unwrap();
    assert!(!running(&grouped) && !running(&left));
}

/// Callers on an async runtime open a session on one blocking thread and run
/// its commands on others; the sandbox must not die with the first.
#[test]
fn a_session_outlives_the_thread_that_opened_it() {
    let ws = tempfile::tempdir().unwrap();
    let profile = SandboxProfile::Offline;
    let path = ws.path().to_owned();
    let mut session =
        std::thread::spawn(move || sandbox().open(&SessionSpec::new(&path, profile)).unwrap())
            .join()
            .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let e = run(&mut session, &bash(ws.path(), profile, "echo alive"));
    assert_eq!(stdout(&e), "alive\n");
}

#[test]
fn dropping_the_session_kills_everything_in_it() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
    let looping = marker(1003);
    let script = format!("setsid bash -c 'while :; do sleep {looping}; done' >/dev/null 2>&1 &");
    run(&mut session, &bash(ws.path(), profile, &script));
    assert!(eventually_running(&looping));
    drop(session);
    assert!(!running(&looping));
}

#[test]
fn each_command_has_its_own_bounds_and_the_next_one_still_runs() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();

    let background = marker(1004);
    let script = format!("sleep {background} & while :; do :; done");
    let mut looping = bash(ws.path(), profile, &script);
    looping.limits.wall_clock_ms = 500;
    let start = Instant::now();
    let e = run(&mut session, &looping);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(e.timed_out && e.killed && e.duration_ms >= 500);
    assert_eq!(e.termination, Termination::Signaled { signal: 9 });
    // The kill took the command's whole group.
    assert!(eventually_gone(&background));

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
    let host_marker = marker(1005);
    let mut host_process = std::process::Command::new("sleep")
        .arg(&host_marker)
        .spawn()
        .unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::RepoWrite;
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
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
        &bash(
            ws.path(),
            profile,
            "cat /proc/[0-9]*/cmdline | tr '\\0' ' '",
        ),
    );
    assert!(!stdout(&e).contains(&host_marker), "{}", stdout(&e));
    host_process.kill().unwrap();
    host_process.wait().unwrap();

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
    let mut read_only = sb
        .open(&SessionSpec::new(ro.path(), SandboxProfile::RepoRead))
        .unwrap();
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
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
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
    // A command inherits no descriptor a one-off execution does not (the
    // control pipes stay with the server).
    let list = ExecRequest::new("ls", ["/proc/self/fd"], ws.path(), profile);
    let in_session = stdout(&run(&mut session, &list));
    assert!(in_session.starts_with("0\n1\n"), "{in_session}");
    assert_eq!(in_session, stdout(&sb.run(&list).unwrap()));
    // The server still serves.
    let e = run(&mut session, &bash(ws.path(), profile, "echo alive"));
    assert_eq!(stdout(&e), "alive\n");
}

#[test]
fn requests_outside_the_session_are_refused_and_setup_failures_leave_it_usable() {
    let ws = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let mut session = sb
        .open(&SessionSpec::new(ws.path(), SandboxProfile::RepoRead))
        .unwrap();
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
        .open(&SessionSpec::new(
            ws.path().join("missing"),
            SandboxProfile::RepoRead,
        ))
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
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
    let left = marker(1006);
    let script = format!(
        "echo kept > \"$TMPDIR/note\"; echo x > {o}/escaped; \
         setsid sleep {left} >/dev/null 2>&1 & echo started",
        o = outside.path().display()
    );
    let e = run(&mut session, &bash(ws.path(), profile, &script));
    assert!(e.degraded && e.isolation == Isolation::LandlockOnly);
    assert_eq!(e.session.as_ref(), Some(session.id()));
    assert_eq!(stdout(&e), "started\n");
    assert!(!outside.path().join("escaped").exists());
    assert!(eventually_running(&left));
    let e = run(
        &mut session,
        &bash(ws.path(), profile, "cat \"$TMPDIR/note\""),
    );
    assert_eq!(stdout(&e), "kept\n");
    session.close().unwrap();
    assert!(!running(&left));
}

#[test]
fn a_session_whose_sandbox_died_says_so() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let profile = SandboxProfile::Offline;
    let mut session = sb.open(&SessionSpec::new(ws.path(), profile)).unwrap();
    run(&mut session, &bash(ws.path(), profile, "true"));
    // The server: the process on the host whose grandparent is bubblewrap's
    // own process, the one that names this session's workspace.
    let workspace = std::fs::canonicalize(ws.path()).unwrap();
    let bwrap = processes()
        .into_iter()
        .find(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            cmdline.starts_with("bwrap\0")
                && cmdline.contains(workspace.to_str().unwrap())
                && cmdline.ends_with("--serve\0")
        })
        .expect("the session's bubblewrap runs");
    let server = processes()
        .into_iter()
        .find(|&pid| parent(pid).and_then(parent) == Some(bwrap))
        .expect("the session's server runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let start = Instant::now();
    while Path::new(&format!("/proc/{server}")).exists() {
        assert!(start.elapsed() < Duration::from_secs(5), "the server lives");
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = session
        .run(&bash(ws.path(), profile, "echo never"))
        .unwrap_err();
    assert_eq!(err.code(), "sandbox.session_ended");
    let err = session
        .run(&bash(ws.path(), profile, "echo never"))
        .unwrap_err();
    assert_eq!(err.code(), "sandbox.session_ended");
    session.close().unwrap();
}

/// A value no file on this host holds before the test.
fn secret_value(label: &str) -> String {
    format!(
        "{label}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
fn a_secret_file_is_there_for_its_command_only() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let spec = SessionSpec::new(ws.path(), SandboxProfile::RepoWrite);
    let mut session = sb.open(&spec).unwrap();
    let (a, b) = (secret_value("secret-a"), secret_value("secret-b"));
    let digest = |value: &str| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    };

    // The first command reads A, and leaves a process behind that tries to
    // read it again once the command has ended.
    let mut first = spec.request(
        "bash",
        [
            "-c",
            "echo \"$SECRETS_DIR\"; stat -c %a \"$SECRETS_DIR/token\"; \
             sha256sum < \"$SECRETS_DIR/token\" | cut -c1-64; \
             (sleep 0.5; cat /run/secrets/token > /tmp/late 2>/dev/null; \
              echo \"late $?\" >> /tmp/late; touch /tmp/late-done; \
              while [ ! -e /tmp/go ]; do sleep 0.05; done; \
              cat /run/secrets/token > /tmp/during 2>/dev/null; \
              echo \"during $?\" >> /tmp/during; touch /tmp/during-done) >/dev/null 2>&1 &",
        ],
    );
    first.secret_files = vec![SecretFile::new("token", a.clone())];
    let e = run(&mut session, &first);
    assert_eq!(
        stdout(&e),
        format!("/run/secrets\n400\n{}\n", digest(&a)),
        "{}",
        String::from_utf8_lossy(&e.stderr.captured)
    );
    assert_eq!(e.secret_files, ["token"]);
    let json = serde_json::to_string(&e).unwrap();
    assert!(json.contains("\"secretFiles\":[\"token\"]"), "{json}");
    assert!(!json.contains(&a), "{json}");

    // The next command, without secrets, finds neither the file nor the
    // folder nor `SECRETS_DIR`; the process the first left behind found
    // the file gone too.
    let second = spec.request(
        "bash",
        [
            "-c",
            "echo \"[$SECRETS_DIR]\"; ls -A /run; cat /run/secrets/token; \
             while [ ! -e /tmp/late-done ]; do sleep 0.05; done; cat /tmp/late",
        ],
    );
    let e = run(&mut session, &second);
    assert_eq!(stdout(&e), "[]\nlate 1\n");
    assert!(e.secret_files.is_empty());
    assert!(!serde_json::to_string(&e).unwrap().contains("secretFiles"));

    // A later command gets its own value under the same name, which the
    // process the first left behind cannot read while it runs; one that
    // prints it puts it in its output, which the caller redacts.
    let mut third = spec.request(
        "bash",
        [
            "-c",
            "touch /tmp/go; while [ ! -e /tmp/during-done ]; do sleep 0.05; done; \
             cat /tmp/during; cat \"$SECRETS_DIR/token\"",
        ],
    );
    third.secret_files = vec![SecretFile::new("token", b.clone())];
    let e = run(&mut session, &third);
    assert_eq!(stdout(&e), format!("during 1\n{b}"));
    assert!(!serde_json::to_string(&e).unwrap().contains(&a));
    session.close().unwrap();
}

#[test]
fn a_degraded_session_deletes_a_commands_secrets_when_it_ends() {
    let ws = tempfile::tempdir().unwrap();
    let sb = degraded_sandbox();
    let spec = SessionSpec::new(ws.path(), SandboxProfile::Offline);
    let mut session = sb.open(&spec).unwrap();
    let value = secret_value("degraded");
    // A process left behind by an earlier command tries to read the secret
    // while the command it is granted to runs.
    let left = spec.request(
        "bash",
        [
            "-c",
            "(while [ ! -e \"$TMPDIR/go\" ]; do sleep 0.05; done; \
              for f in \"$TMPDIR/secrets/token\" \"$TMPDIR/../secrets/token\"; do \
                cat \"$f\" 2>/dev/null && echo read; done > \"$TMPDIR/during\"; \
              echo during >> \"$TMPDIR/during\"; touch \"$TMPDIR/during-done\") \
             >/dev/null 2>&1 &",
        ],
    );
    run(&mut session, &left);
    let mut first = spec.request(
        "bash",
        [
            "-c",
            "echo \"$SECRETS_DIR\"; touch \"$TMPDIR/go\"; \
             while [ ! -e \"$TMPDIR/during-done\" ]; do sleep 0.05; done; \
             cat \"$TMPDIR/during\" \"$SECRETS_DIR/token\"; rm \"$TMPDIR\"/*",
        ],
    );
    first.secret_files = vec![SecretFile::new("token", value.clone())];
    let e = run(&mut session, &first);
    let out = stdout(&e);
    let (dir, read) = out.split_once('\n').unwrap();
    assert!(dir.ends_with("/secrets"), "{out}");
    assert_eq!(read, format!("during\n{value}"));
    assert!(!Path::new(dir).exists(), "{dir} is left behind");
    let e = run(
        &mut session,
        &spec.request("bash", ["-c", "echo \"[$SECRETS_DIR]\"; ls -A \"$TMPDIR\""]),
    );
    assert_eq!(stdout(&e), "[]\n");
}

#[test]
fn a_bad_secret_file_name_is_refused_in_a_session_and_a_failed_start_leaves_no_secret() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let spec = SessionSpec::new(ws.path(), SandboxProfile::Offline);
    let mut session = sb.open(&spec).unwrap();
    let mut request = spec.request("true", Vec::<String>::new());
    request.secret_files = vec![SecretFile::new("../escaped", "v")];
    assert_eq!(
        session.run(&request).unwrap_err().code(),
        "sandbox.invalid_request"
    );
    let e = run(&mut session, &spec.request("echo", ["usable"]));
    assert_eq!(stdout(&e), "usable\n");
    // A command that could not start still has its secrets deleted.
    let mut missing = spec.request("/nonexistent/program", Vec::<String>::new());
    missing.secret_files = vec![SecretFile::new("token", "v")];
    assert_eq!(
        session.run(&missing).unwrap_err().code(),
        "sandbox.setup_failed"
    );
    let e = run(&mut session, &spec.request("ls", ["-A", "/run"]));
    assert_eq!(stdout(&e), "");
    assert_eq!(e.termination, Termination::Exited { code: 0 });
}

fn processes() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

/// A process's parent, from `/proc/<pid>/stat`.
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The tests above that need no root-owned folder, run again by this test
/// binary as `nobody` with no capabilities. As root the sandbox's user holds
/// every capability inside its user namespace, as `nobody` none: the server
/// must be out of reach either way.
const UNPRIVILEGED: &[&str] = &[
    "files_carry_to_the_next_command_of_the_same_session_only",
    "a_background_process_lives_between_commands_and_dies_with_the_session",
    "a_session_outlives_the_thread_that_opened_it",
    "dropping_the_session_kills_everything_in_it",
    "each_command_has_its_own_bounds_and_the_next_one_still_runs",
    "a_command_cannot_reach_the_sessions_server",
    "requests_outside_the_session_are_refused_and_setup_failures_leave_it_usable",
    "a_degraded_session_confines_each_command_and_kills_what_left_its_group",
    "a_session_whose_sandbox_died_says_so",
    "a_secret_file_is_there_for_its_command_only",
    "a_degraded_session_deletes_a_commands_secrets_when_it_ends",
    "a_bad_secret_file_name_is_refused_in_a_session_and_a_failed_start_leaves_no_secret",
];

#[test]
fn sessions_hold_for_an_unprivileged_user_too() {
    support::rerun_as_nobody(UNPRIVILEGED, HELPER);
}
