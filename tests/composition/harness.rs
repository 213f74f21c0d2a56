//! The shared harness: a gateway on loopback in front of one axum
//! upstream, what the client got back (`Reply`), a closed port, a
//! sleeping upstream that logs when each call arrived and finished
//! (`SleepLog`), and the upstream the shaping and routing checks share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::{SpecDir, bff_yaml, client, gateway, serve};
use serde_json::{Value, json};

/// A gateway over one upstream service named `up`, with the given
/// endpoint files. The spec folder is returned so it outlives the test.
pub(crate) async fn start(upstream: Router, endpoints: &[(&str, &str)]) -> (String, SpecDir) {
    let up = serve(upstream).await;
    start_at(&up, endpoints).await
}

/// Like [`start`], for an upstream at a given base URL.
pub(crate) async fn start_at(up: &str, endpoints: &[(&str, &str)]) -> (String, SpecDir) {
    let mut dir = SpecDir::new(&bff_yaml(&[("up", up)]));
    for (name, yaml) in endpoints {
        dir = dir.endpoint(name, yaml);
    }
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

/// What the client got back.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
    pub(crate) took: Duration,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub(crate) fn ms(&self) -> u128 {
        self.took.as_millis()
    }

    /// Asserts an RFC 9457 problem with this status; returns its body.
    pub(crate) fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.text
        );
        let v = self.json();
        assert_eq!(v["status"], status, "{v}");
        assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
        v
    }
}

pub(crate) async fn send(req: reqwest::RequestBuilder) -> Reply {
    let began = Instant::now();
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        headers,
        text,
        took: began.elapsed(),
    }
}

pub(crate) async fn get_url(url: &str) -> Reply {
    send(client().get(url)).await
}

/// A base URL on loopback where nothing listens.
pub(crate) fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// `/sleep/{ms}/{tag}`: answers `{"tag", "slept"}` after `ms`; logs when
/// each tag arrived and finished, relative to the upstream's start.
#[derive(Clone)]
pub(crate) struct SleepLog {
    epoch: Instant,
    /// `"{tag} {what}"` → when it last happened.
    events: Arc<Mutex<HashMap<String, Duration>>>,
}

impl SleepLog {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            events: Arc::default(),
        }
    }

    pub(crate) fn router(&self) -> Router {
        let log = self.clone();
        Router::new().route(
            "/sleep/{ms}/{tag}",
            get(move |Path((ms, tag)): Path<(u64, String)>| {
                let log = log.clone();
                async move {
                    log.record(&tag, "arrived");
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    log.record(&tag, "finished");
                    axum::Json(json!({ "tag": tag, "slept": ms }))
                }
            }),
        )
    }

    fn record(&self, tag: &str, what: &'static str) {
        self.events
            .lock()
            .unwrap()
            .insert(format!("{tag} {what}"), self.epoch.elapsed());
    }

    /// The last time `tag` did `what`.
    pub(crate) fn at(&self, tag: &str, what: &str) -> Duration {
        *self
            .events
            .lock()
            .unwrap()
            .get(&format!("{tag} {what}"))
            .unwrap_or_else(|| panic!("{tag} never {what}"))
    }

    pub(crate) fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

/// Two upstream routes for the shaping and routing checks.
pub(crate) fn shaping_upstream() -> Router {
    Router::new()
        .route(
            "/a",
            get(|| async { axum::Json(json!({"x": 1, "list": [1, 2], "unused": "u"})) }),
        )
        .route("/b", get(|| async { axum::Json(json!({"y": "two"})) }))
}
