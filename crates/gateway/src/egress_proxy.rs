//! The egress proxy: the only way out of a sandbox whose profile reaches the
//! network (`repo-read`, `repo-write`, `deployment`).
//!
//! It listens on a Unix socket, which the sandbox binds in and its forwarder
//! connects to, and speaks HTTP/1: `CONNECT host:port` (then it splices bytes
//! both ways, so TLS runs end to end) and plain HTTP in absolute form
//! (`GET http://host/path`, forwarded with the hop-by-hop headers removed).
//! For each request the gateway decides here, with the same rules as
//! `http.request`: the host must be on the scope's allow-list (before any
//! name is resolved), then the name is resolved by [`EgressRules`] and
//! refused if any address is internal, and only the checked addresses are
//! dialled. Every request, allowed or not, becomes an [`EgressConnection`]
//! in the proxy's log, which [`EgressProxy::finish`] returns.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use agentwerke_sandbox::{EgressConnection, EgressDecision};
use agentwerke_types::{ErrorCode, Timestamp};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::egress::{EgressRules, Refused, Unresolved};
use crate::facts::normalize_host;

/// How long [`EgressProxy::finish`] lets open connections end on their own
/// before it cuts them.
const GRACE: Duration = Duration::from_secs(2);

/// Where one sandboxed execution may go.
#[derive(Debug, Clone, Default)]
pub struct EgressScope {
    /// Hosts it may reach: exact names or IP literals (compared without case,
    /// IPv6 brackets or a trailing dot), or `*.example.com` for every name
    /// under `example.com` (not `example.com` itself, and never an IP
    /// literal). Empty: nothing.
    pub allow_hosts: Vec<String>,
    /// The address rules, as for `http.request`: internal addresses are
    /// refused except for the hosts the rules name.
    pub rules: EgressRules,
}

impl EgressScope {
    /// Whether `host` is on the allow-list.
    /// IP literals are compared as addresses, so `::ffff:7f00:1` is the
    /// listed `::ffff:127.0.0.1`.
    pub fn allows(&self, host: &str) -> bool {
        let host = normalize_host(host);
        let literal = host.parse::<IpAddr>().ok();
        self.allow_hosts.iter().any(|pattern| {
            let pattern = normalize_host(pattern);
            if let (Some(ip), Ok(listed)) = (literal, pattern.parse::<IpAddr>()) {
                return ip == listed;
            }
            match pattern.strip_prefix("*.") {
                Some(suffix) => {
                    literal.is_none()
                        && host
                            .strip_suffix(suffix)
                            .and_then(|head| head.strip_suffix('.'))
                            .is_some_and(|label| !label.is_empty())
                }
                None => host == pattern,
            }
        })
    }
}

/// Why the proxy did not connect a request. The message is what the
/// command is told (with a `403`, `400` or `502`) and what the log keeps:
/// host and address only, never request content.
#[derive(Debug, thiserror::Error)]
pub enum EgressRefusal {
    /// The host is not on the scope's allow-list; its name was not resolved.
    #[error("{0} is not on the allow-list")]
    HostNotAllowed(String),
    /// The host resolved to an address the egress rules refuse.
    #[error(transparent)]
    AddressRefused(Refused),
    /// The host did not resolve.
    #[error(transparent)]
    Unresolved(Unresolved),
    /// No checked address accepted the connection.
    #[error("cannot connect to {host}: {reason}")]
    ConnectFailed {
        /// The host.
        host: String,
        /// The last connection error.
        reason: String,
    },
    /// Not a request the proxy serves (origin-form, `https://` in absolute
    /// form, no host or port).
    #[error("bad proxy request: {0}")]
    BadRequest(&'static str),
}

impl ErrorCode for EgressRefusal {
    fn code(&self) -> &'static str {
        match self {
            EgressRefusal::HostNotAllowed(_) => "gateway.egress.host_not_allowed",
            EgressRefusal::AddressRefused(_) => "gateway.egress.address_refused",
            EgressRefusal::Unresolved(_) => "gateway.egress.unresolved",
            EgressRefusal::ConnectFailed { .. } => "gateway.egress.connect_failed",
            EgressRefusal::BadRequest(_) => "gateway.egress.bad_request",
        }
    }
}

impl EgressRefusal {
    /// The HTTP status the command gets: `403` for a refusal, `502` for a
    /// failure, `400` for a request the proxy does not serve.
    pub fn status(&self) -> u16 {
        match self {
            EgressRefusal::HostNotAllowed(_) | EgressRefusal::AddressRefused(_) => 403,
            EgressRefusal::Unresolved(_) | EgressRefusal::ConnectFailed { .. } => 502,
            EgressRefusal::BadRequest(_) => 400,
        }
    }

    /// Refused by the rules, or allowed and then failed.
    pub fn decision(&self) -> EgressDecision {
        match self {
            EgressRefusal::Unresolved(_) | EgressRefusal::ConnectFailed { .. } => {
                EgressDecision::Failed
            }
            _ => EgressDecision::Refused,
        }
    }
}

