//! The sandbox's side of egress: a `ViaProxy` profile given a proxy socket
//! reaches that socket, through the forwarder on its private loopback, and
//! nothing else; without one it fails closed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use agentwerke_sandbox::{
    ExecRequest, Execution, LocalConfig, LocalSandbox, Network, Sandbox, SandboxProfile,
    SessionSpec,
};
use agentwerke_types::ErrorCode;

const HELPER: &str = env!("CARGO_BIN_EXE_agentwerke-sandbox-init");

fn sandbox() -> LocalSandbox {
    LocalSandbox::new(LocalConfig::new(HELPER)).expect("bubblewrap runs here")
}

/// A Unix socket standing in for the proxy: it answers each connection's
/// first line with `proxy saw: LINE` and remembers the lines.
fn fake_proxy(dir: &Path) -> (std::path::PathBuf, Arc<Mutex<Vec<String>>>) {
    let path = dir.join("egress.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // As the real proxy does: a sandbox run by root runs as `nobody`, which
    // must reach the socket to connect.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(&stream);
            if reader.read_line(&mut line).is_ok() {
                log.lock().unwrap().push(line.trim_end().to_owned());
                let _ = (&stream).write_all(format!("proxy saw: {line}").as_bytes());
            }
        }
    });
    (path, seen)
}

fn bash(ws: &Path, profile: SandboxProfile, script: &str) -> ExecRequest {
    ExecRequest::new("bash", ["-c", script], ws, profile)
}

fn stdout(e: &Execution) -> String {
    String::from_utf8_lossy(&e.stdout.captured).into_owned()
}

#[test]
fn only_offline_stays_on_loopback() {
    assert_eq!(SandboxProfile::Offline.network(), Network::LoopbackOnly);
    for profile in [
        SandboxProfile::RepoRead,
        SandboxProfile::RepoWrite,
        SandboxProfile::Deployment,
    ] {
        assert_eq!(profile.network(), Network::ViaProxy, "{profile:?}");
    }
}

#[test]
fn a_proxy_profile_reaches_the_proxy_socket_through_the_forwarder() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_proxy(dir.path());
    let sb = sandbox();
    for profile in [
        SandboxProfile::RepoRead,
        SandboxProfile::RepoWrite,
        SandboxProfile::Deployment,
    ] {
        let mut request = bash(
            ws.path(),
            profile,
            "echo \"$HTTP_PROXY $HTTPS_PROXY $http_proxy $https_proxy $ALL_PROXY [$NO_PROXY]\"; \
             exec 3<>/dev/tcp/127.0.0.1/3128 && echo hello >&3 && head -n1 <&3",
        );
        request.egress = Some(socket.clone());
        let e = sb.run(&request).expect("runs");
        let url = "http://127.0.0.1:3128";
        assert_eq!(
            stdout(&e),
            format!("{url} {url} {url} {url} {url} []\nproxy saw: hello\n"),
            "{profile:?}: {}",
            String::from_utf8_lossy(&e.stderr.captured)
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[test]
fn the_forwarder_cannot_be_replaced_and_the_socket_is_the_only_door() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, _) = fake_proxy(dir.path());
    let sb = sandbox();
    // The port is taken before the command runs; the socket is bound
    // read-only; the host's /run is not visible; the outside is unreachable.
    let mut request = bash(
        ws.path(),
        SandboxProfile::RepoWrite,
        "python3 -c 'import socket; socket.socket().bind((\"127.0.0.1\", 3128))' 2>/dev/null \
           && echo bound; \
         chmod 600 /run/agentwerke/egress.sock 2>/dev/null && echo chmodded; \
         ls -A /run; \
         exec 4<>/dev/tcp/1.1.1.1/80 && echo outside",
    );
    request.egress = Some(socket.clone());
    let e = sb.run(&request).expect("runs");
    assert_eq!(stdout(&e), "agentwerke\n");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_ne!(mode & 0o777, 0o600);
}

