//! One request of a call to its service: through the service's door, tried
//! with its retries and hedging ([`crate::upstream::tries`]), each try sent
//! by [`crate::upstream::Upstream::send`] and bounded by the call's timeout
//! and the deadline; the answer read and decoded.

use crate::running::Running;
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt;
use jaq_json::Val;
use tokio::time::Instant;

use super::call::Rendered;
use super::error::CallError;
use super::grpc;
use crate::plan::Call;
use crate::upstream::Retry;
use crate::{upstream, value};

/// What upstreams see as the client.
const USER_AGENT: &str = concat!("bff/", env!("CARGO_PKG_VERSION"));

/// The status, headers and body of a successful answer (or the headers
/// of a `304`), for the cache.
#[derive(Default)]
pub(super) struct Capture(std::sync::Mutex<Option<(http::StatusCode, HeaderMap, bytes::Bytes)>>);

impl Capture {
    fn put(&self, status: http::StatusCode, headers: HeaderMap, body: bytes::Bytes) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((status, headers, body));
    }

    /// What was captured.
    pub(super) fn take(self) -> Option<(http::StatusCode, HeaderMap, bytes::Bytes)> {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An upstream body as a value: JSON, or null when there is nothing but
/// whitespace.
pub(super) fn decode(body: &[u8]) -> Result<Val, value::ParseError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Val::Null)
    } else {
        value::parse(body)
    }
}

pub(super) async fn fetch(
    call: &Call,
    r: &Rendered,
    running: &Running,
    deadline: Instant,
    capture: Option<&Capture>,
) -> Result<Val, CallError> {
    let up = running.upstream(&call.service);
    let _pass = up.enter().map_err(|closed| match closed {
        upstream::Closed::CircuitOpen { .. } => CallError::CircuitOpen(call.service.name.clone()),
        upstream::Closed::Overloaded | upstream::Closed::NoInstance => CallError::Overloaded,
    })?;
    // Only requests that may be sent twice are retried or hedged; for gRPC,
    // methods whose contract declares them free of side effects or idempotent.
    // SOAP operations, only those the spec declares idempotent.
    let safe = match (&call.grpc, &call.soap) {
        (Some(g), _) => g.idempotent,
        (None, Some(s)) => s.idempotent,
        (None, None) => Retry::is_safe(&call.method, &r.headers),
    };
    let key = up
        .pool
        .hash_header
        .as_ref()
        .and_then(|h| r.headers.get(h))
        .map(HeaderValue::as_bytes);
    let sending = upstream::tries::Sending {
        name: &call.name,
        safe,
        key,
        deadline,
    };
    up.tries(sending, |attempt| {
        let outgoing = Outgoing {
            path: &r.path,
            headers: &r.headers,
            body: r.body.clone(),
        };
        try_once(call, outgoing, up, attempt, deadline, capture)
    })
    .await
}

impl upstream::tries::TryFailure for CallError {
    fn is_retryable(&self) -> bool {
        CallError::is_retryable(self)
    }

    fn reason(&self) -> String {
        CallError::reason(self)
    }

    fn no_instance() -> Self {
        CallError::Unreachable
    }
}

/// What one try sends.
struct Outgoing<'a> {
    path: &'a str,
    headers: &'a HeaderMap,
    body: Option<bytes::Bytes>,
}

