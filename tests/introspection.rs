//! OAuth 2.0 token introspection against a real authorization-server stand-in
//! on loopback that counts how often it is asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Form, Router};
use bff_tests::*;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct AuthServer {
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn introspect(
    State(s): State<AuthServer>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::response::Response {
    s.calls.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    // HTTP Basic for client `bff` / `s3cret`.
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Basic YmZmOnMzY3JldA==")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let answer = match token {
        "good" => json!({"active": true, "sub": "u-9", "scope": "orders:read", "exp": now + 3600}),
        "short" => json!({"active": true, "sub": "u-8", "exp": now + 1}),
        _ => json!({"active": false}),
    };
    axum::Json(answer).into_response()
}

async fn setup(server: &AuthServer) -> (String, SpecDir) {
    let auth = serve(
        Router::new()
            .route("/introspect", post(introspect))
            .with_state(server.clone()),
    )
    .await;
    let up =
        serve(Router::new().route("/ok", get(|| async { axum::Json(json!({"ok": true})) }))).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nauth:\n  oauth:\n    introspection:\n      url: \"{auth}/introspect\"\n      client_id: bff\n      client_secret: s3cret\n      cache: 30s\n"
    ))
    .endpoint("me", "endpoint: GET /v1/me\nauth: oauth\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: '{sub: .auth.sub}'\n");
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

async fn call(gw: &str, token: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{gw}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn active_tokens_pass_and_answers_are_cached() {
    let server = AuthServer::default();
    let (gw, _dir) = setup(&server).await;
    assert_eq!(call(&gw, "good").await, (200, json!({"sub": "u-9"})));
    assert_eq!(call(&gw, "good").await.0, 200);
    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        1,
        "the second request used the cache"
    );
    assert_eq!(call(&gw, "revoked").await.0, 401);
}

#[tokio::test]
async fn the_cache_never_outlives_the_token() {
    let server = AuthServer::default();
    let (gw, _dir) = setup(&server).await;
    assert_eq!(call(&gw, "short").await.0, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Expired in the cache: asked again (and by now expired for the server too).
    let _ = call(&gw, "short").await;
    assert_eq!(server.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_authorization_server_is_503_not_401() {
    let server = AuthServer::default();
    server.down.store(true, Ordering::SeqCst);
    let (gw, _dir) = setup(&server).await;
    assert_eq!(call(&gw, "good").await.0, 503);
}
