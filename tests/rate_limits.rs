//! Rate limits, tiers, quotas and load shedding in one BFF, against real
//! upstreams. Rates here are slow enough (one request per 20 s and less)
//! that no bucket refills during a test: the refill itself is tested with
//! paused time in `bff-core`'s own tests.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bff_tests::{SpecDir, client, gateway, serve};
use reqwest::Response;
use serde_json::{Value, json};

async fn upstream() -> String {
    serve(
        Router::new()
            .route("/ok", get(|| async { axum::Json(json!({ "ok": true })) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    axum::Json(json!({ "ok": true }))
                }),
            ),
    )
    .await
}

/// A new API key (stored in `keys`), for `owner` in `tier`.
fn create_key(keys: &std::path::Path, owner: &str, tier: Option<&str>) -> String {
    let mut args = vec![
        "apikey",
        "create",
        "--keys",
        keys.to_str().unwrap(),
        "--owner",
        owner,
    ];
    if let Some(t) = tier {
        args.extend(["--tier", t]);
    }
    let out = bff_tests::process::run("bff-partner", &args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no `{name}` header in {:?}", r.headers()))
}

#[tokio::test]
async fn a_burst_passes_then_429_with_exact_headers() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         rate_limits:\n  per_client: {{ key: [ip], rate: 3/min, burst: 3 }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: per_client\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let gw = gateway(dir.path()).await;
    let c = client();

    // One request per 20 s, three at once: the bucket drains 2, 1, 0 and
    // its refill time grows by 20 s a request.
    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let r = c.get(format!("{gw}/v1/a")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-policy"), "\"per_client\";q=3;w=60");
        assert_eq!(
            header(&r, "ratelimit"),
            format!("\"per_client\";r={remaining};t={reset}")
        );
        assert_eq!(header(&r, "x-ratelimit-limit"), "3");
        assert_eq!(header(&r, "x-ratelimit-remaining"), remaining.to_string());
        assert_eq!(header(&r, "x-ratelimit-reset"), reset.to_string());
    }
    let r = c.get(format!("{gw}/v1/a")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
    assert_eq!(header(&r, "retry-after"), "20");
    assert_eq!(header(&r, "ratelimit"), "\"per_client\";r=0;t=60");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("rate limit `per_client` exceeded"),
        "{problem}"
    );
}

