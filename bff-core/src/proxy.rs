//! Pass-through routes: requests under a prefix are streamed to a service
//! and the answer streamed back, with hop-by-hop headers dropped and
//! `X-Forwarded-*` added. Nothing here buffers a body. WebSocket upgrades,
//! on routes that carry them, are relayed by [`websocket`].

mod cached;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::error::Refusal;
use crate::plan::{ProxyPlan, WebSocketPlan};
use crate::running::Running;
use crate::upstream;
use crate::upstream::Attempt;

/// Largest declared body of an idempotent pass-through request that is read
/// whole before it is sent, so that it can be sent again.
const REPLAYABLE_BODY: usize = 64 * 1024;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The `X-Forwarded-*` headers, named once rather than parsed per request.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Methods a route answers itself rather than forwarding: a `TRACE`
/// echo would show the client the identity headers and addresses the BFF
/// adds for upstreams only (RFC 9110 §9.3.8 bars sending such data in
/// one), and `CONNECT` asks for a tunnel, which is no request to a service.
/// Every other method passes, extension methods (`PROPFIND`, `M-SEARCH`)
/// included: a route is the service's own API.
const NOT_FORWARDED: [http::Method; 2] = [http::Method::TRACE, http::Method::CONNECT];

/// The methods a `405` of a route names: those registered that it
/// forwards (an `Allow` list cannot say "and any extension").
const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH";

/// Whether pass-through routes forward requests of this method.
pub(crate) fn forwards(method: &http::Method) -> bool {
    !NOT_FORWARDED.contains(method)
}

/// What refuses a pass-through request before anything else: a method
/// routes never forward, or a WebSocket upgrade from a page of an origin
/// the route does not allow. `Ok` holds the route's WebSocket settings
/// when the request is an upgrade it relays.
pub(crate) fn refuse<'a>(
    route: &'a ProxyPlan,
    req: &Request,
) -> Result<Option<&'a WebSocketPlan>, Box<Response>> {
    if !forwards(req.method()) {
        return Err(Box::new(
            Refusal::MethodNotAllowed {
                detail: format!("pass-through routes do not forward {}", req.method()),
                allow: Some(HeaderValue::from_static(ALLOW)),
            }
            .into_response(),
        ));
    }
    let upgrade = route
        .websocket
        .as_ref()
        .filter(|_| websocket::is_upgrade(req));
    if let Some(refused) = upgrade.and_then(|ws| websocket::refuse_origin(ws, req.headers())) {
        return Err(Box::new(refused));
    }
    Ok(upgrade)
}

/// An admitted request, forwarded to `target` (the route's upstream path
/// for it) with the identity headers admission gave it: relayed when it is
/// a WebSocket upgrade, through the service's cache for cached GETs,
/// streamed both ways otherwise.
pub(crate) async fn forward(
    route: &ProxyPlan,
    running: &Running,
    req: Request,
    upgrade: Option<&WebSocketPlan>,
    target: String,
    identity: HeaderMap,
    keep_authorization: bool,
) -> Response {
    let up = running.upstream(&route.service);
    // A WebSocket relay is rare and its future large: boxed, it does not
    // make every request's future as large.
    match upgrade {
        Some(ws) => {
            Box::pin(websocket::forward(
                route,
                up,
                ws,
                req,
                identity,
                keep_authorization,
            ))
            .await
        }
        None => {
            let cache = route.service.cache.map(|c| (&running.call_cache, c.ttl));
            let to = To { route, up, cache };
            forward_admitted(to, req, target, identity, keep_authorization).await
        }
    }
}

/// The client's headers as the upstream may see them: hop-by-hop ones
/// gone, `X-Forwarded-*` and identity added, `Authorization` dropped when
/// the route's policy does not forward it. They are taken out of `parts`.
fn upstream_headers(
    parts: &mut http::request::Parts,
    identity: HeaderMap,
    keep_authorization: bool,
) -> HeaderMap {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let mut headers = std::mem::take(&mut parts.headers);
    let host = headers.remove(header::HOST);
    strip_hop_by_hop(&mut headers);
    let tls = parts
        .extensions
        .get::<crate::tls::TlsConnection>()
        .is_some();
    add_forwarded(&mut headers, peer, host, tls);
    if !keep_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    headers.extend(identity);
    headers
}

/// Where a request goes: the route, its service running, and the
/// service's cache with its `ttl`, when it has one.
#[derive(Clone, Copy)]
struct To<'a> {
    route: &'a ProxyPlan,
    up: &'a Arc<upstream::Upstream>,
    cache: Option<(
        &'a Arc<crate::cache::HttpCache>,
        Option<std::time::Duration>,
    )>,
}

