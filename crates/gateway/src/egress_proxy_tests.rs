use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;

fn scope(allow: &[&str], private: &[&str]) -> EgressScope {
    EgressScope {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        rules: EgressRules::allowing_private(private),
    }
}

fn started(scope: EgressScope) -> (tempfile::TempDir, EgressProxy) {
    let dir = tempfile::tempdir().unwrap();
    let proxy = EgressProxy::start(&dir.path().join("egress.sock"), scope).unwrap();
    (dir, proxy)
}

/// Sends `request` as it is and reads the answer to the end.
async fn exchange(proxy: &EgressProxy, request: &str) -> String {
    let mut stream = UnixStream::connect(proxy.socket()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// A TCP server on the host's loopback answering one connection with
/// `reply` after it read `expect` bytes, and passing on what it read.
fn origin(reply: &'static [u8], until: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, received) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut read = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&read).contains(until) {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(reply);
            let _ = seen.send(String::from_utf8_lossy(&read).into_owned());
        }
    });
    (port, received)
}

#[test]
fn the_allow_list_matches_names_and_suffix_patterns() {
    let scope = scope(
        &[
            "API.example.com.",
            "*.pkg.dev",
            "10.0.0.7",
            "[::1]",
            "::ffff:127.0.0.1",
        ],
        &[],
    );
    for host in [
        "api.example.com",
        "Api.Example.Com",
        "api.example.com.",
        "a.pkg.dev",
        "a.b.pkg.dev",
        "10.0.0.7",
        "::1",
        "[::1]",
        "0:0:0:0:0:0:0:1",
        "[::ffff:7f00:1]",
    ] {
        assert!(scope.allows(host), "{host}");
    }
    for host in [
        "example.com",
        "www.api.example.com",
        "pkg.dev",
        ".pkg.dev",
        "evilpkg.dev",
        "pkg.dev.evil.com",
        "10.0.0.8",
        "127.0.0.1",
        "",
    ] {
        assert!(!scope.allows(host), "{host}");
    }
    // A suffix pattern never covers an IP literal.
    assert!(
        !super::EgressScope {
            allow_hosts: vec!["*.0.0.1".to_owned()],
            ..EgressScope::default()
        }
        .allows("127.0.0.1")
    );
    assert!(!EgressScope::default().allows("example.com"));
}

#[test]
fn refusal_codes_are_stable() {
    let refused = Refused {
        host: "localhost".to_owned(),
        address: "127.0.0.1".parse().unwrap(),
        class: crate::egress::AddressClass::Loopback,
    };
    let refusals = [
        EgressRefusal::HostNotAllowed("x".to_owned()),
        EgressRefusal::AddressRefused(refused),
        EgressRefusal::Unresolved(Unresolved {
            host: "x".to_owned(),
            reason: "no".to_owned(),
        }),
        EgressRefusal::ConnectFailed {
            host: "x".to_owned(),
            reason: "no".to_owned(),
        },
        EgressRefusal::BadRequest("x"),
    ];
    let codes: Vec<_> = refusals
        .iter()
        .map(|r| (r.code(), r.status(), r.decision()))
        .collect();
    use EgressDecision::{Failed, Refused as R};
    assert_eq!(
        codes,
        [
            ("gateway.egress.host_not_allowed", 403, R),
            ("gateway.egress.address_refused", 403, R),
            ("gateway.egress.unresolved", 502, Failed),
            ("gateway.egress.connect_failed", 502, Failed),
            ("gateway.egress.bad_request", 400, R),
        ]
    );
}

#[tokio::test]
async fn the_socket_is_open_to_every_user_and_removed_at_the_end() {
    let (_dir, proxy) = started(EgressScope::default());
    let socket = proxy.socket().to_owned();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666);
    assert!(proxy.finish().await.is_empty());
    assert!(!socket.exists());
}

