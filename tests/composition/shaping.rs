//! Shaping the answer: without `respond` it is the results by call name;
//! a `respond.jq` output is sent exactly, keeping its key order.

use serde_json::json;

use crate::harness::{get_url, shaping_upstream, start};

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

/// `respond.status` computed by jq and `respond.headers` rendered from the
/// results.
#[tokio::test]
async fn respond_status_and_headers_come_from_the_results() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "made",
            r#"
endpoint: GET /v1/made
calls:
  a: { service: up, get: /a }
  b: { service: up, get: /b }
respond:
  jq: '{y: .b.y}'
  status: 'if .query.new == "1" then 201 else (if .a.x == 1 then 203 else 200 end) end'
  headers:
    X-Total-Count: "{{ a.list | length }}"
    Location: "/v1/things/{{ b.y }}"
    Cache-Control: "private, max-age=5"
"#,
        )],
    )
    .await;
    for _ in 0..2 {
        let r = get_url(&format!("{gw}/v1/made")).await;
        assert_eq!(r.status, 203, "{}", r.text);
        assert_eq!(r.header("x-total-count"), Some("2"));
        assert_eq!(r.header("location"), Some("/v1/things/two"));
        assert_eq!(r.header("cache-control"), Some("private, max-age=5"));
        assert_eq!(r.json(), json!({"y": "two"}));
    }
    let created = get_url(&format!("{gw}/v1/made?new=1")).await;
    assert_eq!(created.status, 201, "{}", created.text);
}

/// A status expression that gives no status is the spec's fault: a 500
/// problem, logged, not a made-up status.
#[tokio::test]
async fn a_status_expression_that_gives_no_status_is_a_500() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "bad",
            "endpoint: GET /v1/bad\ncalls:\n  b: { service: up, get: /b }\nrespond:\n  status: .b.y\n",
        )],
    )
    .await;
    get_url(&format!("{gw}/v1/bad")).await.problem(500);
}

/// An answer kept by the endpoint's cache keeps the headers `respond`
/// gave it.
#[tokio::test]
async fn cached_answers_keep_their_respond_headers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let upstream = axum::Router::new().route(
        "/total",
        axum::routing::get(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { axum::Json(json!({"total": 40 + n})) }
        }),
    );
    let (gw, _dir) = start(
        upstream,
        &[(
            "kept",
            "endpoint: GET /v1/kept\ncache: { ttl: 60s }\ncalls:\n  t: { service: up, get: /total }\nrespond:\n  jq: '{ok: true}'\n  headers:\n    X-Total-Count: \"{{ t.total }}\"\n",
        )],
    )
    .await;
    for _ in 0..3 {
        let r = get_url(&format!("{gw}/v1/kept")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("x-total-count"), Some("40"));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the later answers came from the cache"
    );
}

/// `expose_headers`: the chosen headers of a call's answer are readable in
/// `respond` as `upstream.<call>.headers`, and `set-cookie` passes every
/// cookie of every exposing call on, each its own header, under the
/// folder's cookie policy; such an answer is never kept by the cache.
#[tokio::test]
async fn exposed_headers_and_cookies_reach_the_answer() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let upstream = axum::Router::new()
        .route(
            "/list",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async {
                    let mut h = http::HeaderMap::new();
                    h.insert("x-total-count", "42".parse().unwrap());
                    h.append(
                        "set-cookie",
                        "sid=abc; Path=/; SameSite=None".parse().unwrap(),
                    );
                    h.append("set-cookie", "theme=dark".parse().unwrap());
                    h.insert("x-secret", "not exposed".parse().unwrap());
                    (h, axum::Json(json!([1, 2])))
                }
            }),
        )
        .route(
            "/cart",
            axum::routing::get(|| async {
                (
                    [("set-cookie", "cart=7; Max-Age=60")],
                    axum::Json(json!({"n": 1})),
                )
            }),
        );
    let up = bff_tests::serve(upstream).await;
    let dir = bff_tests::SpecDir::new(&format!(
        "services:\n  up: {{ url: \"{up}\" }}\ncookies: {{ secure: true, http_only: true, same_site: lax }}\n"
    ))
    .endpoint(
        "e",
        r#"
endpoint: GET /v1/page
cache: { ttl: 60s }
calls:
  list: { service: up, get: /list, expose_headers: [x-total-count, set-cookie] }
  cart: { service: up, get: /cart, expose_headers: [set-cookie] }
respond:
  jq: '{items: .list, total: (.upstream.list.headers["x-total-count"] | tonumber), secret: .upstream.list.headers["x-secret"]}'
  headers:
    X-Total-Count: '{{ upstream.list.headers["x-total-count"] }}'
"#,
    );
    let gw = bff_tests::gateway(dir.path()).await;
    for round in 1..=2 {
        let r = crate::harness::send(bff_tests::client().get(format!("{gw}/v1/page"))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"items": [1, 2], "total": 42, "secret": null})
        );
        assert_eq!(r.header("x-total-count"), Some("42"));
        assert!(r.header("x-secret").is_none());
        let mut cookies: Vec<&str> = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        cookies.sort_unstable();
        assert_eq!(
            cookies,
            [
                "cart=7; Max-Age=60; Secure; HttpOnly; SameSite=Lax",
                "sid=abc; Path=/; Secure; HttpOnly; SameSite=Lax",
                "theme=dark; Secure; HttpOnly; SameSite=Lax",
            ],
            "round {round}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            round,
            "an answer with cookies is not kept"
        );
    }
}
