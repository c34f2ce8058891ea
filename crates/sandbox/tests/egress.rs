//! Egress escapes against the real sandbox behind the gateway's real egress
//! proxy: from `repo-read`, every way past the allow-list and the address
//! rules must fail and be recorded, while an allowed host is reached, with
//! `CONNECT` and with plain HTTP, so that the refusals can be seen to be
//! refusals.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use agentwerke_gateway::egress::EgressRules;
use agentwerke_gateway::{EgressScope, open_with_egress, run_with_egress};
use agentwerke_sandbox::{
    EgressConnection, EgressDecision, ExecRequest, Execution, LocalConfig, LocalSandbox, Sandbox,
    SandboxProfile,
};

const HELPER: &str = env!("CARGO_BIN_EXE_agentwerke-sandbox-init");

fn sandbox() -> Arc<dyn Sandbox> {
    Arc::new(LocalSandbox::new(LocalConfig::new(HELPER)).expect("bubblewrap runs here"))
}

/// An HTTP server on the host's loopback: answers every request with
/// `origin says hi` and remembers its request lines.
struct Origin {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    connections: Arc<AtomicUsize>,
}

fn origin() -> Origin {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (seen, count) = (requests.clone(), connections.clone());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            seen.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or_default().to_owned());
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\norigin says hi",
            );
        }
    });
    Origin {
        port,
        requests,
        connections,
    }
}

fn scope(allow: &[&str], private: &[&str]) -> EgressScope {
    EgressScope {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        rules: EgressRules::allowing_private(private),
    }
}

