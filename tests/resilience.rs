//! Upstream failures against a real fault-injecting upstream: what the
//! client gets and how long it takes, retries within their budget, the
//! circuit breaker, outlier ejection and balancing over instances.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bff_tests::{SpecDir, client, gateway, serve};
use serde_json::{Value, json};

/// What the upstream does next.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    Status(u16),
    /// Fails this many times with 503 and `Retry-After: 0`, then answers.
    FailTimes(usize),
    Stall,
    InvalidJson,
    Big,
    ResetMidBody,
}

#[derive(Clone)]
struct Upstream {
    fault: Arc<Mutex<Fault>>,
    hits: Arc<AtomicUsize>,
    name: &'static str,
}

impl Upstream {
    async fn start(name: &'static str) -> (Self, String) {
        let u = Self {
            fault: Arc::new(Mutex::new(Fault::None)),
            hits: Arc::new(AtomicUsize::new(0)),
            name,
        };
        let app = Router::new()
            .route("/data", get(answer).post(answer))
            .with_state(u.clone());
        (u, serve(app).await)
    }

    fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn answer(State(u): State<Upstream>) -> Response {
    let n = u.hits.fetch_add(1, Ordering::SeqCst);
    let fault = *u.fault.lock().unwrap();
    match fault {
        Fault::None => axum::Json(json!({ "from": u.name })).into_response(),
        Fault::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Fault::FailTimes(k) if n < k => {
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")]).into_response()
        }
        Fault::FailTimes(_) => axum::Json(json!({ "from": u.name })).into_response(),
        Fault::Stall => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            axum::Json(json!({})).into_response()
        }
        Fault::InvalidJson => "{\"not\": json".into_response(),
        Fault::Big => axum::Json(json!({ "blob": "x".repeat(5000) })).into_response(),
        Fault::ResetMidBody => {
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                Ok("{\"partial\": "),
                Err(std::io::Error::other("connection reset")),
            ];
            Response::builder()
                .header("content-type", "application/json")
                .header("content-length", "100")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }
    }
}

fn endpoint(name: &str, service: &str, extra: &str) -> String {
    format!(
        "endpoint: GET /v1/{name}\ncalls:\n  d: {{ service: {service}, get: /data{extra} }}\nrespond:\n  jq: .d\n"
    )
}

async fn call(gw: &str, path: &str) -> (StatusCode, HeaderMap, Value, Duration) {
    let started = Instant::now();
    let r = client().get(format!("{gw}{path}")).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body, started.elapsed())
}

#[tokio::test]
async fn each_upstream_fault_gives_the_right_answer_in_time() {
    let (up, url) = Upstream::start("a").await;
    // A port nothing listens on: connections are refused.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", timeout: 300ms, max_response_bytes: 1000 }}\n  gone: {{ url: \"http://{refused}\" }}\n"
    ))
    .endpoint("required", &endpoint("required", "s", ""))
    .endpoint("gone", &endpoint("gone", "gone", ""))
    .endpoint(
        "optional",
        "endpoint: GET /v1/optional\ncalls:\n  d: { service: s, get: /data, on_error: { default: {fallback: true} } }\nrespond:\n  jq: .d\n",
    );
    let gw = gateway(dir.path()).await;

    let (status, _, body, took) = call(&gw, "/v1/gone").await;
    assert_eq!(status, 502, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("unreachable"));
    assert!(took < Duration::from_millis(500), "{took:?}");

    let cases = [
        (Fault::Status(503), 502, "upstream answered 503"),
        (Fault::InvalidJson, 502, "malformed"),
        (Fault::Big, 502, "over its size limit"),
        (Fault::ResetMidBody, 502, "unreachable"),
        (Fault::Stall, 504, "did not answer in time"),
    ];
    for (fault, want, detail) in cases {
        up.set(fault);
        let (status, headers, body, took) = call(&gw, "/v1/required").await;
        assert_eq!(status, want, "{fault:?}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{fault:?}: {body}"
        );
        assert_eq!(body["call"], "d");
        // Never past the call's timeout (300 ms), with room for the machine.
        assert!(took < Duration::from_millis(900), "{fault:?} took {took:?}");
        if matches!(fault, Fault::Stall) {
            assert!(took >= Duration::from_millis(300), "{took:?}");
        }
        // An optional call falls back and marks the answer partial.
        let (status, headers, body, _) = call(&gw, "/v1/optional").await;
        assert_eq!(status, 200, "{fault:?}");
        assert_eq!(headers["bff-partial"], "true");
        assert_eq!(body, json!({ "fallback": true }));
    }
}