#[tokio::test]
async fn limits_are_per_key_and_per_tier() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         auth:\n  partner:\n    api_key: {{ header: x-api-key, keys: keys.yaml }}\n\
         rate_limits:\n  partner:\n    key: [api_key]\n    rate: 1/min\n    burst: 1\n\
         \x20   tiers:\n      pro: {{ rate: 3/min, burst: 3 }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nauth: partner\nrate_limit: partner\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let keys = dir.path().join("keys.yaml");
    let create = |owner: &str, tier: &str| create_key(&keys, owner, Some(tier));
    let (free, pro, other_pro) = (
        create("acme", "free"),
        create("globex", "pro"),
        create("initech", "pro"),
    );
    let gw = gateway(dir.path()).await;
    let c = client();
    let status = |key: String| {
        let c = c.clone();
        let url = format!("{gw}/v1/a");
        async move {
            c.get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // A tier not listed gets the policy's own rate: one, then refused.
    assert_eq!(status(free.clone()).await, 200);
    assert_eq!(status(free.clone()).await, 429);
    // Pro gets three; each key has its own bucket.
    for _ in 0..3 {
        assert_eq!(status(pro.clone()).await, 200);
    }
    assert_eq!(status(pro.clone()).await, 429);
    assert_eq!(status(other_pro.clone()).await, 200);
    // Unauthenticated requests are refused before they count.
    assert_eq!(status("bff_nonsense".into()).await, 401);
}

#[tokio::test]
async fn a_quota_runs_out_refused_requests_do_not_spend_it_and_usage_says_so() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         auth:\n  partner:\n    api_key: {{ header: x-api-key, keys: keys.yaml }}\n\
         rate_limits:\n  partner:\n    key: [api_key]\n    rate: 2/min\n    burst: 2\n\
         \x20   quota: {{ limit: 3, per: day }}\n    usage_path: /v1/usage\n    usage_auth: partner\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nauth: partner\nrate_limit: partner\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let keys = dir.path().join("keys.yaml");
    let key = create_key(&keys, "acme", None);
    let gw = gateway(dir.path()).await;
    let c = client();
    let get = |path: &str| {
        c.get(format!("{gw}{path}"))
            .header("x-api-key", &key)
            .send()
    };

    let usage: Value = get("/v1/usage").await.unwrap().json().await.unwrap();
    assert_eq!(usage["quota"]["used"], 0);
    assert_eq!(usage["quota"]["remaining"], 3);
    assert_eq!(usage["rate"]["remaining"], 2);

    // Two pass (the burst), the third is refused by the rate, not counted.
    assert_eq!(get("/v1/a").await.unwrap().status(), 200);
    let r = get("/v1/a").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-limit-day"), "3");
    assert_eq!(header(&r, "x-ratelimit-remaining-day"), "1");
    assert!(
        header(&r, "ratelimit").starts_with("\"partner\";r=0;t=60, \"partner-quota\";r=1;t="),
        "{}",
        header(&r, "ratelimit")
    );
    assert_eq!(
        header(&r, "ratelimit-policy"),
        "\"partner\";q=2;w=60, \"partner-quota\";q=3;w=86400"
    );
    assert_eq!(get("/v1/a").await.unwrap().status(), 429);
    let usage: Value = get("/v1/usage").await.unwrap().json().await.unwrap();
    assert_eq!(usage["subject"], "acme");
    assert_eq!(
        usage["quota"]["used"], 2,
        "the refused request spent nothing: {usage}"
    );
    assert_eq!(usage["quota"]["remaining"], 1);
    assert_eq!(usage["quota"]["period"], "day");
    let to_midnight = 86_400
        - std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 86_400;
    let reset = usage["quota"]["reset"].as_u64().unwrap();
    assert!(reset.abs_diff(to_midnight) <= 2, "{reset} vs {to_midnight}");
    // The rate as the usage body describes it: a bucket of 2 that refills
    // whole in 60 s, empty now, full again in a minute.
    assert_eq!(usage["tier"], Value::Null);
    assert_eq!(usage["rate"]["limit"], 2);
    assert_eq!(usage["rate"]["remaining"], 0);
    assert_eq!(usage["rate"]["window"], 60.0);
    let full_in = usage["rate"]["reset"].as_u64().unwrap();
    assert!((58..=60).contains(&full_in), "{usage}");
}

#[tokio::test]
async fn a_spent_quota_is_a_429_until_the_window_ends() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         rate_limits:\n  daily:\n    key: [ip]\n    rate: 100/s\n    quota: {{ limit: 2, per: day }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: daily\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let gw = gateway(dir.path()).await;
    let c = client();
    for _ in 0..2 {
        assert_eq!(
            c.get(format!("{gw}/v1/a")).send().await.unwrap().status(),
            200
        );
    }
    let r = c.get(format!("{gw}/v1/a")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!(retry > 0 && retry <= 86_400, "{retry}");
    assert_eq!(header(&r, "x-ratelimit-remaining-day"), "0");
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("quota of 2 requests per day is used up"),
        "{problem}"
    );
}

#[tokio::test]
async fn past_the_bff_concurrency_limit_requests_get_503_at_once() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", timeout: 5s }}\nlimits:\n  max_concurrency: 2\ndefaults: {{ deadline: 5s }}\n"
    ))
    .endpoint(
        "slow",
        "endpoint: GET /v1/slow\ncalls:\n  s: { service: s, get: /slow }\nrespond:\n  jq: .s\n",
    );
    let gw = gateway(dir.path()).await;
    let c = client();
    let slow: Vec<_> = (0..2)
        .map(|_| tokio::spawn(c.get(format!("{gw}/v1/slow")).send()))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = c.get(format!("{gw}/v1/slow")).send().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "shed at once, took {:?}",
        started.elapsed()
    );
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("limit of 2"),
        "{problem}"
    );
    for s in slow {
        assert_eq!(s.await.unwrap().unwrap().status(), 200);
    }
    // With the slow ones done, there is room again.
    assert_eq!(
        c.get(format!("{gw}/v1/slow"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn past_a_service_concurrency_limit_its_calls_and_routes_get_503_at_once() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", timeout: 5s, max_concurrency: 1 }}\ndefaults: {{ deadline: 5s }}\n\
         proxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ))
    .endpoint(
        "slow",
        "endpoint: GET /v1/slow\ncalls:\n  s: { service: s, get: /slow }\nrespond:\n  jq: .s\n",
    );
    let gw = gateway(dir.path()).await;
    let c = client();
    let first = tokio::spawn(c.get(format!("{gw}/raw/slow")).send());
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let r = c.get(format!("{gw}/raw/ok")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("service `s`"),
        "{problem}"
    );
    let r = c.get(format!("{gw}/v1/slow")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(header(&r, "retry-after"), "1");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["call"], "s");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    assert_eq!(first.await.unwrap().unwrap().status(), 200);
}

#[tokio::test]
async fn a_per_address_limit_guards_the_whole_bff_before_authentication() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nlimits:\n  per_ip: {{ rate: 1/min, burst: 2 }}\n\
         proxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ));
    let gw = gateway(dir.path()).await;
    let c = client();
    assert_eq!(
        c.get(format!("{gw}/raw/ok")).send().await.unwrap().status(),
        200
    );
    // Even a request for nothing counts: the limit is on the address.
    assert_eq!(
        c.get(format!("{gw}/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = c.get(format!("{gw}/raw/ok")).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&r, "content-type"), "application/problem+json");
}

#[test]
fn policies_that_cannot_build_their_key_are_located_load_errors() {
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:9\" }\nrate_limits:\n  p: { key: [identity], rate: 1/s }\n  bad: { rate: 3/fortnight }\n",
    )
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: p\ncalls:\n  ok: { service: s, get: /ok }\n",
    )
    .endpoint(
        "b",
        "endpoint: GET /v1/b\nrate_limit: nope\ncalls:\n  ok: { service: s, get: /ok }\n",
    );
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    assert!(errors.contains("unknown unit `fortnight`"), "{errors}");
    assert!(errors.contains("bff.yaml:5:"), "{errors}");
    assert!(
        errors.contains("it needs an `auth` policy here"),
        "{errors}"
    );
    assert!(errors.contains("a.yaml:2:"), "{errors}");
    assert!(errors.contains("unknown rate limit `nope`"), "{errors}");
}

