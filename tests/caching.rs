//! Caching of upstream answers by HTTP's rules, and validators on composed
//! answers, against a real upstream that counts what reaches it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::{SpecDir, client, gateway, serve};
use serde_json::{Value, json};

const SECRET: &str = "caching-test-secret-long-enough";

/// Answers `/r/{policy}` with that Cache-Control (`none` for no header),
/// naming the user and language it was asked for.
async fn upstream(hits: Arc<AtomicUsize>) -> String {
    async fn answer(
        State(hits): State<Arc<AtomicUsize>>,
        Path(policy): Path<String>,
        h: HeaderMap,
    ) -> axum::response::Response {
        let n = hits.fetch_add(1, Ordering::SeqCst);
        if policy == "etag" {
            let cc = ("cache-control", "max-age=1");
            if h.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
                return (
                    axum::http::StatusCode::NOT_MODIFIED,
                    [("etag", "\"v1\""), cc],
                )
                    .into_response();
            }
            return ([("etag", "\"v1\""), cc], axum::Json(json!({ "n": n }))).into_response();
        }
        if policy == "sie" {
            // Good once, failing after.
            static SEEN: AtomicUsize = AtomicUsize::new(0);
            if SEEN.fetch_add(1, Ordering::SeqCst) > 0 {
                return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            return (
                [("cache-control", "max-age=1, stale-if-error=60")],
                axum::Json(json!({ "n": n })),
            )
                .into_response();
        }
        if policy == "swr" {
            return (
                [("cache-control", "max-age=1, stale-while-revalidate=30")],
                axum::Json(json!({ "n": n })),
            )
                .into_response();
        }
        if policy == "slow" {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let get = |k: &str| {
            h.get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let body =
            axum::Json(json!({ "user": get("x-user-id"), "lang": get("accept-language"), "n": n }));
        let mut headers = vec![];
        match policy.as_str() {
            "none" => {}
            "slow" | "public" => headers.push(("cache-control", "max-age=60".to_owned())),
            "short" => headers.push(("cache-control", "max-age=5".to_owned())),
            "private" => headers.push(("cache-control", "private, max-age=60".to_owned())),
            "nostore" => headers.push(("cache-control", "no-store".to_owned())),
            "vary" => {
                headers.push(("cache-control", "max-age=60".to_owned()));
                headers.push(("vary", "Accept-Language".to_owned()));
            }
            _ => {}
        }
        let mut r = body.into_response();
        for (k, v) in headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        r
    }
    serve(
        Router::new()
            .route("/r/{policy}", get(answer))
            .with_state(hits),
    )
    .await
}

fn token(sub: &str) -> String {
    bff_tests::jwt::hs256(SECRET, json!({ "sub": sub }))
}

async fn setup(service: &str) -> (String, Arc<AtomicUsize>, bff_tests::SpecDir) {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = upstream(hits.clone()).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", {service} }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ] }}\n    forward: {{ x-user-id: sub }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a/{p}\ncalls:\n  d: { service: s, get: \"/r/{{ path.p }}\", headers: { accept-language: \"{{ query.lang | default(value='en') }}\" } }\nrespond:\n  jq: .d\n",
    )
    .endpoint(
        "b",
        "endpoint: GET /v1/b/{p}\ncalls:\n  d: { service: s, get: \"/r/{{ path.p }}\", headers: { accept-language: \"{{ query.lang | default(value='en') }}\" } }\nrespond:\n  jq: .d\n",
    )
    .endpoint(
        "me",
        "endpoint: GET /v1/me/{p}\nauth: user\ncalls:\n  d: { service: s, get: \"/r/{{ path.p }}\" }\nrespond:\n  jq: .d\n",
    );
    let gw = gateway(dir.path()).await;
    (gw, hits, dir)
}

async fn fetch(url: String, bearer: Option<&str>) -> Value {
    let mut r = client().get(url);
    if let Some(t) = bearer {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn fresh_answers_are_shared_by_endpoints_and_others_are_not_kept() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    fetch(format!("{gw}/v1/a/public"), None).await;
    fetch(format!("{gw}/v1/b/public"), None).await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "two endpoints, one upstream request"
    );

    for p in ["none", "nostore"] {
        let before = hits.load(Ordering::SeqCst);
        fetch(format!("{gw}/v1/a/{p}"), None).await;
        fetch(format!("{gw}/v1/a/{p}"), None).await;
        assert_eq!(hits.load(Ordering::SeqCst) - before, 2, "{p} is not kept");
    }

    // Vary: one entry per language.
    let before = hits.load(Ordering::SeqCst);
    let en = fetch(format!("{gw}/v1/a/vary?lang=en"), None).await;
    let de = fetch(format!("{gw}/v1/a/vary?lang=de"), None).await;
    assert_eq!(
        (en["lang"].as_str(), de["lang"].as_str()),
        (Some("en"), Some("de"))
    );
    let en_again = fetch(format!("{gw}/v1/a/vary?lang=en"), None).await;
    let de_again = fetch(format!("{gw}/v1/a/vary?lang=de"), None).await;
    assert_eq!(en_again["lang"], "en");
    assert_eq!(de_again["lang"], "de");
    assert!(
        hits.load(Ordering::SeqCst) - before <= 3,
        "learnt to vary, then hits"
    );
}

#[tokio::test]
async fn an_explicit_ttl_keeps_what_headers_do_not_but_never_no_store() {
    let (gw, hits, _dir) = setup("cache: { ttl: 30s }").await;
    fetch(format!("{gw}/v1/a/none"), None).await;
    fetch(format!("{gw}/v1/a/none"), None).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    fetch(format!("{gw}/v1/a/nostore"), None).await;
    fetch(format!("{gw}/v1/a/nostore"), None).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn private_answers_are_never_kept_and_identity_keyed_ones_only_for_their_user() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    let (ada, bob) = (token("ada"), token("bob"));
    for round in 0..3 {
        for (who, t) in [("ada", &ada), ("bob", &bob)] {
            let v = fetch(format!("{gw}/v1/me/private"), Some(t)).await;
            assert_eq!(v["user"], who, "round {round}: {v}");
        }
    }
    // A shared cache keeps nothing `private` (RFC 9111 §5.2.2.7).
    assert_eq!(hits.load(Ordering::SeqCst), 6);
    // `max-age=60` without `private`, asked with the forwarded `x-user-id`:
    // kept, but keyed by that header, so once per user.
    for round in 0..3 {
        for (who, t) in [("ada", &ada), ("bob", &bob)] {
            let v = fetch(format!("{gw}/v1/me/public"), Some(t)).await;
            assert_eq!(v["user"], who, "round {round}: {v}");
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn concurrent_misses_make_one_upstream_request() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    let all: Vec<_> = (0..10)
        .map(|_| tokio::spawn(fetch(format!("{gw}/v1/a/slow"), None)))
        .collect();
    for a in all {
        a.await.unwrap();
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn composed_answers_carry_an_etag_and_a_match_is_304() {
    let (gw, _hits, _dir) = setup("").await;
    let r = client()
        .get(format!("{gw}/v1/a/none"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\"") && etag.len() == 36, "{etag}");
    let body = r.text().await.unwrap();

    // The upstream counts its calls, so the next answer differs: a new tag.
    let r = client()
        .get(format!("{gw}/v1/a/none"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let newer = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(newer, etag);
    assert_ne!(r.text().await.unwrap(), body);

    // An endpoint answering the same bytes again answers 304, empty.
    let (gw, _hits, _dir) = setup("cache: { ttl: 60s }").await;
    let r = client()
        .get(format!("{gw}/v1/a/none"))
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let r = client()
        .get(format!("{gw}/v1/a/none"))
        .header(
            "if-none-match",
            format!("\"x\", {}", etag.trim_start_matches("W/")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.text().await.unwrap().is_empty());

    // Answers for a caller are private
    let r = client()
        .get(format!("{gw}/v1/me/none"))
        .bearer_auth(token("ada"))
        .send()
        .await
        .unwrap();
    // (its one part is kept for 60 s, so it says how long, privately).
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.starts_with("private, max-age="), "{cc}");
}

#[tokio::test]
async fn composed_answers_are_kept_per_caller_and_purged_by_tag_endpoint_or_key() {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = upstream(hits.clone()).await;
    let admin_port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\", token: s3cret-admin }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ] }}\n    forward: {{ x-user-id: sub }}\n"
    ))
    .endpoint(
        "c",
        "endpoint: GET /v1/c/{p}\ncache: { ttl: 60s, tags: [catalog] }\ncalls:\n  d: { service: s, get: \"/r/{{ path.p }}\" }\nrespond:\n  jq: .d\n",
    )
    .endpoint(
        "mine",
        "endpoint: GET /v1/mine\nauth: user\ncache: { ttl: 60s }\ncalls:\n  d: { service: s, get: /r/none }\nrespond:\n  jq: .d\n",
    );
    let gw = gateway(dir.path()).await;
    let admin = format!("http://127.0.0.1:{admin_port}");

    let first = fetch(format!("{gw}/v1/c/none?a=1&b=2"), None).await;
    let r = client()
        .get(format!("{gw}/v1/c/none?b=2&a=1"))
        .send()
        .await
        .unwrap();
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.starts_with("max-age="), "{cc}");
    assert!(r.headers().contains_key("age"));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        first,
        "same query, other order: kept"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Per caller on endpoints with auth.
    let (ada, bob) = (token("ada"), token("bob"));
    let a1 = fetch(format!("{gw}/v1/mine"), Some(&ada)).await;
    let b1 = fetch(format!("{gw}/v1/mine"), Some(&bob)).await;
    assert_eq!(
        (a1["user"].as_str(), b1["user"].as_str()),
        (Some("ada"), Some("bob"))
    );
    assert_eq!(fetch(format!("{gw}/v1/mine"), Some(&ada)).await, a1);
    assert_eq!(fetch(format!("{gw}/v1/mine"), Some(&bob)).await, b1);
    let r = client()
        .get(format!("{gw}/v1/mine"))
        .bearer_auth(&ada)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private, max-age=")
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // Purging needs the admin token.
    let purge = |body: Value, token: Option<&'static str>| {
        let mut r = client().post(format!("{admin}/cache/purge")).json(&body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(purge(json!({ "tag": "catalog" }), None).await, 401);
    assert_eq!(purge(json!({ "tag": "catalog" }), Some("wrong")).await, 401);
    assert_eq!(purge(json!({}), Some("s3cret-admin")).await, 400);
    assert_eq!(
        purge(json!({ "tag": "catalog" }), Some("s3cret-admin")).await,
        204
    );
    let after = fetch(format!("{gw}/v1/c/none?a=1&b=2"), None).await;
    assert_ne!(after, first, "purged by tag: composed again");
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    assert_eq!(
        purge(
            json!({ "key": "GET /v1/c/none?a=1&b=2" }),
            Some("s3cret-admin")
        )
        .await,
        204
    );
    fetch(format!("{gw}/v1/c/none?b=2&a=1"), None).await;
    assert_eq!(hits.load(Ordering::SeqCst), 5);
    assert_eq!(
        purge(json!({ "endpoint": "GET /v1/mine" }), Some("s3cret-admin")).await,
        204
    );
    assert_eq!(
        fetch(format!("{gw}/v1/mine"), Some(&ada)).await["user"],
        "ada"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 6);
}

#[tokio::test]
async fn expired_answers_are_revalidated_and_stand_in_when_the_upstream_fails() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    let first = fetch(format!("{gw}/v1/a/etag"), None).await;
    assert_eq!(first["n"], 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Expired: a conditional request, answered 304, renews the kept answer.
    assert_eq!(fetch(format!("{gw}/v1/a/etag"), None).await, first);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // Fresh again: no request at all.
    assert_eq!(fetch(format!("{gw}/v1/a/etag"), None).await, first);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let before = hits.load(Ordering::SeqCst);
    let good = fetch(format!("{gw}/v1/a/sie"), None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Expired and the upstream now fails: stale-if-error serves the old answer.
    let r = client().get(format!("{gw}/v1/a/sie")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["bff-partial"], "true");
    assert!(
        r.headers()["bff-degraded"]
            .to_str()
            .unwrap()
            .contains("reason=stale")
    );
    assert_eq!(r.json::<Value>().await.unwrap(), good);
    assert_eq!(hits.load(Ordering::SeqCst) - before, 2);
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_renews_in_the_background() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    let first = fetch(format!("{gw}/v1/a/swr"), None).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = hits.load(Ordering::SeqCst);
    // Expired but within stale-while-revalidate: the kept answer, at once.
    assert_eq!(fetch(format!("{gw}/v1/a/swr"), None).await, first);
    // One renewal in the background, then its answer is served.
    let started = std::time::Instant::now();
    loop {
        let now = fetch(format!("{gw}/v1/a/swr"), None).await;
        if now != first {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "never renewed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hits.load(Ordering::SeqCst) - before, 1, "one renewal");
}

#[tokio::test]
async fn a_composed_answer_is_as_fresh_as_its_least_fresh_part_and_private_if_one_is() {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = upstream(hits.clone()).await;
    let two = |a: &str, b: &str| {
        format!(
            "calls:\n  a: {{ service: s, get: /r/{a} }}\n  b: {{ service: s, get: /r/{b} }}\nrespond:\n  jq: '{{a: .a.n, b: .b.n}}'\n"
        )
    };
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", cache: {{}} }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ] }}\n    forward: {{ x-user-id: sub }}\n"
    ))
    .endpoint("fresh", &format!("endpoint: GET /v1/fresh\ncache: {{}}\n{}", two("public", "short")))
    .endpoint("unkept", &format!("endpoint: GET /v1/unkept\ncache: {{}}\n{}", two("public", "none")))
    .endpoint("mine", &format!("endpoint: GET /v1/mine\nauth: user\n{}", two("public", "private")));
    let gw = gateway(dir.path()).await;

    let r = client().get(format!("{gw}/v1/fresh")).send().await.unwrap();
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    let secs: u64 = cc.strip_prefix("max-age=").unwrap().parse().unwrap();
    assert!((4..=5).contains(&secs), "{cc}");
    // Kept by the endpoint for as long: served again with its age.
    let again = client().get(format!("{gw}/v1/fresh")).send().await.unwrap();
    assert!(again.headers().contains_key("age"), "{:?}", again.headers());

    let r = client()
        .get(format!("{gw}/v1/unkept"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["cache-control"],
        "no-cache",
        "one part cannot be kept"
    );
    let again = client()
        .get(format!("{gw}/v1/unkept"))
        .send()
        .await
        .unwrap();
    assert!(!again.headers().contains_key("age"));

    let r = client()
        .get(format!("{gw}/v1/mine"))
        .bearer_auth(token("ada"))
        .send()
        .await
        .unwrap();
    // A private part is never kept, so the whole is private and revalidated.
    assert_eq!(r.headers()["cache-control"], "private, no-cache");
}

#[tokio::test]
async fn pass_through_gets_are_cached_by_the_same_rules() {
    let hits = Arc::new(AtomicUsize::new(0));
    let up = upstream(hits.clone()).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", cache: {{}} }}\nproxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ));
    let gw = gateway(dir.path()).await;
    let first = client()
        .get(format!("{gw}/raw/r/public"))
        .send()
        .await
        .unwrap();
    assert!(!first.headers().contains_key("age"));
    let first: Value = first.json().await.unwrap();
    let again = client()
        .get(format!("{gw}/raw/r/public"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["cache-control"], "max-age=60");
    assert!(again.headers().contains_key("age"));
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    for _ in 0..2 {
        client()
            .get(format!("{gw}/raw/r/none"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3, "no freshness, not kept");
}

/// An origin for the HTTP cache's rules: every path answers with the
/// `Cache-Control` its `cc` query parameter names (none without one),
/// counting the requests that reach it by path.
#[derive(Clone, Default)]
struct Origin {
    hits: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// Conditional requests seen (`If-None-Match` / `If-Modified-Since`).
    conditional: Arc<AtomicUsize>,
    /// `/sie` fails while this is set.
    failing: Arc<std::sync::atomic::AtomicBool>,
    /// `Surrogate-Capability` values seen.
    capabilities: Arc<std::sync::Mutex<Vec<String>>>,
}

const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

impl Origin {
    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    async fn serve(&self) -> String {
        async fn answer(
            State(o): State<Origin>,
            method: axum::http::Method,
            uri: axum::http::Uri,
            h: HeaderMap,
        ) -> axum::response::Response {
            let path = uri.path().to_owned();
            let n = {
                let mut hits = o.hits.lock().unwrap();
                let n = hits.entry(path.clone()).or_insert(0);
                *n += 1;
                *n
            };
            if let Some(c) = h.get("surrogate-capability") {
                o.capabilities
                    .lock()
                    .unwrap()
                    .push(c.to_str().unwrap().to_owned());
            }
            let query: std::collections::HashMap<String, String> =
                form_urlencoded(uri.query().unwrap_or(""));
            let get = |k: &str| {
                h.get(k)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let mut headers: Vec<(&str, String)> = Vec::new();
            if let Some(cc) = query.get("cc") {
                headers.push(("cache-control", cc.clone()));
            }
            let body = json!({
                "path": path, "n": n, "auth": get("authorization"),
                "cookie": get("cookie"), "user": get("x-user-id"),
            });
            let status = match (method.as_str(), path.as_str()) {
                ("GET", "/auth") if get("authorization").is_empty() => 401,
                ("GET", "/etag") => {
                    headers.push(("etag", "\"v1\"".into()));
                    if get("if-none-match") == "\"v1\"" {
                        o.conditional.fetch_add(1, Ordering::SeqCst);
                        304
                    } else {
                        200
                    }
                }
                ("GET", "/etag-cookie") => {
                    headers.push(("etag", "\"c1\"".into()));
                    if get("if-none-match") == "\"c1\"" {
                        headers.push(("set-cookie", "renewed=yes".into()));
                        304
                    } else {
                        200
                    }
                }
                ("GET", "/lm") => {
                    headers.push(("last-modified", LAST_MODIFIED.into()));
                    if get("if-modified-since") == LAST_MODIFIED {
                        o.conditional.fetch_add(1, Ordering::SeqCst);
                        304
                    } else {
                        200
                    }
                }
                ("GET", "/slow") => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    200
                }
                ("GET", "/aged") => {
                    headers.push(("age", "30".into()));
                    200
                }
                ("GET", "/badage") => {
                    headers.push(("age", "0, 0".into()));
                    200
                }
                ("GET", "/surrogate") => {
                    headers.push(("surrogate-control", "max-age=60;bff".into()));
                    200
                }
                ("GET", "/sie") if o.failing.load(Ordering::SeqCst) => 503,
                ("GET", "/huge") => {
                    let r = ([("cache-control", "max-age=60")], vec![b'x'; 1_100_000]);
                    return r.into_response();
                }
                ("GET", "/cookie-set") => {
                    headers.push(("set-cookie", format!("session=s-{n}")));
                    200
                }
                ("GET", p) if p.starts_with("/big/") => {
                    let mut r =
                        ([("cache-control", "max-age=60")], vec![b'x'; 200 * 1024]).into_response();
                    r.headers_mut().insert("x-n", n.into());
                    return r;
                }
                ("POST", _) => {
                    headers.push(("location", "/created?cc=max-age%3D60".into()));
                    201
                }
                ("GET", _) => 200,
                _ => 204,
            };
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            let mut r = if status == 200 || status == 401 {
                (status, axum::Json(body)).into_response()
            } else {
                status.into_response()
            };
            for (k, v) in headers {
                r.headers_mut().append(k, v.parse().unwrap());
            }
            r
        }
        serve(Router::new().fallback(answer).with_state(self.clone())).await
    }
}

fn form_urlencoded(q: &str) -> std::collections::HashMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v
                .replace("%20", " ")
                .replace("%2C", ",")
                .replace("%3D", "=");
            (k.to_owned(), v)
        })
        .collect()
}

/// A gateway with service `s` (cached, `cache_yaml` its settings) and `u`
/// (the same origin, not cached), a pass-through route `/raw` → `s`, one
/// `/me` → `s` for signed-in users, and the `user` JWT policy.
async fn http_cache_setup(
    cache_yaml: &str,
    endpoints: &[(&str, &str)],
) -> (String, Origin, SpecDir) {
    let origin = Origin::default();
    let up = origin.serve().await;
    let mut dir = SpecDir::new(&format!(
        "{cache_yaml}\nservices:\n  s: {{ url: \"{up}\", cache: {{}} }}\n  u: {{ url: \"{up}\" }}\n\
         proxy:\n  - {{ prefix: /raw, service: s, rewrite: \"\" }}\n  - {{ prefix: /me, service: s, rewrite: \"\", auth: user }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ] }}\n    forward: {{ x-user-id: sub }}\n"
    ));
    for (name, yaml) in endpoints {
        dir = dir.endpoint(name, yaml);
    }
    let gw = gateway(dir.path()).await;
    (gw, origin, dir)
}

async fn get_json(url: String, headers: &[(&str, &str)]) -> (u16, HeaderMap, Value) {
    let mut r = client().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, h, body)
}

#[tokio::test]
async fn a_pass_through_answer_to_one_token_never_reaches_another_caller() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let url = format!("{gw}/raw/auth?cc=max-age%3D60");
    for round in 0..2 {
        for token in ["Bearer alice", "Bearer bob"] {
            let (status, _, body) = get_json(url.clone(), &[("authorization", token)]).await;
            assert_eq!(
                (status, body["auth"].as_str()),
                (200, Some(token)),
                "round {round}"
            );
        }
        let (status, _, body) = get_json(url.clone(), &[]).await;
        assert_eq!(
            status, 401,
            "round {round}: no credentials, no answer: {body}"
        );
    }
    // Answers to Authorization are not kept; the 401 to the anonymous
    // caller is, for anonymous callers only.
    assert_eq!(origin.hits("/auth"), 5);
    // `public` says the answer may be shared among callers with
    // credentials (RFC 9111 §3.5); callers without them never get it.
    let url = format!("{gw}/raw/auth?cc=public,max-age%3D60");
    get_json(url.clone(), &[("authorization", "Bearer alice")]).await;
    let (_, h, body) = get_json(url.clone(), &[("authorization", "Bearer bob")]).await;
    assert_eq!(body["auth"], "Bearer alice");
    assert!(h.contains_key("age"));
    assert_eq!(get_json(url, &[]).await.0, 401);
}

#[tokio::test]
async fn a_private_or_credentialed_part_keeps_a_composed_answer_private_and_unkept() {
    let endpoint = |name: &str, service: &str, cc: &str| {
        format!(
            "endpoint: GET /v1/{name}\ncache: {{ ttl: 30s }}\ncalls:\n  d: {{ service: {service}, get: \"/cookie?cc={cc}\", headers: {{ cookie: \"{{{{ headers.cookie }}}}\" }} }}\nrespond:\n  jq: .d\n"
        )
    };
    let (gw, origin, _dir) = http_cache_setup(
        "",
        &[
            ("private", &endpoint("private", "u", "private,max-age%3D60")),
            (
                "privcached",
                &endpoint("privcached", "s", "private,max-age%3D60"),
            ),
            ("plain", &endpoint("plain", "u", "max-age%3D60")),
        ],
    )
    .await;
    for name in ["private", "privcached", "plain"] {
        let before = origin.hits("/cookie");
        for round in 0..2 {
            for cookie in ["sid=one", "sid=two"] {
                let (status, h, body) =
                    get_json(format!("{gw}/v1/{name}"), &[("cookie", cookie)]).await;
                assert_eq!(status, 200, "{name}");
                assert_eq!(body["cookie"], cookie, "{name}, round {round}");
                let cc = h["cache-control"].to_str().unwrap();
                assert!(cc.starts_with("private"), "{name}: {cc}");
                assert!(
                    !h.contains_key("age"),
                    "{name}: not from the endpoint cache"
                );
            }
        }
        assert_eq!(origin.hits("/cookie") - before, 4, "{name}: nothing kept");
    }
}

#[tokio::test]
async fn an_identity_forwarded_by_the_bff_keys_what_is_kept() {
    let (gw, origin, _dir) = http_cache_setup(
        "",
        &[(
            "who",
            "endpoint: GET /v1/who\nauth: user\ncalls:\n  d: { service: s, get: \"/user?cc=max-age%3D60\" }\nrespond:\n  jq: .d\n",
        )],
    )
    .await;
    let (ada, bob) = (token("ada"), token("bob"));
    for round in 0..3 {
        for (who, t) in [("ada", &ada), ("bob", &bob)] {
            let bearer = format!("Bearer {t}");
            let (_, _, v) = get_json(format!("{gw}/v1/who"), &[("authorization", &bearer)]).await;
            assert_eq!(v["user"], who, "composed, round {round}");
            let (_, _, v) = get_json(
                format!("{gw}/me/user2?cc=max-age%3D60"),
                &[("authorization", &bearer)],
            )
            .await;
            assert_eq!(v["user"], who, "pass-through, round {round}");
        }
    }
    assert_eq!(origin.hits("/user"), 2, "kept once per user");
    // The pass-through route keeps the `Authorization` the policy checked
    // from the service: keyed by the identity, nothing shared either way.
    assert!(origin.hits("/user2") >= 2);
}

#[tokio::test]
async fn expired_answers_are_revalidated_on_pass_through_routes_and_calls() {
    let (gw, origin, _dir) = http_cache_setup(
        "",
        &[(
            "lm",
            "endpoint: GET /v1/lm\ncalls:\n  d: { service: s, get: \"/lm?cc=max-age%3D1\" }\nrespond:\n  jq: .d\n",
        )],
    )
    .await;
    let url = format!("{gw}/raw/etag?cc=max-age%3D1");
    let (_, _, first) = get_json(url.clone(), &[]).await;
    let (_, _, call_first) = get_json(format!("{gw}/v1/lm"), &[]).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (status, h, again) = get_json(url.clone(), &[]).await;
    assert_eq!((status, &again), (200, &first), "renewed by a 304: {h:?}");
    let (_, _, call_again) = get_json(format!("{gw}/v1/lm"), &[]).await;
    assert_eq!(call_again, call_first);
    assert_eq!(
        origin.conditional.load(Ordering::SeqCst),
        2,
        "one conditional request each"
    );
    // Fresh again after the 304: no request at all.
    get_json(url, &[]).await;
    get_json(format!("{gw}/v1/lm"), &[]).await;
    assert_eq!((origin.hits("/etag"), origin.hits("/lm")), (2, 2));
    // The client's own validator, matching the kept answer: a 304 from the cache.
    let r = client()
        .get(format!("{gw}/raw/etag?cc=max-age%3D1"))
        .header("if-none-match", "\"v1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], "\"v1\"");
}

#[tokio::test]
async fn unsafe_requests_invalidate_what_is_kept_for_their_target_and_location() {
    let (gw, origin, _dir) = http_cache_setup(
        "",
        &[(
            "item",
            "endpoint: GET /v1/item\ncalls:\n  d: { service: s, get: \"/item?cc=max-age%3D60\" }\nrespond:\n  jq: .d\n",
        )],
    )
    .await;
    let raw = format!("{gw}/raw/item?cc=max-age%3D60");
    get_json(raw.clone(), &[]).await;
    get_json(format!("{gw}/v1/item"), &[]).await;
    // The route's request and the call's are kept apart, once each.
    assert_eq!(origin.hits("/item"), 2);
    for method in ["PUT", "DELETE", "PATCH", "POST"] {
        let before = origin.hits("/item");
        get_json(raw.clone(), &[]).await;
        get_json(format!("{gw}/v1/item"), &[]).await;
        assert_eq!(origin.hits("/item"), before, "{method}: kept");
        let m = axum::http::Method::from_bytes(method.as_bytes()).unwrap();
        let r = client()
            .request(m, raw.clone())
            .body("x")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{method}");
        get_json(raw.clone(), &[]).await;
        get_json(format!("{gw}/v1/item"), &[]).await;
        assert_eq!(
            origin.hits("/item"),
            before + 3,
            "{method}: itself, then both GETs reached the service"
        );
    }
    // A failed unsafe request changes nothing.
    let kept = origin.hits("/item");
    client()
        .put(format!("{gw}/raw/nothing"))
        .send()
        .await
        .unwrap();
    get_json(raw.clone(), &[]).await;
    assert_eq!(origin.hits("/item"), kept);
    // POST's `Location` names another target: that one goes too.
    let created = format!("{gw}/raw/created?cc=max-age%3D60");
    get_json(created.clone(), &[]).await;
    get_json(created.clone(), &[]).await;
    assert_eq!(origin.hits("/created"), 1);
    client().post(format!("{gw}/raw/new")).send().await.unwrap();
    get_json(created, &[]).await;
    assert_eq!(origin.hits("/created"), 2);
}

#[tokio::test]
async fn concurrent_cold_pass_through_gets_make_one_upstream_request() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let all: Vec<_> = (0..50)
        .map(|_| tokio::spawn(get_json(format!("{gw}/raw/slow?cc=max-age%3D60"), &[])))
        .collect();
    for t in all {
        let (status, _, body) = t.await.unwrap();
        assert_eq!((status, body["n"].as_u64()), (200, Some(1)));
    }
    assert_eq!(origin.hits("/slow"), 1);
}

#[tokio::test]
async fn pass_through_answers_stand_in_on_errors_and_are_served_while_renewed() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let sie = format!("{gw}/raw/sie?cc=max-age%3D1,stale-if-error%3D60");
    let (_, _, good) = get_json(sie.clone(), &[]).await;
    origin.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, stood_in) = get_json(sie, &[]).await;
    assert_eq!((status, &stood_in), (200, &good), "stale-if-error");
    let must = format!("{gw}/raw/sie?cc=max-age%3D1,stale-if-error%3D60,must-revalidate");
    origin.failing.store(false, Ordering::SeqCst);
    get_json(must.clone(), &[]).await;
    origin.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get_json(must, &[]).await.0,
        503,
        "must-revalidate: never stale"
    );

    let swr = format!("{gw}/raw/swr?cc=max-age%3D1,stale-while-revalidate%3D30");
    let (_, _, first) = get_json(swr.clone(), &[]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, _, stale) = get_json(swr.clone(), &[]).await;
    assert_eq!(stale, first, "served stale at once");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(origin.hits("/swr"), 2, "renewed once in the background");
    let (_, _, renewed) = get_json(swr, &[]).await;
    assert_eq!(renewed["n"], 2);
}

#[tokio::test]
async fn the_memory_bound_holds_least_recently_used_first() {
    let (gw, origin, _dir) = http_cache_setup("cache: { max_bytes: 300000 }", &[]).await;
    let big = |n: u32| format!("{gw}/raw/big/{n}");
    let body = |url: String| async move {
        client()
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len()
    };
    assert_eq!(body(big(1)).await, 200 * 1024);
    assert_eq!(body(big(2)).await, 200 * 1024);
    body(big(2)).await;
    assert_eq!(origin.hits("/big/2"), 1, "the last one is kept");
    body(big(1)).await;
    assert_eq!(
        origin.hits("/big/1"),
        2,
        "two would not fit: the older went"
    );
}

#[tokio::test]
async fn the_upstreams_age_counts_and_a_malformed_one_is_stale() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let url = format!("{gw}/raw/aged?cc=max-age%3D60");
    get_json(url.clone(), &[]).await;
    let (_, h, _) = get_json(url, &[]).await;
    let age: u64 = h["age"].to_str().unwrap().parse().unwrap();
    assert!((30..35).contains(&age), "{age}");
    let url = format!("{gw}/raw/badage?cc=max-age%3D3600");
    get_json(url.clone(), &[]).await;
    get_json(url, &[]).await;
    assert_eq!(origin.hits("/badage"), 2, "`Age: 0, 0` is not trusted");
}