#[tokio::test]
async fn safe_calls_are_retried_with_retry_after_honoured_and_posts_are_not() {
    let (up, url) = Upstream::start("a").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", retries: {{ attempts: 2, backoff: 10ms }} }}\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""))
    .endpoint(
        "post",
        "endpoint: GET /v1/post\ncalls:\n  d: { service: s, post: /data, body: {} }\nrespond:\n  jq: .d\n",
    );
    let gw = gateway(dir.path()).await;

    up.set(Fault::FailTimes(2));
    let (status, _, body, took) = call(&gw, "/v1/get").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.hits(), 3, "two retries");
    assert!(
        took < Duration::from_millis(500),
        "Retry-After: 0 means now: {took:?}"
    );

    // Two retries, and no more.
    up.set(Fault::Status(503));
    let before = up.hits();
    assert_eq!(call(&gw, "/v1/get").await.0, 502);
    assert_eq!(up.hits() - before, 3);

    // A POST without an idempotency key is sent once.
    let before = up.hits();
    assert_eq!(call(&gw, "/v1/post").await.0, 502);
    assert_eq!(up.hits() - before, 1);

    // A 404 is an answer, not a failure: not retried.
    up.set(Fault::Status(404));
    let before = up.hits();
    assert_eq!(call(&gw, "/v1/get").await.0, 502);
    assert_eq!(up.hits() - before, 1);
}

#[tokio::test]
async fn retries_stay_within_their_budget_under_a_burst_of_failures() {
    let (up, url) = Upstream::start("a").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", retries: {{ attempts: 3, backoff: 1ms, budget: 0.2, min_per_second: 0 }} }}\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""));
    let gw = gateway(dir.path()).await;
    up.set(Fault::Status(503));
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let gw = gw.clone();
            tokio::spawn(async move { call(&gw, "/v1/get").await.0 })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 502);
    }
    // Without a budget 50 requests would make 200 tries; with 20 % of
    // calls as retries, at most 60.
    let hits = up.hits();
    assert!((50..=60).contains(&hits), "{hits} tries");
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_after_a_good_probe() {
    let (up, url) = Upstream::start("a").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", circuit_breaker: {{ failure_rate: 0.5, min_requests: 5, open_for: 500ms }} }}\n\
         proxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""));
    let gw = gateway(dir.path()).await;
    up.set(Fault::Status(500));
    for _ in 0..5 {
        assert_eq!(call(&gw, "/v1/get").await.0, 502);
    }
    let hits = up.hits();
    let (status, headers, body, took) = call(&gw, "/v1/get").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("circuit of service `s` is open"),
        "{body}"
    );
    assert!(headers.contains_key("retry-after"));
    assert!(took < Duration::from_millis(50), "fails fast: {took:?}");
    let (status, _, body, _) = call(&gw, "/raw/data").await;
    assert_eq!(status, 503, "pass-through routes share the circuit: {body}");
    assert_eq!(up.hits(), hits, "nothing reached the upstream while open");

    // The upstream recovers; after open_for one probe goes through and closes it.
    up.set(Fault::None);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(call(&gw, "/v1/get").await.0, 200);
    for _ in 0..5 {
        assert_eq!(call(&gw, "/v1/get").await.0, 200);
    }
    assert_eq!(up.hits(), hits + 6);
}

