//! The egress forwarder: inside the sandbox's network namespace, the one
//! door out. The helper binds [`PROXY_ADDRESS`] on the sandbox's private
//! loopback, hands the listening socket to a copy of itself started as the
//! forwarder, and names it in the command's proxy variables. The forwarder
//! pipes each accepted connection, byte for byte, to the egress proxy's Unix
//! socket; the proxy, outside, decides where it may go.
//!
//! The forwarder runs in the sandbox's PID namespace, so it dies with the
//! sandbox. Before it accepts anything it walls itself in: Landlock with no
//! file access and no TCP bind or connect at all (the socket was bound by
//! the helper; a Unix socket is all it connects to), and the same seccomp
//! filter as the command.

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::Limits;
use crate::invocation::Invocation;
use crate::spec::{ConfineSpec, Egress, FORWARDER_ARG, PROXY_ADDRESS};

/// Connections piped at once; further ones are closed at once.
const MAX_CONNECTIONS: usize = 64;

/// The proxy variables the command gets when the forwarder runs. `NO_PROXY`
/// is empty: nothing bypasses the proxy (nothing else would get out).
pub(crate) fn proxy_env() -> Vec<(&'static str, String)> {
    let url = format!("http://{PROXY_ADDRESS}");
    let mut env: Vec<(&'static str, String)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ]
    .into_iter()
    .map(|name| (name, url.clone()))
    .collect();
    env.extend([("NO_PROXY", String::new()), ("no_proxy", String::new())]);
    env
}

/// Starts the forwarder when the spec asks for it, and returns the
/// variables to give the command (none when it has no way out).
pub(crate) fn start(
    invocation: &Invocation,
    spec: &ConfineSpec,
) -> Result<Vec<(&'static str, String)>, String> {
    match &spec.egress {
        Egress::None => Ok(Vec::new()),
        Egress::Forward { socket } => {
            spawn(invocation, socket)?;
            Ok(proxy_env())
        }
        Egress::Running => Ok(proxy_env()),
    }
}

/// Binds [`PROXY_ADDRESS`] and starts the forwarder with it, piping to the
/// proxy's `socket`: once per sandbox (by the helper of a one-off
/// execution, by the server of a session).
pub(crate) fn spawn(invocation: &Invocation, socket: &Path) -> Result<(), String> {
    let listener =
        TcpListener::bind(PROXY_ADDRESS).map_err(|e| format!("bind {PROXY_ADDRESS}: {e}"))?;
    invocation
        .again()?
        .arg(FORWARDER_ARG)
        .arg(socket)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the egress forwarder: {e}"))?;
    Ok(())
}

/// The forwarder's `main` (the helper started with [`FORWARDER_ARG`]): the
/// listening socket is its stdin, the egress socket its next argument.
pub(crate) fn run(socket: &Path) -> Result<std::convert::Infallible, String> {
    let listener = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(TcpListener::from)
        .map_err(|e| format!("forwarder socket: {e}"))?;
    wall_in()?;
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let (client, _) = listener
            .accept()
            .map_err(|e| format!("forwarder accept: {e}"))?;
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let active = active.clone();
        let socket = socket.to_owned();
        thread::spawn(move || {
            if let Ok(proxy) = UnixStream::connect(&socket) {
                let _ = pipe(client, proxy);
            }
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// No files, no TCP, the command's syscall filter.
fn wall_in() -> Result<(), String> {
    let nothing = ConfineSpec {
        read: Vec::new(),
        list: Vec::new(),
        write: Vec::new(),
        devices: Vec::new(),
        deny_tcp: true,
        limits: Limits::default(),
        program: String::new(),
        args: Vec::new(),
        egress: Egress::None,
        secrets_dir: None,
        secret_files: Vec::new(),
    };
    crate::confine::landlock(&nothing)?;
    for filter in crate::seccomp::filters().map_err(|e| format!("seccomp filter: {e}"))? {
        seccompiler::apply_filter(&filter).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}

/// Copies both ways until each side has finished sending.
fn pipe(client: TcpStream, proxy: UnixStream) -> io::Result<()> {
    let (mut client_in, mut client_out) = (client.try_clone()?, client);
    let (mut proxy_in, mut proxy_out) = (proxy.try_clone()?, proxy);
    let up = thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut proxy_out);
        let _ = proxy_out.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut proxy_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}