#[test]
fn the_forwarder_is_walled_in_and_dies_with_the_sandbox() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, _) = fake_proxy(dir.path());
    let sb = sandbox();
    let mut request = bash(
        ws.path(),
        SandboxProfile::RepoRead,
        "for d in /proc/[0-9]*; do \
           if [ \"$(tr '\\0' '\\n' < $d/cmdline | sed -n 2p)\" = --egress-forwarder ]; then \
             grep -E '^(NoNewPrivs|Seccomp):' $d/status; fi; done; readlink /proc/self/ns/net",
    );
    request.egress = Some(socket);
    let e = sb.run(&request).expect("runs");
    let out = stdout(&e);
    let (walls, net) = out
        .rsplit_once("net:")
        .expect("the sandbox's network namespace");
    assert_eq!(walls, "NoNewPrivs:\t1\nSeccomp:\t2\n");
    // Gone with the sandbox's PID namespace: no process on the host is left
    // in the sandbox's network namespace (other tests' forwarders run in
    // their own).
    let net = format!("net:{}", net.trim_end());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!in_namespace(&net), "a forwarder outlived its sandbox");
}

/// Whether a process on the host is in the namespace `ns` (as `readlink`
/// shows it, `net:[4026532...]`).
fn in_namespace(ns: &str) -> bool {
    let kind = ns.split(':').next().unwrap_or_default();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|d| std::fs::read_link(d.path().join("ns").join(kind)).ok())
        .any(|link| link.to_string_lossy() == ns)
}

#[test]
fn without_a_proxy_socket_a_proxy_profile_has_no_way_out() {
    let ws = tempfile::tempdir().unwrap();
    let sb = sandbox();
    let e = sb
        .run(&bash(
            ws.path(),
            SandboxProfile::RepoRead,
            "echo \"[$HTTP_PROXY]\"; exec 3<>/dev/tcp/127.0.0.1/3128 && echo forwarded",
        ))
        .expect("runs");
    assert_eq!(stdout(&e), "[]\n");
}

#[test]
fn offline_is_refused_a_proxy_and_a_missing_socket_is_refused() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, _) = fake_proxy(dir.path());
    let sb = sandbox();
    let mut request = bash(ws.path(), SandboxProfile::Offline, "true");
    request.egress = Some(socket);
    assert_eq!(
        sb.run(&request).unwrap_err().code(),
        "sandbox.invalid_request"
    );
    let mut request = bash(ws.path(), SandboxProfile::RepoRead, "true");
    request.egress = Some(dir.path().join("missing.sock"));
    assert_eq!(
        sb.run(&request).unwrap_err().code(),
        "sandbox.invalid_request"
    );
}

#[test]
fn the_degraded_mode_refuses_a_proxy() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, _) = fake_proxy(dir.path());
    let mut config = LocalConfig::new(HELPER);
    config.bwrap = "/nonexistent/bwrap".into();
    config.allow_degraded = true;
    let sb = LocalSandbox::new(config).expect("landlock is enforced here");
    let mut request = bash(ws.path(), SandboxProfile::RepoRead, "true");
    request.egress = Some(socket);
    assert_eq!(
        sb.run(&request).unwrap_err().code(),
        "sandbox.egress_unavailable"
    );
    // Without one, the command runs, with no network.
    request.egress = None;
    assert!(sb.run(&request).is_ok());
}

/// Counts the forwarders in the sandbox, by their first argument.
const COUNT_FORWARDERS: &str = "for d in /proc/[0-9]*; do \
    if [ \"$(tr '\\0' '\\n' < $d/cmdline 2>/dev/null | sed -n 2p)\" = --egress-forwarder ]; then \
      echo f; fi; done | wc -l";

