//! The admin listener, on an address of its own so it is never exposed
//! with the public one: liveness and readiness for orchestrators and load
//! balancers (bodies in the health-check format of
//! draft-inadarei-api-health-check, `application/health+json`), metrics,
//! reloads, cache purges, and what an operator looks at: the loaded
//! endpoints, the upstream instances and a live dashboard.

mod access;
mod dashboard;
mod endpoints;
mod instances;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use serde_json::json;

use crate::error::Refusal;
use crate::reload::Live;

/// `/healthz` (the process serves) and `/readyz` (it can serve every
/// endpoint: key sets loaded, not draining), open to probes; behind the
/// token (see [`access`]): `/metrics` (Prometheus), `/reload` (state, and a
/// reload), `/cache/purge`, `/endpoints`, `/instances` and `/dashboard`.
pub(crate) fn router(live: Live) -> Router {
    if access::token(&live).is_none() {
        tracing::warn!(
            "admin.token is not set: the admin listener's read-only routes are open to anyone who reaches its address"
        );
    }
    let guarded = Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/metrics", get(metrics))
        .route("/reload", get(reload_status).post(reload))
        .route("/cache/purge", post(purge))
        .route("/endpoints", get(endpoints::list))
        .route("/instances", get(instances::list))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard.json", get(dashboard::data))
        .route_layer(axum::middleware::from_fn_with_state(
            live.clone(),
            access::guard,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(guarded)
        .fallback(|| async { Refusal::NotFound })
        .with_state(live)
}

/// JSON that is never cached: it describes this moment.
fn fresh_json(body: &impl serde::Serialize) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// `GET /reload`: the generation serving and the last attempt, with its errors.
async fn reload_status(State(live): State<Live>) -> Response {
    fresh_json(&live.status())
}

/// A `400` for a purge body that does not say what to purge.
fn bad_request(detail: impl Into<String>) -> Refusal {
    Refusal::BadRequest(detail.into())
}

/// `POST /reload` with the admin token: loads the folder again; `200` with
/// the generation now serving, or `422` listing the located errors (the
/// last good specs keep serving).
async fn reload(State(live): State<Live>) -> Response {
    match live.reload("admin").await {
        Ok(generation) => axum::Json(json!({ "generation": generation })).into_response(),
        Err(errors) => Refusal::Unprocessable {
            detail: format!(
                "the specs have {} error(s); the last good specs keep serving",
                errors.len()
            ),
            errors,
        }
        .into_response(),
    }
}

/// `POST /cache/purge` with `{"key": "GET /v1/x?a=1"}`, `{"endpoint":
/// "GET /v1/x/{id}"}` or `{"tag": "catalog"}` (composed answers), or
/// `{"service": "catalog", "prefix": "/products/"}` (upstream answers),
/// and the admin token.
async fn purge(State(live): State<Live>, body: axum::body::Bytes) -> Response {
    let what: crate::cache::answers::Purge = match serde_json::from_slice(&body) {
        Ok(w) => w,
        Err(e) => return bad_request(format!("purge body: {e}")).into_response(),
    };
    let current = live.current();
    let plan = current.gateway.plan();
    let composed = what.key.is_some() || what.endpoint.is_some() || what.tag.is_some();
    if !composed && what.service.is_none() {
        return bad_request("name a `key`, an `endpoint`, a `tag` or a `service`").into_response();
    }
    if what.prefix.is_some() && what.service.is_none() {
        return bad_request("`prefix` needs a `service`").into_response();
    }
    let mut dropped = 0;
    if let Some(service) = &what.service {
        if !plan.services.contains_key(service) {
            return bad_request(format!("no service `{service}` in bff.yaml")).into_response();
        }
        dropped = current
            .gateway
            .running()
            .call_cache
            .purge(service, what.prefix.as_deref());
    }
    match current.gateway.running().answers.purge(&what).await {
        Ok(()) => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            if what.service.is_some() {
                r.headers_mut()
                    .insert("bff-purged-upstream-answers", dropped.into());
            }
            r
        }
        Err(e) => bad_request(e.to_string()).into_response(),
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
