//! What a BFF tells about each request: OTLP spans received by a real gRPC
//! collector, W3C trace context carried to every upstream call, one JSON
//! log line per request without secrets, and `Server-Timing` as configured.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::process::BffProcess;
use bff_tests::{SpecDir, client, gateway, serve};
use futures::StreamExt;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::{Value, json};

/// An OTLP/gRPC collector keeping every span it is sent.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for rs in request.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn collector() -> (Collector, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = Collector::default();
    let service = TraceServiceServer::new(c.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream(listener))
            .await
            .unwrap();
    });
    (c, format!("http://{addr}"))
}

fn tokio_stream(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| s);
        Some((accepted, l))
    })
}

/// Two upstreams that note the `traceparent` each request brings.
async fn upstreams(seen: Arc<Mutex<Vec<String>>>) -> String {
    let note = move |name: &'static str| {
        let seen = seen.clone();
        move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let tp = headers
                    .get("traceparent")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(tp);
                axum::Json(json!({ "name": name }))
            }
        }
    };
    serve(
        Router::new()
            .route("/a", get(note("a")))
            .route("/b", get(note("b"))),
    )
    .await
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const SECRET: &str = "tracing-test-secret-of-enough-length";

fn token() -> String {
    bff_tests::jwt::hs256(SECRET, json!({ "sub": "user-42" }))
}

#[tokio::test]
async fn requests_become_spans_with_a_child_per_call_and_upstreams_continue_the_trace() {
    let (collector, otlp) = collector().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = upstreams(seen.clone()).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{upstream}\" }}\n\
         auth:\n  user:\n    jwt:\n      keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ]\n"
    ))
    .endpoint(
        "both",
        "endpoint: GET /v1/both\nauth: user\ncalls:\n  a: { service: s, get: /a }\n  b: { service: s, get: /b }\n",
    );
    let bff = BffProcess::start(
        "bff-web",
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_SERVICE_NAME", "bff-web-test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let token = token();
    let r = client()
        .get(format!("{}/v1/both?api_key=hidden-query-value", bff.url()))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .header("x-request-id", "req-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Each upstream request carries the trace, with its call's span as parent.
    let upstream_parents: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|tp| {
            let parts: Vec<&str> = tp.split('-').collect();
            assert_eq!(parts.len(), 4, "traceparent `{tp}`");
            assert_eq!(parts[1], TRACE, "the client's trace goes on");
            assert_ne!(parts[2], PARENT, "a span of the BFF is the parent");
            parts[2].to_owned()
        })
        .collect();
    assert_eq!(upstream_parents.len(), 2);

    let started = Instant::now();
    let spans = loop {
        let spans = collector.0.lock().unwrap().clone();
        if spans.len() >= 3 {
            break spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "spans: {spans:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let server = spans
        .iter()
        .find(|s| s.name == "GET /v1/both")
        .expect("a server span");
    assert_eq!(hex(&server.trace_id), TRACE);
    assert_eq!(
        hex(&server.parent_span_id),
        PARENT,
        "child of the client's span"
    );
    for call in ["call a", "call b"] {
        let span = spans.iter().find(|s| s.name == call).expect(call);
        assert_eq!(hex(&span.trace_id), TRACE);
        assert_eq!(
            span.parent_span_id, server.span_id,
            "{call} is a child of the request"
        );
        assert!(
            upstream_parents.contains(&hex(&span.span_id)),
            "the upstream saw {call}'s span as its parent"
        );
    }

    // One JSON line for the request: who, what, how long, each call; no secrets.
    let log = bff.stdout_with(&["req-trace-1"]);
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["request_id"] == "req-trace-1")
        .unwrap_or_else(|| panic!("no log line for the request in:\n{log}"));
    assert_eq!(line["endpoint"], "GET /v1/both");
    assert_eq!(line["path"], "/v1/both");
    assert_eq!(line["status"], 200);
    assert_eq!(line["sub"], "user-42");
    assert_eq!(line["trace_id"], TRACE);
    assert!(line["duration_ms"].as_f64().unwrap() > 0.0);
    let calls = line["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(
        calls
            .iter()
            .all(|c| c["outcome"] == "ok" && c["ms"].is_number())
    );
    let everything = format!("{log}{}", bff.log());
    assert!(!everything.contains(&token), "the token is never logged");
    assert!(
        !everything.contains("hidden-query-value"),
        "query strings are not logged"
    );
}

#[tokio::test]
async fn without_an_exporter_the_client_trace_is_passed_on_and_timing_follows_the_config() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = upstreams(seen.clone()).await;
    let endpoint = "endpoint: GET /v1/a\ncalls:\n  a: { service: s, get: /a }\n";
    let on = SpecDir::new(&format!("services:\n  s: {{ url: \"{upstream}\" }}\n"))
        .endpoint("a", endpoint);
    let off = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{upstream}\" }}\ntelemetry: {{ server_timing: false }}\n"
    ))
    .endpoint("a", endpoint);
    let tp = format!("00-{TRACE}-{PARENT}-01");
    let http = client();

    let bff = gateway(on.path()).await;
    let r = http
        .get(format!("{bff}/v1/a"))
        .header("traceparent", &tp)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["server-timing"]
            .to_str()
            .unwrap()
            .starts_with("a;dur=")
    );
    assert_eq!(seen.lock().unwrap().as_slice(), std::slice::from_ref(&tp));
    // Without a trace context, none is made up.
    http.get(format!("{bff}/v1/a")).send().await.unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap(), "");

    let bff = gateway(off.path()).await;
    let r = http.get(format!("{bff}/v1/a")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("server-timing").is_none());
}