#[tokio::test]
async fn an_ejected_instance_gets_no_traffic_and_returns_after_recovery() {
    let (a, url_a) = Upstream::start("a").await;
    let (b, url_b) = Upstream::start("b").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    instances: [ {{ url: \"{url_a}\" }}, {{ url: \"{url_b}\" }} ]\n\
         \x20   outlier: {{ consecutive_failures: 3, base_ejection: 700ms }}\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""));
    let gw = gateway(dir.path()).await;
    // Round robin: both get traffic.
    for _ in 0..4 {
        assert_eq!(call(&gw, "/v1/get").await.0, 200);
    }
    assert_eq!((a.hits(), b.hits()), (2, 2));

    b.set(Fault::Status(500));
    for _ in 0..6 {
        call(&gw, "/v1/get").await;
    }
    assert_eq!(b.hits(), 5, "three failures in a row eject b");
    let b_hits = b.hits();
    for _ in 0..10 {
        assert_eq!(call(&gw, "/v1/get").await.0, 200, "a alone answers");
    }
    assert_eq!(b.hits(), b_hits, "no traffic while ejected");

    b.set(Fault::None);
    tokio::time::sleep(Duration::from_millis(800)).await;
    for _ in 0..4 {
        assert_eq!(call(&gw, "/v1/get").await.0, 200);
    }
    assert_eq!(b.hits(), b_hits + 2, "back in the rotation");
}

#[tokio::test]
async fn weighted_and_hashed_balancing_share_as_declared() {
    let (a, url_a) = Upstream::start("a").await;
    let (b, url_b) = Upstream::start("b").await;
    let dir = SpecDir::new(&format!(
        "services:\n\
         \x20 w:\n    balance: weighted\n    instances: [ {{ url: \"{url_a}\", weight: 3 }}, {{ url: \"{url_b}\" }} ]\n\
         \x20 h:\n    balance: hash\n    hash_key: header:x-user\n    instances: [ {{ url: \"{url_a}\" }}, {{ url: \"{url_b}\" }} ]\n"
    ))
    .endpoint("w", &endpoint("w", "w", ""))
    .endpoint(
        "h",
        "endpoint: GET /v1/h\ncalls:\n  d: { service: h, get: /data, headers: { x-user: \"{{ query.user }}\" } }\nrespond:\n  jq: .d.from\n",
    );
    let gw = gateway(dir.path()).await;
    for _ in 0..40 {
        assert_eq!(call(&gw, "/v1/w").await.0, 200);
    }
    assert_eq!((a.hits(), b.hits()), (30, 10));

    let mut seen = std::collections::HashSet::new();
    for user in 0..20 {
        let first = call(&gw, &format!("/v1/h?user=u{user}")).await.2;
        for _ in 0..3 {
            assert_eq!(call(&gw, &format!("/v1/h?user=u{user}")).await.2, first);
        }
        seen.insert(first.to_string());
    }
    assert_eq!(seen.len(), 2, "users spread over both instances");
}

#[tokio::test]
async fn a_slow_call_is_hedged_to_another_instance() {
    let (a, url_a) = Upstream::start("a").await;
    let (b, url_b) = Upstream::start("b").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    instances: [ {{ url: \"{url_a}\" }}, {{ url: \"{url_b}\" }} ]\n\
         \x20   timeout: 5s\n    hedge: {{ percentile: 90, min_delay: 50ms }}\n\
         defaults: {{ deadline: 6s }}\n"
    ))
    .endpoint(
        "get",
        "endpoint: GET /v1/get\ncalls:\n  d: { service: s, get: /data }\nrespond:\n  jq: .d.from\n",
    );
    let gw = gateway(dir.path()).await;
    // Learn the service's usual latency.
    for _ in 0..30 {
        assert_eq!(call(&gw, "/v1/get").await.0, 200);
    }
    a.set(Fault::Stall);
    let a_before = a.hits();
    for _ in 0..6 {
        let (status, _, body, took) = call(&gw, "/v1/get").await;
        assert_eq!((status, body), (StatusCode::OK, json!("b")));
        assert!(
            took < Duration::from_millis(1000),
            "hedged, not stalled: {took:?}"
        );
    }
    assert!(
        a.hits() > a_before,
        "some calls went to the stalled instance first"
    );
    assert!(b.hits() >= 6 + 15);
}

#[tokio::test]
async fn a_failing_service_is_stood_in_for_by_its_last_good_answer_to_the_same_request() {
    let (up, url) = Upstream::start("a").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", stale_if_error: {{ max_age: 1s }} }}\n"
    ))
    .endpoint(
        "get",
        "endpoint: GET /v1/get\ncalls:\n  d: { service: s, get: /data, headers: { x-user: \"{{ query.user }}\" } }\nrespond:\n  jq: .d\n",
    );
    let gw = gateway(dir.path()).await;
    let (status, _, body, _) = call(&gw, "/v1/get?user=ada").await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "from": "a" })));

    up.set(Fault::Status(503));
    let (status, headers, body, _) = call(&gw, "/v1/get?user=ada").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({ "from": "a" }));
    assert_eq!(headers["bff-partial"], "true");
    assert!(
        headers["bff-degraded"]
            .to_str()
            .unwrap()
            .contains("reason=stale"),
        "{headers:?}"
    );
    // Another user's request is another request: nothing to stand in.
    assert_eq!(call(&gw, "/v1/get?user=bob").await.0, 502);
    // Past max_age the old answer is gone.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(call(&gw, "/v1/get?user=ada").await.0, 502);
}

