//! The admin listener: liveness and readiness for orchestrators and load
//! balancers, on an address of its own so it is never exposed with the
//! public one. Bodies follow the health-check format of
//! draft-inadarei-api-health-check (`application/health+json`).

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{StatusCode, header};
use serde_json::json;

use crate::Gateway;

/// `/healthz` (the process serves), `/readyz` (it can serve every
/// endpoint: key sets loaded, not draining) and `/metrics` (Prometheus).
pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

async fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
        .into_response()
}

async fn healthz() -> Response {
    health(StatusCode::OK, &json!({ "status": "pass" }))
}

async fn readyz(State(gateway): State<Gateway>) -> Response {
    let notes = gateway.not_ready();
    if notes.is_empty() {
        health(StatusCode::OK, &json!({ "status": "pass" }))
    } else {
        health(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "fail", "notes": notes }),
        )
    }
}

fn health(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/health+json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
