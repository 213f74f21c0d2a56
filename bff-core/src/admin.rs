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

use crate::error::Problem;
use crate::reload::Live;

/// `/healthz` (the process serves), `/readyz` (it can serve every
/// endpoint: key sets loaded, not draining), `/metrics` (Prometheus),
/// `/reload` (state, and a reload with the token) and `/cache/purge`.
pub fn router(live: Live) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/reload", get(reload_status).post(reload))
        .route("/cache/purge", axum::routing::post(purge))
        .with_state(live)
}

/// `GET /reload`: the generation serving and the last attempt, with its errors.
async fn reload_status(State(live): State<Live>) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(live.status()),
    )
        .into_response()
}

/// `POST /reload` with the admin token: loads the folder again; `200` with
/// the generation now serving, or `422` listing the located errors (the
/// last good specs keep serving).
async fn reload(State(live): State<Live>, headers: http::HeaderMap) -> Response {
    if let Some(refused) = refused(&live, &headers) {
        return refused;
    }
    match live.reload("admin").await {
        Ok(generation) => axum::Json(json!({ "generation": generation })).into_response(),
        Err(errors) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "about:blank")
            .detail(format!(
                "the specs have {} error(s); the last good specs keep serving",
                errors.len()
            ))
            .errors(errors)
            .into_response(),
    }
}

/// `POST /cache/purge` with `{"key": "GET /v1/x?a=1"}`, `{"endpoint":
/// "GET /v1/x/{id}"}` or `{"tag": "catalog"}`, and the admin token.
async fn purge(
    State(live): State<Live>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refused(&live, &headers) {
        return refused;
    }
    let what: crate::answers::Purge = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => return Problem::bad_request(format!("purge body: {e}")).into_response(),
    };
    match live.current().gateway.plan().answers.purge(&what).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => Problem::bad_request(e).into_response(),
    }
}

/// The refusal of a request without the admin token (a bearer token), if
/// it lacks it; routes that change things are refused outright when no
/// token is configured.
fn refused(live: &Live, headers: &http::HeaderMap) -> Option<Response> {
    let current = live.current();
    let token = current
        .gateway
        .plan()
        .config
        .admin
        .as_ref()
        .and_then(|a| a.token.as_deref())
        .and_then(|t| crate::config::expand_env(t).ok())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Some(
            Problem::new(StatusCode::FORBIDDEN, "about:blank")
                .detail("set admin.token to use this route")
                .into_response(),
        );
    };
    let presented = crate::auth::bearer_token(headers).unwrap_or("");
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
        return Some(r);
    }
    None
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

async fn readyz(State(live): State<Live>) -> Response {
    let notes = live.not_ready();
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
