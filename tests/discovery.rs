//! Instances that come and go while the BFF runs: an etcd prefix watched,
//! DNS names resolved again, and active health checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::etcd::Etcd;
use bff_tests::{SpecDir, client, gateway, serve};
use serde_json::{Value, json};

/// An upstream that names itself, counts its calls and can fail its health check.
#[derive(Clone)]
struct Named {
    name: &'static str,
    hits: Arc<AtomicUsize>,
    healthy: Arc<AtomicBool>,
}

async fn named(name: &'static str) -> (Named, String) {
    let n = Named {
        name,
        hits: Arc::new(AtomicUsize::new(0)),
        healthy: Arc::new(AtomicBool::new(true)),
    };
    let app = Router::new()
        .route(
            "/who",
            get(|State(n): State<Named>| async move {
                n.hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({ "name": n.name }))
            }),
        )
        .route(
            "/healthz",
            get(|State(n): State<Named>| async move {
                if n.healthy.load(Ordering::SeqCst) {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                .into_response()
            }),
        )
        .with_state(n.clone());
    (n, serve(app).await)
}

const WHO: &str =
    "endpoint: GET /v1/who\ncalls:\n  w: { service: s, get: /who }\nrespond:\n  jq: .w.name\n";

async fn who(gw: &str) -> (u16, Value) {
    let r = client().get(format!("{gw}/v1/who")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Calls until `pred` holds for an answer, for up to ten seconds.
async fn until(gw: &str, what: &str, pred: impl Fn(&(u16, Value)) -> bool) {
    let started = Instant::now();
    loop {
        let answer = who(gw).await;
        if pred(&answer) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: last answer {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn instances_added_and_removed_in_etcd_get_traffic_without_a_restart() {
    let etcd = Etcd::start();
    let (a, url_a) = named("a").await;
    let (b, url_b) = named("b").await;
    etcd.put("/services/s/a", &url_a).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    discovery: {{ etcd: {{ url: \"{}\", prefix: /services/s/ }}, interval: 200ms }}\n",
        etcd.url
    ))
    .endpoint("who", WHO);
    let gw = gateway(dir.path()).await;

    until(&gw, "a is found", |(s, v)| *s == 200 && v == "a").await;
    for _ in 0..5 {
        assert_eq!(who(&gw).await.1, "a");
    }

    // A second instance appears: it gets traffic.
    etcd.put(
        "/services/s/b",
        &json!({ "url": url_b, "weight": 1 }).to_string(),
    )
    .await;
    until(&gw, "b gets traffic", |(_, v)| v == "b").await;

    // The first goes away: only the second is called.
    etcd.delete("/services/s/a").await;
    // The watch reports the change at once; allow for a loaded machine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let a_hits = a.hits.load(Ordering::SeqCst);
    for _ in 0..6 {
        assert_eq!(who(&gw).await, (200, json!("b")));
    }
    assert_eq!(a.hits.load(Ordering::SeqCst), a_hits);
    assert!(b.hits.load(Ordering::SeqCst) >= 6);
}

#[tokio::test]
async fn a_dns_name_is_resolved_into_instances() {
    let (up, url) = named("a").await;
    let port = url.rsplit(':').next().unwrap();
    // `localhost` may also name ::1, where nothing listens: the failed tries
    // are retried and that address ejected, as a real outage would be.
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    discovery: {{ dns: \"localhost:{port}\", interval: 200ms }}\n\
         \x20   retries: {{ attempts: 2, backoff: 1ms }}\n    outlier: {{ consecutive_failures: 1 }}\n"
    ))
    .endpoint("who", WHO);
    let gw = gateway(dir.path()).await;
    until(&gw, "localhost is resolved", |(s, _)| *s == 200).await;
    for _ in 0..5 {
        assert_eq!(who(&gw).await, (200, json!("a")));
    }
    assert!(up.hits.load(Ordering::SeqCst) >= 6);
}

#[tokio::test]
async fn an_instance_failing_its_health_check_gets_no_calls_until_it_passes() {
    let (a, url_a) = named("a").await;
    let (b, url_b) = named("b").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    instances: [ {{ url: \"{url_a}\" }}, {{ url: \"{url_b}\" }} ]\n\
         \x20   health_check: {{ path: /healthz, interval: 100ms, unhealthy_after: 2, healthy_after: 1 }}\n"
    ))
    .endpoint("who", WHO);
    let gw = gateway(dir.path()).await;
    until(&gw, "b answers", |(_, v)| v == "b").await;

    b.healthy.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b_hits = b.hits.load(Ordering::SeqCst);
    for _ in 0..8 {
        assert_eq!(who(&gw).await, (200, json!("a")));
    }
    assert_eq!(b.hits.load(Ordering::SeqCst), b_hits, "b is out");

    b.healthy.store(true, Ordering::SeqCst);
    until(&gw, "b is back", |(_, v)| v == "b").await;
    assert!(a.hits.load(Ordering::SeqCst) >= 8);
}
