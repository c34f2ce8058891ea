//! One connection to the egress proxy: HTTP/1 requests read from it, each
//! decided, and either answered with the refusal or relayed to the checked
//! address (a `CONNECT` tunnel, or one plain HTTP request).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::Authority;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;

use crate::egress::ResolveError;
use crate::egress_proxy::{Arrival, Counters, EgressRefusal, EgressScope, Log};
use crate::facts::normalize_host;

/// How long dialling one checked address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers that describe one hop, not the message: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

type Body = BoxBody<Bytes, hyper::Error>;

/// What every connection of one proxy shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) scope: EgressScope,
    pub(crate) log: Log,
}

/// A relay task (a tunnel, or an origin connection) that ends with the
/// connection that started it.
struct Relay(JoinHandle<()>);

impl Drop for Relay {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Relays = Arc<Mutex<Vec<Relay>>>;

/// Serves one client connection, then waits for the relays it started.
pub(crate) async fn connection(stream: UnixStream, context: Arc<Context>) {
    let relays: Relays = Arc::default();
    let started = relays.clone();
    let service = service_fn(move |request| {
        let context = context.clone();
        let relays = started.clone();
        async move { Ok::<_, Infallible>(handle(request, &context, &relays).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    let mut pending = std::mem::take(&mut *relays.lock().unwrap_or_else(PoisonError::into_inner));
    for relay in &mut pending {
        let _ = (&mut relay.0).await;
    }
}

async fn handle(request: Request<Incoming>, context: &Context, relays: &Relays) -> Response<Body> {
    let method = request.method().clone();
    let target = if method == Method::CONNECT {
        tunnel_target(&request)
    } else {
        http_target(&request)
    };
    let (host, port) = target
        .as_ref()
        .map_or((String::new(), 0), |(host, port)| (host.clone(), *port));
    let arrival = context.log.arrive(host, port, method.to_string());
    let target = match target {
        Ok(_) => decide(&arrival, &context.scope).await,
        Err(refusal) => Err((refusal, Vec::new())),
    };
    let (stream, addresses) = match target {
        Ok(addresses) => match dial(&arrival.host, &addresses).await {
            Ok(stream) => (stream, addresses),
            Err(refusal) => return refuse(&context.log, &arrival, addresses, &refusal),
        },
        Err((refusal, addresses)) => return refuse(&context.log, &arrival, addresses, &refusal),
    };
    let counters = context.log.decide(&arrival, addresses, Ok(()));
    let origin = Counted {
        inner: stream,
        counters,
    };
    if method == Method::CONNECT {
        splice(request, origin, relays)
    } else {
        forward(request, &arrival, origin, relays).await
    }
}

/// The `host:port` of a `CONNECT` (authority form; the port is required).
fn tunnel_target(request: &Request<Incoming>) -> Result<(String, u16), EgressRefusal> {
    let authority = request
        .uri()
        .authority()
        .ok_or(EgressRefusal::BadRequest("CONNECT needs host:port"))?;
    let port = authority
        .port_u16()
        .ok_or(EgressRefusal::BadRequest("CONNECT needs host:port"))?;
    Ok((normalize_host(authority.host()), port))
}

/// The host and port of a plain request, which must be in absolute form
/// with the `http` scheme (`https` is tunnelled with `CONNECT`).
fn http_target(request: &Request<Incoming>) -> Result<(String, u16), EgressRefusal> {
    let uri = request.uri();
    match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => {}
        Some(_) => {
            return Err(EgressRefusal::BadRequest(
                "only http:// is forwarded; use CONNECT",
            ));
        }
        None => {
            return Err(EgressRefusal::BadRequest(
                "request target must be an absolute http:// URL",
            ));
        }
    }
    let authority = uri
        .authority()
        .ok_or(EgressRefusal::BadRequest("request target has no host"))?;
    Ok((
        normalize_host(authority.host()),
        authority.port_u16().unwrap_or(80),
    ))
}

/// The allow-list first (an unlisted name is not even resolved), then the
/// address rules on every address the name resolves to.
async fn decide(
    arrival: &Arrival,
    scope: &EgressScope,
) -> Result<Vec<SocketAddr>, (EgressRefusal, Vec<SocketAddr>)> {
    if !scope.allows(&arrival.host) {
        return Err((
            EgressRefusal::HostNotAllowed(arrival.host.clone()),
            Vec::new(),
        ));
    }
    match scope.rules.resolve(&arrival.host).await {
        Ok(addresses) => Ok(addresses
            .into_iter()
            .map(|a| SocketAddr::new(a.ip(), arrival.port))
            .collect()),
        Err(ResolveError::Refused(refused)) => {
            let address = SocketAddr::new(refused.address, arrival.port);
            Err((EgressRefusal::AddressRefused(refused), vec![address]))
        }
        Err(ResolveError::Unresolved(unresolved)) => {
            Err((EgressRefusal::Unresolved(unresolved), Vec::new()))
        }
    }
}

/// Connects to the first checked address that answers; nothing is
/// resolved again.
async fn dial(host: &str, addresses: &[SocketAddr]) -> Result<TcpStream, EgressRefusal> {
    let mut last = String::from("no address");
    for address in addresses {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = "timed out".to_owned(),
        }
    }
    Err(EgressRefusal::ConnectFailed {
        host: host.to_owned(),
        reason: last,
    })
}

fn refuse(
    log: &Log,
    arrival: &Arrival,
    addresses: Vec<SocketAddr>,
    refusal: &EgressRefusal,
) -> Response<Body> {
    use agentwerke_types::ErrorCode;
    log.decide(arrival, addresses, Err(refusal));
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
    text(status, format!("{}: {refusal}\n", refusal.code()))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // A refused client gets nothing more on this connection.
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers `200` to a `CONNECT` and, once hyper hands over the client's
/// connection, copies bytes both ways until both sides are done.
fn splice(request: Request<Incoming>, mut origin: Counted, relays: &Relays) -> Response<Body> {
    let tunnel = tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(request).await {
            let mut client = TokioIo::new(upgraded);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut origin).await;
        }
    });
    relays
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Relay(tunnel));
    Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed())
}

