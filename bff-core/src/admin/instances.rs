//! `GET /instances`: every upstream service as calls see it now — its
//! instances (up, ejected by outlier detection, failing active health
//! checks), their load and latency, and the circuit breaker's state.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::plan::Service;
use crate::reload::Live;
use crate::upstream::Pool;
use crate::upstream::breaker::State as Circuit;

/// One service, for `/instances` and the dashboard.
#[derive(Debug, Serialize)]
pub(super) struct ServiceState {
    name: String,
    balance: &'static str,
    /// `closed`, `open`, `half-open`, or `none` without a breaker.
    circuit: &'static str,
    /// Seconds until an open circuit lets a probe through.
    circuit_retry_in_s: Option<f64>,
    health_check: Option<String>,
    instances: Vec<InstanceState>,
}

#[derive(Debug, Serialize)]
struct InstanceState {
    url: String,
    weight: u32,
    /// `up`, `ejected` or `unhealthy`.
    state: &'static str,
    /// Whether the last active health checks passed (true without checks).
    healthy: bool,
    ejected: bool,
    ejected_for_s: Option<f64>,
    ejections: u32,
    outstanding: usize,
    /// Moving average of recent exchanges, milliseconds.
    latency_ms: Option<f64>,
}

pub(super) async fn list(State(live): State<Live>) -> Response {
    let current = live.current();
    super::fresh_json(&serde_json::json!({
        "generation": current.number,
        "services": services(&current.gateway),
    }))
}

/// Every service of the gateway, in bff.yaml's order.
pub(super) fn services(gateway: &crate::Gateway) -> Vec<ServiceState> {
    let running = gateway.running();
    let services = gateway.plan().services.values();
    services
        .map(|s| service(s, &running.upstream(s).pool))
        .collect()
}

fn service(s: &Service, pool: &Pool) -> ServiceState {
    let (circuit, retry_in) = match pool.breaker.as_ref().map(|b| (b.state(), b)) {
        None => ("none", None),
        Some((Circuit::Closed, _)) => ("closed", None),
        Some((Circuit::HalfOpen, _)) => ("half-open", None),
        Some((Circuit::Open, b)) => ("open", Some(b.retry_in().as_secs_f64())),
    };
    let instances = pool
        .instances()
        .iter()
        .map(|i| {
            let ejected_for = pool.ejected_for(i);
            let state = match (ejected_for.is_some(), i.is_healthy()) {
                (true, _) => "ejected",
                (false, false) => "unhealthy",
                (false, true) => "up",
            };
            InstanceState {
                url: i.base_url.clone(),
                weight: i.weight,
                state,
                healthy: i.is_healthy(),
                ejected: ejected_for.is_some(),
                ejected_for_s: ejected_for.map(|d| d.as_secs_f64()),
                ejections: i.ejections(),
                outstanding: i.outstanding(),
                latency_ms: i
                    .latency()
                    .map(|d| (d.as_secs_f64() * 10_000.0).round() / 10.0),
            }
        })
        .collect();
    ServiceState {
        name: s.name.clone(),
        balance: match pool.balance() {
            crate::config::BalanceKind::RoundRobin => "round_robin",
            crate::config::BalanceKind::Weighted => "weighted",
            crate::config::BalanceKind::LeastLatency => "least_latency",
            crate::config::BalanceKind::Hash => "hash",
        },
        circuit,
        circuit_retry_in_s: retry_in,
        health_check: s.health_check.as_ref().map(|h| {
            format!(
                "GET {} every {}",
                h.path,
                humantime::format_duration(h.interval)
            )
        }),
        instances,
    }
}
