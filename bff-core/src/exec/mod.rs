//! Running an endpoint's plan for one request: each call starts the moment
//! the calls it depends on have finished, all under one deadline; optional
//! calls fall back, and the results are shaped into one value.

mod cached;
mod call;
mod error;
pub(crate) mod graphql;
mod grpc;
/// A message in gRPC's length-prefixed frame.
pub(crate) use grpc::frame as grpc_frame;
pub(crate) mod refresh;
mod scope;
mod soap;
mod tries;

use crate::running::Running;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use jaq_json::Val;
use tokio::time::Instant;

pub(crate) use error::{CallError, ExecError};
pub(crate) use scope::RequestData;
use scope::Scope;

use crate::lang::template::TemplateSet;
use crate::plan::Endpoint;

/// A call that failed but had a fallback.
#[derive(Debug, Clone)]
pub(crate) struct Degraded {
    /// The call.
    pub call: String,
    /// Why, machine-readable (`timeout`, `status-503`, …).
    pub reason: String,
}

/// A successful run.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The shaped response value.
    pub value: Val,
    /// Optional calls that fell back.
    pub degraded: Vec<Degraded>,
    /// How long each call took, in call order (skipped calls included).
    pub timings: Vec<(String, Duration)>,
    /// How fresh the parts of the answer are.
    pub freshness: crate::cache::Freshness,
    /// The status `respond.status` computed, when it is an expression.
    pub status: Option<http::StatusCode>,
    /// The headers of `respond.headers`, rendered.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Cookies the services set, passed on (`expose_headers: [set-cookie]`).
    pub cookies: Vec<http::HeaderValue>,
}

/// A failed run: why, and how each call that started went.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What the endpoint answers.
    pub error: ExecError,
    /// Every call that started, in call order: its name, how long it ran
    /// and how it ended (`ok`, a failure reason — `timeout` when the
    /// endpoint's deadline cut it off —, `cancelled` when another call's
    /// failure had decided the answer).
    pub calls: Vec<(String, Duration, String)>,
}

/// The calls that started and have not ended.
fn running_indices<'a>(
    began: &'a [Option<Instant>],
    ended: &'a [Option<String>],
) -> impl Iterator<Item = usize> + 'a {
    (0..began.len()).filter(|&i| began[i].is_some() && ended[i].is_none())
}

/// A call's index, result, freshness of its answers, time taken, and the
/// headers of its answer when it exposes some.
type CallFuture<'a> = Pin<
    Box<
        dyn Future<
                Output = (
                    usize,
                    Result<Val, CallError>,
                    crate::cache::Freshness,
                    Duration,
                    Option<http::HeaderMap>,
                ),
            > + Send
            + 'a,
    >,
>;

/// Runs an endpoint for one request.
pub(crate) async fn run(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    running: &Running,
    request: RequestData,
) -> Result<Outcome, Failure> {
    let deadline = Instant::now() + endpoint.deadline;
    run_graph(endpoint, templates, running, request, deadline).await
}

/// Which failure an endpoint answers with when several calls fail: a
/// forwarded upstream status wins (it is the service's own word on the
/// request, such as `404` for what does not exist), among forwarded ones
/// the call declared first; among other failures the first to happen, so
/// a failure is answered at once rather than after calls it no longer
/// needs. Lower is chosen; `arrival` counts failures as they happen.
fn rank(forwarded: bool, index: usize, arrival: usize) -> (bool, usize) {
    if forwarded {
        (false, index)
    } else {
        (true, arrival)
    }
}

