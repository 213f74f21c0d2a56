//! WebSocket pass-through. An upgrade request is admitted and sent on like
//! any request of its route (authentication, limits, identity headers,
//! `X-Forwarded-*`), keeping the `Connection: upgrade` and `Upgrade:
//! websocket` that other requests lose. When the service answers `101`,
//! both connections leave HTTP and their bytes are relayed both ways until
//! either side closes, or nothing moves in either direction for the idle
//! timeout. Frames are never parsed: what one side sends, the other gets.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::{strip_hop_by_hop, upstream_headers};
use crate::plan::{ProxyPlan, WebSocketPlan};
use crate::takeover::Takeover;
use crate::upstream::{Payload, Upstream, Via};

/// Whether the request asks to become a WebSocket (RFC 6455 §4.1) on a
/// connection that can be taken over. HTTP/2 has no `Upgrade`; other
/// protocols named in `Upgrade` are not carried.
pub(super) fn is_upgrade(req: &Request) -> bool {
    req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && lists(req.headers(), &header::CONNECTION, "upgrade")
        && lists(req.headers(), &header::UPGRADE, "websocket")
        && req.extensions().get::<Takeover>().is_some()
}

/// Whether a comma-separated header names `token` (a protocol's version,
/// `websocket/13`, still names `websocket`).
fn lists(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t.split('/').next().unwrap_or(t).eq_ignore_ascii_case(token)
        })
}

/// `403` for a browser page of an origin the route does not list. CORS does
/// not cover WebSocket handshakes and browsers send cookies with them, so
/// without this check any site could connect as the user. Requests without
/// `Origin` do not come from a browser page and pass.
pub(super) fn refuse_origin(ws: &WebSocketPlan, headers: &HeaderMap) -> Option<Response> {
    if ws.origins.is_empty() {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    let listed = origin
        .to_str()
        .is_ok_and(|o| ws.origins.iter().any(|a| a.eq_ignore_ascii_case(o)));
    (!listed).then(|| {
        crate::error::Refusal::Forbidden(
            "pages of this origin may not open WebSocket connections here".to_owned(),
        )
        .into_response()
    })
}

/// Sends an admitted upgrade request to the service. The service's answer
/// goes back as it is unless it is `101`; then the relay starts in the
/// background and the client gets the `101`.
pub(super) async fn forward(
    route: &ProxyPlan,
    up: &Arc<Upstream>,
    ws: &WebSocketPlan,
    req: Request,
    identity: HeaderMap,
    keep_authorization: bool,
) -> Response {
    let (mut parts, _) = req.into_parts();
    let Some(client_side) = parts.extensions.remove::<Takeover>() else {
        unreachable!("is_upgrade checked that the connection can be taken over")
    };
    let target = route.upstream_path(parts.uri.path_and_query().map_or("/", |pq| pq.as_str()));
    let mut headers = upstream_headers(&mut parts, identity, keep_authorization);
    let to = super::To {
        route,
        up,
        cache: None,
    };
    let (_pass, attempt) = match super::door(to, &headers) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    upgrade_headers(&mut headers);
    let mut request = http::Request::new(());
    *request.headers_mut() = headers;
    let (head, ()) = request.into_parts();
    let (via, none) = (Via::Http1, Payload::Whole(None));
    let mut answer = match super::send_once(to, attempt, via, (head, &target), none, None).await {
        Ok(answer) => answer,
        Err(e) => return super::failed(route, &e),
    };
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut head, body) = answer.into_parts();
        strip_hop_by_hop(&mut head.headers);
        return Response::from_parts(head, Body::new(body));
    }
    let upstream_side = hyper::upgrade::on(&mut answer);
    let client_side = client_side.claim();
    let (mut head, _) = answer.into_parts();
    strip_hop_by_hop(&mut head.headers);
    upgrade_headers(&mut head.headers);
    let (prefix, idle) = (route.label().to_owned(), ws.idle_timeout);
    tokio::spawn(async move {
        // The client's side is handed over once the 101 is written.
        let Ok(client) = client_side.await else {
            tracing::debug!(prefix = %prefix, "client connection ended before the upgrade");
            return;
        };
        let upstream = match upstream_side.await {
            Ok(upstream) => upstream,
            Err(e) => {
                tracing::debug!(prefix = %prefix, error = %e, "WebSocket upgrade failed");
                return;
            }
        };
        let _open = Open::new(&prefix);
        let ending = relay(client, TokioIo::new(upstream), idle).await;
        tracing::debug!(prefix = %prefix, ?ending, "WebSocket connection ended");
        if crate::metrics::enabled() {
            metrics::counter!("bff_websocket_closed_total", "route" => prefix.clone(), "reason" => ending.as_str())
                .increment(1);
        }
    });
    Response::from_parts(head, Body::empty())
}

/// The two hop-by-hop headers an upgrade needs on each hop.
fn upgrade_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Counts a relayed connection as open for as long as it lives.
struct Open(Option<String>);

