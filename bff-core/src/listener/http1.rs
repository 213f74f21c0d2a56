//! Driving one HTTP/1 connection, parking it while it is idle.
//!
//! hyper keeps a connection's read and write buffers and its task state for
//! as long as the connection lives, about 30 KB, idle or not. A keep-alive
//! connection spends most of its life idle, so this driver serves requests
//! in bursts: a hyper connection over the socket while requests come, and
//! once hyper has answered everything and found nothing more to read for
//! [`PARK_AFTER`], the socket is taken back whole (hyper ends an idle
//! connection at once, writing nothing) and the hyper connection dropped.
//! The parked socket waits for readability alone, about 1.6 KB in all,
//! and a new burst starts when the client sends again. Bytes hyper read
//! beyond its last request come back with the socket and are read first.

use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use axum::response::Response;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service;

use super::Socket;
use super::rejections::Rejections;
use super::service::Served;
use super::tracked::{State, Tracked};
use crate::takeover::Upgraded;

/// How long hyper must have had nothing to do before its connection is
/// dropped and the socket parked. Under load a connection is never idle
/// this long, so bursts last; a client that pauses longer pays for one new
/// hyper connection (a few allocations) when it sends again.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// What every HTTP/1 connection of a listener is served with.
pub(super) struct Settings {
    pub(super) http1: http1::Builder,
    /// The longest an idle keep-alive connection is kept.
    pub(super) keep_alive: Duration,
}

/// How a burst ended.
enum Ended<I, S> {
    /// Idle: the socket, the bytes read ahead on it, the service.
    Parked(I, Bytes, Served<S>),
    /// Closed by either side, taken over, or drained.
    Done,
}

/// Serves `io` until it closes, is taken over, stays idle past the
/// keep-alive timeout, or `drain` says the listener is shutting down.
pub(super) async fn serve<S, I>(
    settings: Arc<Settings>,
    mut drain: watch::Receiver<bool>,
    service: Served<S>,
    io: I,
) where
    S: Service<http::Request<Incoming>, Response = Response, Error = std::convert::Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
    I: Socket,
{
    let state = service.state.clone();
    let (mut io, mut ahead, mut service) = (io, Bytes::new(), service);
    loop {
        // Boxed, so that a parked connection holds none of hyper's state.
        let burst = Box::pin(burst(&settings, &state, &mut drain, io, ahead, service));
        let Ended::Parked(back, rest, served) = burst.await else {
            return;
        };
        (io, ahead, service) = (back, rest, served);
        if !ahead.is_empty() {
            // Part of a request head came: the next burst reads the rest,
            // and its header read timeout applies from now.
            continue;
        }
        tokio::select! {
            ready = io.tcp().readable() => if ready.is_err() { return },
            () = tokio::time::sleep(settings.keep_alive) => return,
            () = super::draining(&mut drain) => return,
        }
    }
}

/// One hyper connection over `io`, until it ends or has been idle for
/// [`PARK_AFTER`] after answering at least one request. Before its first
/// answer hyper does not count a connection as idle (it would end it only
/// after one more answer, sent with `Connection: close`), and a client
/// trickling its first request head must still meet the header read
/// timeout.
async fn burst<S, I>(
    settings: &Settings,
    state: &Arc<State>,
    drain: &mut watch::Receiver<bool>,
    io: I,
    ahead: Bytes,
    service: Served<S>,
) -> Ended<I, S>
where
    S: Service<http::Request<Incoming>, Response = Response, Error = std::convert::Infallible>,
    S: Clone + Send + Unpin + 'static,
    S::Future: Send + 'static,
    I: Socket,
{
    state.set_parking(false);
    let (answers_before, peer) = (state.answers(), service.peer);
    let stream = TokioIo::new(Rejections::new(Tracked::new(io, ahead, state.clone())));
    let mut conn = settings.http1.serve_connection(stream, service);
    let mut timer = pin!(tokio::time::sleep(PARK_AFTER));
    let mut drained = pin!(super::draining(drain));
    let (mut seen, mut draining, mut parking) = (state.moved(), false, false);
    let ended = poll_fn(|cx| {
        loop {
            if let Poll::Ready(ended) = Pin::new(&mut conn).poll(cx) {
                return Poll::Ready(ended);
            }
            if !draining && drained.as_mut().poll(cx).is_ready() {
                // In-flight answers finish, with `Connection: close`.
                draining = true;
                Pin::new(&mut conn).graceful_shutdown();
                continue;
            }
            if draining || parking || timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let moved = state.moved();
            if state.answers() != answers_before && moved == seen && state.idle() {
                // hyper is between requests: it ends the connection at
                // once and writes nothing.
                parking = true;
                state.set_parking(true);
                Pin::new(&mut conn).graceful_shutdown();
                continue;
            }
            seen = moved;
            timer.as_mut().reset(Instant::now() + PARK_AFTER);
        }
    })
    .await;
    if let Err(e) = ended {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
        return Ended::Done;
    }
    if let Some(to) = state.takeover.claimed() {
        let parts = conn.into_parts();
        let (io, ahead) = parts.io.into_inner().into_inner().into_parts();
        let ahead = joined(ahead, &parts.read_buf);
        let _ = to.send(Upgraded::new(Tracked::new(io, ahead, state.clone())));
        return Ended::Done;
    }
    if !parking || draining {
        return Ended::Done;
    }
    let parts = conn.into_parts();
    let (io, ahead) = parts.io.into_inner().into_inner().into_parts();
    Ended::Parked(io, joined(ahead, &parts.read_buf), parts.service)
}

/// `first` then `then`, in a buffer of their own: hyper's read buffer
/// comes back as `Bytes` over its whole allocation, which must not stay
/// with a parked connection.
fn joined(first: Bytes, then: &[u8]) -> Bytes {
    if then.is_empty() {
        return first;
    }
    [&first[..], then].concat().into()
}
