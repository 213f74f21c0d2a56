//! Pass-through routes: prefix rewriting, methods, bodies, statuses and
//! headers both ways, hop-by-hop headers dropped, `X-Forwarded-*` added,
//! bodies streamed with flat memory, and upstream failures as problems.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use bff_tests::process::BffProcess;
use bff_tests::{SpecDir, client, gateway, serve};

/// Echoes what arrived: method, path and query, every header value, body.
async fn echo(req: Request) -> axum::Json<Value> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let values = headers.entry(name.as_str()).or_insert(json!([]));
        values
            .as_array_mut()
            .unwrap()
            .push(json!(value.to_str().unwrap()));
    }
    axum::Json(json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Sends the request body back unchanged, with its content type.
async fn mirror(headers: HeaderMap, body: Body) -> Response {
    let mut resp = Response::new(body);
    if let Some(ct) = headers.get("content-type") {
        resp.headers_mut().insert("content-type", ct.clone());
    }
    resp
}

/// A status and headers of its own, including hop-by-hop ones that must
/// not reach the client.
async fn teapot() -> Response {
    let mut resp = (StatusCode::IM_A_TEAPOT, "short and stout").into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        ("content-type", "text/plain; charset=utf-8"),
        ("x-upstream", "users"),
        ("set-cookie", "a=1; Path=/"),
        ("connection", "x-up-secret"),
        ("x-up-secret", "1"),
        ("keep-alive", "timeout=5"),
        ("proxy-authenticate", "Basic realm=\"up\""),
        ("upgrade", "h2c"),
        ("trailer", "x-checksum"),
    ] {
        h.append(name, value.parse().unwrap());
    }
    h.append("set-cookie", "b=2; Path=/".parse().unwrap());
    resp
}

fn users_upstream() -> Router {
    Router::new()
        .route("/users/teapot", get(teapot))
        .route("/users/mirror", post(mirror))
        .route("/users", any(echo))
        .route("/users/", any(echo))
        .route("/users/{*rest}", any(echo))
        .route("/api/orders/{*rest}", any(echo))
}

