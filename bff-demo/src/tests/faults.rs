//! Latency and fault injection: `delay_ms`, `fail`, configured latency and
//! the `/_demo/faults` switch.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Demo;
use crate::{Delay, Latency, Service};

#[tokio::test]
async fn fail_parameter_answers_with_that_status() {
    let demo = Demo::start(Latency::none()).await;
    let response = demo
        .http
        .get(demo.url("catalog", "/products/p-2001?fail=500"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 500);
    assert_eq!(
        demo.get("orders", "/orders?fail=503").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        demo.get("orders", "/orders?fail=200").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        demo.get("orders", "/orders?delay_ms=soon").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        demo.get("orders", "/health?fail=500").await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn delay_ms_parameter_slows_one_request() {
    let demo = Demo::start(Latency::none()).await;
    let started = Instant::now();
    demo.ok("users", "/users/u-1002?delay_ms=250").await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Delay first, then failure: a slow error.
    let started = Instant::now();
    assert_eq!(
        demo.get("users", "/users/u-1002?delay_ms=100&fail=502")
            .await
            .0,
        StatusCode::BAD_GATEWAY
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn configured_latency_applies_per_service() {
    let latency = Latency::none().with(Service::Reviews, Delay::millis(200, 50));
    let demo = Demo::start(latency).await;
    for _ in 0..3 {
        let started = Instant::now();
        demo.ok("reviews", "/reviews/summary?product=p-2001").await;
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
    let started = Instant::now();
    demo.ok("users", "/users/u-1001").await;
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "users has no latency"
    );
}

#[tokio::test]
async fn runtime_faults_apply_until_cleared() {
    let demo = Demo::start(Latency::none()).await;
    let set = demo
        .http
        .put(demo.url("inventory", "/_demo/faults"))
        .json(&json!({ "fail": 503, "delay_ms": 50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let started = Instant::now();
    assert_eq!(
        demo.get("inventory", "/inventory/p-2001").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(demo.get("inventory", "/health").await.0, StatusCode::OK);
    assert_eq!(
        demo.ok("inventory", "/_demo/faults").await,
        json!({ "delay_ms": 50, "fail": 503 })
    );
    // Other services are unaffected.
    demo.ok("catalog", "/products/p-2001").await;

    let cleared = demo
        .http
        .delete(demo.url("inventory", "/_demo/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    demo.ok("inventory", "/inventory/p-2001").await;

    let bad = demo
        .http
        .put(demo.url("inventory", "/_demo/faults"))
        .json(&json!({ "fail": 200 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