/// A request through the service's door (circuit closed, a place under
/// its limit, an instance), or the answer that refuses it. The pass is
/// held for as long as the request is in flight.
fn door<'a>(
    to: To<'a>,
    headers: &HeaderMap,
) -> Result<(upstream::Pass, Attempt<'a>), Box<Response>> {
    let key = to
        .up
        .pool
        .hash_header
        .as_ref()
        .and_then(|h| headers.get(h))
        .map(HeaderValue::as_bytes);
    let name = &to.route.service.name;
    to.up.open(key).map_err(|closed| {
        Box::new(match closed {
            upstream::Closed::CircuitOpen { retry_in } => Refusal::Unavailable {
                detail: format!("the circuit of service `{name}` is open"),
                retry_after: Some((retry_in.as_secs_f64().ceil() as u64).max(1)),
                call: None,
            }
            .into_response(),
            upstream::Closed::Overloaded => crate::ratelimit::unavailable(&format!(
                "service `{name}` is at its limit of requests in flight; retry shortly"
            )),
            upstream::Closed::NoInstance => crate::ratelimit::unavailable(&format!(
                "no instance of service `{name}` is known yet"
            )),
        })
    })
}

/// Sends a pass-through request once, within the route's timeout, and
/// records on `attempt` how the instance did: a `5xx` or no answer counts
/// against it; a target that makes no URI never reached it, nor did a
/// failure while `cut` says the client's body was cut off for its size.
async fn send_once(
    to: To<'_>,
    attempt: Attempt<'_>,
    via: upstream::Via,
    (head, target): (http::request::Parts, &str),
    payload: upstream::Payload,
    cut: Option<&AtomicBool>,
) -> Result<http::Response<hyper::body::Incoming>, upstream::SendError> {
    let timeout = Some(to.route.timeout);
    let sent = to
        .up
        .send(&attempt, via, head, target, payload, timeout)
        .await;
    match &sent {
        Ok(resp) => attempt.finish(!resp.status().is_server_error()),
        Err(upstream::SendError::BadTarget(_)) => {}
        Err(upstream::SendError::Failed(_)) if cut.is_some_and(|c| c.load(Ordering::Relaxed)) => {}
        Err(_) => attempt.finish(false),
    }
    sent
}

/// The answer to a request that got none: too large, unreachable, too slow.
fn failed(route: &ProxyPlan, error: &upstream::SendError) -> Response {
    match error {
        upstream::SendError::BadTarget(_) => {
            Refusal::BadRequest("the request path cannot be forwarded".to_owned()).into_response()
        }
        upstream::SendError::Failed(e) => {
            tracing::warn!(prefix = %route.prefix, error = ?e, "proxy upstream failed");
            unreachable(route)
        }
        upstream::SendError::TimedOut => too_slow(route),
    }
}

/// Sends an admitted request to `target`, the route's upstream path for it.
async fn forward_admitted(
    to: To<'_>,
    req: Request,
    target: String,
    identity: HeaderMap,
    keep_authorization: bool,
) -> Response {
    let route = to.route;
    let (mut parts, body) = req.into_parts();
    // GETs to a cached service go through its cache.
    if let Some((cache, ttl)) = to.cache
        && parts.method == http::Method::GET
        && body.is_end_stream()
    {
        let scope = identity.clone();
        let headers = upstream_headers(&mut parts, identity, keep_authorization);
        let ask = cache.ask_proxy(&route.service.name, &target, &headers, &scope);
        let request = cached::Request {
            to,
            cache,
            ttl,
            ask: &ask,
            scope,
        };
        // Boxed, like a WebSocket relay: only cached services take this way.
        return Box::pin(request.answer()).await;
    }
    let headers = upstream_headers(&mut parts, identity, keep_authorization);
    let (_pass, attempt) = match door(to, &headers) {
        Ok(o) => o,
        Err(refused) => return *refused,
    };
    let safe = matches!(
        parts.method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::TRACE
    );
    // What an unsafe request's answer may name as its own (RFC 9111 §4.4).
    let upstream_authority = (to.cache.is_some() && !safe)
        .then(|| attempt.instance().uri("/").ok())
        .flatten()
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()));
    let too_large = || {
        Refusal::TooLarge(format!(
            "the request body exceeds {} bytes",
            route.max_body.unwrap_or_default()
        ))
        .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let (Some(max), Some(len)) = (route.max_body, declared)
        && len > max
    {
        return too_large();
    }
    let mut request = http::Request::new(());
    *request.method_mut() = parts.method.clone();
    *request.headers_mut() = headers;
    let (head, ()) = request.into_parts();
    // Most GETs: no body to stream, so none is sent (not even an empty
    // chunked one) and the clock starts at once. A body without a
    // declared length is counted as it streams; past the limit the upload
    // is cut, and the client told why.
    let over = Arc::new(AtomicBool::new(false));
    let idempotent = upstream::is_idempotent(&parts.method);
    let payload = match route.max_body {
        _ if body.is_end_stream() => upstream::Payload::Whole(None),
        // A small upload of an idempotent request is read whole first, so
        // that it can go again on a new connection when the kept-alive one
        // it went out on closes under it (as nginx buffers request bodies).
        _ if idempotent && declared.is_some_and(|n| n <= REPLAYABLE_BODY as u64) => {
            match axum::body::to_bytes(body, REPLAYABLE_BODY).await {
                Ok(bytes) => upstream::Payload::Whole(Some(bytes)),
                Err(_) => {
                    return Refusal::BadRequest("the request body could not be read".to_owned())
                        .into_response();
                }
            }
        }
        Some(max) => upstream::Payload::Streamed(limit(body, max, over.clone())),
        None => upstream::Payload::Streamed(body),
    };
    let via = upstream::Via::Http;
    let sent = send_once(to, attempt, via, (head, &target), payload, Some(&over)).await;
    let resp = match sent {
        Ok(resp) => resp,
        Err(upstream::SendError::Failed(_)) if over.load(Ordering::Relaxed) => return too_large(),
        Err(e) => return failed(route, &e),
    };
    let (mut head, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut head.headers);
    if let Some((cache, _)) = to.cache {
        // A successful unsafe request makes what is stored for its target
        // (and the targets its answer names) stale (RFC 9111 §4.4).
        if !safe && (head.status.is_success() || head.status.is_redirection()) {
            let targets = crate::cache::invalidated_targets(
                &target,
                &head.headers,
                upstream_authority.as_deref(),
            );
            cache.invalidate(&route.service.name, targets.iter().map(String::as_str));
        }
        head.headers.remove("surrogate-control");
    }
    Response::from_parts(head, Body::new(incoming))
}

