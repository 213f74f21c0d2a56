//! Composing an answer after admission: read and check the input, run the
//! call graph, shape and encode the result, and describe it in headers
//! (freshness, partial results, per-call timing); or the problem that
//! says which call failed.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jaq_json::Val;

use super::Context;
use super::report::{call_report, failed_calls, record_calls, record_failed_calls};
use crate::exec::{self, Outcome};
use crate::plan::Endpoint;

/// Reads the request, runs the call graph and shapes the answer.
pub(super) async fn compose(
    cx: &Context,
    endpoint: &Endpoint,
    mut parts: http::request::Parts,
    body: Body,
    auth: Val,
    mut forward: http::HeaderMap,
) -> Response {
    let mut request = match super::input::read_request(endpoint, &mut parts, body).await {
        Ok(r) => r,
        Err(problem) => return problem.into_response(),
    };
    if let Some(id) = parts.headers.get(&crate::headers::REQUEST_ID) {
        forward.insert(crate::headers::REQUEST_ID, id.clone());
    }
    request.auth = auth;
    request.forward = forward;
    request.hooks = Some(cx.extension.clone());
    match exec::run(endpoint, &cx.plan.templates, &cx.running, request).await {
        Ok(outcome) => {
            if crate::metrics::enabled() {
                record_calls(endpoint, &outcome);
            }
            let mut r = respond(cx, endpoint, &parts, &outcome);
            if cx.plan.config.telemetry.access_log {
                r.extensions_mut().insert(call_report(&outcome));
            }
            // As fresh as its least fresh part, private if any part is.
            if let Some(left) = outcome.freshness.lifetime()
                && outcome.degraded.is_empty()
            {
                let private = outcome.freshness.private || endpoint.auth.is_some();
                let cc = format!(
                    "{}max-age={}",
                    if private { "private, " } else { "" },
                    left.as_secs()
                );
                // An extension's own policy (partners: no-store) wins.
                if let Ok(v) = HeaderValue::try_from(cc) {
                    r.headers_mut().entry(header::CACHE_CONTROL).or_insert(v);
                }
            }
            r.extensions_mut().insert(outcome.freshness);
            r
        }
        Err(failure) => {
            tracing::info!(endpoint = %endpoint.id(), error = ?failure.error, "endpoint failed");
            if crate::metrics::enabled() {
                record_failed_calls(endpoint, &failure);
            }
            let mut r = failure.error.refusal().into_response();
            r.extensions_mut().insert(failed_calls(&failure));
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                // An open circuit says when it lets a probe through;
                // other refusals (overload) may be retried shortly.
                let secs = match &failure.error {
                    exec::ExecError::Call {
                        error: exec::CallError::CircuitOpen(service),
                        ..
                    } => cx
                        .plan
                        .services
                        .get(service)
                        .and_then(|s| cx.running.upstream(s).pool.breaker.as_ref())
                        .map_or(1, |b| b.retry_in().as_secs_f64().ceil().max(1.0) as u64),
                    _ => 1,
                };
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            r
        }
    }
}

fn respond(
    cx: &Context,
    endpoint: &Endpoint,
    parts: &http::request::Parts,
    outcome: &Outcome,
) -> Response {
    let mut encoded = crate::formats::encode(endpoint, &cx.plan.pages, parts, &outcome.value);
    if let Some(failed) = encoded.take_if(|r| r.status().is_server_error()) {
        return failed;
    }
    let mut response = encoded
        .or_else(|| cx.extension.encode(endpoint, parts, &outcome.value))
        .unwrap_or_else(|| crate::formats::json_response(&outcome.value));
    *response.status_mut() = outcome.status.unwrap_or(endpoint.status);
    let headers = response.headers_mut();
    for (name, value) in &outcome.headers {
        headers.insert(name.clone(), value.clone());
    }
    // Each cookie its own header line, under the folder's cookie policy.
    let policy = &cx.plan.config.cookies;
    for cookie in &outcome.cookies {
        let value = match cookie.to_str() {
            Ok(text) => HeaderValue::try_from(policy.apply(text)).ok(),
            Err(_) => None,
        };
        if let Some(v) = value {
            headers.append(header::SET_COOKIE, v);
        }
    }
    if crate::formats::negotiated(endpoint) {
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
    }
    if !outcome.degraded.is_empty() {
        headers.insert(crate::headers::PARTIAL, HeaderValue::from_static("true"));
        let list: Vec<String> = outcome
            .degraded
            .iter()
            .map(|d| format!("{};reason={}", d.call, d.reason))
            .collect();
        if let Ok(v) = HeaderValue::try_from(list.join(", ")) {
            headers.insert(crate::headers::DEGRADED, v);
        }
    }
    if cx.plan.config.telemetry.server_timing {
        let timing: Vec<String> = outcome
            .timings
            .iter()
            .map(|(name, d)| format!("{name};dur={:.1}", d.as_secs_f64() * 1000.0))
            .collect();
        if let Ok(v) = HeaderValue::try_from(timing.join(", ")) {
            headers.insert("server-timing", v);
        }
    }
    response
}
