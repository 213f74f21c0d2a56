//! Limits on what clients send: oversized heads and slow clients are cut
//! off without tying the gateway up.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bff_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn setup() -> (String, SpecDir) {
    let up = serve(Router::new().route(
        "/ok",
        get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nlimits:\n  header_read_timeout: 300ms\n  max_header_bytes: 16384\n  max_headers: 20\n"
    ))
    .endpoint("ok", "endpoint: GET /v1/ok\ncalls:\n  ok: { service: s, get: /ok }\n");
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let (gw, _dir) = setup().await;
    let big = "x".repeat(20 * 1024);
    let r = client()
        .get(format!("{gw}/v1/ok"))
        .header("x-big", big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 431);

    let mut req = client().get(format!("{gw}/v1/ok"));
    for i in 0..40 {
        req = req.header(format!("x-h{i}"), "1");
    }
    assert_eq!(req.send().await.unwrap().status(), 431);

    let ok = client()
        .get(format!("{gw}/v1/ok"))
        .header("x-small", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let (gw, _dir) = setup().await;
    let mut s = tokio::net::TcpStream::connect(gw.trim_start_matches("http://"))
        .await
        .unwrap();
    s.write_all(b"GET /v1/ok HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // Trickle one header line every 100 ms, never finishing the head.
    let mut closed = false;
    for i in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if s.write_all(format!("x-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            // An answer (408) or the end of the stream: either way, cut off.
            let _ = n;
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection stayed open for {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cut off after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn pass_through_bodies_over_the_route_limit_get_413() {
    use axum::routing::post;
    let up = serve(Router::new().route(
        "/sink",
        post(|body: axum::body::Bytes| async move { body.len().to_string() }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy:\n  - {{ prefix: /upload, service: s, rewrite: /sink, max_body: 1000 }}\n"
    ));
    let gw = gateway(dir.path()).await;
    let small = client()
        .post(format!("{gw}/upload"))
        .body(vec![b'a'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    assert_eq!(small.text().await.unwrap(), "1000");
    // Declared too large: refused before anything is sent upstream.
    let big = client()
        .post(format!("{gw}/upload"))
        .body(vec![b'a'; 1001])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // Streamed without a length: cut off once it passes the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b'b'; 500])).collect();
    let streamed = client()
        .post(format!("{gw}/upload"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
}

#[test]
fn a_per_ip_limit_that_cannot_be_applied_is_a_located_load_error() {
    for (limit, says) in [
        (
            "{ rate: 10/fortnight, burst: 5 }",
            "unknown unit `fortnight`",
        ),
        ("{ rate: 10/s, burst: 0 }", "`burst` must be at least 1"),
        (
            "{ rate: 2000000000/s, burst: 5 }",
            "more than one request per nanosecond",
        ),
    ] {
        let dir = SpecDir::new(&format!(
            "services:\n  s: {{ url: \"http://127.0.0.1:9\" }}\nlimits:\n  per_ip: {limit}\n"
        ));
        let rendered = match bff_core::plan::load(dir.path()) {
            Ok(_) => panic!("`{limit}` loaded, but it cannot be applied"),
            Err(d) => d.to_string(),
        };
        assert!(rendered.contains(says), "{rendered}");
        assert!(
            rendered.contains("bff.yaml:4:11"),
            "located at the value: {rendered}"
        );
    }
}

/// Sends raw bytes and reads what comes back until the BFF closes.
async fn raw_exchange(gw: &str, request: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(gw.trim_start_matches("http://"))
        .await
        .unwrap();
    // The BFF may answer and close before it read everything; that is fine.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn refusals_before_routing_are_problems_with_the_security_headers() {
    let (gw, _dir) = setup().await;
    let big = format!(
        "GET /v1/ok HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
        "x".repeat(64 * 1024)
    );
    let many: String = (0..130).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let many = format!("GET /v1/ok HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    for (request, status) in [
        (big.as_bytes(), "431"),
        (many.as_bytes(), "431"),
        (&b"NOT A REQUEST LINE\r\n\r\n"[..], "400"),
        (&b"GET /v1/ok HTTP/1.1\r\nHost x\r\n\r\n"[..], "400"),
    ] {
        let answer = raw_exchange(&gw, request).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
        let lower = answer.to_ascii_lowercase();
        for h in [
            "content-type: application/problem+json",
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
        ] {
            assert!(lower.contains(h), "{h} in {answer}");
        }
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"].to_string(), status, "{answer}");
        assert!(problem["detail"].is_string());
    }
}

/// One HTTP/1.1 answer read off `conn`: its status and body (by
/// `content-length`), leaving what follows unread.
async fn answer(conn: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> (u16, String) {
    use tokio::io::AsyncBufReadExt;
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(5), conn.read_line(&mut line))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "connection closed; head so far: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "the BFF ends the connection: {head}"
    );
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// A gateway with a composed endpoint `/v1/ok` and a pass-through route
/// `/pass` in front of one upstream, and `limits` as given.
async fn two_routes(limits: &str) -> (String, SpecDir) {
    let up = serve(Router::new().route(
        "/ok",
        get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy:\n  - {{ prefix: /pass, service: s, rewrite: /ok }}\nlimits: {{ {limits} }}\n"
    ))
    .endpoint("ok", "endpoint: GET /v1/ok\ncalls:\n  ok: { service: s, get: /ok }\n");
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

/// An idle keep-alive connection gives up its buffers after a moment and
/// takes requests again when the client comes back: requests after a
/// pause, two requests sent in one write, and a request head split by a
/// pause are all answered on the same connection, on both kinds of route.
#[tokio::test]
async fn an_idle_keep_alive_connection_serves_again_after_a_pause() {
    let (gw, _dir) = two_routes("").await;
    let stream = tokio::net::TcpStream::connect(gw.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut conn = tokio::io::BufReader::new(stream);
    let pause = Duration::from_millis(400);
    for path in ["/v1/ok", "/pass", "/v1/ok"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        conn.get_mut().write_all(request.as_bytes()).await.unwrap();
        let (status, body) = answer(&mut conn).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(r#""ok":true"#), "{path}: {body}");
        tokio::time::sleep(pause).await;
    }
    conn.get_mut()
        .write_all(b"GET /pass HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/ok HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(answer(&mut conn).await.0, 200);
    assert_eq!(answer(&mut conn).await.0, 200);
    tokio::time::sleep(pause).await;
    conn.get_mut()
        .write_all(b"GET /v1/ok HTTP/1.1\r\nHo")
        .await
        .unwrap();
    tokio::time::sleep(pause).await;
    conn.get_mut().write_all(b"st: x\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut conn).await.1, r#"{"ok":{"ok":true}}"#);
    // An answered request followed by part of the next one, then a pause.
    conn.get_mut()
        .write_all(b"GET /pass HTTP/1.1\r\nHost: x\r\n\r\nGET /pass HTTP/1.1\r\nHo")
        .await
        .unwrap();
    assert_eq!(answer(&mut conn).await.0, 200);
    tokio::time::sleep(pause).await;
    conn.get_mut().write_all(b"st: x\r\n\r\n").await.unwrap();
    assert_eq!(answer(&mut conn).await.1, r#"{"ok":true}"#);
}

/// `limits.keep_alive_timeout` closes a connection idle that long, and
/// only an idle one: a client that keeps sending keeps its connection.
#[tokio::test]
async fn a_keep_alive_connection_idle_past_its_timeout_is_closed() {
    let (gw, _dir) = two_routes("keep_alive_timeout: 800ms").await;
    let addr = gw.trim_start_matches("http://").to_owned();
    let mut busy = tokio::io::BufReader::new(tokio::net::TcpStream::connect(&addr).await.unwrap());
    let mut idle = tokio::io::BufReader::new(tokio::net::TcpStream::connect(&addr).await.unwrap());
    for conn in [&mut busy, &mut idle] {
        conn.get_mut()
            .write_all(b"GET /pass HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(answer(conn).await.0, 200);
    }
    let idle_since = Instant::now();
    let closing = tokio::spawn(async move {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut byte)).await;
        (n.map(|r| r.ok()), idle_since.elapsed())
    });
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        busy.get_mut()
            .write_all(b"GET /v1/ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(
            answer(&mut busy).await.0,
            200,
            "the busy connection was closed"
        );
    }
    let (read, after) = closing.await.unwrap();
    assert_eq!(
        read.ok().flatten(),
        Some(0),
        "the idle connection stayed open"
    );
    assert!(
        after >= Duration::from_millis(750),
        "closed after {after:?}"
    );
}

/// A connection that never sends anything is closed once the header read
/// timeout has passed.
#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let (gw, _dir) = setup().await;
    let mut s = tokio::net::TcpStream::connect(gw.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "still open after {:?}: {read:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed after {:?}",
        started.elapsed()
    );
}

/// One port speaks both protocols: a client with HTTP/2 prior knowledge
/// (h2c) is answered in HTTP/2 on both kinds of route, and an HTTP/1.1
/// request whose first segment is only the `P` of `POST` (which could also
/// start HTTP/2's preface) is still answered in HTTP/1.1.
#[tokio::test]
async fn http2_with_prior_knowledge_and_http1_share_the_port() {
    let (gw, _dir) = two_routes("").await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for path in ["/v1/ok", "/pass"] {
        let r = h2.get(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(
            (r.status().as_u16(), r.version()),
            (200, reqwest::Version::HTTP_2),
            "{path}"
        );
    }
    let stream = tokio::net::TcpStream::connect(gw.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let mut conn = tokio::io::BufReader::new(stream);
    conn.get_mut().write_all(b"P").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.get_mut()
        .write_all(b"OST /pass HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = answer(&mut conn).await;
    assert_ne!(
        status, 400,
        "the split request line was not read as HTTP/1.1"
    );
}