/// The request log's lines, as JSON, once each of `texts` is in it.
fn log_lines(bff: &BffProcess, texts: &[&str]) -> Vec<Value> {
    bff.stdout_with(texts)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

#[tokio::test]
async fn json_log_lines_written_while_handling_a_request_carry_its_id() {
    let closed = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  gone: {{ url: \"http://127.0.0.1:{closed}\" }}\n\
         proxy: [ {{ prefix: /gone, service: gone }} ]\n"
    ));
    let bff = BffProcess::start("bff-web", dir.path(), &[("BFF_LOG_FORMAT", "json")]);
    // Without an id of its own, the client gets one made up at the edge.
    let r = client()
        .get(format!("{}/gone/x", bff.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();

    let line = log_lines(&bff, &["/gone/x"])
        .into_iter()
        .find(|l| l["path"] == "/gone/x")
        .unwrap_or_else(|| panic!("no request-log line in:\n{}", bff.stdout()));
    assert_eq!(line["request_id"], id.as_str());
    let started = Instant::now();
    let warning = loop {
        let found = bff
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["fields"]["message"] == "proxy upstream failed");
        if let Some(w) = found {
            break w;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no warning in:\n{}",
            bff.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(warning["level"], "WARN");
    assert_eq!(
        warning["span"]["request_id"],
        id.as_str(),
        "the warning names its request: {warning}"
    );
}

#[tokio::test]
async fn requests_answered_before_routing_are_logged_and_counted_too() {
    let upstream = upstreams(Arc::new(Mutex::new(Vec::new()))).await;
    let admin_port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{upstream}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\" }}\n\
         proxy: [ {{ prefix: /p, service: s, rewrite: \"\" }} ]\n\
         rate_limits:\n  open: {{ rate: 100/min, usage_path: /v1/usage }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: open\ncalls:\n  a: { service: s, get: /a }\n",
    );
    // bff-web answers CORS preflights of its allowed origins at the edge.
    let bff = BffProcess::start(
        "bff-web",
        dir.path(),
        &[("BFF_WEB_CORS_ORIGINS", "https://shop.example")],
    );
    // Request id, method, path, status, and the `endpoint` of the line.
    let cases = [
        ("unknown-path", "GET", "/nowhere", 404, "unrouted"),
        ("wrong-method", "DELETE", "/v1/a", 405, "unrouted"),
        ("encoded-slash", "GET", "/p/a%2Fb", 400, "unrouted"),
        ("preflight", "OPTIONS", "/v1/a", 200, "unrouted"),
        (
            "description",
            "GET",
            "/openapi.json",
            200,
            "GET /openapi.json",
        ),
        ("usage", "GET", "/v1/usage", 200, "GET /v1/usage"),
        ("composed", "GET", "/v1/a", 200, "GET /v1/a"),
    ];
    for (id, method, path, status, _) in cases {
        let mut request = client()
            .request(method.parse().unwrap(), format!("{}{path}", bff.url()))
            .header("x-request-id", id);
        if id == "preflight" {
            request = request
                .header("origin", "https://shop.example")
                .header("access-control-request-method", "GET");
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{id}");
    }

    let ids: Vec<String> = cases.iter().map(|c| format!("\"{}\"", c.0)).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let lines = log_lines(&bff, &ids);
    for (id, _, _, status, endpoint) in cases {
        let mine: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == id).collect();
        assert_eq!(mine.len(), 1, "one line for {id} in:\n{}", bff.stdout());
        let line = mine[0];
        assert_eq!(line["status"], status, "{id}: {line}");
        assert_eq!(line["endpoint"], endpoint, "{id}: {line}");
        for always in ["ts", "method", "path", "duration_ms", "client"] {
            assert!(line.get(always).is_some(), "{id}: no `{always}` in {line}");
        }
    }
    let encoded = lines
        .iter()
        .find(|l| l["request_id"] == "encoded-slash")
        .unwrap();
    assert_eq!(
        encoded["path"], "/p/a%2Fb",
        "a refused path is logged as sent"
    );

    let text = client()
        .get(format!("http://127.0.0.1:{admin_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let got =
        |labels: &[(&str, &str)]| bff_tests::metric_sample(&text, "bff_requests_total", labels);
    for (method, status) in [
        ("GET", "404"),
        ("DELETE", "405"),
        ("GET", "400"),
        ("OPTIONS", "200"),
    ] {
        assert_eq!(
            got(&[
                ("endpoint", "unrouted"),
                ("method", method),
                ("status", status)
            ]),
            Some(1.0),
            "{method} {status}:\n{text}"
        );
    }
    for endpoint in ["GET /openapi.json", "GET /v1/usage", "GET /v1/a"] {
        assert_eq!(
            got(&[("endpoint", endpoint), ("method", "GET"), ("status", "200")]),
            Some(1.0),
            "{endpoint}:\n{text}"
        );
    }
    assert_eq!(
        bff_tests::metric_sample(
            &text,
            "bff_request_duration_seconds_count",
            &[("endpoint", "unrouted")]
        ),
        Some(4.0),
        "{text}"
    );
}

#[tokio::test]
async fn every_answered_request_has_its_log_line_when_the_bff_has_stopped() {
    let up = serve(axum::Router::new().route("/x", axum::routing::get(|| async { "x" }))).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy: [ {{ prefix: /p, service: s, rewrite: \"\" }} ]\n"
    ));
    let mut bff = BffProcess::start("bff-web", dir.path(), &[]);
    let http = client();
    let answered = futures::future::join_all((0..300).map(|i| {
        let (http, url) = (http.clone(), format!("{}/p/x", bff.url()));
        async move {
            let r = http
                .get(url)
                .header("x-request-id", format!("stop-{i}"))
                .send()
                .await;
            r.is_ok_and(|r| r.status() == 200)
        }
    }))
    .await;
    assert!(answered.iter().all(|ok| *ok));
    bff.terminate();
    assert!(
        bff.wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let lines: Vec<Value> = bff
        .stdout()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| {
            l["request_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("stop-"))
        })
        .collect();
    assert_eq!(lines.len(), 300);
}

#[tokio::test]
async fn a_reader_that_stops_reading_the_request_log_holds_no_request_up() {
    let up = serve(Router::new().route("/x", get(|| async { "x" }))).await;
    let admin = bff_tests::process::free_port();
    let port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy: [ {{ prefix: /p, service: s, rewrite: \"\" }} ]\n\
         admin: {{ listen: \"127.0.0.1:{admin}\" }}\n"
    ));
    // Standard output is a pipe nobody reads: once its buffer is full, every
    // write to it blocks.
    let mut child = std::process::Command::new(bff_tests::process::binary("bff-web"))
        .args([
            "--specs",
            dir.path().to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = client();
    let started = Instant::now();
    while http.get(format!("{base}/p/x")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "bff-web did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // More lines than the 4 MB the log keeps waiting, all answered at once.
    let slowest = futures::stream::iter(0..24_000)
        .map(|_| {
            let (http, url) = (http.clone(), format!("{base}/p/x"));
            async move {
                let t = Instant::now();
                let r = http.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed()
            }
        })
        .buffer_unordered(64)
        .fold(Duration::ZERO, |a, b| async move { a.max(b) })
        .await;
    assert!(
        slowest < Duration::from_secs(5),
        "a request took {slowest:?}"
    );
    let metrics = http
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped = bff_tests::metric_sample(&metrics, "bff_request_log_dropped_total", &[])
        .unwrap_or_else(|| panic!("no dropped lines counted in:\n{metrics}"));
    assert!(dropped > 0.0);
    let _ = child.kill();
    let _ = child.wait();
}
