//! Accepting connections: hyper's HTTP/1 and HTTP/2 servers, over TLS when
//! configured, with the limits that keep slow or oversized clients from
//! tying the gateway up (header read timeout, header size and count), idle
//! HTTP/1 connections parked at under 2 KB each ([`http1`]), and a graceful
//! shutdown that lets in-flight requests finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

mod http1;
mod rejections;
mod service;
mod tracked;

use crate::config::Limits;
use crate::tls::{ClientCert, TlsConnection};
use service::Served;

/// Longest wait for in-flight requests once shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection's socket: plain TCP or TLS over it. Parking waits for the
/// TCP socket to become readable.
trait Socket: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {
    fn tcp(&self) -> &TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// What every connection of the listener is served with.
struct Servers {
    http1: Arc<http1::Settings>,
    http2: http2::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Time for a new connection's first bytes, or its TLS handshake.
    first_bytes: Duration,
}

/// Serves `router` (an [`axum::Router`], or a service answering like one)
/// until `shutdown` resolves, then drains connections. With `tls`, every
/// connection is a TLS one; the handshake must finish within the header
/// read timeout.
pub async fn serve<S>(
    listener: TcpListener,
    router: S,
    limits: &Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
{
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers);
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    let servers = Arc::new(Servers {
        http1: Arc::new(http1::Settings {
            http1: h1,
            keep_alive: limits.keep_alive_timeout,
        }),
        http2: h2,
        tls: tls.map(tokio_rustls::TlsAcceptor::from),
        first_bytes: limits.header_read_timeout,
    });
    // Every connection holds a receiver: shutdown sends `true`, and the
    // drain is over when the last receiver is gone.
    let (drain, _) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = Served {
            inner: router.clone(),
            peer,
            tls: None,
            state: Arc::default(),
        };
        tokio::spawn(connection(
            servers.clone(),
            drain.subscribe(),
            service,
            stream,
        ));
    }
    drop(listener);
    drain.send_replace(true);
    tokio::select! {
        () = drain.closed() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("in-flight requests did not finish in time");
        }
    }
    Ok(())
}

/// Serves one accepted connection until it closes or shutdown drains it.
async fn connection<S>(
    servers: Arc<Servers>,
    drain: watch::Receiver<bool>,
    service: Served<S>,
    stream: TcpStream,
) where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
{
    // What is not a plain HTTP/1 connection is boxed: a task is as large
    // as the largest state of its future, and most connections are plain
    // HTTP/1 ones that spend their lives parked.
    if let Some(acceptor) = servers.tls.clone() {
        return Box::pin(tls(servers, acceptor, drain, service, stream)).await;
    }
    let mut drain = drain;
    match first_step(servers.first_bytes, &mut drain, speaks_http2(&stream)).await {
        Some(Ok(Some(true))) => Box::pin(http2(&servers, drain, service, stream)).await,
        Some(Ok(Some(false))) => http1::serve(servers.http1.clone(), drain, service, stream).await,
        Some(Ok(None) | Err(_)) | None => {}
    }
}

/// A new connection's first step (its first bytes, its TLS handshake),
/// within the time it has for it; `None` when shutdown begins first.
async fn first_step<T>(
    limit: Duration,
    drain: &mut watch::Receiver<bool>,
    step: impl Future<Output = T>,
) -> Option<Result<T, tokio::time::error::Elapsed>> {
    tokio::select! {
        done = tokio::time::timeout(limit, step) => Some(done),
        () = draining(drain) => None,
    }
}

/// Serves a TLS connection: the handshake, then HTTP/2 or HTTP/1 as ALPN
/// agreed.
async fn tls<S>(
    servers: Arc<Servers>,
    acceptor: tokio_rustls::TlsAcceptor,
    drain: watch::Receiver<bool>,
    mut service: Served<S>,
    stream: TcpStream,
) where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
{
    let peer = service.peer;
    let mut drain = drain;
    let Some(handshake) =
        first_step(servers.first_bytes, &mut drain, acceptor.accept(stream)).await
    else {
        return;
    };
    let stream = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let session = stream.get_ref().1;
    // Parsed once per connection, not per request.
    let client_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|der| ClientCert::parse(der))
        .map(Arc::new);
    let h2 = session.alpn_protocol() == Some(b"h2");
    service.tls = Some(TlsConnection { client_cert });
    if h2 {
        http2(&servers, drain, service, stream).await;
    } else {
        http1::serve(servers.http1.clone(), drain, service, stream).await;
    }
}

/// Whether a plain connection starts with HTTP/2's preface (`PRI * HTTP/2.0`,
/// prior knowledge) rather than an HTTP/1 request line; `None` when it
/// closes first. Peeked, so the bytes stay for the server.
async fn speaks_http2(stream: &TcpStream) -> Option<bool> {
    let mut first = [0u8; 3];
    loop {
        let n = stream.peek(&mut first).await.ok()?;
        if n == 0 {
            return None;
        }
        // "P" could start "POST" as well as "PRI": wait for a third byte.
        if n == first.len() || !b"PRI".starts_with(&first[..n]) {
            return Some(first[..n] == *b"PRI");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves an HTTP/2 connection; a drain lets its streams finish.
async fn http2<S, I>(servers: &Servers, mut drain: watch::Receiver<bool>, service: Served<S>, io: I)
where
    S: Service<http::Request<Incoming>, Response = Response, Error = Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
    I: Socket,
{
    let peer = service.peer;
    let conn = servers.http2.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = draining(&mut drain) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Resolves once shutdown has begun (or the listener is gone).
async fn draining(drain: &mut watch::Receiver<bool>) {
    let _ = drain.wait_for(|draining| *draining).await;
}