/// One request to one instance, bounded by the call's timeout (counted
/// from when it starts) and the deadline; the upstream's `Retry-After`
/// comes back with a failure.
async fn try_once(
    call: &Call,
    Outgoing {
        path,
        headers,
        body,
    }: Outgoing<'_>,
    up: &upstream::Upstream,
    attempt: crate::upstream::Attempt<'_>,
    deadline: Instant,
    capture: Option<&Capture>,
) -> (Result<Val, CallError>, Option<std::time::Duration>) {
    let until = deadline.min(Instant::now() + call.timeout);
    let mut req = http::Request::new(());
    *req.method_mut() = call.method.clone();
    *req.headers_mut() = headers.clone();
    let headers = req.headers_mut();
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    let via = match &call.grpc {
        Some(_) => {
            let left = until.saturating_duration_since(Instant::now());
            headers.insert("grpc-timeout", grpc::timeout_header(left));
            upstream::Via::Grpc
        }
        None => {
            headers
                .entry(header::ACCEPT)
                .or_insert(HeaderValue::from_static("application/json"));
            upstream::Via::Http
        }
    };
    let limit = call.service.max_response_bytes;
    let mut retry_after = None;
    let exchange = async {
        let (head, ()) = req.into_parts();
        // Bounded below, with the reading of the body.
        let sent = up.send(
            &attempt,
            via,
            head,
            path,
            upstream::Payload::Whole(body),
            None,
        );
        let resp = sent.await.map_err(|e| match e {
            upstream::SendError::BadTarget(_) => CallError::Input(e.to_string()),
            upstream::SendError::TimedOut => CallError::Timeout,
            upstream::SendError::Failed(_) => {
                tracing::warn!(call = %call.name, error = %e, "upstream request failed");
                CallError::Unreachable
            }
        })?;
        if let Some(g) = &call.grpc {
            // Boxed: kept inline, its state would grow every HTTP call's future.
            return Box::pin(grpc::read(&call.name, g, resp, limit)).await;
        }
        let status = resp.status();
        if let Some(soap) = &call.soap {
            // Faults come with 500 (or 400): the body is read whatever the status.
            let (head, body) = resp.into_parts();
            let bytes = read_body(&call.name, body, limit).await?;
            let result = super::soap::answer(&call.name, soap, status, &bytes);
            if result.is_ok()
                && let Some(c) = capture
            {
                c.put(status, head.headers, bytes);
            } else if !status.is_success() {
                retry_after = crate::upstream::retry::retry_after(&head.headers);
            }
            return result;
        }
        if status == http::StatusCode::NOT_MODIFIED
            && let Some(c) = capture
        {
            c.put(status, resp.headers().clone(), bytes::Bytes::new());
        }
        if !status.is_success() {
            retry_after = crate::upstream::retry::retry_after(resp.headers());
            tracing::info!(call = %call.name, status = status.as_u16(), "upstream answered an error");
            return Err(CallError::Status(status));
        }
        let (head, body) = resp.into_parts();
        let bytes = read_body(&call.name, body, limit).await?;
        if let Some(c) = capture {
            c.put(status, head.headers, bytes.clone());
        }
        decode(&bytes).map_err(|e| {
            tracing::warn!(call = %call.name, error = %e, "upstream body is not JSON");
            CallError::Malformed
        })
    };
    let result = match tokio::time::timeout_at(until, exchange).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(call = %call.name, "upstream call timed out");
            Err(CallError::Timeout)
        }
    };
    let healthy = match &result {
        Err(CallError::Unreachable | CallError::Timeout) => false,
        Err(CallError::Status(s)) => !s.is_server_error(),
        Err(CallError::Grpc(s)) => !s.code.is_server_failure(),
        Err(CallError::SoapFault(f)) => f.is_sender(),
        _ => true,
    };
    attempt.finish(healthy);
    (result, retry_after)
}

/// An answer's body, whole, up to the service's limit.
async fn read_body(
    call: &str,
    body: hyper::body::Incoming,
    limit: usize,
) -> Result<bytes::Bytes, CallError> {
    collect_body(call, body, limit)
        .await
        .map(http_body_util::Collected::to_bytes)
}

/// An answer's body and trailers, up to the service's limit.
pub(super) async fn collect_body(
    call: &str,
    body: hyper::body::Incoming,
    limit: usize,
) -> Result<http_body_util::Collected<bytes::Bytes>, CallError> {
    http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                tracing::warn!(call, limit, "upstream body too large");
                CallError::TooLarge
            } else {
                tracing::warn!(call, error = %e, "upstream body failed");
                CallError::Unreachable
            }
        })
}
