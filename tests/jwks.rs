//! Keys from a JWKS URL: a real key-set server on loopback that rotates
//! keys, goes down and counts its fetches.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

fn private_key(file: &str) -> EncodingKey {
    bff_tests::jwt::fixture_key(Algorithm::RS256, file)
}

fn jwk(file: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&private_key(file), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    jwk
}

fn token(file: &str, kid: &str) -> String {
    let claims = json!({"sub": "u-7", "exp": bff_tests::jwt::in_ten_minutes()});
    bff_tests::jwt::signed(Algorithm::RS256, file, Some(kid), &claims)
}

#[derive(Clone, Default)]
struct KeyServer {
    keys: Arc<Mutex<Vec<Jwk>>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    fn set(&self, keys: Vec<Jwk>) {
        *self.keys.lock().unwrap() = keys;
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks(State(s): State<KeyServer>) -> axum::response::Response {
    s.fetches.fetch_add(1, Ordering::SeqCst);
    if s.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let set = JwkSet {
        keys: s.keys.lock().unwrap().clone(),
    };
    axum::Json(set).into_response()
}

/// A gateway whose `GET /v1/me` checks tokens against the key server.
async fn setup(server: &KeyServer) -> (String, SpecDir) {
    let keys = serve(
        Router::new()
            .route("/jwks.json", get(jwks))
            .with_state(server.clone()),
    )
    .await;
    let up =
        serve(Router::new().route("/me", get(|| async { axum::Json(json!({"ok": true})) }))).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nauth:\n  user:\n    jwt:\n      jwks_url: \"{keys}/jwks.json\"\n"
    ))
    .endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: user\ncalls:\n  me: { service: s, get: /me }\nrespond:\n  jq: '{sub: .auth.sub}'\n",
    );
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

async fn status_with(gw: &str, token: &str) -> u16 {
    client()
        .get(format!("{gw}/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until the gateway has loaded its keys (answers something but 503).
async fn until_loaded(gw: &str, token: &str) -> u16 {
    let start = Instant::now();
    loop {
        let s = status_with(gw, token).await;
        if s != 503 || start.elapsed() > Duration::from_secs(10) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rotated_keys_are_picked_up_by_a_refetch() {
    let server = KeyServer::default();
    server.set(vec![jwk("rs256.key.pem", "k1")]);
    let (gw, _dir) = setup(&server).await;
    assert_eq!(until_loaded(&gw, &token("rs256.key.pem", "k1")).await, 200);
    let r = client()
        .get(format!("{gw}/v1/me"))
        .bearer_auth(token("rs256.key.pem", "k1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"sub": "u-7"}));

    // The issuer rotates to a new key; the first token with its kid makes
    // the gateway refetch, and from then on it verifies.
    server.set(vec![jwk("rs256-next.key.pem", "k2")]);
    let before = server.fetches();
    assert_eq!(
        status_with(&gw, &token("rs256-next.key.pem", "k2")).await,
        200
    );
    assert_eq!(server.fetches(), before + 1);
    // A token signed by the new key but claiming the old kid still fails.
    assert_eq!(
        status_with(&gw, &token("rs256-next.key.pem", "k1")).await,
        401
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let server = KeyServer::default();
    server.set(vec![jwk("rs256.key.pem", "k1")]);
    let (gw, _dir) = setup(&server).await;
    assert_eq!(until_loaded(&gw, &token("rs256.key.pem", "k1")).await, 200);

    server.down.store(true, Ordering::SeqCst);
    let before = server.fetches();
    // An unknown kid makes the gateway try the (now failing) key server…
    assert_eq!(
        status_with(&gw, &token("rs256-next.key.pem", "k9")).await,
        401
    );
    assert_eq!(server.fetches(), before + 1);
    // …and the keys it had still verify.
    assert_eq!(status_with(&gw, &token("rs256.key.pem", "k1")).await, 200);
}

#[tokio::test]
async fn unknown_kids_share_one_rate_limited_refetch() {
    let server = KeyServer::default();
    server.set(vec![jwk("rs256.key.pem", "k1")]);
    let (gw, _dir) = setup(&server).await;
    assert_eq!(until_loaded(&gw, &token("rs256.key.pem", "k1")).await, 200);

    let before = server.fetches();
    let forged = token("rs256-next.key.pem", "nope");
    let answers = futures::future::join_all((0..20).map(|_| status_with(&gw, &forged))).await;
    assert!(answers.iter().all(|s| *s == 401), "{answers:?}");
    // A burst of tokens with unknown kids is at most one fetch; later ones
    // within the interval are none.
    let after_burst = server.fetches();
    assert!(
        after_burst - before <= 1,
        "{} fetches",
        after_burst - before
    );
    assert_eq!(status_with(&gw, &forged).await, 401);
    assert_eq!(server.fetches(), after_burst);
}

#[tokio::test]
async fn endpoints_wait_for_the_first_key_load() {
    let server = KeyServer::default();
    server.set(vec![jwk("rs256.key.pem", "k1")]);
    server.down.store(true, Ordering::SeqCst);
    let (gw, _dir) = setup(&server).await;
    let r = client()
        .get(format!("{gw}/v1/me"))
        .bearer_auth(token("rs256.key.pem", "k1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    server.down.store(false, Ordering::SeqCst);
    assert_eq!(until_loaded(&gw, &token("rs256.key.pem", "k1")).await, 200);
}

#[tokio::test]
async fn a_withdrawn_key_stops_verifying_tokens_accepted_before() {
    let server = KeyServer::default();
    server.set(vec![jwk("rs256.key.pem", "k1")]);
    let (gw, _dir) = setup(&server).await;
    let old = token("rs256.key.pem", "k1");
    assert_eq!(until_loaded(&gw, &old).await, 200);
    assert_eq!(status_with(&gw, &old).await, 200);

    // The issuer replaces k1 by k2; a token with k2 makes the gateway
    // fetch the new set, and from then on a token of k1 is refused, even
    // one accepted a moment ago.
    server.set(vec![jwk("rs256-next.key.pem", "k2")]);
    assert_eq!(
        status_with(&gw, &token("rs256-next.key.pem", "k2")).await,
        200
    );
    assert_eq!(status_with(&gw, &old).await, 401);
}