async fn run_graph(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    running: &Running,
    request: RequestData,
    deadline: Instant,
) -> Result<Outcome, Failure> {
    let calls = &endpoint.calls;
    let mut scope = Scope::new(request, calls.iter().map(|c| c.name.clone()).collect());
    let mut waiting: Vec<usize> = calls.iter().map(|c| c.deps.len()).collect();
    let mut degraded = Vec::new();
    let mut timings = vec![Duration::ZERO; calls.len()];
    // When each call started, and how each that ended went.
    let mut began: Vec<Option<Instant>> = vec![None; calls.len()];
    let mut ended: Vec<Option<String>> = vec![None; calls.len()];
    // The failure the endpoint answers with so far, by `rank`.
    let mut failed: Option<((bool, usize), ExecError)> = None;
    let mut failures = 0;
    // How fresh the answer is, from what the calls' answers said.
    let mut freshness = crate::cache::Freshness::default();
    let mut in_flight: FuturesUnordered<CallFuture<'_>> = FuturesUnordered::new();
    // The cookies of calls that expose `set-cookie`, each kept apart.
    let mut cookies: Vec<http::HeaderValue> = Vec::new();

    let start = |i: usize, scope: &Scope| -> CallFuture<'_> {
        let call = &calls[i];
        let began = Instant::now();
        match call::prepare(call, scope, templates) {
            Ok(prepared) => {
                let span = crate::telemetry::exporting().then(|| {
                    let attributes = vec![
                        opentelemetry::KeyValue::new("bff.call", call.name.to_string()),
                        opentelemetry::KeyValue::new("bff.service", call.service.name.clone()),
                    ];
                    crate::telemetry::client(format!("call {}", call.name), attributes)
                });
                match span.flatten() {
                    Some(cx) => Box::pin(async move {
                        let (r, fresh, seen) = crate::telemetry::within(
                            cx.clone(),
                            call::send(call, prepared, running, deadline),
                        )
                        .await;
                        let error = r.as_ref().err().map(CallError::reason);
                        crate::telemetry::finish(&cx, None, error.as_deref());
                        (i, r, fresh, began.elapsed(), seen)
                    }),
                    None => Box::pin(async move {
                        let (r, fresh, seen) = call::send(call, prepared, running, deadline).await;
                        (i, r, fresh, began.elapsed(), seen)
                    }),
                }
            }
            Err(e) => {
                Box::pin(async move { (i, Err(e), Default::default(), began.elapsed(), None) })
            }
        }
    };
    for (i, _) in calls.iter().enumerate().filter(|(_, c)| c.deps.is_empty()) {
        began[i] = Some(Instant::now());
        in_flight.push(start(i, &scope));
    }
    let report =
        |began: &[Option<Instant>], ended: &[Option<String>], timings: &[Duration], open: &str| {
            calls
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let b = began[i]?;
                    Some(match &ended[i] {
                        Some(outcome) => (c.name.to_string(), timings[i], outcome.clone()),
                        None => (c.name.to_string(), b.elapsed(), open.to_owned()),
                    })
                })
                .collect::<Vec<_>>()
        };
    loop {
        // Once a call has failed, only calls whose failure would take its
        // place are waited for; the others are cancelled.
        if let Some((best, _)) = &failed {
            let matters = running_indices(&began, &ended)
                .any(|j| !calls[j].forward_status.is_empty() && rank(true, j, 0) < *best);
            if !matters {
                let (_, error) = failed.take().expect("checked");
                return Err(Failure {
                    error,
                    calls: report(&began, &ended, &timings, "cancelled"),
                });
            }
        }
        let next = tokio::select! {
            // What has finished counts before the deadline that passed with it.
            biased;
            next = in_flight.next() => next,
            () = tokio::time::sleep_until(deadline) => {
                return Err(Failure {
                    error: failed.map_or(ExecError::Deadline, |(_, e)| e),
                    // Cut off by the deadline: as a call's own timer would say.
                    calls: report(&began, &ended, &timings, "timeout"),
                });
            }
        };
        let Some((i, result, fresh, took, seen)) = next else {
            break;
        };
        freshness.merge(fresh);
        let call = &calls[i];
        timings[i] = took;
        ended[i] = Some(match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.reason(),
        });
        if let Err(e) = &result
            && let Some(status) = e.upstream_status()
            && call.forward_status.contains(&status)
        {
            let error = ExecError::Forward {
                call: call.name.to_string(),
                status,
                message: match e {
                    CallError::Grpc(s) => Some(s.message.clone()),
                    CallError::SoapFault(f) => Some(f.message.clone()),
                    _ => None,
                },
            };
            let r = rank(true, i, 0);
            if failed.as_ref().is_none_or(|(best, _)| r < *best) {
                failed = Some((r, error));
            }
            continue;
        }
        let value = match result {
            Ok(v) => v,
            Err(CallError::Stale(v)) => {
                degraded.push(Degraded {
                    call: call.name.to_string(),
                    reason: "stale".into(),
                });
                v
            }
            Err(e) => match &call.fallback {
                Some(fallback) => {
                    if let CallError::Input(msg) = &e {
                        tracing::warn!(call = %call.name, error = %msg, "call could not be built");
                    }
                    degraded.push(Degraded {
                        call: call.name.to_string(),
                        reason: e.reason(),
                    });
                    fallback.clone()
                }
                None => {
                    if let CallError::Input(msg) = &e {
                        tracing::warn!(call = %call.name, error = %msg, "call could not be built");
                    }
                    let r = rank(false, i, failures);
                    failures += 1;
                    if failed.as_ref().is_none_or(|(best, _)| r < *best) {
                        failed = Some((
                            r,
                            ExecError::Call {
                                call: call.name.to_string(),
                                error: e,
                            },
                        ));
                    }
                    continue;
                }
            },
        };
        if let Some(seen) = seen {
            scope
                .upstream
                .push((call.name.clone(), exposed(&call.expose, &seen)));
            if call.expose.contains(&http::header::SET_COOKIE) {
                cookies.extend(seen.get_all(http::header::SET_COOKIE).iter().cloned());
            }
        }
        scope.results[i] = Some(value);
        if failed.is_some() {
            // The answer is a failure: nothing new starts.
            continue;
        }
        for &d in &call.dependents {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                began[d] = Some(Instant::now());
                in_flight.push(start(d, &scope));
            }
        }
    }
    drop(in_flight);
    if let Some((_, error)) = failed {
        return Err(Failure {
            error,
            calls: report(&began, &ended, &timings, "cancelled"),
        });
    }

    let value = match &endpoint.respond {
        Some(expr) => expr.first(scope.respond_input()).map_err(|e| {
            tracing::error!(endpoint = %endpoint.id(), error = %e, "respond expression failed");
            Failure {
                error: ExecError::Shape(e.to_string()),
                calls: report(&began, &ended, &timings, "cancelled"),
            }
        })?,
        None => {
            let pairs = calls
                .iter()
                .zip(scope.results.iter())
                .map(|(c, r)| (&*c.name, r.clone().unwrap_or(Val::Null)));
            crate::value::object(pairs)
        }
    };
    let shaped = answer_head(endpoint, templates, &scope).map_err(|e| {
        tracing::error!(endpoint = %endpoint.id(), error = %e, "respond status or headers failed");
        Failure {
            error: ExecError::Shape(e),
            calls: report(&began, &ended, &timings, "cancelled"),
        }
    });
    let (status, headers) = shaped?;
    let timings = calls
        .iter()
        .map(|c| c.name.to_string())
        .zip(timings)
        .collect();
    Ok(Outcome {
        value,
        degraded,
        timings,
        freshness,
        status,
        headers,
        cookies,
    })
}

