//! Limits shared by replicas through a real `redis-server`: two BFF
//! processes together admit no more than the global limit, and when Redis
//! goes away each `on_store_error` mode does what it says.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bff_tests::process::BffProcess;
use bff_tests::redis::RedisServer;
use bff_tests::{SpecDir, client, serve};
use serde_json::json;

/// Specs whose Redis commands may take `timeout` before `on_store_error`
/// applies.
async fn specs(timeout: &str) -> SpecDir {
    let up = serve(Router::new().route("/ok", get(|| async { axum::Json(json!({ "ok": true })) })))
        .await;
    let mut dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         redis: {{ url: \"${{REDIS_URL}}\", timeout: {timeout} }}\n\
         rate_limits:\n\
         \x20 global: {{ key: [endpoint], rate: 1/min, burst: 10, store: redis }}\n\
         \x20 open: {{ key: [endpoint], rate: 1/min, burst: 2, store: redis, on_store_error: open }}\n\
         \x20 closed: {{ key: [endpoint], rate: 1/min, burst: 2, store: redis, on_store_error: closed }}\n\
         \x20 local: {{ key: [endpoint], rate: 1/min, burst: 2, store: redis, on_store_error: local }}\n"
    ));
    for name in ["global", "open", "closed", "local"] {
        dir = dir.endpoint(
            name,
            &format!(
                "endpoint: GET /v1/{name}\nrate_limit: {name}\ncalls:\n  ok: {{ service: s, get: /ok }}\nrespond:\n  jq: .ok\n"
            ),
        );
    }
    dir
}

async fn status(base: &str, path: &str) -> u16 {
    client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until `base` answers its `closed` limit with 200, i.e. reached
/// Redis (the two replicas share its burst of 2: call once per replica).
async fn wait_for_redis(base: &str) {
    let started = Instant::now();
    loop {
        match status(base, "/v1/closed").await {
            200 => return,
            503 if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{base} answered {other} before reaching Redis"),
        }
    }
}

#[tokio::test]
async fn two_replicas_together_admit_no_more_than_the_global_limit() {
    let redis = RedisServer::start();
    // A generous timeout: this test is about sharing the bucket, not about
    // a slow Redis (which falls back to per-replica counts by design).
    let dir = specs("2s").await;
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = BffProcess::start("bff-web", dir.path(), &env);
    let b = BffProcess::start("bff-web", dir.path(), &env);

    let (ua, ub) = (a.url(), b.url());
    // Each replica has reached Redis once (a `closed` limit refuses until
    // it has), so the burst below meets connected replicas.
    for base in [&ua, &ub] {
        wait_for_redis(base).await;
    }
    let requests = (0..40).map(|i| {
        let base = if i % 2 == 0 { ua.clone() } else { ub.clone() };
        tokio::spawn(async move { status(&base, "/v1/global").await })
    });
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let passed = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(passed, 10, "the burst of 10 is global: {statuses:?}");
    assert_eq!(refused, 30, "{statuses:?}");
}

#[tokio::test]
async fn without_redis_each_mode_does_as_declared_and_limiting_resumes_after() {
    let mut redis = RedisServer::start();
    let dir = specs("50ms").await;
    let env = [("REDIS_URL", redis.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = BffProcess::start("bff-web", dir.path(), &env);
    let b = BffProcess::start("bff-web", dir.path(), &env);
    let (a, b) = (a.url(), b.url());

    // With Redis: the two replicas share the burst of 2.
    assert_eq!(status(&a, "/v1/open").await, 200);
    assert_eq!(status(&b, "/v1/open").await, 200);
    assert_eq!(status(&a, "/v1/open").await, 429);

    redis.stop();
    // open: let through, unmetered.
    for _ in 0..4 {
        assert_eq!(status(&a, "/v1/open").await, 200);
    }
    // closed: refused with 503 (never 401 or 500), quickly.
    let started = Instant::now();
    let r = client().get(format!("{a}/v1/closed")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // local: each replica limits with its own counts.
    assert_eq!(status(&a, "/v1/local").await, 200);
    assert_eq!(status(&a, "/v1/local").await, 200);
    assert_eq!(status(&a, "/v1/local").await, 429);
    assert_eq!(status(&b, "/v1/local").await, 200);

    // Redis is back (empty): global limiting resumes once reconnected.
    redis.restart();
    let started = Instant::now();
    loop {
        match status(&a, "/v1/closed").await {
            200 => break,
            503 if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("replica a answered {other} after Redis came back"),
        }
    }
    let started = Instant::now();
    while status(&b, "/v1/closed").await == 503 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "replica b never reconnected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Both took one of the shared burst of 2: both are refused now.
    assert_eq!(status(&a, "/v1/closed").await, 429);
    assert_eq!(status(&b, "/v1/closed").await, 429);
}

#[tokio::test]
async fn replicas_share_kept_answers_through_redis_and_a_purge_reaches_all() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let redis = RedisServer::start();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let up = serve(Router::new().route(
        "/n",
        get(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move { axum::Json(json!({ "n": n })) }
        }),
    ))
    .await;
    let (admin_a, admin_b) = (
        bff_tests::process::free_port(),
        bff_tests::process::free_port(),
    );
    let spec = |admin: u16| {
        SpecDir::new(&format!(
            "services:\n  s: {{ url: \"{up}\" }}\nredis: {{ url: \"{}\" }}\ncache: {{ store: redis }}\n\
             admin: {{ listen: \"127.0.0.1:{admin}\", token: t0ken }}\n",
            redis.url()
        ))
        .endpoint(
            "n",
            "endpoint: GET /v1/n\ncache: { ttl: 60s, tags: [numbers] }\ncalls:\n  c: { service: s, get: /n }\nrespond:\n  jq: .c.n\n",
        )
    };
    let (dir_a, dir_b) = (spec(admin_a), spec(admin_b));
    let a = BffProcess::start("bff-web", dir_a.path(), &[]);
    let b = BffProcess::start("bff-web", dir_b.path(), &[]);
    let n = |base: String| async move {
        let r = client().get(format!("{base}/v1/n")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()
    };
    assert_eq!(n(a.url()).await, json!(0));
    assert_eq!(n(b.url()).await, json!(0), "b serves a's kept answer");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Purged through a's admin listener: b composes anew too.
    let started = Instant::now();
    let purged = loop {
        match client()
            .post(format!("http://127.0.0.1:{admin_a}/cache/purge"))
            .bearer_auth("t0ken")
            .json(&json!({ "tag": "numbers" }))
            .send()
            .await
        {
            Ok(r) => break r.status().as_u16(),
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(purged, 204);
    assert_eq!(n(b.url()).await, json!(1));
    assert_eq!(n(a.url()).await, json!(1));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn callers_whose_key_parts_differ_never_share_a_bucket_in_redis() {
    let redis = RedisServer::start();
    let up = serve(Router::new().route("/ok", get(|| async { axum::Json(json!({ "ok": true })) })))
        .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         redis: {{ url: \"{}\", timeout: 200ms }}\n\
         rate_limits:\n  p: {{ key: [\"header:x-a\", \"header:x-b\"], rate: 1/min, burst: 1, store: redis, on_store_error: closed }}\n",
        redis.url()
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: p\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let base = bff.url();
    let send = |a: &'static str, b: &'static str| {
        let url = format!("{base}/v1/a");
        async move {
            client()
                .get(url)
                .header("x-a", a)
                .header("x-b", b)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send("p|q", "r").await, 200);
    assert_eq!(send("p|q", "r").await, 429);
    assert_eq!(
        send("p", "q|r").await,
        200,
        "another caller, its own bucket"
    );
}
