//! Running an endpoint's plan for one request: each call starts the moment
//! the calls it depends on have finished, all under one deadline; optional
//! calls fall back, and the results are shaped into one value.

mod cached;
mod call;
mod error;
mod grpc;
mod scope;

use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use jaq_json::Val;
use tokio::time::Instant;

pub use error::{CallError, ExecError};
pub use grpc::{GrpcCode, GrpcStatus};
pub use scope::RequestData;
use scope::Scope;

use crate::plan::Endpoint;
use crate::plan::template::TemplateSet;

/// A call that failed but had a fallback.
#[derive(Debug, Clone)]
pub struct Degraded {
    /// The call.
    pub call: String,
    /// Why, machine-readable (`timeout`, `status-503`, …).
    pub reason: String,
}

/// A successful run.
#[derive(Debug)]
pub struct Outcome {
    /// The shaped response value.
    pub value: Val,
    /// Optional calls that fell back.
    pub degraded: Vec<Degraded>,
    /// How long each call took, in call order (skipped calls included).
    pub timings: Vec<(String, Duration)>,
    /// How fresh the parts of the answer are.
    pub freshness: crate::cache::Freshness,
}

type CallFuture<'a> =
    Pin<Box<dyn Future<Output = (usize, Result<Val, CallError>, Duration)> + Send + 'a>>;

/// Runs an endpoint for one request.
pub async fn run(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    client: &crate::upstream::Client,
    request: RequestData,
) -> Result<Outcome, ExecError> {
    let parts = std::cell::Cell::new(crate::cache::Freshness::default());
    crate::cache::PARTS
        .scope(parts, run_inner(endpoint, templates, client, request))
        .await
}

async fn run_inner(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    client: &crate::upstream::Client,
    request: RequestData,
) -> Result<Outcome, ExecError> {
    let deadline = Instant::now() + endpoint.deadline;
    match tokio::time::timeout_at(
        deadline,
        run_graph(endpoint, templates, client, request, deadline),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(ExecError::Deadline),
    }
}

async fn run_graph(
    endpoint: &Endpoint,
    templates: &TemplateSet,
    client: &crate::upstream::Client,
    request: RequestData,
    deadline: Instant,
) -> Result<Outcome, ExecError> {
    let calls = &endpoint.calls;
    let mut scope = Scope::new(request, calls.iter().map(|c| c.name.clone()).collect());
    let mut waiting: Vec<usize> = calls.iter().map(|c| c.deps.len()).collect();
    let mut degraded = Vec::new();
    let mut timings = vec![Duration::ZERO; calls.len()];
    let mut running: FuturesUnordered<CallFuture<'_>> = FuturesUnordered::new();

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
                        let r = crate::telemetry::within(
                            cx.clone(),
                            call::send(call, prepared, client, deadline),
                        )
                        .await;
                        let error = r.as_ref().err().map(CallError::reason);
                        crate::telemetry::finish(&cx, None, error.as_deref());
                        (i, r, began.elapsed())
                    }),
                    None => Box::pin(async move {
                        let r = call::send(call, prepared, client, deadline).await;
                        (i, r, began.elapsed())
                    }),
                }
            }
            Err(e) => Box::pin(async move { (i, Err(e), began.elapsed()) }),
        }
    };
    for (i, _) in calls.iter().enumerate().filter(|(_, c)| c.deps.is_empty()) {
        running.push(start(i, &scope));
    }
    while let Some((i, result, took)) = running.next().await {
        let call = &calls[i];
        timings[i] = took;
        if let Err(e) = &result
            && let Some(status) = e.upstream_status()
            && call.forward_status.contains(&status)
        {
            return Err(ExecError::Forward {
                call: call.name.to_string(),
                status,
                message: match e {
                    CallError::Grpc(s) => Some(s.message.clone()),
                    _ => None,
                },
            });
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
                    return Err(ExecError::Call {
                        call: call.name.to_string(),
                        error: e,
                    });
                }
            },
        };
        scope.results[i] = Some(value);
        for &d in &call.dependents {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                running.push(start(d, &scope));
            }
        }
    }
    drop(running);

    let value = match &endpoint.respond {
        Some(expr) => expr.first(scope.jq_input()).map_err(|e| {
            tracing::error!(endpoint = %endpoint.id(), error = %e, "respond expression failed");
            ExecError::Shape(e)
        })?,
        None => {
            let pairs = calls
                .iter()
                .zip(scope.results.iter())
                .map(|(c, r)| (&*c.name, r.clone().unwrap_or(Val::Null)));
            crate::value::object(pairs)
        }
    };
    let timings = calls
        .iter()
        .map(|c| c.name.to_string())
        .zip(timings)
        .collect();
    Ok(Outcome {
        value,
        degraded,
        timings,
        freshness: crate::cache::PARTS
            .try_with(std::cell::Cell::get)
            .unwrap_or_default(),
    })
}