/// `502`: the service could not be reached (its address stays private).
fn unreachable(route: &ProxyPlan) -> Response {
    Refusal::BadGateway {
        detail: format!("service `{}` is unreachable", route.service.name),
        call: None,
    }
    .into_response()
}

/// `504`: the service did not start answering within the route's timeout.
fn too_slow(route: &ProxyPlan) -> Response {
    Refusal::Timeout {
        detail: format!("service `{}` did not answer in time", route.service.name),
        call: None,
    }
    .into_response()
}

/// The body, ending in an error once more than `max` bytes went through.
fn limit(body: Body, max: u64, over: Arc<AtomicBool>) -> Body {
    let mut seen = 0u64;
    Body::from_stream(body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > max {
            over.store(true, Ordering::Relaxed);
            return Err(axum::Error::new("request body too large"));
        }
        Ok(chunk)
    }))
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Every request and answer passes here, and most carry at most a
    // `Connection` header: the names present are found in one pass over
    // them, rather than each name of the list removed in turn.
    let named = |name: &HeaderName| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|n| name.as_str().eq_ignore_ascii_case(n.trim()))
    };
    let present: Vec<HeaderName> = headers
        .keys()
        .filter(|k| HOP_BY_HOP.contains(k) || named(k))
        .cloned()
        .collect();
    for h in &present {
        headers.remove(h);
    }
}

fn add_forwarded(
    headers: &mut HeaderMap,
    peer: Option<std::net::IpAddr>,
    host: Option<HeaderValue>,
    tls: bool,
) {
    if let Some(ip) = peer {
        // Several `X-Forwarded-For` lines are one list (RFC 9110 §5.3).
        let prior: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let value = if prior.is_empty() {
            address_text(ip)
        } else {
            format!("{}, {ip}", prior.join(", "))
        };
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
    // Over TLS the gateway knows the scheme; over plain HTTP a value from
    // a TLS-terminating balancer in front is kept.
    if tls {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    } else if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if let Some(host) = host {
        headers.entry(X_FORWARDED_HOST).or_insert(host);
    }
}

/// An address as `X-Forwarded-For` carries it. An IPv4 one is written digit
/// by digit: every forwarded request needs one, and `to_string` costs
/// several times as much.
fn address_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn addresses_are_written_as_to_string_writes_them() {
        for ip in [
            "127.0.0.1",
            "0.0.0.0",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "2001:db8::8a2e:370:7334",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(address_text(ip), ip.to_string());
        }
    }

    #[test]
    fn forwarded_for_appends_to_a_chain() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        add_forwarded(
            &mut h,
            Some([127, 0, 0, 1].into()),
            Some(HeaderValue::from_static("shop.test")),
            false,
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "shop.test");
        assert_eq!(h["x-forwarded-proto"], "http");
    }
}