#[tokio::test]
async fn a_host_off_the_allow_list_is_refused_without_being_resolved() {
    let (_dir, proxy) = started(scope(&["allowed.example"], &[]));
    let answer = exchange(
        &proxy,
        "CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.ends_with(
            "gateway.egress.host_not_allowed: blocked.example is not on the allow-list\n"
        ),
        "{answer}"
    );
    let log = proxy.finish().await;
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(
        (entry.host.as_str(), entry.port, entry.method.as_str()),
        ("blocked.example", 443, "CONNECT")
    );
    assert_eq!(entry.decision, EgressDecision::Refused);
    assert_eq!(
        entry.code.as_deref(),
        Some("gateway.egress.host_not_allowed")
    );
    assert!(entry.addresses.is_empty());
    assert!(entry.at.as_millis() > 0);
}

#[tokio::test]
async fn internal_addresses_on_the_allow_list_are_still_refused() {
    let (port, seen) = origin(b"reached", "\n");
    let (_dir, proxy) = started(scope(
        &[
            "127.0.0.1",
            "localhost",
            "10.1.2.3",
            "::ffff:127.0.0.1",
            "169.254.169.254",
        ],
        &[],
    ));
    for target in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "10.1.2.3:443".to_owned(),
        format!("[::ffff:127.0.0.1]:{port}"),
    ] {
        let answer = exchange(&proxy, &format!("CONNECT {target} HTTP/1.1\r\n\r\n")).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{target}: {answer}");
        assert!(
            answer.contains("gateway.egress.address_refused"),
            "{target}: {answer}"
        );
    }
    let answer = exchange(
        &proxy,
        "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n",
    )
    .await;
    assert!(
        answer.contains("169.254.169.254 is a link_local address"),
        "{answer}"
    );
    let log = proxy.finish().await;
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|e| e.decision == EgressDecision::Refused
        && e.code.as_deref() == Some("gateway.egress.address_refused")));
    let addresses: Vec<SocketAddr> = log.iter().flat_map(|e| e.addresses.clone()).collect();
    assert_eq!(addresses.len(), 5, "{addresses:?}");
    assert_eq!(addresses[0], format!("127.0.0.1:{port}").parse().unwrap());
    assert!(addresses[1].ip().is_loopback() && addresses[1].port() == port);
    assert_eq!(addresses[2], "10.1.2.3:443".parse().unwrap());
    assert_eq!(
        addresses[3],
        format!("[::ffff:127.0.0.1]:{port}").parse().unwrap()
    );
    assert_eq!(addresses[4], "169.254.169.254:80".parse().unwrap());
    assert_eq!(log[4].method, "GET");
    assert!(seen.try_recv().is_err(), "the origin was reached");
}

#[tokio::test]
async fn an_allowed_tunnel_carries_bytes_both_ways_and_counts_them() {
    let (port, seen) = origin(b"pong from origin", "ping\n");
    let (_dir, proxy) = started(scope(&["127.0.0.1"], &["127.0.0.1"]));
    let mut stream = UnixStream::connect(proxy.socket()).await.unwrap();
    stream
        .write_all(format!("CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"), "{head:?}");
    let mut rest = Vec::new();
    stream.write_all(b"ping\n").await.unwrap();
    stream.read_to_end(&mut rest).await.unwrap();
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.ends_with("pong from origin"), "{rest}");
    assert_eq!(seen.recv().unwrap(), "ping\n");
    drop(stream);
    let log = proxy.finish().await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].decision, EgressDecision::Allowed);
    assert_eq!(
        log[0].addresses,
        [format!("127.0.0.1:{port}").parse().unwrap()]
    );
    assert_eq!((log[0].bytes_up, log[0].bytes_down), (5, 16));
    assert_eq!(log[0].code, None);
}