/// A bash function sending one raw request to the proxy named by
/// `$HTTP_PROXY` and printing `LABEL STATUS-LINE`.
const ASK: &str = r#"
p=${HTTP_PROXY#http://}
ask() {
  exec 3<>"/dev/tcp/${p%:*}/${p##*:}" || { echo "$1 no-proxy"; return; }
  printf "$2" >&3
  echo "$1 $(head -n1 <&3 | tr -d '\r')"
  exec 3>&-
}
"#;

async fn run(script: &str, scope: EgressScope) -> Execution {
    let ws = tempfile::tempdir().unwrap();
    let mut request = ExecRequest::new(
        "bash",
        ["-c", &format!("{ASK}\n{script}")],
        ws.path(),
        SandboxProfile::RepoRead,
    );
    request.limits.wall_clock_ms = 60_000;
    run_with_egress(sandbox(), request, scope)
        .await
        .expect("the command runs")
}

fn out(e: &Execution) -> String {
    String::from_utf8_lossy(&e.stdout.captured).into_owned()
}

fn curl() -> bool {
    Path::new("/usr/bin/curl").exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_host_is_reached_through_the_proxy_with_connect_and_plain_http() {
    let origin = origin();
    let port = origin.port;
    let mut script = format!(
        "ask plain 'GET http://127.0.0.1:{port}/plain HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'\n\
         exec 3<>\"/dev/tcp/${{p%:*}}/${{p##*:}}\"\n\
         printf 'CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\nGET /tunnel HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' >&3\n\
         echo \"tunnel $(tr -d '\\r' <&3 | tr '\\n' ' ')\"\n"
    );
    if curl() {
        script.push_str(&format!(
            "echo \"curl-plain $(curl -sS -m 20 http://127.0.0.1:{port}/curl-plain)\"\n\
             echo \"curl-tunnel $(curl -sS -m 20 -p http://127.0.0.1:{port}/curl-tunnel)\"\n"
        ));
    }
    let e = run(&script, scope(&["127.0.0.1"], &["127.0.0.1"])).await;
    let stdout = out(&e);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "plain HTTP/1.1 200 OK",
        "{stdout}\n{}",
        String::from_utf8_lossy(&e.stderr.captured)
    );
    assert!(lines[1].starts_with("tunnel HTTP/1.1 200 OK "), "{stdout}");
    assert!(lines[1].ends_with(" origin says hi"), "{stdout}");
    let mut expected = vec!["GET /plain HTTP/1.1", "GET /tunnel HTTP/1.1"];
    let mut methods = vec!["GET", "CONNECT"];
    if curl() {
        assert_eq!(
            lines[2..],
            ["curl-plain origin says hi", "curl-tunnel origin says hi"]
        );
        expected.extend(["GET /curl-plain HTTP/1.1", "GET /curl-tunnel HTTP/1.1"]);
        methods.extend(["GET", "CONNECT"]);
    } else {
        eprintln!("curl is not installed: the control ran with bash alone");
    }
    assert_eq!(*origin.requests.lock().unwrap(), expected);
    let methods_seen: Vec<&str> = e.egress.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods_seen, methods);
    for connection in &e.egress {
        assert_eq!(
            connection.decision,
            EgressDecision::Allowed,
            "{connection:?}"
        );
        assert_eq!(
            (connection.host.as_str(), connection.port),
            ("127.0.0.1", port)
        );
        assert_eq!(
            connection.addresses,
            [format!("127.0.0.1:{port}").parse().unwrap()]
        );
        assert!(
            connection.bytes_up > 0 && connection.bytes_down > 14,
            "{connection:?}"
        );
        assert_eq!(connection.code, None);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn repo_read_cannot_get_past_the_allow_list_or_the_address_rules() {
    let origin = origin();
    let port = origin.port;
    // Every internal host is on the allow-list, so that the address rules,
    // not the list, must stop them; none is allowed as private.
    let scope = scope(
        &["127.0.0.1", "localhost", "10.0.0.1", "::ffff:127.0.0.1"],
        &[],
    );
    let attempts: Vec<(String, String, &str, &str, &str)> = vec![
        (
            "not-listed-get".into(),
            "GET http://blocked.example/ HTTP/1.1\\r\\nHost: blocked.example\\r\\n\\r\\n".into(),
            "blocked.example",
            "GET",
            "gateway.egress.host_not_allowed",
        ),
        (
            "not-listed-connect".into(),
            "CONNECT blocked.example:443 HTTP/1.1\\r\\n\\r\\n".into(),
            "blocked.example",
            "CONNECT",
            "gateway.egress.host_not_allowed",
        ),
        (
            "loopback-ip".into(),
            format!("CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\n"),
            "127.0.0.1",
            "CONNECT",
            "gateway.egress.address_refused",
        ),
        (
            "loopback-ip-get".into(),
            format!("GET http://127.0.0.1:{port}/ HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"),
            "127.0.0.1",
            "GET",
            "gateway.egress.address_refused",
        ),
        (
            "private-ip".into(),
            "CONNECT 10.0.0.1:80 HTTP/1.1\\r\\n\\r\\n".into(),
            "10.0.0.1",
            "CONNECT",
            "gateway.egress.address_refused",
        ),
        (
            "name-to-loopback".into(),
            format!("CONNECT localhost:{port} HTTP/1.1\\r\\n\\r\\n"),
            "localhost",
            "CONNECT",
            "gateway.egress.address_refused",
        ),
        (
            "mapped-loopback".into(),
            format!("CONNECT [::ffff:127.0.0.1]:{port} HTTP/1.1\\r\\n\\r\\n"),
            "::ffff:127.0.0.1",
            "CONNECT",
            "gateway.egress.address_refused",
        ),
        (
            "mapped-loopback-get".into(),
            format!("GET http://[::ffff:127.0.0.1]:{port}/ HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"),
            "::ffff:127.0.0.1",
            "GET",
            "gateway.egress.address_refused",
        ),
    ];
    let mut script: String = attempts
        .iter()
        .map(|(label, request, ..)| format!("ask {label} '{request}'\n"))
        .collect();
    // Around the proxy: straight to the host's loopback server, and to an
    // internal address.
    script.push_str(&format!(
        "exec 4<>/dev/tcp/127.0.0.1/{port} && echo direct-loopback-connected\n\
         exec 5<>/dev/tcp/10.0.0.1/80 && echo direct-private-connected\n"
    ));
    if curl() {
        script.push_str(&format!(
            "echo \"curl-localhost $(curl -sS -m 20 -o /dev/null -w '%{{http_code}}' http://localhost:{port}/)\"\n\
             echo \"curl-bypass $(curl -sS -m 5 --noproxy '*' http://127.0.0.1:{port}/)\"\n"
        ));
    }
    let e = run(&script, scope).await;
    let stdout = out(&e);
    let mut expected: Vec<String> = attempts
        .iter()
        .map(|(label, ..)| format!("{label} HTTP/1.1 403 Forbidden"))
        .collect();
    if curl() {
        expected.extend(["curl-localhost 403".to_owned(), "curl-bypass ".to_owned()]);
    }
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        expected,
        "{stdout}\n{}",
        String::from_utf8_lossy(&e.stderr.captured)
    );
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        0,
        "the host's loopback server was reached"
    );
    let mut recorded: Vec<(&str, &str, &str)> = attempts
        .iter()
        .map(|(_, _, host, method, code)| (*host, *method, *code))
        .collect();
    if curl() {
        recorded.push(("localhost", "GET", "gateway.egress.address_refused"));
    }
    let seen: Vec<(&str, &str, &str)> = e
        .egress
        .iter()
        .map(|c| {
            (
                c.host.as_str(),
                c.method.as_str(),
                c.code.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(seen, recorded);
    for connection in &e.egress {
        check_refused(connection);
    }
}

fn check_refused(connection: &EgressConnection) {
    assert_eq!(
        connection.decision,
        EgressDecision::Refused,
        "{connection:?}"
    );
    assert_eq!((connection.bytes_up, connection.bytes_down), (0, 0));
    let reason = connection.reason.as_deref().unwrap_or_default();
    if connection.host == "blocked.example" {
        assert!(connection.addresses.is_empty(), "{connection:?}");
        assert!(reason.contains("not on the allow-list"), "{reason}");
    } else {
        let class = if connection.host == "10.0.0.1" {
            "private"
        } else {
            "loopback"
        };
        assert!(
            reason.ends_with(&format!("is a {class} address")),
            "{reason}"
        );
        assert_eq!(connection.addresses.len(), 1, "{connection:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_gets_no_proxy_even_with_a_scope() {
    let origin = origin();
    let ws = tempfile::tempdir().unwrap();
    let request = ExecRequest::new(
        "bash",
        [
            "-c",
            &format!(
                "echo \"[$HTTP_PROXY]\"; ls /run/agentwerke 2>/dev/null; \
                 exec 3<>/dev/tcp/127.0.0.1/3128 && echo forwarder; \
                 exec 4<>/dev/tcp/127.0.0.1/{} && echo direct",
                origin.port
            ),
        ],
        ws.path(),
        SandboxProfile::Offline,
    );
    let e = run_with_egress(sandbox(), request, scope(&["127.0.0.1"], &["127.0.0.1"]))
        .await
        .expect("the command runs");
    assert_eq!(out(&e), "[]\n");
    assert!(e.egress.is_empty());
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
}

/// One session behind one proxy: each command's record holds the
/// connections that arrived while it ran, a process a command left running
/// has no way out but the proxy either, and what it does between commands
/// is what `close` returns.
#[tokio::test(flavor = "multi_thread")]
async fn a_sessions_commands_each_record_their_own_connections() {
    let origin = origin();
    let port = origin.port;
    let ws = tempfile::tempdir().unwrap();
    let mut session = open_with_egress(
        sandbox(),
        ws.path(),
        SandboxProfile::RepoRead,
        scope(&["127.0.0.1"], &["127.0.0.1"]),
    )
    .await
    .expect("the session opens");
    let spec = session.spec().clone();
    let command = |script: String| {
        let mut request = spec.request("bash", ["-c".to_owned(), format!("{ASK}\n{script}")]);
        request.limits.wall_clock_ms = 60_000;
        request
    };
    let get = |path: &str| {
        format!(
            "'GET http://127.0.0.1:{port}/{path} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'"
        )
    };
    // The first command reaches the allowed host, and leaves a process
    // behind that, told to go, tries the host's server directly, then
    // through the proxy.
    let first = command(format!(
        "ask one {one}\n\
         (while [ ! -e /tmp/go ]; do sleep 0.05; done; sleep 1; \
          exec 4<>/dev/tcp/127.0.0.1/{port} && echo direct-connected >> /tmp/bg; \
          ask bg {bg} >> /tmp/bg; touch /tmp/bg-done) >/dev/null 2>&1 &",
        one = get("one"),
        bg = get("bg"),
    ));
    let e = session.run(first).await.expect("runs");
    assert_eq!(
        out(&e),
        "one HTTP/1.1 200 OK\n",
        "{}",
        String::from_utf8_lossy(&e.stderr.captured)
    );
    assert_eq!(e.session.as_ref(), Some(session.id()));
    let seen: Vec<_> = e
        .egress
        .iter()
        .map(|c| (c.host.as_str(), c.decision))
        .collect();
    assert_eq!(seen, [("127.0.0.1", EgressDecision::Allowed)]);
    assert!(e.egress[0].bytes_down > 14, "{:?}", e.egress[0]);

    // The second is refused a host off the list, and its record holds that
    // refusal only.
    let e = session
        .run(command(
            "ask blocked 'GET http://blocked.example/ HTTP/1.1\\r\\nHost: blocked.example\\r\\n\\r\\n'"
                .to_owned(),
        ))
        .await
        .expect("runs");
    assert_eq!(out(&e), "blocked HTTP/1.1 403 Forbidden\n");
    let seen: Vec<_> = e
        .egress
        .iter()
        .map(|c| (c.host.as_str(), c.code.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [("blocked.example", Some("gateway.egress.host_not_allowed"))]
    );

    // The third lets the process go and ends at once: what it does comes
    // between commands.
    let e = session
        .run(command("touch /tmp/go".to_owned()))
        .await
        .expect("runs");
    assert!(e.egress.is_empty(), "{:?}", e.egress);
    let start = std::time::Instant::now();
    while !origin
        .requests
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.contains("/bg"))
    {
        assert!(
            start.elapsed().as_secs() < 30,
            "the process never got through"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let e = session
        .run(command(
            "while [ ! -e /tmp/bg-done ]; do sleep 0.05; done; cat /tmp/bg".to_owned(),
        ))
        .await
        .expect("runs");
    assert_eq!(out(&e), "bg HTTP/1.1 200 OK\n");
    assert!(e.egress.is_empty(), "{:?}", e.egress);

    let id = session.id().clone();
    let end = session.close().await;
    assert!(end.error.is_none(), "{:?}", end.error);
    assert_eq!((end.id, end.commands), (id, 4));
    let seen: Vec<_> = end
        .egress
        .iter()
        .map(|c| (c.host.as_str(), c.method.as_str(), c.decision))
        .collect();
    assert_eq!(seen, [("127.0.0.1", "GET", EgressDecision::Allowed)]);
    // The host's server saw the two requests through the proxy, and no
    // direct connection.
    assert_eq!(
        *origin.requests.lock().unwrap(),
        ["GET /one HTTP/1.1", "GET /bg HTTP/1.1"]
    );
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
}

mod support;

#[test]
fn egress_escapes_fail_as_an_unprivileged_user_too() {
    support::rerun_as_nobody(
        &[
            "an_allowed_host_is_reached_through_the_proxy_with_connect_and_plain_http",
            "repo_read_cannot_get_past_the_allow_list_or_the_address_rules",
            "offline_gets_no_proxy_even_with_a_scope",
            "a_sessions_commands_each_record_their_own_connections",
        ],
        HELPER,
    );
}