/// A service that answers the first request of each connection with
/// keep-alive, and closes the connection when the next request arrives on
/// it, unanswered: what a client sees when the service closes an idle
/// connection just as a request goes out on it. Counts the answers.
async fn closes_kept_alive_connections() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let count = count.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut requests = 0;
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        requests += 1;
                        if requests > 1 {
                            // The second request on this connection: closed unanswered.
                            return;
                        }
                        count.fetch_add(1, Ordering::SeqCst);
                        let body = "{\"from\":\"kept-alive\"}";
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket.write_all(head.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, answered)
}

#[tokio::test]
async fn a_request_on_a_connection_the_service_closed_is_sent_again_on_a_new_one() {
    let (url, answered) = closes_kept_alive_connections().await;
    let admin_port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         proxy: [ {{ prefix: /raw, service: s, rewrite: \"\" }} ]\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""));
    let bff = bff_tests::process::BffProcess::start("bff-web", dir.path(), &[]);
    let base = bff.url();
    for i in 0..10 {
        let (status, _, body, _) = call(&base, "/v1/get").await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!({"from": "kept-alive"})),
            "composed {i}"
        );
        let (status, _, body, _) = call(&base, "/raw/data").await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!({"from": "kept-alive"})),
            "pass-through {i}"
        );
    }
    // A small upload of an idempotent method goes again as well.
    for i in 0..6 {
        let r = client()
            .put(format!("{base}/raw/data"))
            .body("{\"name\": \"ada\"}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "PUT {i}");
    }
    assert_eq!(answered.load(Ordering::SeqCst), 26);
    // A larger upload streams, so it is not sent again: of two in a row,
    // one goes out on a fresh connection and is answered, the other on the
    // kept-alive one the service closes, and fails.
    let large = "x".repeat(70 * 1024);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = client()
            .put(format!("{base}/raw/data"))
            .body(large.clone())
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 502]);
    assert_eq!(answered.load(Ordering::SeqCst), 27);
    let metrics = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let resent = bff_tests::metric_sample(&metrics, "bff_upstream_resent_total", &[]);
    assert!(resent.is_some_and(|n| n >= 13.0), "{resent:?}");
}

/// Which of two instances a constant hash key sends requests to.
async fn hashed_pair(extra: &str) -> (Upstream, Upstream, String, SpecDir) {
    let (a, url_a) = Upstream::start("a").await;
    let (b, url_b) = Upstream::start("b").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s:\n    instances: [ {{ url: \"{url_a}\" }}, {{ url: \"{url_b}\" }} ]\n\
         \x20   balance: hash\n    hash_key: header:x-user\n    timeout: 5s\n{extra}\
         defaults: {{ deadline: 6s }}\n"
    ))
    .endpoint(
        "get",
        "endpoint: GET /v1/get\ncalls:\n  d: { service: s, get: /data, headers: { x-user: always-the-same } }\nrespond:\n  jq: .d.from\n",
    );
    let gw = gateway(dir.path()).await;
    (a, b, gw, dir)
}

#[tokio::test]
async fn hedges_and_retries_go_to_another_instance_than_the_slow_or_failed_one() {
    // Hashing on a constant key: the balancer's own pick is always the same
    // instance, so only a deliberate choice reaches the other one.
    let (a, b, gw, _dir) = hashed_pair("    hedge: { percentile: 75, min_delay: 30ms }\n").await;
    let (_, _, first, _) = call(&gw, "/v1/get").await;
    let (chosen, other) = if first == json!("a") {
        (&a, "b")
    } else {
        (&b, "a")
    };
    chosen.set(Fault::Stall);
    for i in 0..20 {
        let (status, _, body, took) = call(&gw, "/v1/get").await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!(other)),
            "request {i}"
        );
        assert!(
            took < Duration::from_millis(900),
            "request {i} waited {took:?}"
        );
    }

    let (a, b, gw, _dir) = hashed_pair("    retries: { attempts: 1, backoff: 1ms }\n").await;
    let (_, _, first, _) = call(&gw, "/v1/get").await;
    let (chosen, other) = if first == json!("a") {
        (&a, "b")
    } else {
        (&b, "a")
    };
    chosen.set(Fault::Status(503));
    for i in 0..10 {
        let (status, _, body, _) = call(&gw, "/v1/get").await;
        assert_eq!(
            (status, &body),
            (StatusCode::OK, &json!(other)),
            "retry {i}"
        );
    }
}

