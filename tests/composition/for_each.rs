//! List enrichment with `for_each`: batches of deduplicated values
//! concatenated in list order, per-item calls bounded by `concurrency`
//! and kept in order, a call timeout bounding each request rather than
//! the whole list, and an empty list calling no upstream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::get;
use serde_json::{Value, json};

use crate::harness::{SleepLog, get_url, start};

#[tokio::test]
async fn for_each_batches_deduplicated_values_and_concatenates_in_order() {
    let batches: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let seen = batches.clone();
    let upstream = Router::new()
        .route(
            "/list",
            get(|| async {
                axum::Json(json!([
                    {"id": "a"}, {"id": "b"}, {"id": "a"}, {"id": "c"},
                    {"id": "d"}, {"id": "b"}, {"id": "e"}
                ]))
            }),
        )
        .route(
            "/lookup",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let seen = seen.clone();
                async move {
                    let ids: Vec<String> = q["ids"].split(',').map(str::to_owned).collect();
                    seen.lock().unwrap().push(ids.clone());
                    // The first batch answers last: order must not follow arrival.
                    if ids.contains(&"a".to_owned()) {
                        tokio::time::sleep(Duration::from_millis(80)).await;
                    }
                    let found: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"id": id, "name": id.to_uppercase()}))
                        .collect();
                    axum::Json(Value::Array(found))
                }
            }),
        );
    let (gw, _dir) = start(
        upstream,
        &[(
            "batch",
            r#"
endpoint: GET /v1/batch
calls:
  list: { service: up, get: /list }
  products:
    service: up
    for_each: "[.list[].id]"
    batch: 2
    get: /lookup
    query: { ids: "{{ batch | join(sep=',') }}" }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/batch")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["products"],
        json!([
            {"id": "a", "name": "A"}, {"id": "b", "name": "B"}, {"id": "c", "name": "C"},
            {"id": "d", "name": "D"}, {"id": "e", "name": "E"}
        ])
    );
    let batches = batches.lock().unwrap().clone();
    assert_eq!(batches.len(), 3, "upstream calls: {batches:?}");
    assert!(batches.iter().all(|b| b.len() <= 2), "{batches:?}");
    let mut ids: Vec<String> = batches.concat();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c", "d", "e"], "each id asked once");
}

#[tokio::test]
async fn for_each_per_item_is_bounded_and_keeps_list_order() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let (now, max, count) = (in_flight.clone(), max_in_flight.clone(), hits.clone());
    let upstream = Router::new()
        .route(
            "/numbers",
            get(|| async { axum::Json(json!([1, 2, 3, 3, 4, 5, 6, 1])) }),
        )
        .route(
            "/item/{n}",
            get(move |Path(n): Path<u64>| {
                let (now, max, count) = (now.clone(), max.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(current, Ordering::SeqCst);
                    // Earlier items are slower, so they finish out of order.
                    tokio::time::sleep(Duration::from_millis((7 - n) * 10)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    axum::Json(json!({"id": n, "name": format!("item {n}")}))
                }
            }),
        );
    let (gw, _dir) = start(
        upstream,
        &[(
            "each",
            r#"
endpoint: GET /v1/each
calls:
  list: { service: up, get: /numbers }
  details:
    service: up
    for_each: ".list"
    concurrency: 2
    get: "/item/{{ item }}"
respond:
  jq: "{names: [.details[].name], total: ([.details[].id] | add)}"
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/each")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        r#"{"names":["item 1","item 2","item 3","item 4","item 5","item 6"],"total":21}"#
    );
    assert_eq!(hits.load(Ordering::SeqCst), 6, "one call per distinct item");
    let max = max_in_flight.load(Ordering::SeqCst);
    assert!(max <= 2, "{max} calls were in flight at once");
    assert_eq!(max, 2, "items should run two at a time");
}

#[tokio::test]
async fn a_call_timeout_bounds_each_for_each_request_not_the_whole_list() {
    // One at a time, three items of 60 ms each under a 150 ms call timeout:
    // every request is in time although the list takes ~180 ms.
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[(
            "each",
            r#"
endpoint: GET /v1/each
calls:
  each:
    service: up
    for_each: '["a", "b", "c"]'
    concurrency: 1
    get: "/sleep/60/{{ item }}"
    timeout: 150ms
  batched:
    service: up
    for_each: '["d", "e", "f"]'
    batch: 1
    concurrency: 1
    get: "/sleep/60/{{ batch[0] }}"
    timeout: 150ms
respond:
  jq: "[.each[].tag, .batched[].tag]"
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/each")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, r#"["a","b","c","d","e","f"]"#);
    assert!(r.ms() >= 180, "took {} ms", r.ms());
}

#[tokio::test]
async fn for_each_over_an_empty_list_is_empty_without_upstream_calls() {
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let upstream = Router::new()
        .route("/source", get(|| async { axum::Json(json!({"ids": []})) }))
        .route(
            "/lookup",
            get(move || async move {
                h1.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!([]))
            }),
        )
        .route(
            "/item/{id}",
            get(move || async move {
                h2.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({}))
            }),
        );
    let (gw, _dir) = start(
        upstream,
        &[(
            "empty",
            r#"
endpoint: GET /v1/empty
calls:
  src: { service: up, get: /source }
  batched:
    service: up
    for_each: ".src.ids"
    batch: 10
    get: /lookup
    query: { ids: "{{ batch | join(sep=',') }}" }
  each: { service: up, for_each: ".src.ids[]", get: "/item/{{ item }}" }
respond:
  jq: "{batched, each, count: ((.batched | length) + (.each | length))}"
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/empty")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, r#"{"batched":[],"each":[],"count":0}"#);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}
