//! The admin listener's health and readiness: not ready until every JWKS
//! has loaded, not ready once shutdown begins, while in-flight requests
//! still finish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, serve};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A JWKS server that fails until `up` is set.
async fn jwks_server(up: Arc<AtomicBool>) -> String {
    async fn keys(State(up): State<Arc<AtomicBool>>) -> axum::response::Response {
        if up.load(Ordering::SeqCst) {
            axum::Json(json!({ "keys": [] })).into_response()
        } else {
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
    serve(Router::new().route("/jwks", get(keys)).with_state(up)).await
}

async fn readyz(admin: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(r.headers()["content-type"], "application/health+json");
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn ready_only_once_every_key_set_has_loaded() {
    let up = Arc::new(AtomicBool::new(false));
    let jwks = jwks_server(up.clone()).await;
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"http://127.0.0.1:9\" }}\nadmin:\n  listen: 127.0.0.1:{admin_port}\n\
         auth:\n  user:\n    jwt: {{ jwks_url: \"{jwks}/jwks\" }}\n"
    ));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let admin = format!("http://127.0.0.1:{admin_port}");

    // Live at once, not ready while the key set is missing.
    let started = Instant::now();
    let health = loop {
        match client().get(format!("{admin}/healthz")).send().await {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("admin listener not up: {e}\n{}", bff.log()),
        }
    };
    assert_eq!(health.status(), StatusCode::OK);
    let (status, body) = readyz(&admin).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "fail");
    assert!(
        body["notes"][0]
            .as_str()
            .unwrap()
            .contains("/jwks not loaded"),
        "{body}"
    );

    // The JWKS server comes up: the next retry loads it, readiness follows.
    up.store(true, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let (status, body) = readyz(&admin).await;
        if status == StatusCode::OK {
            assert_eq!(body["status"], "pass");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still not ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn on_sigterm_readiness_turns_false_and_in_flight_requests_finish() {
    let slow = serve(Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            axum::Json(json!({ "done": true }))
        }),
    ))
    .await;
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{slow}\", timeout: 5s }}\nadmin:\n  listen: 127.0.0.1:{admin_port}\n\
         defaults: {{ deadline: 5s }}\n"
    ))
    .endpoint(
        "slow",
        "endpoint: GET /v1/slow\ncalls:\n  s: { service: s, get: /slow }\nrespond:\n  jq: .s\n",
    );
    let mut bff = BffProcess::start("bff-web", dir.path(), &[]);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let started = Instant::now();
    while client()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .is_err()
    {
        assert!(started.elapsed() < Duration::from_secs(5), "{}", bff.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(readyz(&admin).await.0, StatusCode::OK);

    let in_flight = tokio::spawn(client().get(format!("{}/v1/slow", bff.url())).send());
    // An idle keep-alive connection, and one that has sent nothing yet:
    // neither holds the shutdown up.
    let addr = bff.url().trim_start_matches("http://").to_owned();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    assert!(idle.read(&mut answer).await.unwrap() > 0);
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    bff.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (status, body) = readyz(&admin).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["notes"], json!(["shutting down"]));
    // New connections are refused while the old request drains...
    assert!(
        client()
            .get(format!("{}/v1/slow", bff.url()))
            .send()
            .await
            .is_err()
    );
    // ...and the request in flight finishes with its answer.
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "done": true }));
    let status = tokio::task::spawn_blocking(move || bff.wait_exit(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(
        idle.read(&mut answer).await.unwrap(),
        0,
        "the idle connection is closed"
    );
}