#[tokio::test]
async fn when_two_required_calls_fail_the_answer_does_not_depend_on_timing() {
    // Long enough that a loaded machine's scheduling cannot pass for it.
    const SLOW_MS: u64 = 240;
    async fn after(ms: u64, status: u16) -> Response {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        StatusCode::from_u16(status).unwrap().into_response()
    }
    let up = serve(
        Router::new()
            .route("/fast404", get(|| after(0, 404)))
            .route("/slow404", get(|| after(SLOW_MS, 404)))
            .route("/fast500", get(|| after(0, 500)))
            .route("/slow500", get(|| after(SLOW_MS, 500))),
    )
    .await;
    let closed = bff_tests::process::free_port();
    let two = |name: &str, member: &str, other: &str| {
        format!(
            "endpoint: GET /v1/{name}\ncalls:\n  member: {{ service: s, get: /{member}, on_error: {{ forward_status: [404] }} }}\n  other: {{ service: s, get: /{other} }}\n"
        )
    };
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n  gone: {{ url: \"http://127.0.0.1:{closed}\" }}\n"
    ))
    .endpoint("a", &two("a", "slow404", "fast500"))
    .endpoint("b", &two("b", "fast404", "slow500"))
    .endpoint(
        "c",
        "endpoint: GET /v1/c\ncalls:\n  first: { service: s, get: /slow500 }\n  second: { service: gone, get: /x }\n",
    );
    let gw = gateway(dir.path()).await;
    for i in 0..12 {
        for path in ["/v1/a", "/v1/b"] {
            let (status, _, body, _) = call(&gw, path).await;
            assert_eq!(
                (status, &body["call"]),
                (StatusCode::NOT_FOUND, &json!("member")),
                "{path} try {i}"
            );
        }
        // Without forwarded statuses the first failure is answered at once,
        // well before the slow call could have ended.
        let (status, _, body, took) = call(&gw, "/v1/c").await;
        assert_eq!(
            (status, &body["call"]),
            (StatusCode::BAD_GATEWAY, &json!("second")),
            "try {i}"
        );
        assert!(
            took < Duration::from_millis(SLOW_MS / 2),
            "try {i}: {took:?}"
        );
    }
}

#[tokio::test]
async fn failed_required_calls_are_logged_and_measured_with_their_real_time() {
    let (u, url) = Upstream::start("u").await;
    u.set(Fault::Stall);
    let admin_port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", timeout: 5s }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         telemetry: {{ access_log: true }}\n"
    ))
    .endpoint(
        "slow",
        "endpoint: GET /v1/slow\ndeadline: 500ms\ncalls:\n  d: { service: s, get: /data }\n",
    );
    let bff = bff_tests::process::BffProcess::start("bff-web", dir.path(), &[]);
    let (status, _, _, took) = call(&bff.url(), "/v1/slow").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(took < Duration::from_millis(900), "{took:?}");
    let line = (0..50)
        .find_map(|_| {
            let out = bff.stdout();
            let line = out
                .lines()
                .find(|l| l.contains("/v1/slow"))
                .map(str::to_owned);
            if line.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            line
        })
        .expect("a request log line");
    let entry: Value = serde_json::from_str(&line).unwrap();
    let d = &entry["calls"][0];
    assert_eq!(
        (&d["name"], &d["outcome"]),
        (&json!("d"), &json!("timeout")),
        "{line}"
    );
    let ms = d["ms"].as_f64().unwrap();
    assert!((450.0..900.0).contains(&ms), "{line}");
    let metrics = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let labels = [("endpoint", "GET /v1/slow"), ("call", "d")];
    assert_eq!(
        bff_tests::metric_sample(&metrics, "bff_call_duration_seconds_count", &labels),
        Some(1.0),
        "{metrics}"
    );
    let sum = bff_tests::metric_sample(&metrics, "bff_call_duration_seconds_sum", &labels);
    assert!(sum.is_some_and(|s| s >= 0.45), "{sum:?}");
    let errors = [
        ("endpoint", "GET /v1/slow"),
        ("call", "d"),
        ("outcome", "timeout"),
    ];
    assert_eq!(
        bff_tests::metric_sample(&metrics, "bff_call_errors_total", &errors),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_open_circuit_says_how_long_it_stays_open() {
    let (up, url) = Upstream::start("a").await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{url}\", circuit_breaker: {{ failure_rate: 0.5, min_requests: 3, open_for: 5s }} }}\n\
         proxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ))
    .endpoint("get", &endpoint("get", "s", ""));
    let gw = gateway(dir.path()).await;
    up.set(Fault::Status(500));
    for _ in 0..3 {
        assert_eq!(call(&gw, "/v1/get").await.0, 502);
    }
    for path in ["/v1/get", "/raw/data"] {
        let (status, headers, _, _) = call(&gw, path).await;
        assert_eq!(status, 503, "{path}");
        let secs: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(
            (4..=5).contains(&secs),
            "{path}: the time left open, not {secs}"
        );
    }
}
