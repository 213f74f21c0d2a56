//! The floor of the aggregation benchmark: exactly the work an aggregating
//! endpoint must do, written by hand with axum and reqwest and nothing else.
//! Concurrent GETs on one shared client, each body parsed as JSON, one object
//! built from them and serialized. Whatever our BFF spends beyond this is the
//! price of being declarative.
//!
//! Routes (the origin serves the files):
//! - `GET /agg`: `/a.json`, `/b.json`, `/c.json` → `{"a":…,"b":…,"c":…}`
//! - `GET /fan/{n}`: `/f/0.json` … `/f/{n-1}.json` → `{"c0":…,…}`
//! - `GET /one/{file}`: `/{file}` → `{"a":…}`
//!
//! and the same under `/slow`, calling the origin's `/slow/…` paths.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

/// Most calls one `/fan/{n}` request may make.
pub const MAX_FAN_OUT: usize = 100;

struct Origin {
    client: reqwest::Client,
    base: String,
}

/// The floor's routes, calling the origin at `upstream` (no trailing slash).
pub fn router(upstream: &str) -> Router {
    let client = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a static client configuration is valid");
    let base = upstream.trim_end_matches('/');
    let slow = routes(client.clone(), format!("{base}/slow"));
    routes(client, base.to_owned()).nest("/slow", slow)
}

fn routes(client: reqwest::Client, base: String) -> Router {
    Router::new()
        .route("/agg", get(aggregate))
        .route("/fan/{n}", get(fan_out))
        .route("/one/{file}", get(one))
        .with_state(Arc::new(Origin { client, base }))
}

async fn aggregate(State(origin): State<Arc<Origin>>) -> Response {
    let calls = [("a", "/a.json"), ("b", "/b.json"), ("c", "/c.json")]
        .map(|(name, path)| (name.to_owned(), path.to_owned()));
    origin.gather(calls).await
}

async fn fan_out(State(origin): State<Arc<Origin>>, Path(n): Path<usize>) -> Response {
    if n == 0 || n > MAX_FAN_OUT {
        return StatusCode::BAD_REQUEST.into_response();
    }
    origin
        .gather((0..n).map(|i| (format!("c{i}"), format!("/f/{i}.json"))))
        .await
}

async fn one(State(origin): State<Arc<Origin>>, Path(file): Path<String>) -> Response {
    origin.gather([("a".to_owned(), format!("/{file}"))]).await
}

impl Origin {
    /// GETs every path at once, then answers with their JSON bodies by name.
    async fn gather(&self, calls: impl IntoIterator<Item = (String, String)>) -> Response {
        let fetches = calls.into_iter().map(|(name, path)| async move {
            let value = self.fetch(&path).await?;
            Some((name, value))
        });
        let Some(results) = futures::future::join_all(fetches)
            .await
            .into_iter()
            .collect::<Option<Map<String, Value>>>()
        else {
            return StatusCode::BAD_GATEWAY.into_response();
        };
        let body =
            serde_json::to_vec(&Value::Object(results)).expect("a JSON value always serializes");
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// One GET whose body must be JSON; `None` on any failure.
    async fn fetch(&self, path: &str) -> Option<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let bytes = response.bytes().await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }

    /// An origin answering `{"path": <its path>}` for every GET.
    async fn origin() -> String {
        let echo = |uri: axum::http::Uri| async move {
            axum::Json(serde_json::json!({ "path": uri.path() }))
        };
        serve(Router::new().fallback(get(echo))).await
    }

    async fn get_json(url: &str) -> (StatusCode, Value) {
        let r = reqwest::get(url).await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn aggregates_three_calls_by_name() {
        let floor = serve(router(&origin().await)).await;
        let (status, body) = get_json(&format!("{floor}/agg")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!({
                "a": {"path": "/a.json"}, "b": {"path": "/b.json"}, "c": {"path": "/c.json"}
            })
        );
    }

    #[tokio::test]
    async fn fans_out_to_n_calls_and_wraps_one() {
        let floor = serve(router(&origin().await)).await;
        let (_, body) = get_json(&format!("{floor}/fan/10")).await;
        assert_eq!(body.as_object().unwrap().len(), 10);
        assert_eq!(body["c9"]["path"], "/f/9.json");
        let (_, body) = get_json(&format!("{floor}/one/1k.json")).await;
        assert_eq!(body, serde_json::json!({"a": {"path": "/1k.json"}}));
        let (status, _) = get_json(&format!("{floor}/fan/0")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (_, body) = get_json(&format!("{floor}/slow/agg")).await;
        assert_eq!(body["b"]["path"], "/slow/b.json");
    }

    #[tokio::test]
    async fn a_failing_call_is_a_bad_gateway() {
        let failing = serve(Router::new().fallback(get(|| async { StatusCode::NOT_FOUND }))).await;
        let floor = serve(router(&failing)).await;
        let (status, _) = get_json(&format!("{floor}/agg")).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
    }
}
