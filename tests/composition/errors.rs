//! The error contract: a failing, unreachable, timed-out or malformed
//! required call is an RFC 9457 problem naming the call and hiding the
//! upstream; optional calls fall back to their default and mark the
//! answer partial; forwarded statuses become the endpoint's status.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::serve;
use serde_json::json;

use crate::harness::{closed_port_url, get_url, start, start_at};

/// Upstream statuses with a body that must never reach the client.
const SECRET: &str = "SECRET-upstream-stacktrace at db.internal:5432";

async fn status_with_secret(Path(code): Path<u16>) -> impl IntoResponse {
    (StatusCode::from_u16(code).unwrap(), SECRET)
}

fn error_upstream() -> Router {
    Router::new()
        .route("/status/{code}", get(status_with_secret))
        .route("/ok", get(|| async { axum::Json(json!({"ok": true})) }))
        .route(
            "/malformed",
            get(|| async { ([("content-type", "application/json")], r#"{"items": [1, 2"#) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::Json(json!({"late": true}))
            }),
        )
}

#[tokio::test]
async fn required_call_failing_is_a_502_problem_that_hides_the_upstream() {
    let up = serve(error_upstream()).await;
    let (gw, _dir) = start_at(
        &up,
        &[(
            "fail",
            r#"
endpoint: GET /v1/fail
calls:
  fine: { service: up, get: /ok }
  slow: { service: up, get: /slow }
  inventory: { service: up, get: /status/500 }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/fail")).await;
    let p = r.problem(502);
    assert!(
        r.ms() < 1000,
        "the failure waited {} ms for a 2 s call it no longer needs",
        r.ms()
    );
    assert_eq!(p["call"], "inventory", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("inventory"), "{p}");
    let port = up.rsplit(':').next().unwrap();
    for leak in [up.as_str(), "127.0.0.1", port, SECRET, "SECRET", "5432"] {
        assert!(
            !r.text.contains(leak),
            "the problem leaks `{leak}`: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_problem() {
    let (gw, _dir) = start_at(
        &closed_port_url(),
        &[(
            "down",
            "endpoint: GET /v1/down\ncalls:\n  profile: { service: up, get: /users/1 }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/down")).await;
    let p = r.problem(502);
    assert_eq!(p["call"], "profile", "{p}");
}

#[tokio::test]
async fn required_call_past_its_timeout_is_a_504_naming_it() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "slow",
            r#"
endpoint: GET /v1/slow
calls:
  fine: { service: up, get: /ok }
  reviews: { service: up, get: /slow, timeout: 100ms }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/slow")).await;
    let p = r.problem(504);
    assert_eq!(p["call"], "reviews", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("reviews"), "{p}");
    assert!(r.ms() < 1000, "took {} ms for a 100 ms timeout", r.ms());
}

#[tokio::test]
async fn optional_calls_fall_back_and_mark_the_response_partial() {
    let (gw, _dir) = start(
        error_upstream(),
        &[
            (
                "status",
                r#"
endpoint: GET /v1/partial
calls:
  fine: { service: up, get: /ok }
  picks: { service: up, get: /status/500, on_error: { default: [] } }
"#,
            ),
            (
                "timeout",
                r#"
endpoint: GET /v1/partial-slow
calls:
  fine: { service: up, get: /ok }
  reviews:
    service: up
    get: /slow
    timeout: 100ms
    on_error: { default: { items: [], total: 0 } }
"#,
            ),
            (
                "healthy",
                "endpoint: GET /v1/whole\ncalls:\n  fine: { service: up, get: /ok }\n",
            ),
        ],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/partial")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"fine": {"ok": true}, "picks": []}));
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("picks;reason=status-500"));

    let r = get_url(&format!("{gw}/v1/partial-slow")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"fine": {"ok": true}, "reviews": {"items": [], "total": 0}})
    );
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("reviews;reason=timeout"));
    assert!(r.ms() < 1000, "took {} ms for a 100 ms timeout", r.ms());

    let r = get_url(&format!("{gw}/v1/whole")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("bff-partial"), None);
    assert_eq!(r.header("bff-degraded"), None);
}

#[tokio::test]
async fn forwarded_status_becomes_the_endpoints_status() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "user",
            r#"
endpoint: GET /v1/users/{id}
calls:
  profile: { service: up, get: /status/404, on_error: { forward_status: [404] } }
  other: { service: up, get: /status/503, on_error: { forward_status: [404], default: null } }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/users/7")).await;
    let p = r.problem(404);
    assert_eq!(p["call"], "profile", "{p}");
    assert!(!r.text.contains("SECRET"), "{}", r.text);
}

#[tokio::test]
async fn malformed_json_from_an_upstream_is_a_502() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "bad",
            "endpoint: GET /v1/bad\ncalls:\n  cart: { service: up, get: /malformed }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/bad")).await;
    let p = r.problem(502);
    assert_eq!(p["call"], "cart", "{p}");
    assert!(!r.text.contains("items"), "{}", r.text);
}
