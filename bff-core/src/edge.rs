//! The first stage of every request: a request id, security headers on the
//! way out, and the request's record (metrics and its log line, see
//! [`crate::observe`]) once it is answered; and, inside the client
//! extension's layers just before routing, the normalised path (or a 400
//! for paths that try to smuggle something past the router).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Uri, header};
use tracing::Instrument;

use crate::error::Refusal;

pub(crate) use crate::headers::REQUEST_ID;

/// Headers every response carries unless something set them already.
const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// What the edge of one generation of specs is set to do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeConfig {
    /// Whether each request gets a line in the request log.
    pub access_log: bool,
}

/// The edge stage; see the module docs. A plain service rather than a
/// middleware function: every request passes it, so its future is a named
/// type (no boxed future, no extra router around it).
#[derive(Clone)]
pub(crate) struct Edge<S> {
    inner: S,
    config: EdgeConfig,
}

impl<S> Edge<S> {
    /// The edge stage in front of `inner`.
    pub(crate) fn new(inner: S, config: EdgeConfig) -> Self {
        Self { inner, config }
    }
}

// The inner future is `Unpin` (a router's is), so the edge future needs no
// pin projection.
impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = match req.headers().get(&REQUEST_ID) {
            Some(v) if is_valid_id(v) => v.clone(),
            _ => {
                let mut buf = [0; uuid::fmt::Hyphenated::LENGTH];
                let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
                HeaderValue::from_str(text).expect("a UUID is a valid header value")
            }
        };
        req.headers_mut().insert(REQUEST_ID, id.clone());
        let text = id.to_str().unwrap_or_default();
        let arrival = crate::observe::Arrival::new(&mut req, text, self.config.access_log);
        // Whatever is logged while the request is handled names it. The span
        // has the highest level so that every filter that lets an event
        // through lets its span through too.
        let span = tracing::error_span!("request", request_id = %text);
        let inner = span.in_scope(|| self.inner.call(req));
        EdgeFuture {
            inner: inner.instrument(span),
            answer: Some((id, arrival)),
        }
    }
}

/// The answer of a request passing [`Edge`].
pub(crate) struct EdgeFuture<F> {
    inner: tracing::instrument::Instrumented<F>,
    /// The request's id and arrival, until its answer leaves.
    answer: Option<(HeaderValue, crate::observe::Arrival)>,
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = std::task::ready!(Pin::new(&mut self.inner).poll(cx))?;
        let (id, arrival) = self
            .answer
            .take()
            .expect("an edge future is not polled once answered");
        let headers = response.headers_mut();
        headers.insert(REQUEST_ID, id);
        for (name, value) in SECURITY_HEADERS {
            headers
                .entry(name)
                .or_insert(HeaderValue::from_static(value));
        }
        arrival.finish(&response);
        Poll::Ready(Ok(response))
    }
}

/// The path stage, just before routing (inside the client extension's
/// layers, so a refusal carries CORS headers like any answer): the path in
/// its normal form, or a 400. A plain service rather than a middleware
/// function: it runs for every request, and needs no boxed future.
#[derive(Clone)]
pub(crate) struct NormalPath<S>(pub S);

impl<S> tower::Service<Request> for NormalPath<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        std::future::Ready<Result<Response, std::convert::Infallible>>,
        S::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        match normalize(req.uri()) {
            Ok(None) => futures::future::Either::Right(self.0.call(req)),
            Ok(Some(uri)) => {
                *req.uri_mut() = uri;
                futures::future::Either::Right(self.0.call(req))
            }
            Err(why) => futures::future::Either::Left(std::future::ready(Ok(Refusal::BadRequest(
                why.to_string(),
            )
            .into_response()))),
        }
    }
}

/// A client's id is kept when it is short printable ASCII, so ids can be
/// followed across systems without letting clients inject into logs.
fn is_valid_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
}

/// `Ok(None)` when the path is already normal, `Ok(Some(uri))` with the
/// normal form, `Err` for a path no route should see: an encoded `/`, `\`
/// or NUL, or dot segments that climb above the root.
pub(crate) fn normalize(uri: &Uri) -> Result<Option<Uri>, &'static str> {
    let path = uri.path();
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%00")
        || path.contains('\0')
    {
        return Err("the path holds an encoded slash, backslash or NUL");
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut changed = false;
    let trailing = path.len() > 1 && path.ends_with('/');
    for seg in path.split('/').skip(1) {
        match seg.to_ascii_lowercase().as_str() {
            "" => changed = true,
            "." | "%2e" => changed = true,
            ".." | "%2e%2e" | ".%2e" | "%2e." => {
                changed = true;
                if segments.pop().is_none() {
                    return Err("the path climbs above the root");
                }
            }
            _ => segments.push(seg),
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut normal = String::with_capacity(path.len());
    for seg in &segments {
        normal.push('/');
        normal.push_str(seg);
    }
    if normal.is_empty() || trailing {
        normal.push('/');
    }
    if normal == path {
        return Ok(None);
    }
    let pq = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| "the path is not valid")?);
    Uri::from_parts(parts)
        .map(Some)
        .map_err(|_| "the path is not valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, &'static str> {
        let uri: Uri = p.parse().unwrap();
        normalize(&uri).map(|u| u.map_or(p.to_owned(), |u| u.to_string()))
    }

    #[test]
    fn paths_are_normalised_or_refused() {
        assert_eq!(norm("/v1/a").unwrap(), "/v1/a");
        assert_eq!(norm("/v1//a").unwrap(), "/v1/a");
        assert_eq!(norm("/v1/./a/").unwrap(), "/v1/a/");
        assert_eq!(norm("/v1/x/../a?q=1").unwrap(), "/v1/a?q=1");
        assert_eq!(norm("/v1/x/%2E%2E/a").unwrap(), "/v1/a");
        assert_eq!(norm("/").unwrap(), "/");
        assert!(norm("/../etc/passwd").is_err());
        assert!(norm("/v1/%2e%2e/%2e%2e/x").is_err());
        assert!(norm("/api/users/a%2Fb").is_err());
        assert!(norm("/api/a%5cb").is_err());
        assert!(norm("/api/a%00b").is_err());
    }
}
