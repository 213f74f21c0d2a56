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

/// The admin listener's exposition, once it answers.
async fn scrape(admin_port: u16) -> String {
    let url = format!("http://127.0.0.1:{admin_port}/metrics");
    let started = Instant::now();
    loop {
        match client().get(&url).send().await {
            Ok(r) => return r.text().await.unwrap(),
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The label sets of a metric's samples.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s))
        .collect()
}

#[tokio::test]
async fn labels_stay_bounded_whatever_methods_and_paths_clients_send() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let noted = seen.clone();
    let up = serve(Router::new().fallback(move |req: axum::extract::Request| {
        let noted = noted.clone();
        async move {
            noted.lock().unwrap().push(req.method().to_string());
            "passed"
        }
    }))
    .await;
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         proxy: [ {{ prefix: /p, service: s, rewrite: \"\" }} ]\n"
    ))
    .endpoint(
        "ok",
        "endpoint: GET /v1/ok\ncalls:\n  c: { service: s, get: /ok }\nrespond: { jq: '{}' }\n",
    );
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let http = client();
    let send = |method: &str, path: &str| {
        let request = http.request(
            http::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", bff.url()),
        );
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // Extension methods pass through a route (WebDAV's, SSDP's, made-up
    // ones), each to be counted as `other`.
    let made_up: Vec<String> = (0..40).map(|i| format!("MADE-UP-{i}")).collect();
    for m in &made_up {
        assert_eq!(send(m, &format!("/p/item-{m}")).await, 200, "{m}");
    }
    assert_eq!(send("M-SEARCH", "/p/ssdp").await, 200);
    assert_eq!(
        seen.lock().unwrap().len(),
        41,
        "every extension method reaches the service"
    );
    // Unrouted ones, by path and by method.
    for m in made_up.iter().take(5) {
        assert_eq!(send(m, &format!("/nowhere/{m}")).await, 404);
        assert_eq!(send(m, "/v1/ok").await, 405);
    }
    let trace = send("TRACE", "/p/echo").await;

    let text = scrape(admin_port).await;
    let got =
        |labels: &[(&str, &str)]| bff_tests::metric_sample(&text, "bff_requests_total", labels);
    assert_eq!(
        got(&[("endpoint", "/p"), ("method", "other"), ("status", "200")]),
        Some(41.0),
        "{text}"
    );
    assert_eq!(
        got(&[
            ("endpoint", "unrouted"),
            ("method", "other"),
            ("status", "404")
        ]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        got(&[
            ("endpoint", "unrouted"),
            ("method", "other"),
            ("status", "405")
        ]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        got(&[("endpoint", "/p"), ("method", "TRACE"), ("status", "405")]),
        Some(1.0),
        "{text}"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(
            !line.contains("MADE-UP") && !line.contains("M-SEARCH"),
            "a client's method became a label: {line}"
        );
        assert!(
            !line.contains("/nowhere") && !line.contains("/p/item"),
            "a client's path became a label: {line}"
        );
    }
    assert_eq!(
        series(&text, "bff_requests_total").len(),
        4,
        "{:#?}",
        series(&text, "bff_requests_total")
    );
    // Series with labels the code fixes are there before their first event.
    for (name, labels) in [
        ("bff_spec_reloads_total", &[("result", "ok")][..]),
        ("bff_spec_reloads_total", &[("result", "error")]),
        ("bff_shed_total", &[("scope", "bff")]),
        ("bff_shed_total", &[("scope", "service")]),
        ("bff_cache_evictions_total", &[]),
        ("bff_cache_bytes", &[]),
    ] {
        assert_eq!(
            bff_tests::metric_sample(&text, name, labels),
            Some(0.0),
            "{name} {labels:?}:\n{text}"
        );
    }
    assert!(
        bff_tests::metric_sample(&text, "bff_spec_reload_last_success_timestamp_seconds", &[])
            .is_some_and(|t| t > 1.6e9),
        "the first load counts: {text}"
    );
    // TRACE would echo what the BFF adds for upstreams only: refused.
    assert_eq!(trace, 405);
    assert!(!seen.lock().unwrap().iter().any(|m| m == "TRACE"));

    // The route owning every path is named `/`: an empty label value would
    // be no label at all to Prometheus.
    let admin_port = free_port();
    let root = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         proxy: [ {{ prefix: /, service: s }} ]\n"
    ));
    let bff = BffProcess::start("bff-web", root.path(), &[]);
    let r = client()
        .get(format!("{}/x", bff.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = scrape(admin_port).await;
    assert_eq!(
        bff_tests::metric_sample(
            &text,
            "bff_requests_total",
            &[("endpoint", "/"), ("method", "GET"), ("status", "200")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        bff_tests::metric_sample(
            &text,
            "bff_request_duration_seconds_count",
            &[("endpoint", "/")]
        ),
        Some(1.0),
        "{text}"
    );
}

/// The GraphQL endpoint's resolvers are counted like an endpoint's calls:
/// by `endpoint` (`GraphQL /graphql`) and `call` (the resolver).
#[tokio::test]
async fn graphql_resolvers_are_timed_and_their_failures_counted() {
    let up = serve(
        Router::new()
            .route(
                "/ok",
                get(|| async { axum::Json(serde_json::json!({"n": 1})) }),
            )
            .route("/fail", get(|| async { StatusCode::SERVICE_UNAVAILABLE })),
    )
    .await;
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  up: {{ url: \"{up}\" }}\nadmin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n"
    ))
    .file(
        "graphql.yaml",
        "resolvers:\n  Query.good: { service: up, get: /ok, select: .n }\n  Query.bad: { service: up, get: /fail }\n",
    )
    .file("graphql/schema.graphql", "type Query { good: Int bad: Int }\n");
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    for _ in 0..2 {
        let r = client()
            .post(format!("{}/graphql", bff.url()))
            .json(&serde_json::json!({"query": "{ good bad }"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let text = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let got = |name, labels: &[(&str, &str)]| bff_tests::metric_sample(&text, name, labels);
    let endpoint = ("endpoint", "GraphQL /graphql");
    assert_eq!(
        got(
            "bff_call_duration_seconds_count",
            &[endpoint, ("call", "Query.good")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        got(
            "bff_call_errors_total",
            &[endpoint, ("call", "Query.bad"), ("outcome", "status-503")]
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        got("bff_call_errors_total", &[endpoint, ("call", "Query.good")]),
        None
    );
    // The request log lists each resolver's run.
    client()
        .post(format!("{}/graphql", bff.url()))
        .header("x-request-id", "gql-log-1")
        .json(&serde_json::json!({"query": "{ good bad }"}))
        .send()
        .await
        .unwrap();
    let log = bff.stdout_with(&["gql-log-1"]);
    let line: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["request_id"] == "gql-log-1")
        .unwrap_or_else(|| panic!("no log line in:\n{log}"));
    assert_eq!(line["endpoint"], "POST /graphql");
    assert_eq!(line["partial"], true, "{line}");
    let calls = line["calls"].as_array().unwrap();
    let outcome = |name: &str| {
        calls
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["outcome"].clone())
    };
    assert_eq!(outcome("Query.good"), Some("ok".into()), "{line}");
    assert_eq!(outcome("Query.bad"), Some("status-503".into()), "{line}");
}

#[tokio::test]
async fn inspection_findings_are_logged_and_counted_by_policy_kind_and_action() {
    let up =
        serve(Router::new().fallback(get(|| async { axum::Json(serde_json::json!({})) }))).await;
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  up: {{ url: \"{up}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         inspect:\n  watch: {{ mode: detect }}\n  strict: {{}}\n\
         proxy: [ {{ prefix: /p, service: up, inspect: strict }} ]\n"
    ))
    .endpoint(
        "d",
        "endpoint: GET /v1/d\ninspect: watch\ncalls:\n  c: { service: up, get: /ok }\n",
    );
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let base = bff.url();
    let c = client();
    let r = c
        .get(format!("{base}/v1/d"))
        .query(&[("q", "1' OR '1'='1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "detect lets it through");
    let r = c
        .get(format!("{base}/p/x"))
        .header("x-note", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let text = scrape(admin_port).await;
    let got =
        |labels: &[(&str, &str)]| bff_tests::metric_sample(&text, "bff_inspect_total", labels);
    assert_eq!(
        got(&[("policy", "watch"), ("kind", "sqli"), ("action", "detect")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        got(&[("policy", "strict"), ("kind", "xss"), ("action", "block")]),
        Some(1.0),
        "{text}"
    );
    let log = bff.log();
    assert!(
        log.contains("request inspection found an injection")
            && log.contains("query parameter `q`")
            && log.contains("header `x-note`")
            && !log.contains("alert(1)"),
        "{log}"
    );
}