/// A gateway with `/api/users` → users `/users` and `/api/orders` →
/// orders (path kept); both services are the echoing upstream.
async fn echo_gateway() -> (String, String, SpecDir) {
    let upstream = serve(users_upstream()).await;
    let dir = SpecDir::new(&format!(
        "\
services:
  users:  {{ url: \"{upstream}\" }}
  orders: {{ url: \"{upstream}/\" }}
proxy:
  - {{ prefix: /api/users, service: users, rewrite: /users }}
  - {{ prefix: /api/orders/, service: orders }}
"
    ));
    let gw = gateway(dir.path()).await;
    (gw, upstream, dir)
}

async fn get_json(url: &str) -> Value {
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn prefix_is_rewritten_and_the_query_kept() {
    let (gw, _, _dir) = echo_gateway().await;
    for (asked, arrived) in [
        ("/api/users/u-1?x=1", "/users/u-1?x=1"),
        ("/api/users/u-1/orders/o-9", "/users/u-1/orders/o-9"),
        ("/api/users/a%20b?q=%C3%A9&q=2", "/users/a%20b?q=%C3%A9&q=2"),
        ("/api/users", "/users"),
        ("/api/users?x=1", "/users?x=1"),
        ("/api/users/", "/users/"),
        (
            "/api/orders/o-1?expand=lines",
            "/api/orders/o-1?expand=lines",
        ),
    ] {
        let echoed = get_json(&format!("{gw}{asked}")).await;
        assert_eq!(echoed["uri"], arrived, "{asked}");
    }
    // A prefix owns whole path segments only.
    let resp = client()
        .get(format!("{gw}/api/usersx/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// A prefix of `/` sends everything no endpoint owns to one service.
#[tokio::test]
async fn a_root_prefix_forwards_what_no_endpoint_owns() {
    let upstream = serve(Router::new().fallback(echo)).await;
    let dir = SpecDir::new(&format!(
        "\
services:
  legacy: {{ url: \"{upstream}\" }}
proxy:
  - {{ prefix: /, service: legacy }}
"
    ))
    .endpoint("own", "endpoint: GET /v1/own\n");
    let gw = gateway(dir.path()).await;
    for (asked, arrived) in [("/", "/"), ("/a/b?c=1", "/a/b?c=1"), ("/?x=1", "/?x=1")] {
        let echoed = get_json(&format!("{gw}{asked}")).await;
        assert_eq!(echoed["uri"], arrived, "{asked}");
    }
    let own = get_json(&format!("{gw}/v1/own")).await;
    assert_eq!(own, json!({}));
}

#[tokio::test]
async fn methods_and_bodies_pass() {
    let (gw, _, _dir) = echo_gateway().await;
    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "GET"] {
        let body = format!("{{\"asked\":\"{method}\"}}");
        let resp = client()
            .request(method.parse().unwrap(), format!("{gw}/api/users/u-1"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{method}");
        let echoed: Value = resp.json().await.unwrap();
        assert_eq!(echoed["method"], method);
        assert_eq!(echoed["body"], body, "{method}");
        assert_eq!(echoed["headers"]["content-type"][0], "application/json");
    }
    let head = client()
        .head(format!("{gw}/api/users/u-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    // Arbitrary bytes come back byte for byte.
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let resp = client()
        .post(format!("{gw}/api/users/mirror"))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/octet-stream");
    assert_eq!(resp.bytes().await.unwrap(), bytes);
}

#[tokio::test]
async fn upstream_status_headers_and_body_come_back() {
    let (gw, _, _dir) = echo_gateway().await;
    let resp = client()
        .get(format!("{gw}/api/users/teapot"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
    let h = resp.headers();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["x-upstream"], "users");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2; Path=/"]);
    assert_eq!(resp.text().await.unwrap(), "short and stout");
}

/// An HTTP/1.1 exchange written and read by hand, so that hop-by-hop
/// headers go out exactly as written and come back exactly as sent.
async fn raw_exchange(base: &str, request: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the gateway closes a `Connection: close` exchange")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[tokio::test]
async fn hop_by_hop_request_headers_stay_and_forwarded_headers_are_added() {
    let (gw, upstream, _dir) = echo_gateway().await;
    let (status, _, body) = raw_exchange(
        &gw,
        "GET /api/users/u-1 HTTP/1.1\r\n\
         Host: shop.test\r\n\
         Connection: close, X-Secret\r\n\
         X-Secret: only-for-the-gateway\r\n\
         Keep-Alive: timeout=5\r\n\
         TE: trailers\r\n\
         Upgrade: websocket\r\n\
         Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
         X-Forwarded-For: 203.0.113.7\r\n\
         X-Forwarded-For: 198.51.100.2\r\n\
         X-Kept: yes\r\n\
         \r\n",
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    let got = &echoed["headers"];
    for hop in [
        "x-secret",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    ] {
        assert!(got.get(hop).is_none(), "`{hop}` was forwarded: {got}");
    }
    // The upstream connection is the gateway's own: whatever it says about
    // it, it is not what the client said.
    if let Some(c) = got.get("connection") {
        let c = c.to_string().to_ascii_lowercase();
        assert!(!c.contains("x-secret"), "{c}");
    }
    assert_eq!(got["x-kept"], json!(["yes"]));
    assert_eq!(
        got["x-forwarded-for"],
        json!(["203.0.113.7, 198.51.100.2, 127.0.0.1"])
    );
    assert_eq!(got["x-forwarded-proto"], json!(["http"]));
    assert_eq!(got["x-forwarded-host"], json!(["shop.test"]));
    assert_eq!(
        got["host"],
        json!([upstream.strip_prefix("http://").unwrap()])
    );
}

#[tokio::test]
async fn forwarded_for_starts_a_chain_when_there_is_none() {
    let (gw, _, _dir) = echo_gateway().await;
    let echoed = get_json(&format!("{gw}/api/users/u-1")).await;
    assert_eq!(echoed["headers"]["x-forwarded-for"], json!(["127.0.0.1"]));
    let host = gw.strip_prefix("http://").unwrap();
    assert_eq!(echoed["headers"]["x-forwarded-host"], json!([host]));
}

#[tokio::test]
async fn hop_by_hop_response_headers_stay() {
    let (gw, _, _dir) = echo_gateway().await;
    let (status, headers, body) = raw_exchange(
        &gw,
        "GET /api/users/teapot HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 418);
    assert_eq!(body, b"short and stout");
    for hop in [
        "x-up-secret",
        "keep-alive",
        "proxy-authenticate",
        "upgrade",
        "trailer",
    ] {
        assert!(
            header(&headers, hop).is_empty(),
            "`{hop}` came back: {headers:?}"
        );
    }
    for c in header(&headers, "connection") {
        assert!(!c.contains("x-up-secret"), "{headers:?}");
    }
    assert_eq!(header(&headers, "x-upstream"), ["users"]);
    assert_eq!(header(&headers, "set-cookie").len(), 2);
}

#[tokio::test]
async fn an_unreachable_service_is_a_502_problem() {
    // A port that was free a moment ago: nothing listens there.
    let closed = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "\
services:
  users: {{ url: \"http://127.0.0.1:{closed}\" }}
proxy:
  - {{ prefix: /api/users, service: users, rewrite: /users }}
"
    ));
    let gw = gateway(dir.path()).await;
    let resp = client()
        .post(format!("{gw}/api/users/u-1"))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["status"], 502);
    assert_eq!(problem["title"], "Bad Gateway");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("users"), "{problem}");
    assert!(
        !detail.contains("127.0.0.1"),
        "the upstream address leaked: {problem}"
    );
}

#[tokio::test]
async fn a_service_slower_than_the_route_timeout_is_a_504_problem() {
    let slow = serve(Router::new().route(
        "/users/{*rest}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "too late"
        }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "\
services:
  users: {{ url: \"{slow}\", timeout: 10s }}
proxy:
  - {{ prefix: /api/users, service: users, rewrite: /users, timeout: 200ms }}
"
    ));
    let gw = gateway(dir.path()).await;
    let started = Instant::now();
    let resp = client()
        .get(format!("{gw}/api/users/u-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["status"], 504);
}

/// The timeout is for the upstream's answer, not for the client's upload:
/// a body that takes longer to arrive than the timeout still goes through.
#[tokio::test]
async fn a_slow_upload_is_not_an_upstream_timeout() {
    let upstream = serve(Router::new().route("/sink", post(count_bytes))).await;
    let dir = SpecDir::new(&format!(
        "\
services:
  files: {{ url: \"{upstream}\" }}
proxy:
  - {{ prefix: /upload, service: files, rewrite: /sink, timeout: 300ms }}
"
    ));
    let gw = gateway(dir.path()).await;
    let chunks = futures::stream::iter(0..6).then(|_| async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok::<_, std::io::Error>(Bytes::from_static(&[7; 1000]))
    });
    let resp = client()
        .post(format!("{gw}/upload"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "6000");
}

/// Counts a request body without keeping it.
async fn count_bytes(body: Body) -> String {
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        n += chunk.unwrap().len() as u64;
    }
    n.to_string()
}

const CHUNK: usize = 64 * 1024;
const STREAMED: u64 = 200 * 1024 * 1024;
const PEAK_RSS_LIMIT: u64 = 100 * 1024 * 1024;

/// `n` bytes made as they are sent, one shared chunk at a time.
fn generated(n: u64) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = n / CHUNK as u64;
    futures::stream::iter((0..chunks).map(move |_| Ok(chunk.clone())))
}

/// 200 MB up and 200 MB down through the real `bff-web` process, whose
/// peak memory stays far below the bytes it moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bodies_stream_both_ways_with_flat_memory() {
    let upstream = serve(Router::new().route("/sink", post(count_bytes)).route(
        "/source/{n}",
        get(|Path(n): Path<u64>| async move { Body::from_stream(generated(n)) }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "\
services:
  files: {{ url: \"{upstream}\" }}
proxy:
  - {{ prefix: /files, service: files, rewrite: / }}
  - {{ prefix: /upload, service: files, rewrite: /sink }}
"
    ));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);

    let started = Instant::now();
    let resp = client()
        .post(format!("{}/upload", bff.url()))
        .body(reqwest::Body::wrap_stream(generated(STREAMED)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", bff.log());
    assert_eq!(resp.text().await.unwrap(), STREAMED.to_string());
    let upload = started.elapsed();

    let started = Instant::now();
    let resp = client()
        .get(format!("{}/files/source/{STREAMED}", bff.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", bff.log());
    let mut body = resp.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        received += chunk.unwrap().len() as u64;
    }
    assert_eq!(received, STREAMED);
    let download = started.elapsed();

    let peak = bff.peak_rss().expect("VmHWM of the child in /proc");
    eprintln!(
        "streamed 2 × {} MiB (up {upload:?}, down {download:?}); bff-web peak RSS {} MiB",
        STREAMED >> 20,
        peak >> 20
    );
    assert!(
        peak < PEAK_RSS_LIMIT,
        "bff-web peaked at {} MiB while streaming",
        peak >> 20
    );
}