/// A running egress proxy for one execution (or one step's executions).
#[derive(Debug)]
pub struct EgressProxy {
    socket: PathBuf,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
    log: Log,
}

impl EgressProxy {
    /// Listens on a new Unix socket at `socket` (which must not exist) and
    /// serves `scope`. The socket is made readable and writable by every
    /// user (mode `0666`), since the sandbox may run under another uid: the
    /// caller puts it in a folder only it may list (`0711`), as
    /// [`crate::run_with_egress`] does. Must be called within a tokio runtime.
    pub fn start(socket: &Path, scope: EgressScope) -> std::io::Result<Self> {
        let listener = UnixListener::bind(socket)?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o666))?;
        let (stop, stopped) = oneshot::channel();
        let log = Log::default();
        let context = Arc::new(crate::egress_relay::Context {
            scope,
            log: log.clone(),
        });
        let server = tokio::spawn(serve(listener, context, stopped));
        Ok(Self {
            socket: socket.to_owned(),
            stop,
            server,
            log,
        })
    }

    /// The socket's path, to bind into the sandbox.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops accepting, lets open connections end (for a moment), removes
    /// the socket, and returns every request it saw (since the last
    /// [`EgressProxy::drain`]), in the order they arrived, with the bytes
    /// each moved.
    pub async fn finish(self) -> Vec<EgressConnection> {
        let _ = self.stop.send(());
        let _ = self.server.await;
        let _ = std::fs::remove_file(&self.socket);
        self.log.take(true)
    }

    /// Returns the requests decided since the last drain, in arrival order,
    /// with the bytes each moved so far, and keeps serving: a proxy that
    /// lives as long as a sandbox session splits its log per command this
    /// way. A request still being decided stays for the next drain; bytes a
    /// connection moves after its drain are not counted.
    pub fn drain(&self) -> Vec<EgressConnection> {
        self.log.take(false)
    }
}

async fn serve(
    listener: UnixListener,
    context: Arc<crate::egress_relay::Context>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(crate::egress_relay::connection(stream, context.clone()));
                }
                // Out of file descriptors, most likely: wait for some to close.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drain).await;
    connections.shutdown().await;
}

/// The proxy's record of requests, in arrival order; bytes are counted
/// while they flow.
#[derive(Debug, Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<Arc<Entry>>>>);

/// One request: shared by the log and its connection, so that a drain can
/// take it out of the log while the connection still counts its bytes.
#[derive(Debug)]
struct Entry {
    record: Mutex<EgressConnection>,
    decided: AtomicBool,
    counters: Counters,
}

/// Bytes sent to and received from the destination of one connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) up: Arc<AtomicU64>,
    pub(crate) down: Arc<AtomicU64>,
}

/// What is known of a request when it arrives.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub(crate) host: String,
    pub(crate) port: u16,
    entry: Arc<Entry>,
}

impl Log {
    /// Reserves the request's place in the log as it arrives.
    pub(crate) fn arrive(&self, host: String, port: u16, method: String) -> Arrival {
        let at = Timestamp(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        );
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let record = EgressConnection {
            host: host.clone(),
            port,
            method,
            addresses: Vec::new(),
            decision: EgressDecision::Refused,
            code: None,
            reason: None,
            bytes_up: 0,
            bytes_down: 0,
            at,
        };
        let entry = Arc::new(Entry {
            record: Mutex::new(record),
            decided: AtomicBool::new(false),
            counters: Counters::default(),
        });
        entries.push(entry.clone());
        Arrival { host, port, entry }
    }

    /// Records the decision; an allowed request gets counters to fill.
    pub(crate) fn decide(
        &self,
        arrival: &Arrival,
        addresses: Vec<SocketAddr>,
        outcome: Result<(), &EgressRefusal>,
    ) -> Counters {
        let entry = &arrival.entry;
        let mut record = entry.record.lock().unwrap_or_else(PoisonError::into_inner);
        record.addresses = addresses;
        match outcome {
            Ok(()) => record.decision = EgressDecision::Allowed,
            Err(refusal) => {
                record.decision = refusal.decision();
                record.code = Some(refusal.code().to_owned());
                record.reason = Some(refusal.to_string());
            }
        }
        entry.decided.store(true, Ordering::SeqCst);
        entry.counters.clone()
    }

    /// Takes the records out of the log, in arrival order: all of them, or
    /// (not `all`) those decided, leaving the others for the next take.
    fn take(&self, all: bool) -> Vec<EgressConnection> {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *entries)
            .into_iter()
            .partition(|entry| all || entry.decided.load(Ordering::SeqCst));
        *entries = kept;
        drop(entries);
        taken
            .into_iter()
            .map(|entry| {
                let mut record = entry
                    .record
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                record.bytes_up = entry.counters.up.load(Ordering::SeqCst);
                record.bytes_down = entry.counters.down.load(Ordering::SeqCst);
                record
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "egress_proxy_tests.rs"]
mod tests;