#[tokio::test]
async fn surrogate_control_aimed_at_the_bff_rules_its_cache_and_goes_no_further() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let url = format!("{gw}/raw/surrogate?cc=no-store");
    let (_, h, first) = get_json(url.clone(), &[]).await;
    assert!(!h.contains_key("surrogate-control"));
    assert_eq!(
        h["cache-control"], "no-store",
        "clients still get the service's own rule"
    );
    let (_, h, again) = get_json(url, &[]).await;
    assert_eq!(again, first);
    assert!(!h.contains_key("surrogate-control"));
    assert_eq!(origin.hits("/surrogate"), 1);
    assert_eq!(
        origin.capabilities.lock().unwrap()[0],
        "bff=\"Surrogate/1.0\""
    );
}

#[tokio::test]
async fn a_purge_by_service_reaches_the_upstream_answers() {
    let admin_port = bff_tests::process::free_port();
    let (gw, origin, _dir) = http_cache_setup(
        &format!("admin: {{ listen: \"127.0.0.1:{admin_port}\", token: s3cret-admin }}"),
        &[(
            "p",
            "endpoint: GET /v1/p\ncache: { ttl: 60s, tags: [catalog] }\ncalls:\n  d: { service: s, get: \"/products/p-1?cc=max-age%3D60\" }\n  e: { service: s, get: \"/users/u-1?cc=max-age%3D60\" }\n",
        )],
    )
    .await;
    let admin = format!("http://127.0.0.1:{admin_port}");
    let purge = |body: Value| {
        let r = client()
            .post(format!("{admin}/cache/purge"))
            .bearer_auth("s3cret-admin")
            .json(&body);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    let raw = format!("{gw}/raw/products/p-1?cc=max-age%3D60");
    get_json(format!("{gw}/v1/p"), &[]).await;
    get_json(raw.clone(), &[]).await;
    get_json(raw.clone(), &[]).await;
    // The call's request and the route's are kept apart (the call's key
    // holds every header it sends).
    assert_eq!(origin.hits("/products/p-1"), 2);
    // A tag drops the composed answer; the calls' answers stay.
    assert_eq!(purge(json!({ "tag": "catalog" })).await, 204);
    get_json(format!("{gw}/v1/p"), &[]).await;
    assert_eq!(origin.hits("/products/p-1"), 2);
    // A service and prefix drop those upstream answers only.
    assert_eq!(
        purge(json!({ "service": "s", "prefix": "/products/" })).await,
        204
    );
    assert_eq!(purge(json!({ "tag": "catalog" })).await, 204);
    get_json(format!("{gw}/v1/p"), &[]).await;
    assert_eq!(
        (origin.hits("/products/p-1"), origin.hits("/users/u-1")),
        (3, 1)
    );
    get_json(raw, &[]).await;
    assert_eq!(origin.hits("/products/p-1"), 4);
    let r = client()
        .post(format!("{admin}/cache/purge"))
        .bearer_auth("s3cret-admin")
        .json(&json!({ "service": "s" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["bff-purged-upstream-answers"],
        "3",
        "the route's answer and the two calls'"
    );
    assert_eq!(purge(json!({ "service": "nope" })).await, 400);
    assert_eq!(purge(json!({ "prefix": "/x" })).await, 400);
}

#[tokio::test]
async fn the_web_bff_adds_cors_headers_only_to_requests_with_an_origin() {
    let origin = Origin::default();
    let up = origin.serve().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", cache: {{}} }}\nproxy:\n  - {{ prefix: /raw, service: s, rewrite: \"\" }}\n"
    ))
    .endpoint(
        "c",
        "endpoint: GET /v1/c\ncalls:\n  d: { service: s, get: \"/c?cc=max-age%3D60\" }\n",
    );
    let gw = bff_tests::gateway_with(
        dir.path(),
        bff_web::WebExtension::new(["https://shop.example"]),
    )
    .await;
    for url in [format!("{gw}/v1/c"), format!("{gw}/raw/r?cc=max-age%3D60")] {
        for _ in 0..2 {
            let (_, h, _) = get_json(url.clone(), &[]).await;
            assert!(!h.contains_key("vary"), "{url}: {h:?}");
            assert!(
                !h.keys().any(|k| k.as_str().starts_with("access-control-")),
                "{url}: {h:?}"
            );
            let (_, h, _) = get_json(url.clone(), &[("origin", "https://shop.example")]).await;
            assert_eq!(h["vary"], "origin", "{url}");
            assert_eq!(h["access-control-allow-origin"], "https://shop.example");
        }
    }
    assert_eq!(origin.hits("/r"), 1);
}

#[tokio::test]
async fn a_composed_write_invalidates_and_surrogate_control_rules_calls_too() {
    let (gw, origin, _dir) = http_cache_setup(
        "",
        &[
            (
                "write",
                "endpoint: POST /v1/item\ncalls:\n  d: { service: s, post: \"/item?cc=max-age%3D60\", body: { x: 1 } }\n",
            ),
            (
                "sur",
                "endpoint: GET /v1/sur\ncalls:\n  d: { service: s, get: \"/surrogate?cc=no-store\" }\nrespond:\n  jq: .d\n",
            ),
        ],
    )
    .await;
    let raw = format!("{gw}/raw/item?cc=max-age%3D60");
    get_json(raw.clone(), &[]).await;
    get_json(raw.clone(), &[]).await;
    assert_eq!(origin.hits("/item"), 1);
    let r = client().post(format!("{gw}/v1/item")).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    get_json(raw, &[]).await;
    assert_eq!(
        origin.hits("/item"),
        3,
        "the call's POST dropped the kept GET"
    );

    let (_, _, first) = get_json(format!("{gw}/v1/sur"), &[]).await;
    let (_, _, again) = get_json(format!("{gw}/v1/sur"), &[]).await;
    assert_eq!(again, first);
    assert_eq!(
        origin.hits("/surrogate"),
        1,
        "kept for the call by Surrogate-Control"
    );
    // Every GET that reached the origin (the route's two, the call's one)
    // announced this cache.
    assert_eq!(
        origin.capabilities.lock().unwrap().as_slice(),
        ["bff=\"Surrogate/1.0\""; 3],
    );
}

#[tokio::test]
async fn answers_too_large_or_setting_a_cookie_are_not_kept() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    for _ in 0..2 {
        let r = client().get(format!("{gw}/raw/huge")).send().await.unwrap();
        assert_eq!(
            r.bytes().await.unwrap().len(),
            1_100_000,
            "streamed through whole"
        );
    }
    assert_eq!(origin.hits("/huge"), 2, "past 1 MiB: not kept");
    let url = format!("{gw}/raw/cookie-set?cc=max-age%3D60");
    for n in 1..=2 {
        let r = client().get(url.clone()).send().await.unwrap();
        assert_eq!(r.headers()["set-cookie"], format!("session=s-{n}").as_str());
    }
    assert_eq!(origin.hits("/cookie-set"), 2, "a cookie is one caller's");
}

