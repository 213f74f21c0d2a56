//! Fault injection, applied in front of every service route:
//!
//! - configured latency ([`Delay`]) on every response;
//! - `?delay_ms=N` delays that one request by N more milliseconds (≤ 60000);
//! - `?fail=STATUS` answers that one request with STATUS (400..=599) as
//!   problem+json, after the delay;
//! - `PUT /_demo/faults {"delay_ms": 300, "fail": 503}` does the same for
//!   every request until `DELETE /_demo/faults`, so a fault can be shown
//!   through a BFF whose specs do not forward these parameters.
//!
//! A gRPC request fails as gRPC servers fail: HTTP 200 with the gRPC status
//! that stands for STATUS (503 → `UNAVAILABLE`, 404 → `NOT_FOUND`, …).
//!
//! `/health` and `/_demo/*` are exempt.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Service;
use super::latency::Delay;
use super::problem::Problem;

/// Longest extra delay a request may ask for.
const MAX_DELAY_MS: u64 = 60_000;

/// The fault settings of one running service.
#[derive(Debug)]
pub(crate) struct Knobs {
    service: Service,
    delay: Delay,
    requests: AtomicU64,
    faults: Mutex<Faults>,
}

/// Faults applied to every request until cleared.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Faults {
    /// Extra delay of every response, in milliseconds.
    #[serde(default)]
    delay_ms: u64,
    /// Status every request is answered with, if set.
    #[serde(default)]
    fail: Option<u16>,
}

/// What one request asked for with `delay_ms` and `fail`.
#[derive(Debug, Default)]
struct Asked {
    delay_ms: u64,
    fail: Option<StatusCode>,
}

impl Knobs {
    pub(crate) fn new(service: Service, delay: Delay) -> Arc<Self> {
        Arc::new(Self {
            service,
            delay,
            requests: AtomicU64::new(0),
            faults: Mutex::new(Faults::default()),
        })
    }

    fn faults(&self) -> Faults {
        *self
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_faults(&self, faults: Faults) {
        *self
            .faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = faults;
    }
}

impl Asked {
    fn from_uri(uri: &Uri) -> Result<Self, Problem> {
        let Ok(Query(params)) = Query::<HashMap<String, String>>::try_from_uri(uri) else {
            return Ok(Self::default());
        };
        let delay_ms = match params.get("delay_ms") {
            None => 0,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms <= MAX_DELAY_MS)
                .ok_or_else(|| {
                    Problem::bad_request(format!("delay_ms must be 0..={MAX_DELAY_MS}, got {v:?}"))
                })?,
        };
        let fail = params.get("fail").map(|v| failure_status(v)).transpose()?;
        Ok(Self { delay_ms, fail })
    }
}

fn failure_status(value: &str) -> Result<StatusCode, Problem> {
    value
        .parse::<u16>()
        .ok()
        .filter(|code| (400..=599).contains(code))
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| {
            Problem::bad_request(format!("fail must be a status in 400..=599, got {value:?}"))
        })
}

/// The middleware: delay, then fail or pass on.
pub(crate) async fn apply(
    State(knobs): State<Arc<Knobs>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/health" || path.starts_with("/_demo/") {
        return next.run(request).await;
    }
    let asked = match Asked::from_uri(request.uri()) {
        Ok(asked) => asked,
        Err(problem) => return problem.into_response(),
    };
    let faults = knobs.faults();
    let n = knobs.requests.fetch_add(1, Ordering::Relaxed);
    let wait = knobs.delay.sample(n) + Duration::from_millis(asked.delay_ms + faults.delay_ms);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let fail = asked
        .fail
        .or_else(|| faults.fail.and_then(|code| StatusCode::from_u16(code).ok()));
    if let Some(status) = fail {
        let detail = format!(
            "{} answered {} on purpose (fault injection)",
            knobs.service.name(),
            status.as_u16()
        );
        if is_grpc(&request) {
            return tonic::Status::new(grpc_code(status), detail).into_http::<axum::body::Body>();
        }
        return Problem::new(status, detail).into_response();
    }
    next.run(request).await
}

fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC status a gateway would turn into `status`.
fn grpc_code(status: StatusCode) -> tonic::Code {
    use tonic::Code;
    match status.as_u16() {
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        409 => Code::Aborted,
        429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        504 => Code::DeadlineExceeded,
        _ if status.is_client_error() => Code::FailedPrecondition,
        _ => Code::Internal,
    }
}

/// `GET /_demo/faults`
pub(crate) async fn show(State(knobs): State<Arc<Knobs>>) -> Json<Faults> {
    Json(knobs.faults())
}

/// `PUT /_demo/faults`
pub(crate) async fn set(
    State(knobs): State<Arc<Knobs>>,
    Json(faults): Json<Faults>,
) -> Result<Json<Faults>, Problem> {
    if faults.delay_ms > MAX_DELAY_MS {
        return Err(Problem::bad_request(format!(
            "delay_ms must be 0..={MAX_DELAY_MS}"
        )));
    }
    if let Some(code) = faults.fail {
        failure_status(&code.to_string())?;
    }
    knobs.set_faults(faults);
    tracing::info!(service = knobs.service.name(), ?faults, "faults set");
    Ok(Json(faults))
}

/// `DELETE /_demo/faults`
pub(crate) async fn clear(State(knobs): State<Arc<Knobs>>) -> StatusCode {
    knobs.set_faults(Faults::default());
    StatusCode::NO_CONTENT
}