#[test]
fn a_sessions_commands_share_one_forwarder_to_the_sessions_socket() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = fake_proxy(dir.path());
    let sb = sandbox();
    let mut spec = SessionSpec::new(ws.path(), SandboxProfile::RepoRead);
    spec.egress = Some(socket.clone());
    let mut session = sb.open(&spec).unwrap();
    for n in 1..=2 {
        let script = format!(
            "echo \"$HTTP_PROXY [$NO_PROXY]\"; \
             exec 3<>/dev/tcp/127.0.0.1/3128 && echo 'hello {n}' >&3 && head -n1 <&3"
        );
        let e = session
            .run(&spec.request("bash", ["-c", script.as_str()]))
            .expect("runs");
        assert_eq!(
            stdout(&e),
            format!("http://127.0.0.1:3128 []\nproxy saw: hello {n}\n"),
            "{}",
            String::from_utf8_lossy(&e.stderr.captured)
        );
    }
    assert_eq!(*seen.lock().unwrap(), ["hello 1", "hello 2"]);
    let e = session
        .run(&spec.request("bash", ["-c", COUNT_FORWARDERS]))
        .expect("runs");
    assert_eq!(stdout(&e).trim(), "1");

    // A command must name the session's socket: not none, not another.
    let mut none = spec.request("true", Vec::<String>::new());
    none.egress = None;
    assert_eq!(
        session.run(&none).unwrap_err().code(),
        "sandbox.invalid_request"
    );
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = fake_proxy(other_dir.path());
    let mut another = spec.request("true", Vec::<String>::new());
    another.egress = Some(other);
    assert_eq!(
        session.run(&another).unwrap_err().code(),
        "sandbox.invalid_request"
    );
    session.close().unwrap();

    // A session opened without one has no way out, and refuses a command
    // asking for one.
    let plain = SessionSpec::new(ws.path(), SandboxProfile::RepoRead);
    let mut session = sb.open(&plain).unwrap();
    let e = session
        .run(&plain.request(
            "bash",
            [
                "-c",
                "echo \"[$HTTP_PROXY]\"; exec 3<>/dev/tcp/127.0.0.1/3128 && echo forwarded",
            ],
        ))
        .expect("runs");
    assert_eq!(stdout(&e), "[]\n");
    let mut asking = plain.request("true", Vec::<String>::new());
    asking.egress = Some(socket);
    assert_eq!(
        session.run(&asking).unwrap_err().code(),
        "sandbox.invalid_request"
    );
}

#[test]
fn a_session_is_refused_a_proxy_where_a_run_would_be() {
    let ws = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (socket, _) = fake_proxy(dir.path());
    let open = |sb: &LocalSandbox, profile, egress: &Path| {
        let mut spec = SessionSpec::new(ws.path(), profile);
        spec.egress = Some(egress.to_owned());
        sb.open(&spec).err().expect("refused").code()
    };
    let sb = sandbox();
    assert_eq!(
        open(&sb, SandboxProfile::Offline, &socket),
        "sandbox.invalid_request"
    );
    assert_eq!(
        open(
            &sb,
            SandboxProfile::RepoRead,
            &dir.path().join("missing.sock")
        ),
        "sandbox.invalid_request"
    );
    let mut config = LocalConfig::new(HELPER);
    config.bwrap = "/nonexistent/bwrap".into();
    config.allow_degraded = true;
    let degraded = LocalSandbox::new(config).expect("landlock is enforced here");
    assert_eq!(
        open(&degraded, SandboxProfile::RepoRead, &socket),
        "sandbox.egress_unavailable"
    );
}

mod support;

#[test]
fn the_forwarder_works_for_an_unprivileged_user_too() {
    support::rerun_as_nobody(
        &[
            "a_proxy_profile_reaches_the_proxy_socket_through_the_forwarder",
            "the_forwarder_cannot_be_replaced_and_the_socket_is_the_only_door",
            "the_forwarder_is_walled_in_and_dies_with_the_sandbox",
            "without_a_proxy_socket_a_proxy_profile_has_no_way_out",
            "the_degraded_mode_refuses_a_proxy",
            "a_sessions_commands_share_one_forwarder_to_the_sessions_socket",
            "a_session_is_refused_a_proxy_where_a_run_would_be",
        ],
        HELPER,
    );
}
