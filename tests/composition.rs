//! End-to-end tests of composition semantics: a real gateway on loopback in
//! front of real axum upstreams on loopback (port 0 everywhere), checking
//! what a client of the BFF would notice — timing of the call graph,
//! templated requests as the upstream received them, list enrichment, the
//! error contract, deadlines, writes and shaping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, Path, Query};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bff_tests::{SpecDir, bff_yaml, client, gateway, serve};
use serde_json::{Value, json};

// ---------------------------------------------------------------- harness

/// A gateway over one upstream service named `up`, with the given
/// endpoint files. The spec folder is returned so it outlives the test.
async fn start(upstream: Router, endpoints: &[(&str, &str)]) -> (String, SpecDir) {
    let up = serve(upstream).await;
    start_at(&up, endpoints).await
}

/// Like [`start`], for an upstream at a given base URL.
async fn start_at(up: &str, endpoints: &[(&str, &str)]) -> (String, SpecDir) {
    let mut dir = SpecDir::new(&bff_yaml(&[("up", up)]));
    for (name, yaml) in endpoints {
        dir = dir.endpoint(name, yaml);
    }
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

/// What the client got back.
struct Reply {
    status: u16,
    headers: HeaderMap,
    text: String,
    took: Duration,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn ms(&self) -> u128 {
        self.took.as_millis()
    }

    /// Asserts an RFC 9457 problem with this status; returns its body.
    fn problem(&self, status: u16) -> Value {
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

async fn send(req: reqwest::RequestBuilder) -> Reply {
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

async fn get_url(url: &str) -> Reply {
    send(client().get(url)).await
}

/// A base URL on loopback where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Upstream statuses with a body that must never reach the client.
const SECRET: &str = "SECRET-upstream-stacktrace at db.internal:5432";

async fn status_with_secret(Path(code): Path<u16>) -> impl IntoResponse {
    (StatusCode::from_u16(code).unwrap(), SECRET)
}

/// `/sleep/{ms}/{tag}`: answers `{"tag", "slept"}` after `ms`; logs when
/// each tag arrived and finished, relative to the upstream's start.
#[derive(Clone)]
struct SleepLog {
    epoch: Instant,
    /// `"{tag} {what}"` → when it last happened.
    events: Arc<Mutex<HashMap<String, Duration>>>,
}

impl SleepLog {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            events: Arc::default(),
        }
    }

    fn router(&self) -> Router {
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
    fn at(&self, tag: &str, what: &str) -> Duration {
        *self
            .events
            .lock()
            .unwrap()
            .get(&format!("{tag} {what}"))
            .unwrap_or_else(|| panic!("{tag} never {what}"))
    }

    fn clear(&self) {
        self.events.lock().unwrap().clear();
    }
}

// ------------------------------------------------------------ concurrency

#[tokio::test]
async fn independent_calls_run_concurrently_and_dependents_wait() {
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[
            (
                "three",
                r#"
endpoint: GET /three
calls:
  a: { service: up, get: /sleep/100/a }
  b: { service: up, get: /sleep/100/b }
  c: { service: up, get: /sleep/100/c }
"#,
            ),
            (
                "chain",
                r#"
endpoint: GET /chain
calls:
  a: { service: up, get: /sleep/100/a }
  b: { service: up, get: /sleep/100/b }
  c: { service: up, get: /sleep/100/c }
  d: { service: up, get: "/sleep/100/d-after-{{ a.tag }}" }
"#,
            ),
        ],
    )
    .await;
    // Warm the gateway's connection pool so timings measure composition.
    assert_eq!(get_url(&format!("{gw}/three")).await.status, 200);
    assert_eq!(get_url(&format!("{gw}/chain")).await.status, 200);

    let r = get_url(&format!("{gw}/three")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (100..250).contains(&r.ms()),
        "three 100 ms calls took {} ms",
        r.ms()
    );
    assert_eq!(r.json()["c"], json!({"tag": "c", "slept": 100}));

    let r = get_url(&format!("{gw}/chain")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (200..350).contains(&r.ms()),
        "a dependent call after 100 ms calls took {} ms in all",
        r.ms()
    );
    assert_eq!(r.json()["d"]["tag"], "d-after-a");
}

#[tokio::test]
async fn a_call_starts_when_its_own_inputs_are_done_not_level_by_level() {
    // a 50 ms, b 250 ms, c needs a and takes 150 ms: c is done at ~200 ms,
    // before b, so the answer comes at ~250 ms. Level by level it would be
    // 250 + 150 = 400 ms.
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[(
            "eager",
            r#"
endpoint: GET /eager
calls:
  a: { service: up, get: /sleep/50/a }
  b: { service: up, get: /sleep/250/b }
  c: { service: up, get: "/sleep/150/c-after-{{ a.tag }}" }
"#,
        )],
    )
    .await;
    assert_eq!(get_url(&format!("{gw}/eager")).await.status, 200);
    log.clear();

    let r = get_url(&format!("{gw}/eager")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (250..375).contains(&r.ms()),
        "took {} ms; level by level would be ~400",
        r.ms()
    );
    let c_arrived = log.at("c-after-a", "arrived");
    let a_finished = log.at("a", "finished");
    let b_finished = log.at("b", "finished");
    assert!(
        c_arrived >= a_finished,
        "c started at {c_arrived:?}, before a finished at {a_finished:?}"
    );
    assert!(
        c_arrived < b_finished,
        "c started at {c_arrived:?}, only after b finished at {b_finished:?}"
    );
}

// -------------------------------------------------------------- templates

async fn echo(
    seg: Option<Path<String>>,
    Query(query): Query<Vec<(String, String)>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> axum::Json<Value> {
    axum::Json(json!({
        "seg": seg.map(|Path(s)| s),
        "query": query,
        "x_bar": headers.get("x-bar").map(|v| String::from_utf8_lossy(v.as_bytes())),
        "uri": uri.to_string(),
    }))
}

#[tokio::test]
async fn templates_fill_path_query_headers_and_earlier_results_encoded() {
    let token = "t 1/2?a&b#c%d+e=f ü";
    let upstream = Router::new().route("/echo/{seg}", get(echo)).route(
        "/token",
        get(move || async move { axum::Json(json!({ "token": token })) }),
    );
    let (gw, _dir) = start(
        upstream,
        &[(
            "items",
            r#"
endpoint: GET /v1/items/{id}
calls:
  first: { service: up, get: /token }
  direct:
    service: up
    get: "/echo/{{ path.id }}?inline={{ query.q }}"
    query: { q: "{{ query.q }}", n: "{{ query.n }}" }
    headers: { x-bar: '{{ headers["x-foo"] }}' }
  chained:
    service: up
    get: "/echo/{{ first.token }}"
    query: { q: "{{ first.token }}" }
    headers: { x-bar: "{{ first.token }}|{{ path.id }}" }
"#,
        )],
    )
    .await;
    // No `/` in the client's id: an encoded slash in a request path is
    // refused at the edge. The chained call below carries one from an
    // upstream result instead.
    let id = "a b?d&e+ü";
    let r = send(
        client()
            .get(format!(
                "{gw}/v1/items/a%20b%3Fd%26e%2B%C3%BC?q=x%26y%3Dz%20w%2F%2B%23&n=7"
            ))
            .header("x-foo", "hello foo"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();

    let direct = &v["direct"];
    assert_eq!(direct["seg"], id, "{direct}");
    let q = "x&y=z w/+#";
    assert_eq!(
        direct["query"],
        json!([["inline", q], ["q", q], ["n", "7"]]),
        "{direct}"
    );
    assert_eq!(direct["x_bar"], "hello foo");

    let chained = &v["chained"];
    assert_eq!(chained["seg"], token, "{chained}");
    assert_eq!(chained["query"], json!([["q", token]]), "{chained}");
    assert_eq!(chained["x_bar"], format!("{token}|{id}"));
}

#[tokio::test]
async fn a_dot_segment_value_cannot_leave_the_templated_path() {
    let strays = Arc::new(AtomicUsize::new(0));
    let stray = strays.clone();
    let upstream = Router::new()
        .route("/users/{id}/orders", get(echo))
        .fallback(move || async move {
            stray.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"admin": "everything"}))
        });
    let (gw, _dir) = start(
        upstream,
        &[(
            "orders",
            r#"
endpoint: GET /v1/orders
calls:
  orders: { service: up, get: "/users/{{ query.user }}/orders" }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/orders?user=u%2F1")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["orders"]["seg"], "u/1");

    // A value that merely looks encoded is data, and arrives as written.
    let r = get_url(&format!("{gw}/v1/orders?user=%252E%252E")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["orders"]["seg"], "%2E%2E");

    // Query text whose value is `..` or `.`.
    for user in ["..", ".", "%2E%2E", ".%2e"] {
        let r = get_url(&format!("{gw}/v1/orders?user={user}")).await;
        assert_ne!(r.status, 200, "user `{user}` answered {}", r.text);
        let p = r.problem(r.status);
        assert_eq!(p["call"], "orders", "{p}");
        assert!(!r.text.contains("everything"), "{}", r.text);
    }
    assert_eq!(
        strays.load(Ordering::SeqCst),
        0,
        "a request left /users/{{id}}/orders"
    );
}

// --------------------------------------------------------------- for_each

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

// ------------------------------------------------------------------- when

#[tokio::test]
async fn when_false_skips_the_call_and_true_runs_it() {
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = counts.clone();
    let upstream = Router::new()
        .route(
            "/flags",
            get(|| async { axum::Json(json!({"beta": false, "ads": true})) }),
        )
        .route(
            "/count/{name}",
            get(move |Path(name): Path<String>| {
                let seen = seen.clone();
                async move {
                    *seen.lock().unwrap().entry(name.clone()).or_default() += 1;
                    axum::Json(json!({ "ran": name }))
                }
            }),
        );
    let (gw, _dir) = start(
        upstream,
        &[(
            "when",
            r#"
endpoint: GET /v1/when
calls:
  flags: { service: up, get: /flags }
  beta:  { service: up, get: /count/beta, when: ".flags.beta" }
  ads:   { service: up, get: /count/ads, when: ".flags.ads" }
  asked: { service: up, get: /count/asked, when: '.query.run == "yes"' }
"#,
        )],
    )
    .await;
    let count = |name: &str| counts.lock().unwrap().get(name).copied().unwrap_or(0);

    let r = get_url(&format!("{gw}/v1/when?run=no")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["beta"], Value::Null);
    assert_eq!(v["asked"], Value::Null);
    assert_eq!(v["ads"], json!({"ran": "ads"}));
    assert_eq!((count("beta"), count("ads"), count("asked")), (0, 1, 0));

    let r = get_url(&format!("{gw}/v1/when?run=yes")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["asked"], json!({"ran": "asked"}));
    assert_eq!((count("beta"), count("ads"), count("asked")), (0, 2, 1));
}

// ----------------------------------------------------------------- errors

fn error_upstream() -> Router {
    Router::new()
        .route("/status/{code}", get(status_with_secret))
        .route("/ok", get(|| async { axum::Json(json!({"ok": true})) }))
        .route(
            "/malformed",
            get(|| async { ([("content-type", "application/json")], r#"{"items": [1, 2"#) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::Json(json!({"late": true}))
            }),
        )
}

#[tokio::test]
async fn required_call_failing_is_a_502_problem_that_hides_the_upstream() {
    let up = serve(error_upstream()).await;
    let (gw, _dir) = start_at(
        &up,
        &[(
            "fail",
            r#"
endpoint: GET /v1/fail
calls:
  fine: { service: up, get: /ok }
  slow: { service: up, get: /slow }
  inventory: { service: up, get: /status/500 }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/fail")).await;
    let p = r.problem(502);
    assert!(
        r.ms() < 1000,
        "the failure waited {} ms for a 2 s call it no longer needs",
        r.ms()
    );
    assert_eq!(p["call"], "inventory", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("inventory"), "{p}");
    let port = up.rsplit(':').next().unwrap();
    for leak in [up.as_str(), "127.0.0.1", port, SECRET, "SECRET", "5432"] {
        assert!(
            !r.text.contains(leak),
            "the problem leaks `{leak}`: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_problem() {
    let (gw, _dir) = start_at(
        &closed_port_url(),
        &[(
            "down",
            "endpoint: GET /v1/down\ncalls:\n  profile: { service: up, get: /users/1 }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/down")).await;
    let p = r.problem(502);
    assert_eq!(p["call"], "profile", "{p}");
}

#[tokio::test]
async fn required_call_past_its_timeout_is_a_504_naming_it() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "slow",
            r#"
endpoint: GET /v1/slow
calls:
  fine: { service: up, get: /ok }
  reviews: { service: up, get: /slow, timeout: 100ms }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/slow")).await;
    let p = r.problem(504);
    assert_eq!(p["call"], "reviews", "{p}");
    assert!(p["detail"].as_str().unwrap().contains("reviews"), "{p}");
    assert!(r.ms() < 1000, "took {} ms for a 100 ms timeout", r.ms());
}

#[tokio::test]
async fn optional_calls_fall_back_and_mark_the_response_partial() {
    let (gw, _dir) = start(
        error_upstream(),
        &[
            (
                "status",
                r#"
endpoint: GET /v1/partial
calls:
  fine: { service: up, get: /ok }
  picks: { service: up, get: /status/500, on_error: { default: [] } }
"#,
            ),
            (
                "timeout",
                r#"
endpoint: GET /v1/partial-slow
calls:
  fine: { service: up, get: /ok }
  reviews:
    service: up
    get: /slow
    timeout: 100ms
    on_error: { default: { items: [], total: 0 } }
"#,
            ),
            (
                "healthy",
                "endpoint: GET /v1/whole\ncalls:\n  fine: { service: up, get: /ok }\n",
            ),
        ],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/partial")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"fine": {"ok": true}, "picks": []}));
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("picks;reason=status-500"));

    let r = get_url(&format!("{gw}/v1/partial-slow")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"fine": {"ok": true}, "reviews": {"items": [], "total": 0}})
    );
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("reviews;reason=timeout"));
    assert!(r.ms() < 1000, "took {} ms for a 100 ms timeout", r.ms());

    let r = get_url(&format!("{gw}/v1/whole")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("bff-partial"), None);
    assert_eq!(r.header("bff-degraded"), None);
}

#[tokio::test]
async fn forwarded_status_becomes_the_endpoints_status() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "user",
            r#"
endpoint: GET /v1/users/{id}
calls:
  profile: { service: up, get: /status/404, on_error: { forward_status: [404] } }
  other: { service: up, get: /status/503, on_error: { forward_status: [404], default: null } }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/users/7")).await;
    let p = r.problem(404);
    assert_eq!(p["call"], "profile", "{p}");
    assert!(!r.text.contains("SECRET"), "{}", r.text);
}

#[tokio::test]
async fn malformed_json_from_an_upstream_is_a_502() {
    let (gw, _dir) = start(
        error_upstream(),
        &[(
            "bad",
            "endpoint: GET /v1/bad\ncalls:\n  cart: { service: up, get: /malformed }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/bad")).await;
    let p = r.problem(502);
    assert_eq!(p["call"], "cart", "{p}");
    assert!(!r.text.contains("items"), "{}", r.text);
}

// --------------------------------------------------------------- deadline

#[tokio::test]
async fn the_endpoint_deadline_cuts_a_slow_upstream_short() {
    let upstream = Router::new()
        .route(
            "/sleepy",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                axum::Json(json!({}))
            }),
        )
        .route("/fast", get(|| async { axum::Json(json!({"fast": true})) }));
    let (gw, _dir) = start(
        upstream,
        &[
            (
                "deadline",
                r#"
endpoint: GET /v1/deadline
deadline: 300ms
calls:
  slow: { service: up, get: /sleepy, timeout: 10s }
"#,
            ),
            (
                "optional",
                r#"
endpoint: GET /v1/deadline-optional
deadline: 300ms
calls:
  fast: { service: up, get: /fast }
  slow: { service: up, get: /sleepy, timeout: 10s, on_error: { default: [] } }
"#,
            ),
        ],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/deadline")).await;
    r.problem(504);
    assert!(
        (300..600).contains(&r.ms()),
        "a 300 ms deadline answered after {} ms",
        r.ms()
    );

    // An optional call still running at the deadline is dropped: the
    // client gets what is there, marked partial, in time.
    let r = get_url(&format!("{gw}/v1/deadline-optional")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"fast": {"fast": true}, "slow": []}));
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("slow;reason=timeout"));
    assert!(
        (300..600).contains(&r.ms()),
        "a 300 ms deadline answered after {} ms",
        r.ms()
    );
}

// ----------------------------------------------------------------- writes

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

// ---------------------------------------------------------------- shaping

fn shaping_upstream() -> Router {
    Router::new()
        .route(
            "/a",
            get(|| async { axum::Json(json!({"x": 1, "list": [1, 2], "unused": "u"})) }),
        )
        .route("/b", get(|| async { axum::Json(json!({"y": "two"})) }))
}

#[tokio::test]
async fn without_respond_the_answer_is_the_results_by_call_name() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "raw",
            "endpoint: GET /v1/raw\ncalls:\n  alpha: { service: up, get: /a }\n  beta: { service: up, get: /b }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/raw")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"alpha": {"x": 1, "list": [1, 2], "unused": "u"}, "beta": {"y": "two"}})
    );
}

