//! `request:` checks before any call: typed path and query parameters
//! (converted, then checked by their JSON Schema) and a JSON Schema for
//! the body, every violation listed with its JSON pointer in a problem;
//! parameters reach templates and jq typed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::harness::{get_url, send, start};

const SPEC: &str = r#"
endpoint: POST /v1/orders/{shop}
request:
  path:
    shop: { type: integer, minimum: 1 }
  query:
    page: { type: integer, minimum: 1, maximum: 50, required: true }
    sort: { enum: [price, rating] }
  body: schemas/order.json
calls:
  made:
    service: up
    post: "/made/{{ path.shop }}"
    body_jq: '{page: (.query.page + 1), sort: .query.sort, items: .body.items}'
"#;

const ORDER: &str = r#"{
  "type": "object",
  "required": ["items"],
  "properties": {
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": { "sku": { "type": "string" }, "quantity": { "type": "integer", "minimum": 1 } }
      }
    }
  }
}"#;

async fn gateway(calls: Arc<AtomicUsize>) -> (String, bff_tests::SpecDir) {
    let upstream = Router::new().route(
        "/made/{shop}",
        post(
            move |Path(shop): Path<String>, axum::Json(body): axum::Json<Value>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { axum::Json(json!({"shop": shop, "got": body})) }
            },
        ),
    );
    let up = bff_tests::serve(upstream).await;
    let dir = bff_tests::SpecDir::new(&bff_tests::bff_yaml(&[("up", &up)]))
        .endpoint("orders", SPEC)
        .file("schemas/order.json", ORDER);
    let gw = bff_tests::gateway(dir.path()).await;
    (gw, dir)
}

async fn order(gw: &str, target: &str, body: Value) -> crate::harness::Reply {
    send(
        bff_tests::client()
            .post(format!("{gw}{target}"))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_valid_request_reaches_the_calls_typed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (gw, _dir) = gateway(calls.clone()).await;
    let r = order(
        &gw,
        "/v1/orders/7?page=2&sort=price",
        json!({"items": [{"sku": "a", "quantity": 2}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // `page` is a number in jq: page + 1 is 3, not an error.
    assert_eq!(
        r.json()["made"],
        json!({"shop": "7", "got": {"page": 3, "sort": "price", "items": [{"sku": "a", "quantity": 2}]}})
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn parameters_that_break_their_schemas_are_400_with_every_violation() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (gw, _dir) = gateway(calls.clone()).await;
    let r = order(&gw, "/v1/orders/0?page=abc&sort=name", json!({"items": []})).await;
    let p = r.problem(400);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/path/shop", "/query/page", "/query/sort"],
        "{p}"
    );
    assert!(
        p["errors"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("integer"),
        "{p}"
    );
    let missing = order(
        &gw,
        "/v1/orders/3",
        json!({"items": [{"sku": "a", "quantity": 1}]}),
    )
    .await;
    let p = missing.problem(400);
    assert_eq!(
        p["errors"],
        json!([{"pointer": "/query/page", "detail": "is required"}])
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no call for a refused request"
    );
}

#[tokio::test]
async fn a_body_that_breaks_its_schema_is_422_with_every_violation() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (gw, _dir) = gateway(calls.clone()).await;
    let r = order(
        &gw,
        "/v1/orders/3?page=1",
        json!({"items": [{"sku": 5, "quantity": 0}, {"quantity": 1}]}),
    )
    .await;
    let p = r.problem(422);
    let mut pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/body/items/0/quantity",
            "/body/items/0/sku",
            "/body/items/1"
        ],
        "{p}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_api_description_carries_the_schemas() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (gw, _dir) = gateway(calls).await;
    let doc = get_url(&format!("{gw}/openapi.json")).await.json();
    let op = &doc["paths"]["/v1/orders/{shop}"]["post"];
    let param = |name: &str| {
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        param("shop")["schema"],
        json!({"type": "integer", "minimum": 1})
    );
    assert_eq!(param("page")["required"], true);
    assert_eq!(
        param("sort")["schema"],
        json!({"enum": ["price", "rating"]})
    );
    assert_eq!(op["requestBody"]["required"], true);
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["items"])
    );
    assert!(op["responses"]["422"].is_object(), "{op:#}");
}

#[tokio::test]
async fn a_get_endpoint_checks_its_query_too() {
    let (gw, _dir) = start(
        Router::new().route("/p/{n}", get(|Path(n): Path<i64>| async move { axum::Json(json!({"n": n})) })),
        &[(
            "paged",
            "endpoint: GET /v1/paged\nrequest:\n  query:\n    page: { type: integer, minimum: 1 }\ncalls:\n  p: { service: up, get: \"/p/{{ query.page | default(value=1) }}\" }\n",
        )],
    )
    .await;
    assert_eq!(
        get_url(&format!("{gw}/v1/paged?page=4")).await.json(),
        json!({"p": {"n": 4}})
    );
    assert_eq!(
        get_url(&format!("{gw}/v1/paged")).await.json(),
        json!({"p": {"n": 1}})
    );
    get_url(&format!("{gw}/v1/paged?page=-1"))
        .await
        .problem(400);
}
