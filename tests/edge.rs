//! The edge stage: path normalisation, request ids, security headers.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::*;
use serde_json::{Value, json};

async fn setup() -> (String, SpecDir) {
    let up = serve(
        Router::new()
            .route(
                "/echo",
                get(|h: HeaderMap| async move {
                    axum::Json(json!({"id": h.get("x-request-id").and_then(|v| v.to_str().ok())}))
                }),
            )
            .route(
                "/files/{*rest}",
                get(|uri: axum::http::Uri| async move { uri.path().to_owned() }),
            ),
    )
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy:\n  - {{ prefix: /api, service: s, rewrite: /files }}\n"
    ))
    .endpoint("a", "endpoint: GET /v1/a/b\ncalls:\n  e: { service: s, get: /echo }\nrespond:\n  jq: .e\n");
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

/// Sends a raw path that a URL library would normalise on its own.
async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

#[tokio::test]
async fn paths_are_normalised_before_routing() {
    let (gw, _dir) = setup().await;
    assert_eq!(raw_get(&gw, "//v1/a/./b").await.0, 200);
    assert_eq!(raw_get(&gw, "/v1/x/../a/b").await.0, 200);
    let (status, body) = raw_get(&gw, "/api/one//two/./three").await;
    assert_eq!(status, 200);
    assert!(body.ends_with("/files/one/two/three"), "{body}");
}

#[tokio::test]
async fn traversal_and_smuggled_separators_are_refused() {
    let (gw, _dir) = setup().await;
    for path in [
        "/../etc/passwd",
        "/api/../../etc/passwd",
        "/api/%2e%2e/%2e%2e/x",
        "/api/a%2Fb",
        "/api/a%5Cb",
        "/api/a%00b",
    ] {
        let (status, body) = raw_get(&gw, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("application/problem+json"), "{path}");
    }
}

#[tokio::test]
async fn request_ids_are_made_kept_and_passed_on() {
    let (gw, _dir) = setup().await;
    let r = client().get(format!("{gw}/v1/a/b")).send().await.unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        r.json::<Value>().await.unwrap()["id"],
        id.as_str(),
        "the upstream saw the same id"
    );

    let r = client()
        .get(format!("{gw}/v1/a/b"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "trace-42");

    let r = client().get(format!("{gw}/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(
        r.headers().contains_key("x-request-id"),
        "errors carry an id too"
    );
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let (gw, _dir) = setup().await;
    for path in ["/v1/a/b", "/api/x", "/nowhere"] {
        let r = client().get(format!("{gw}{path}")).send().await.unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn every_answer_to_an_allowed_origin_is_readable_by_it() {
    let up = serve(Router::new().route(
        "/ok",
        axum::routing::get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: a-secret-long-enough-for-hs256 }} ] }}\n\
         limits: {{ per_ip: {{ rate: 1/min, burst: 3 }} }}\n"
    ))
    .endpoint("ok", "endpoint: GET /v1/ok\ncalls:\n  ok: { service: s, get: /ok }\n")
    .endpoint("mine", "endpoint: GET /v1/mine\nauth: user\ncalls:\n  ok: { service: s, get: /ok }\n");
    let gw = bff_tests::gateway_with(
        dir.path(),
        bff_web::WebExtension::new(["https://shop.example"]),
    )
    .await;
    let origin = "https://shop.example";
    for (path, status) in [
        ("/v1/ok", 200),
        ("/api/a%2Fb", 400),
        ("/v1/mine", 401),
        ("/nowhere", 404),
        ("/v1/ok", 429),
    ] {
        let r = client()
            .get(format!("{gw}{path}"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert_eq!(
            r.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap()),
            Some(origin),
            "{path} {status}: {:?}",
            r.headers()
        );
        assert!(r.headers().contains_key("x-request-id"), "{path}");
    }
}