#[tokio::test]
async fn a_quota_refusal_reports_the_rate_bucket_as_it_stands() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         rate_limits:\n  p:\n    key: [ip]\n    rate: 1/min\n    burst: 20\n    quota: {{ limit: 5, per: day }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: p\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let gw = gateway(dir.path()).await;
    let c = client();
    let mut last = String::new();
    for _ in 0..5 {
        let r = c.get(format!("{gw}/v1/a")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        last = header(&r, "ratelimit");
    }
    assert!(last.starts_with("\"p\";r=15;t=300"), "{last}");
    for _ in 0..3 {
        let r = c.get(format!("{gw}/v1/a")).send().await.unwrap();
        assert_eq!(r.status(), 429);
        let rl = header(&r, "ratelimit");
        assert!(
            rl.starts_with("\"p\";r=15;t=300") || rl.starts_with("\"p\";r=15;t=299"),
            "refused by the quota, the rate is untouched: {rl}"
        );
        assert_eq!(header(&r, "x-ratelimit-remaining"), "15");
    }
}

#[tokio::test]
async fn callers_whose_key_parts_differ_never_share_a_bucket() {
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         rate_limits:\n  p: {{ key: [\"header:x-a\", \"header:x-b\"], rate: 1/min, burst: 1 }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: p\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let gw = gateway(dir.path()).await;
    let send = |a: &'static str, b: &'static str| {
        let url = format!("{gw}/v1/a");
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
    assert_eq!(send("p|q", "r").await, 429, "the same caller again");
    assert_eq!(
        send("p", "q|r").await,
        200,
        "another caller, its own bucket"
    );
    assert_eq!(
        send("1:p|", "q").await,
        200,
        "what a part's encoding looks like"
    );
    let long = Box::leak("x".repeat(5000).into_boxed_str());
    assert_eq!(send(long, "b").await, 200);
    assert_eq!(send(long, "b").await, 429, "a long value keys a bucket too");
}

#[tokio::test]
async fn a_month_quota_window_is_this_months_length() {
    // Days in this month, by date(1): the last day of the month.
    let first = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-01"])
        .output()
        .unwrap();
    let first = String::from_utf8(first.stdout).unwrap();
    let last = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("{} +1 month -1 day", first.trim()),
            "+%d",
        ])
        .output()
        .unwrap();
    let days: u64 = String::from_utf8(last.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let up = upstream().await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         rate_limits:\n  m:\n    key: [ip]\n    rate: 10/s\n    quota: {{ limit: 100, per: month }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\nrate_limit: m\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: .ok\n",
    );
    let gw = gateway(dir.path()).await;
    let r = client().get(format!("{gw}/v1/a")).send().await.unwrap();
    let policy = header(&r, "ratelimit-policy");
    assert!(
        policy.ends_with(&format!("\"m-quota\";q=100;w={}", days * 86_400)),
        "{days} days: {policy}"
    );
}
