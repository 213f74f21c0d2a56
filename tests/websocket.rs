//! WebSocket pass-through: real WebSocket clients (and headless Chromium)
//! and upstream servers on loopback around a real gateway. Upgrades are
//! authenticated like any request of the route, frames flow both ways,
//! idle connections close, and refusals and failures come back as the
//! client would expect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use bff_tests::process::free_port;
use bff_tests::{SpecDir, client, gateway, serve};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SECRET: &str = "websocket-test-secret-0123456789abcdef";

/// A WebSocket server: refuses upgrades to paths ending in `/refuse` with
/// `403`; accepts the rest, agreeing to the `orders.v1` subprotocol when
/// asked, sends what it saw of the upgrade request as its first message,
/// then echoes every text and binary message.
struct Upstream {
    addr: SocketAddr,
    /// Upgrades it accepted.
    accepted: Arc<AtomicUsize>,
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(echo(stream, count.clone()));
        }
    });
    Upstream { addr, accepted }
}

async fn echo(stream: TcpStream, accepted: Arc<AtomicUsize>) {
    let mut seen = Value::Null;
    #[expect(clippy::result_large_err, reason = "tungstenite's callback signature")]
    let callback = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path().ends_with("/refuse") {
            let mut refusal = ErrorResponse::new(Some("no sockets here".into()));
            *refusal.status_mut() = http::StatusCode::FORBIDDEN;
            let h = refusal.headers_mut();
            h.insert("x-refused-by", "upstream".parse().unwrap());
            // Else the gateway streams it chunked, which the test client
            // does not decode.
            h.insert("content-length", "15".parse().unwrap());
            return Err(refusal);
        }
        let mut headers = serde_json::Map::new();
        for (name, value) in req.headers() {
            let values = headers.entry(name.as_str()).or_insert(json!([]));
            values
                .as_array_mut()
                .unwrap()
                .push(json!(value.to_str().unwrap()));
        }
        if headers.contains_key("sec-websocket-protocol") {
            resp.headers_mut()
                .insert("sec-websocket-protocol", "orders.v1".parse().unwrap());
        }
        seen = json!({ "uri": req.uri().to_string(), "headers": headers });
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    accepted.fetch_add(1, Ordering::SeqCst);
    if ws.send(Message::text(seen.to_string())).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

fn token(sub: &str, scope: &str) -> String {
    bff_tests::jwt::hs256(SECRET, json!({ "sub": sub, "scope": scope }))
}

/// A gateway with `/live` → the upstream's `/feed`, `route` adding to the
/// route's settings and `extra` to bff.yaml. Its `session` policy takes a
/// bearer token or the `session` cookie.
async fn live_gateway(up: &Upstream, route: &str, extra: &str) -> (String, SpecDir) {
    gateway_at(up, "/live", route, extra).await
}

/// Like [`live_gateway`], with the route at `prefix`.
async fn gateway_at(up: &Upstream, prefix: &str, route: &str, extra: &str) -> (String, SpecDir) {
    let dir = SpecDir::new(&format!(
        "\
services:
  feed: {{ url: \"http://{}\" }}
auth:
  session:
    jwt:
      cookie: session
      keys: [{{ alg: HS256, secret: \"{SECRET}\" }}]
    forward: {{ x-user-id: sub }}
proxy:
  - {{ prefix: {prefix}, service: feed, rewrite: /feed, {route} }}
{extra}",
        up.addr
    ));
    let gw = gateway(dir.path()).await;
    (gw.replace("http://", "ws://"), dir)
}

/// Opens a WebSocket at `url` with extra request headers.
async fn connect(url: &str, headers: &[(&'static str, &str)]) -> Result<Socket, WsError> {
    let mut req = url.into_client_request().unwrap();
    for (name, value) in headers {
        req.headers_mut().append(*name, value.parse().unwrap());
    }
    let (socket, response) = tokio_tungstenite::connect_async(req).await?;
    assert_eq!(response.status(), 101);
    Ok(socket)
}

/// The refusal of an upgrade: status, headers and body.
async fn refused(url: &str, headers: &[(&'static str, &str)]) -> http::Response<Option<Vec<u8>>> {
    match connect(url, headers).await {
        Ok(_) => panic!("{url} was upgraded"),
        Err(WsError::Http(response)) => *response,
        Err(e) => panic!("{url}: {e}"),
    }
}

fn problem(resp: &http::Response<Option<Vec<u8>>>) -> Value {
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap()
}

/// The next text message, within a few seconds.
async fn next_text(ws: &mut Socket) -> String {
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// What the upstream saw of the upgrade request: its first message.
async fn seen_upstream(ws: &mut Socket) -> Value {
    serde_json::from_str(&next_text(ws).await).unwrap()
}

/// Waits for the connection to end; how long that took.
async fn closed_after(ws: &mut Socket, limit: Duration) -> Duration {
    let started = Instant::now();
    match tokio::time::timeout(limit, ws.next()).await {
        Err(_) => panic!("still open after {limit:?}"),
        Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => started.elapsed(),
        Ok(Some(Ok(other))) => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn messages_flow_both_ways_and_the_upgrade_keeps_only_its_own_hop_headers() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(&up, "websocket: {}", "").await;
    let mut req = format!("{gw}/live/o-1?from=3")
        .into_client_request()
        .unwrap();
    let h = req.headers_mut();
    h.insert("connection", "Upgrade, X-Secret".parse().unwrap());
    h.insert("x-secret", "only-for-the-gateway".parse().unwrap());
    h.insert("keep-alive", "timeout=5".parse().unwrap());
    h.insert("accept-encoding", "gzip, deflate, br".parse().unwrap());
    h.insert("sec-websocket-protocol", "orders.v1".parse().unwrap());
    h.insert("x-kept", "yes".parse().unwrap());
    h.insert(
        "cookie",
        format!("session={}", token("u-1", "")).parse().unwrap(),
    );
    let (mut ws, response) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["upgrade"], "websocket");
    assert_eq!(response.headers()["sec-websocket-protocol"], "orders.v1");
    assert!(response.headers().get("content-encoding").is_none());

    let seen = seen_upstream(&mut ws).await;
    assert_eq!(seen["uri"], "/feed/o-1?from=3");
    let got = &seen["headers"];
    assert_eq!(got["upgrade"], json!(["websocket"]), "{got}");
    assert_eq!(got["connection"], json!(["upgrade"]), "{got}");
    for hop in ["x-secret", "keep-alive"] {
        assert!(got.get(hop).is_none(), "`{hop}` was forwarded: {got}");
    }
    assert_eq!(got["x-kept"], json!(["yes"]));
    assert_eq!(got["x-forwarded-for"], json!(["127.0.0.1"]));
    assert_eq!(got["sec-websocket-version"], json!(["13"]));

    for i in 0..3 {
        let text = format!("hello {i}");
        ws.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(next_text(&mut ws).await, text);
    }
    // A message larger than any buffer on the way, byte for byte.
    let bytes: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    ws.send(Message::binary(bytes.clone())).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) => assert!(b[..] == bytes[..], "binary differs"),
        other => panic!("expected the binary message back, got {other:?}"),
    }
    ws.close(None).await.unwrap();
    closed_after(&mut ws, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_upgrade_needs_a_credential_and_carries_the_identity() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(&up, "auth: session, websocket: {}", "").await;
    let url = format!("{gw}/live/o-1");

    let resp = refused(&url, &[]).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(problem(&resp)["status"], 401);
    let resp = refused(&url, &[("cookie", "session=not.a.token")]).await;
    assert_eq!(resp.status(), 401);
    assert!(
        problem(&resp)["detail"]
            .as_str()
            .unwrap()
            .contains("not accepted")
    );
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        0,
        "the upstream was reached"
    );

    // A browser cannot set `Authorization` on a WebSocket: the cookie does.
    let cookie = format!("theme=dark; session={}", token("u-1001", ""));
    let mut ws = connect(&url, &[("cookie", &cookie), ("x-user-id", "u-forged")])
        .await
        .unwrap();
    let seen = seen_upstream(&mut ws).await;
    assert_eq!(seen["headers"]["x-user-id"], json!(["u-1001"]), "{seen}");
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "hi");

    let bearer = format!("Bearer {}", token("u-2002", ""));
    let mut ws = connect(&url, &[("authorization", &bearer)]).await.unwrap();
    let seen = seen_upstream(&mut ws).await;
    assert_eq!(seen["headers"]["x-user-id"], json!(["u-2002"]));
    assert!(
        seen["headers"].get("authorization").is_none(),
        "the token went upstream: {seen}"
    );
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn require_and_rate_limits_apply_to_the_upgrade() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(
        &up,
        "auth: session, require: { scopes: [orders:live] }, rate_limit: per_user, websocket: {}",
        "rate_limits:\n  per_user: { key: [identity], rate: 1/min, burst: 1 }\n",
    )
    .await;
    let url = format!("{gw}/live/o-1");
    let without = format!("session={}", token("u-1", "orders:read"));
    let resp = refused(&url, &[("cookie", &without)]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(problem(&resp)["status"], 403);

    let with = format!("session={}", token("u-1", "orders:read orders:live"));
    let mut ws = connect(&url, &[("cookie", &with)]).await.unwrap();
    seen_upstream(&mut ws).await;
    let resp = refused(&url, &[("cookie", &with)]).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_idle_connection_is_closed_while_an_active_one_stays_open() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(&up, "websocket: { idle_timeout: 300ms }", "").await;
    let url = format!("{gw}/live/o-1");
    let mut idle = connect(&url, &[]).await.unwrap();
    let mut active = connect(&url, &[]).await.unwrap();
    seen_upstream(&mut idle).await;
    seen_upstream(&mut active).await;

    let silent = tokio::spawn(async move { closed_after(&mut idle, Duration::from_secs(3)).await });
    // Four times the idle timeout, never quiet for long.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        active.send(Message::text("still here")).await.unwrap();
        assert_eq!(next_text(&mut active).await, "still here");
    }
    let idle_for = silent.await.unwrap();
    assert!(
        idle_for >= Duration::from_millis(200) && idle_for < Duration::from_millis(1200),
        "the idle connection closed after {idle_for:?}"
    );
    // Quiet from now on: it goes the same way.
    let quiet_for = closed_after(&mut active, Duration::from_secs(3)).await;
    assert!(quiet_for >= Duration::from_millis(200), "{quiet_for:?}");
}

#[tokio::test]
async fn an_upstream_refusing_the_upgrade_is_answered_with_its_refusal() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(&up, "websocket: {}", "").await;
    let resp = refused(&format!("{gw}/live/refuse"), &[]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-refused-by"], "upstream");
    assert_eq!(resp.body().as_deref(), Some(&b"no sockets here"[..]));
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_problem_at_once() {
    let closed = free_port();
    let dir = SpecDir::new(&format!(
        "\
services:
  feed: {{ url: \"http://127.0.0.1:{closed}\" }}
proxy:
  - {{ prefix: /live, service: feed, websocket: {{}} }}
"
    ));
    let gw = gateway(dir.path()).await.replace("http://", "ws://");
    let started = Instant::now();
    let resp = refused(&format!("{gw}/live/o-1"), &[]).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(resp.status(), 502);
    let p = problem(&resp);
    assert_eq!(p["status"], 502);
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("feed") && !detail.contains("127.0.0.1"),
        "{p}"
    );
}

#[tokio::test]
async fn pages_of_origins_not_listed_cannot_connect() {
    let up = upstream().await;
    let (gw, _dir) = live_gateway(
        &up,
        "websocket: { origins: [\"https://shop.test, http://localhost:5173\"] }",
        "",
    )
    .await;
    let url = format!("{gw}/live/o-1");
    let resp = refused(&url, &[("origin", "https://evil.test")]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(problem(&resp)["status"], 403);
    assert_eq!(up.accepted.load(Ordering::SeqCst), 0);
    for origin in ["https://shop.test", "http://localhost:5173"] {
        let mut ws = connect(&url, &[("origin", origin)]).await.unwrap();
        seen_upstream(&mut ws).await;
    }
    // No `Origin`: not a browser page, so nothing to protect the user from.
    let mut ws = connect(&url, &[]).await.unwrap();
    seen_upstream(&mut ws).await;
}

#[tokio::test]
async fn a_route_without_websocket_sends_upgrades_on_as_plain_requests() {
    let plain = serve(Router::new().route(
        "/feed/{*rest}",
        get(|headers: http::HeaderMap| async move {
            let upgrade = headers
                .get("upgrade")
                .map(|v| v.to_str().unwrap().to_owned());
            axum::Json(json!({ "upgrade": upgrade }))
        }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  feed: {{ url: \"{plain}\" }}\n\
         proxy:\n  - {{ prefix: /live, service: feed, rewrite: /feed }}\n"
    ));
    let gw = gateway(dir.path()).await.replace("http://", "ws://");
    let resp = refused(&format!("{gw}/live/o-1"), &[]).await;
    assert_eq!(resp.status(), 200);
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body, json!({ "upgrade": null }));
}

/// A page whose script opens the route with the browser's own WebSocket,
/// says hello, and shows who the upstream saw and what came back.
fn page(url: &str) -> axum::response::Html<String> {
    axum::response::Html(format!(
        r#"<!doctype html><title>live</title><p id="out"></p><script>
const out = document.getElementById("out");
const got = [];
const ws = new WebSocket("{url}");
ws.onopen = () => ws.send("hello from the page");
ws.onmessage = (e) => {{
  got.push(e.data);
  if (got.length === 2) {{
    out.textContent = "user " + JSON.parse(got[0]).headers["x-user-id"] + " | echo " + got[1];
    ws.close();
  }}
}};
ws.onclose = (e) => {{ if (got.length === 0) out.textContent = "refused (" + e.code + ")"; }};
</script>"#
    ))
}

/// What browsers do: the session cookie rides along on the handshake (a
/// page cannot set `Authorization` there), from any page of the same site,
/// so only the listed origin may use it.
#[tokio::test]
async fn a_browser_connects_with_its_session_cookie_from_listed_origins_only() {
    let up = upstream().await;
    // Two page servers: two origins of one site (same host, other ports).
    let listed_page = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_page = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listed = format!("http://{}", listed_page.local_addr().unwrap());
    let other = format!("http://{}", other_page.local_addr().unwrap());
    let route = format!("auth: session, websocket: {{ origins: [\"{listed}\"] }}");
    let (gw, _dir) = live_gateway(&up, &route, "").await;
    for listener in [listed_page, other_page] {
        let html = page(&format!("{gw}/live/o-1"));
        let app = Router::new().route("/", get(move || async move { html.clone() }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    let seen = bff_tests::browser::browse(json!({
        "cookies": [{ "name": "session", "value": token("ada", ""), "domain": "127.0.0.1", "path": "/" }],
        "pages": [
            { "url": format!("{listed}/"), "wait_for": "#out" },
            { "url": format!("{other}/"), "wait_for": "#out" },
        ],
    }))
    .await;
    assert_eq!(
        seen[0]["text"], "user ada | echo hello from the page",
        "{seen:?}"
    );
    assert_eq!(seen[1]["text"], "refused (1006)", "{seen:?}");
    assert!(
        seen[1]["console"].to_string().contains("403"),
        "the browser was not told why: {seen:?}"
    );
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn open_and_closed_connections_are_counted() {
    let up = upstream().await;
    let admin = free_port();
    // Metrics are per process: a prefix of its own keeps the other tests'
    // connections out of the counts.
    let (gw, _dir) = gateway_at(
        &up,
        "/counted",
        "websocket: { idle_timeout: 300ms }",
        &format!("admin: {{ listen: \"127.0.0.1:{admin}\" }}\n"),
    )
    .await;
    let metrics = || async move {
        let started = Instant::now();
        loop {
            match client()
                .get(format!("http://127.0.0.1:{admin}/metrics"))
                .send()
                .await
            {
                Ok(r) => return r.text().await.unwrap(),
                Err(e) if started.elapsed() > Duration::from_secs(5) => panic!("{e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    };
    let mut ws = connect(&format!("{gw}/counted/o-1"), &[]).await.unwrap();
    seen_upstream(&mut ws).await;
    let text = metrics().await;
    let route = [("route", "/counted")];
    assert_eq!(
        bff_tests::metric_sample(&text, "bff_websocket_connections", &route),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        bff_tests::metric_sample(
            &text,
            "bff_requests_total",
            &[("endpoint", "/counted"), ("status", "101")]
        ),
        Some(1.0),
        "{text}"
    );
    closed_after(&mut ws, Duration::from_secs(3)).await;
    // The gateway counts the ending right after closing.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = metrics().await;
    assert_eq!(
        bff_tests::metric_sample(&text, "bff_websocket_connections", &route),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        bff_tests::metric_sample(
            &text,
            "bff_websocket_closed_total",
            &[("route", "/counted"), ("reason", "idle")]
        ),
        Some(1.0),
        "{text}"
    );
}

/// A keep-alive connection that was idle long enough to be parked still
/// upgrades, and a frame the client sends in the same write as its upgrade
/// request reaches the upstream first.
#[tokio::test]
async fn a_parked_keep_alive_connection_upgrades_and_keeps_an_early_frame() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = upstream().await;
    let (gw, _dir) = live_gateway(&up, "websocket: {}", "").await;
    let mut stream = TcpStream::connect(gw.trim_start_matches("ws://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut request = format!(
        "GET /live/o-1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Cookie: session={}\r\n\r\n",
        token("u-1", "")
    )
    .into_bytes();
    let mask = [7u8, 21, 99, 200];
    request.extend([0x81, 0x80 | 5]);
    request.extend(mask);
    request.extend(b"early".iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    stream.write_all(&request).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut ws = WebSocketStream::from_raw_socket(
        MaybeTlsStream::Plain(stream),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    assert_eq!(seen_upstream(&mut ws).await["uri"], "/feed/o-1");
    assert_eq!(next_text(&mut ws).await, "early");
    ws.send(Message::text("later")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "later");
}

/// A response head read byte by byte, so nothing after it is consumed.
async fn read_head(stream: &mut TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("a head within 5 s")
            .unwrap();
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}