/// Sends a plain request to the origin in origin form, without hop-by-hop
/// headers and with `Host` set to the host that was decided, and relays
/// the answer the same way.
async fn forward(
    request: Request<Incoming>,
    arrival: &Arrival,
    origin: Counted,
    relays: &Relays,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut outbound = Request::new(body);
    *outbound.method_mut() = parts.method;
    *outbound.version_mut() = Version::HTTP_11;
    *outbound.headers_mut() = parts.headers;
    strip_hop_by_hop(outbound.headers_mut());
    let host = parts.uri.authority().map(host_header);
    match host.map(|h| HeaderValue::from_str(&h)) {
        Some(Ok(value)) => outbound.headers_mut().insert(header::HOST, value),
        _ => return text(StatusCode::BAD_REQUEST, "bad host\n".to_owned()),
    };
    match path.parse() {
        Ok(uri) => *outbound.uri_mut() = uri,
        Err(_) => return text(StatusCode::BAD_REQUEST, "bad path\n".to_owned()),
    }
    let (mut sender, driver) =
        match hyper::client::conn::http1::handshake(TokioIo::new(origin)).await {
            Ok(pair) => pair,
            Err(e) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("origin {}: {e}\n", arrival.host),
                );
            }
        };
    let driver = tokio::spawn(async move {
        let _ = driver.await;
    });
    relays
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Relay(driver));
    match sender.send_request(outbound).await {
        Ok(response) => {
            let mut response = response.map(BodyExt::boxed);
            strip_hop_by_hop(response.headers_mut());
            response
        }
        Err(e) => text(
            StatusCode::BAD_GATEWAY,
            format!("origin {}: {e}\n", arrival.host),
        ),
    }
}

/// `Host` for an authority, without any user information it carried.
fn host_header(authority: &Authority) -> String {
    match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    }
}

/// Removes the hop-by-hop headers, and those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// The origin connection, counting the bytes that cross it.
struct Counted {
    inner: TcpStream,
    counters: Counters,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = (buf.filled().len() - before) as u64;
            this.counters.down.fetch_add(read, Ordering::SeqCst);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            this.counters.up.fetch_add(written as u64, Ordering::SeqCst);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
