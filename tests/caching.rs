//! Caching of upstream answers by HTTP's rules, and validators on composed
//! answers, against a real upstream that counts what reaches it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use bff_tests::{SpecDir, client, gateway, serve};
use jsonwebtoken::{EncodingKey, Header, encode};
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
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    encode(
        &Header::default(),
        &json!({ "sub": sub, "exp": exp }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
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
async fn private_answers_never_reach_another_user() {
    let (gw, hits, _dir) = setup("cache: {}").await;
    let (ada, bob) = (token("ada"), token("bob"));
    for round in 0..3 {
        for (who, t) in [("ada", &ada), ("bob", &bob)] {
            let v = fetch(format!("{gw}/v1/me/private"), Some(t)).await;
            assert_eq!(v["user"], who, "round {round}: {v}");
        }
    }
    // Learning it is private costs one uncached answer; then one per user.
    assert!(
        hits.load(Ordering::SeqCst) <= 3,
        "{}",
        hits.load(Ordering::SeqCst)
    );
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
    let _ = r.text().await;
    // The private part is learnt from its first answer, then kept per caller.
    let r = client()
        .get(format!("{gw}/v1/mine"))
        .bearer_auth(token("ada"))
        .send()
        .await
        .unwrap();
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.starts_with("private, max-age="), "{cc}");
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
