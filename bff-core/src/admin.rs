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
        .route("/cache/purge", axum::routing::post(purge))
        .with_state(gateway)
}

/// `POST /cache/purge` with `{"key": "GET /v1/x?a=1"}`, `{"endpoint":
/// "GET /v1/x/{id}"}` or `{"tag": "catalog"}`, and the admin token.
async fn purge(
    State(gateway): State<Gateway>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use crate::error::Problem;
    let token = gateway
        .plan()
        .config
        .admin
        .as_ref()
        .and_then(|a| a.token.as_deref())
        .and_then(|t| crate::config::expand_env(t).ok())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Problem::new(StatusCode::FORBIDDEN, "about:blank")
            .detail("set admin.token to use this route")
            .into_response();
    };
    let presented = crate::auth::bearer_token(&headers).unwrap_or("");
    if aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), token.as_bytes())
        .is_err()
    {
        let mut r = Problem::new(StatusCode::UNAUTHORIZED, "about:blank")
            .detail("the admin token is missing or wrong")
            .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    let what: crate::answers::Purge = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => return Problem::bad_request(format!("purge body: {e}")).into_response(),
    };
    match gateway.plan().answers.purge(&what).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => Problem::bad_request(e).into_response(),
    }
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