impl Open {
    fn new(prefix: &str) -> Self {
        if !crate::metrics::enabled() {
            return Self(None);
        }
        metrics::gauge!("bff_websocket_connections", "route" => prefix.to_owned()).increment(1);
        Self(Some(prefix.to_owned()))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(prefix) = self.0.take() {
            metrics::gauge!("bff_websocket_connections", "route" => prefix).decrement(1);
        }
    }
}

/// How a relayed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Both sides closed.
    Closed,
    /// Nothing moved for the idle timeout.
    Idle,
    /// A side broke off (reset, I/O error).
    Failed,
}

impl Ending {
    fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Idle => "idle",
            Self::Failed => "error",
        }
    }
}

/// Copies bytes both ways until both sides are done, or until no byte has
/// been read from either for `idle`; then both connections are dropped,
/// which closes them.
async fn relay<A, B>(a: A, b: B, idle: Duration) -> Ending
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Activity::new();
    let mut a = Metered {
        io: a,
        activity: &activity,
    };
    let mut b = Metered {
        io: b,
        activity: &activity,
    };
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    loop {
        tokio::select! {
            done = &mut copy => return if done.is_ok() { Ending::Closed } else { Ending::Failed },
            () = tokio::time::sleep_until(activity.last() + idle) => {
                if activity.last() + idle <= Instant::now() {
                    return Ending::Idle;
                }
            }
        }
    }
}

/// When bytes last moved through a relay. An atomic rather than a `Cell`
/// only because the relay runs on a spawned, `Send` task.
struct Activity {
    start: Instant,
    micros: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            micros: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let micros = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros.store(micros, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

/// A connection that notes in `activity` every read that brought bytes.
/// Reads suffice: every byte written was read from the other side first.
struct Metered<'a, T> {
    io: T,
    activity: &'a Activity,
}

impl<T: AsyncRead + Unpin> AsyncRead for Metered<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Metered<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn tokens_are_found_in_lists_whatever_their_case() {
        let h = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket/13"),
        ]);
        assert!(lists(&h, &header::CONNECTION, "upgrade"));
        assert!(lists(&h, &header::UPGRADE, "websocket"));
        let h = headers(&[("connection", "upgraded"), ("upgrade", "h2c")]);
        assert!(!lists(&h, &header::CONNECTION, "upgrade"));
        assert!(!lists(&h, &header::UPGRADE, "websocket"));
    }

    fn plan(origins: &[&str]) -> WebSocketPlan {
        WebSocketPlan {
            idle_timeout: Duration::from_secs(60),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    #[test]
    fn only_listed_origins_pass_and_requests_without_one_are_not_from_pages() {
        let ws = plan(&["https://shop.example"]);
        assert!(refuse_origin(&ws, &headers(&[("origin", "https://shop.example")])).is_none());
        assert!(refuse_origin(&ws, &headers(&[("origin", "https://SHOP.example")])).is_none());
        let refused = refuse_origin(&ws, &headers(&[("origin", "https://evil.example")]));
        assert_eq!(refused.map(|r| r.status()), Some(StatusCode::FORBIDDEN));
        assert!(refuse_origin(&ws, &headers(&[("origin", "null")])).is_some());
        assert!(refuse_origin(&ws, &HeaderMap::new()).is_none());
        assert!(
            refuse_origin(&plan(&[]), &headers(&[("origin", "https://any.example")])).is_none()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_pass_both_ways_and_a_close_ends_the_relay() {
        let (mut client, client_side) = duplex(64);
        let (upstream_side, mut upstream) = duplex(64);
        let relay = tokio::spawn(relay(client_side, upstream_side, Duration::from_secs(1)));
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0; 4];
        upstream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        upstream.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        drop(client);
        drop(upstream);
        assert_eq!(relay.await.unwrap(), Ending::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_either_way_keeps_the_relay_open_and_silence_ends_it() {
        let idle = Duration::from_millis(300);
        let (mut client, client_side) = duplex(64);
        let (upstream_side, mut upstream) = duplex(64);
        let started = Instant::now();
        let relay = tokio::spawn(relay(client_side, upstream_side, idle));
        let mut buf = [0; 1];
        for i in 0..10 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if i % 2 == 0 {
                client.write_all(b"c").await.unwrap();
                upstream.read_exact(&mut buf).await.unwrap();
            } else {
                upstream.write_all(b"u").await.unwrap();
                client.read_exact(&mut buf).await.unwrap();
            }
        }
        assert!(!relay.is_finished(), "closed while bytes moved");
        let last = Instant::now();
        assert_eq!(relay.await.unwrap(), Ending::Idle);
        let waited = last.elapsed();
        assert!(
            waited >= idle - Duration::from_millis(1) && waited <= idle,
            "{waited:?}"
        );
        assert!(started.elapsed() >= Duration::from_secs(2));
        // Both connections were closed.
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        assert_eq!(upstream.read(&mut buf).await.unwrap(), 0);
    }
}
