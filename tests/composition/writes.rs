//! Writes: a client's POST body feeds templated and jq-built upstream
//! bodies, and malformed or non-JSON bodies are refused before any
//! upstream is called.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, Method};
use axum::routing::post;
use bff_tests::client;
use serde_json::{Value, json};

use crate::harness::{send, start};

#[tokio::test]
async fn post_bodies_feed_templated_and_jq_upstream_bodies() {
    let hits = Arc::new(AtomicUsize::new(0));
    let count = hits.clone();
    let upstream = Router::new().route(
        "/echo-body",
        post(
            move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
                let count = count.clone();
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let got: Value = serde_json::from_slice(&body).unwrap();
                    axum::Json(json!({
                        "method": method.as_str(),
                        "content_type": headers.get("content-type").map(|v| v.to_str().unwrap()),
                        "body": got,
                    }))
                }
            },
        ),
    );
    let (gw, _dir) = start(
        upstream,
        &[(
            "orders",
            r#"
endpoint: POST /v1/orders
calls:
  templated:
    service: up
    post: /echo-body
    body:
      sku: "{{ body.sku }}"
      note: "qty {{ body.qty }}"
      fixed: 5
      list: ["{{ body.sku }}", true]
  typed:
    service: up
    post: /echo-body
    body_jq: "{sku: .body.sku, qty: (.body.qty * 2), tags: .body.tags, price: 12.5, none: null}"
respond:
  status: 201
  jq: "{templated, typed}"
"#,
        )],
    )
    .await;
    let url = format!("{gw}/v1/orders");
    let r = send(
        client()
            .post(&url)
            .json(&json!({"sku": "abc", "qty": 3, "tags": ["x", "y"]})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["templated"],
        json!({
            "method": "POST",
            "content_type": "application/json",
            "body": {"sku": "abc", "note": "qty 3", "fixed": 5, "list": ["abc", true]},
        })
    );
    assert_eq!(
        v["typed"],
        json!({
            "method": "POST",
            "content_type": "application/json",
            "body": {"sku": "abc", "qty": 6, "tags": ["x", "y"], "price": 12.5, "none": null},
        })
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let r = send(
        client()
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"sku": "abc", "qty": "#),
    )
    .await;
    r.problem(400);

    let r = send(
        client()
            .post(&url)
            .header("content-type", "text/plain")
            .body("sku=abc"),
    )
    .await;
    r.problem(415);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "rejected bodies reach no upstream"
    );
}