#[tokio::test]
async fn a_plain_request_is_forwarded_in_origin_form_without_hop_by_hop_headers() {
    let (port, seen) = origin(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\nConnection: close\r\n\r\nhello",
        "\r\n\r\n",
    );
    let (_dir, proxy) = started(scope(&["127.0.0.1"], &["127.0.0.1"]));
    let answer = exchange(
        &proxy,
        &format!(
            "GET http://user:pw@127.0.0.1:{port}/path?q=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\
             Proxy-Authorization: Basic c2VjcmV0\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\
             X-Kept: 2\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("keep-alive"),
        "{answer}"
    );
    let request = seen.recv().unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(
        request.starts_with("GET /path?q=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        lower.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "{request}"
    );
    assert!(lower.contains("x-kept: 2\r\n"), "{request}");
    for gone in ["proxy-authorization", "x-hop", "elsewhere", "user:pw"] {
        assert!(!lower.contains(gone), "{gone} in {request}");
    }
    let log = proxy.finish().await;
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].method.as_str(), log[0].decision),
        ("GET", EgressDecision::Allowed)
    );
    assert_eq!(log[0].bytes_up, request.len() as u64);
    assert!(log[0].bytes_down > 5);
}

#[tokio::test]
async fn requests_the_proxy_does_not_serve_are_refused_and_recorded() {
    let (_dir, proxy) = started(scope(&["127.0.0.1"], &["127.0.0.1"]));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    for (request, status, code) in [
        (
            "GET /path HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            400,
            "gateway.egress.bad_request",
        ),
        (
            "GET https://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            400,
            "gateway.egress.bad_request",
        ),
        (
            "CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
            400,
            "gateway.egress.bad_request",
        ),
        (
            &format!("CONNECT 127.0.0.1:{closed_port} HTTP/1.1\r\n\r\n"),
            502,
            "gateway.egress.connect_failed",
        ),
    ] {
        let answer = exchange(&proxy, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}: {answer}"
        );
        assert!(answer.contains(code), "{request}: {answer}");
    }
    let log = proxy.finish().await;
    let codes: Vec<_> = log.iter().map(|e| e.code.as_deref().unwrap()).collect();
    assert_eq!(
        codes,
        [
            "gateway.egress.bad_request",
            "gateway.egress.bad_request",
            "gateway.egress.bad_request",
            "gateway.egress.connect_failed"
        ]
    );
    assert_eq!(log[3].decision, EgressDecision::Failed);
    assert_eq!(log[3].addresses.len(), 1);
}

#[tokio::test]
async fn drain_splits_the_log_and_the_proxy_keeps_serving() {
    let (_dir, proxy) = started(scope(&[], &[]));
    let refused = |host: &str| format!("GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
    assert!(
        exchange(&proxy, &refused("first.example"))
            .await
            .contains("403")
    );
    let first: Vec<String> = proxy.drain().into_iter().map(|c| c.host).collect();
    assert_eq!(first, ["first.example"]);
    assert!(proxy.drain().is_empty());
    assert!(
        exchange(&proxy, &refused("second.example"))
            .await
            .contains("403")
    );
    assert!(
        exchange(&proxy, &refused("third.example"))
            .await
            .contains("403")
    );
    let second: Vec<String> = proxy.drain().into_iter().map(|c| c.host).collect();
    assert_eq!(second, ["second.example", "third.example"]);
    assert!(
        exchange(&proxy, &refused("last.example"))
            .await
            .contains("403")
    );
    let rest: Vec<String> = proxy.finish().await.into_iter().map(|c| c.host).collect();
    assert_eq!(rest, ["last.example"]);
}

#[test]
fn a_request_not_yet_decided_waits_for_the_next_drain() {
    let log = Log::default();
    let pending = log.arrive("pending.example".into(), 443, "CONNECT".into());
    let decided = log.arrive("decided.example".into(), 443, "CONNECT".into());
    log.decide(&decided, Vec::new(), Ok(()));
    let hosts = |taken: Vec<EgressConnection>| -> Vec<String> {
        taken.into_iter().map(|c| c.host).collect()
    };
    assert_eq!(hosts(log.take(false)), ["decided.example"]);
    let refusal = EgressRefusal::HostNotAllowed("pending.example".into());
    log.decide(&pending, Vec::new(), Err(&refusal));
    let taken = log.take(false);
    assert_eq!(taken.len(), 1);
    assert_eq!(
        taken[0].code.as_deref(),
        Some("gateway.egress.host_not_allowed")
    );
    assert!(log.take(true).is_empty());
}