#[tokio::test]
async fn respond_jq_output_is_exact_and_keeps_key_order() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "shaped",
            r#"
endpoint: GET /v1/shaped/{id}
calls:
  alpha: { service: up, get: /a }
  beta: { service: up, get: /b }
respond:
  jq: |
    { zeta: .alpha.x, alpha: .beta.y, mid: [.alpha.list[] | . * 10],
      id: .path.id, q: .query.q }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/shaped/p-1?q=hi")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        r#"{"zeta":1,"alpha":"two","mid":[10,20],"id":"p-1","q":"hi"}"#
    );
}

// ---------------------------------------------------------------- routing

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "raw",
            "endpoint: GET /v1/raw\ncalls:\n  alpha: { service: up, get: /a }\n",
        )],
    )
    .await;
    get_url(&format!("{gw}/v1/nope")).await.problem(404);
    let r = send(client().post(format!("{gw}/v1/raw"))).await;
    r.problem(405);
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{:?}",
        r.headers
    );
}

// ---------------------------------------------------------- observability

#[tokio::test]
async fn server_timing_lists_each_call() {
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[(
            "timed",
            r#"
endpoint: GET /v1/timed
calls:
  quick: { service: up, get: /sleep/1/quick }
  slow: { service: up, get: /sleep/60/slow }
  skipped: { service: up, get: /sleep/1/skipped, when: "false" }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/timed")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let header = r.header("server-timing").expect("a Server-Timing header");
    let entries: HashMap<&str, f64> = header
        .split(',')
        .map(|e| {
            let (name, dur) = e
                .trim()
                .split_once(";dur=")
                .unwrap_or_else(|| panic!("{header}"));
            (name, dur.parse().unwrap_or_else(|_| panic!("{header}")))
        })
        .collect();
    let mut names: Vec<&str> = entries.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(names, ["quick", "skipped", "slow"], "{header}");
    assert!(entries["slow"] >= 60.0, "{header}");
}