/// The headers a call exposes, by lower-case name: each a string (values
/// joined by `, `), `set-cookie` a list of its cookies.
fn exposed(names: &[http::HeaderName], seen: &http::HeaderMap) -> Val {
    let pairs = names.iter().filter_map(|name| {
        let values: Vec<&str> = seen
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return None;
        }
        let v = if *name == http::header::SET_COOKIE {
            values.iter().map(|c| crate::value::string(c)).collect()
        } else {
            crate::value::string(&values.join(", "))
        };
        Some((name.as_str(), v))
    });
    crate::value::object(pairs)
}

/// The status an expression gave, and the rendered headers.
type Head = (
    Option<http::StatusCode>,
    Vec<(http::HeaderName, http::HeaderValue)>,
);

/// `respond.status` (when it is an expression) and `respond.headers`,
/// from the results and the request; `Err` says what did not fit.
fn answer_head(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    scope: &Scope,
) -> Result<Head, String> {
    let status = match &endpoint.status_expr {
        None => None,
        Some(e) => {
            let v = e.first(scope.respond_input()).map_err(|e| e.to_string())?;
            let code = match &v {
                Val::Num(n) => n.as_isize(),
                _ => None,
            };
            match code
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (200..=599).contains(c))
                .and_then(|c| http::StatusCode::from_u16(c).ok())
            {
                Some(s) => Some(s),
                None => {
                    let shown = String::from_utf8_lossy(&crate::value::to_json(&v)).into_owned();
                    return Err(format!(
                        "respond.status gave {shown}, not a status from 200 to 599"
                    ));
                }
            }
        }
    };
    let mut headers = Vec::with_capacity(endpoint.headers.len());
    for (name, t) in &endpoint.headers {
        let ctx = scope.tera_context(&t.roots, None);
        let text = templates.render(t, &ctx).map_err(|e| e.to_string())?;
        let value = http::HeaderValue::try_from(text)
            .map_err(|_| format!("respond header `{name}` is not a valid header value"))?;
        headers.push((name.clone(), value));
    }
    Ok((status, headers))
}