#[tokio::test]
async fn a_cookie_set_on_revalidation_reaches_that_client_only() {
    let (gw, origin, _dir) = http_cache_setup("", &[]).await;
    let url = format!("{gw}/raw/etag-cookie?cc=max-age%3D1");
    get_json(url.clone(), &[]).await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let (status, h, _) = get_json(url.clone(), &[]).await;
    assert_eq!(
        (status, h.get("set-cookie").map(|v| v.to_str().unwrap())),
        (200, Some("renewed=yes"))
    );
    let (_, h, _) = get_json(url, &[]).await;
    assert!(
        !h.contains_key("set-cookie"),
        "the renewed answer is kept without it: {h:?}"
    );
    assert_eq!(origin.hits("/etag-cookie"), 2);
}

#[tokio::test]
async fn a_new_generation_of_specs_starts_with_empty_caches() {
    let origin = Origin::default();
    let up = origin.serve().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", cache: {{}} }}\n"
    ));
    let first = bff_core::Gateway::load(dir.path()).unwrap();
    let first = bff_core::testing::call_cache(&first);
    let none = HeaderMap::new();
    let cc: HeaderMap = [(
        axum::http::header::CACHE_CONTROL,
        "max-age=60".parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let ask = first.ask_call("s", "/x", &none);
    let body = bytes::Bytes::from_static(b"{}");
    let kept = first.admit(
        &ask,
        axum::http::StatusCode::OK,
        &cc,
        body,
        SystemTime::now(),
        None,
    );
    assert!(kept.is_some());
    // A reload loads the folder again, as here.
    let second = bff_core::Gateway::load(dir.path()).unwrap();
    let second = bff_core::testing::call_cache(&second);
    let ask = second.ask_call("s", "/x", &none);
    assert!(matches!(
        second.lookup(&ask),
        bff_core::testing::Lookup::Miss
    ));
}
