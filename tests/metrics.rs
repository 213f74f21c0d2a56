//! Prometheus metrics on the admin listener, read the way Prometheus
//! would, after traffic that exercises each kind of metric.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, serve};

#[tokio::test]
async fn requests_upstreams_circuits_limits_and_store_errors_are_counted() {
    let up = serve(
        Router::new()
            .route("/ok", get(|| async { axum::Json(serde_json::json!({})) }))
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .route(
                "/kept",
                get(|| async { ([("cache-control", "max-age=60")], "kept for a minute") }),
            ),
    )
    .await;
    let closed = free_port();
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  good: {{ url: \"{up}\" }}\n\
         \x20 kept: {{ url: \"{up}\", cache: {{}} }}\n\
         \x20 bad: {{ url: \"{up}\", circuit_breaker: {{ min_requests: 2, failure_rate: 0.5, open_for: 60s }} }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         proxy: [ {{ prefix: /p, service: kept, rewrite: \"\" }} ]\n\
         redis: {{ url: \"redis://127.0.0.1:{closed}\", timeout: 50ms }}\n\
         rate_limits:\n\
         \x20 tight: {{ rate: 1/min, burst: 1 }}\n\
         \x20 shared: {{ rate: 1/min, burst: 1, store: redis, on_store_error: open }}\n"
    ))
    .endpoint(
        "ok",
        "endpoint: GET /v1/ok\nrate_limit: tight\ncalls:\n  c: { service: good, get: /ok }\n",
    )
    .endpoint(
        "fail",
        "endpoint: GET /v1/fail\ncalls:\n  c: { service: bad, get: /fail }\n",
    )
    .endpoint(
        "shared",
        "endpoint: GET /v1/shared\nrate_limit: shared\ncalls:\n  c: { service: good, get: /ok }\n",
    );
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let base = bff.url();
    let status = |path: &'static str| {
        let url = format!("{base}{path}");
        async move { client().get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/v1/ok").await, 200);
    assert_eq!(status("/v1/ok").await, 429);
    assert_eq!(status("/v1/fail").await, 502);
    assert_eq!(status("/v1/fail").await, 502);
    assert_eq!(status("/v1/fail").await, 503, "the circuit is open");
    assert_eq!(status("/v1/shared").await, 200, "Redis is down: open");
    assert_eq!(status("/p/kept").await, 200);
    assert_eq!(status("/p/kept").await, 200);

    let admin = format!("http://127.0.0.1:{admin_port}");
    let started = Instant::now();
    let text = loop {
        match client().get(format!("{admin}/metrics")).send().await {
            Ok(r) => {
                assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4");
                break r.text().await.unwrap();
            }
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    let got = |name, labels: &[(&str, &str)]| bff_tests::metric_sample(&text, name, labels);
    assert_eq!(
        got(
            "bff_requests_total",
            &[("endpoint", "GET /v1/fail"), ("status", "502")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        got(
            "bff_requests_total",
            &[("endpoint", "GET /v1/fail"), ("status", "503")]
        ),
        Some(1.0)
    );
    assert_eq!(
        got(
            "bff_request_duration_seconds_count",
            &[("endpoint", "GET /v1/ok")]
        ),
        Some(2.0)
    );
    assert_eq!(
        got(
            "bff_upstream_requests_total",
            &[("service", "bad"), ("outcome", "failure")]
        ),
        Some(2.0)
    );
    assert_eq!(got("bff_circuit_open", &[("service", "bad")]), Some(1.0));
    assert_eq!(
        got(
            "bff_ratelimit_decisions_total",
            &[("policy", "tight"), ("result", "limited")]
        ),
        Some(1.0)
    );
    assert_eq!(
        got("bff_ratelimit_store_errors_total", &[("policy", "shared")]),
        Some(1.0)
    );
    assert_eq!(
        got(
            "bff_call_duration_seconds_count",
            &[("endpoint", "GET /v1/ok"), ("call", "c")]
        ),
        Some(1.0),
        "one call ran; the limited request made none"
    );
    assert_eq!(
        got(
            "bff_call_errors_total",
            &[
                ("endpoint", "GET /v1/fail"),
                ("call", "c"),
                ("outcome", "status-500")
            ]
        ),
        Some(2.0)
    );
    for result in ["miss", "hit"] {
        assert_eq!(
            got(
                "bff_cache_requests_total",
                &[("service", "kept"), ("result", result)]
            ),
            Some(1.0),
            "pass-through GETs through the cache: {result}"
        );
    }
    assert!(
        got("bff_cache_bytes", &[]).is_some_and(|b| b >= 17.0),
        "{text}"
    );
    assert!(text.contains("# HELP bff_requests_total"), "{text}");
}
