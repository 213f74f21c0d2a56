//! Specs changed while a real BFF process serves: by editing files (the
//! folder is watched), on SIGHUP and on the admin listener's `POST
//! /reload`. Under steady load no request fails, requests in flight finish
//! on the specs they started with, and a broken folder is refused with its
//! located errors while the last good specs keep serving.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, serve};
use serde_json::{Value, json};

const TOKEN: &str = "reload-test-token";

async fn upstream() -> String {
    serve(
        Router::new()
            .route("/item", get(|| async { axum::Json(json!({"n": 7})) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    axum::Json(json!({"n": 8}))
                }),
            ),
    )
    .await
}

fn bff_yaml(upstream: &str, admin_port: u16, watch: bool) -> String {
    format!(
        "services:\n  s: {{ url: \"{upstream}\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\", token: \"{TOKEN}\" }}\n\
         reload: {{ watch: {watch}, debounce: 100ms }}\n"
    )
}

fn versioned(version: u32) -> String {
    format!(
        "endpoint: GET /v\ncalls:\n  a: {{ service: s, get: /item }}\nrespond:\n  jq: '{{version: {version}, n: .a.n}}'\n"
    )
}

/// Writes a file in place, as an editor or `cp` does.
fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("endpoints").join(name), text).unwrap();
}

async fn version(base: &str) -> Option<u64> {
    let r = client().get(format!("{base}/v")).send().await.ok()?;
    let v: Value = r.json().await.ok()?;
    v["version"].as_u64()
}

async fn wait_for_version(base: &str, want: u64) {
    let started = Instant::now();
    while version(base).await != Some(want) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "version {want} never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn reload_state(admin: &str) -> Value {
    client()
        .get(format!("{admin}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edited_specs_take_over_under_load_without_a_failed_request() {
    let upstream = upstream().await;
    let admin_port = free_port();
    let dir = SpecDir::new(&bff_yaml(&upstream, admin_port, true)).endpoint("v", &versioned(0));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let (base, admin) = (bff.url(), format!("http://127.0.0.1:{admin_port}"));
    wait_for_version(&base, 0).await;

    // Steady load: four clients, one request after another, each checking
    // that versions only move forward.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, base) = (stop.clone(), base.clone());
        load.push(tokio::spawn(async move {
            let http = client();
            let (mut ok, mut failed, mut last) = (0u32, Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                match http.get(format!("{base}/v")).send().await {
                    Ok(r) if r.status() == 200 => {
                        let v: Value = r.json().await.unwrap();
                        let seen = v["version"].as_u64().unwrap();
                        assert!(seen >= last, "version went back from {last} to {seen}");
                        assert_eq!(v["n"], 7);
                        last = seen;
                        ok += 1;
                    }
                    Ok(r) => failed.push(format!("{} {}", r.status(), r.text().await.unwrap())),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }

    for v in 1..=24u32 {
        write(dir.path(), "v.yaml", &versioned(v));
        wait_for_version(&base, u64::from(v)).await;
        if v == 12 {
            // A broken edit: refused where it is wrong, the last good keeps serving.
            write(
                dir.path(),
                "v.yaml",
                "endpoint: GET /v\ncalls:\n  a: { service: s, get: /item }\nrespond:\n  jq: '{version: .a.n +}'\n",
            );
            let started = Instant::now();
            let state = loop {
                let state = reload_state(&admin).await;
                if state["last_attempt"]["result"] == "error" {
                    break state;
                }
                assert!(started.elapsed() < Duration::from_secs(10), "{state}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            let error = state["last_attempt"]["errors"][0].as_str().unwrap();
            assert!(error.contains("v.yaml:5:"), "located: {error}");
            assert_eq!(version(&base).await, Some(12));
            let metrics = client()
                .get(format!("{admin}/metrics"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            // The series is there from the start, at 0: count the refusal.
            let refused = bff_tests::metric_sample(
                &metrics,
                "bff_spec_reloads_total",
                &[("result", "error")],
            );
            assert!(refused.is_some_and(|n| n >= 1.0), "{metrics}");
            assert!(bff.log().contains("specs not reloaded"), "{}", bff.log());
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (mut total, mut failures) = (0, Vec::new());
    for task in load {
        let (ok, failed) = task.await.unwrap();
        total += ok;
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(total > 200, "only {total} requests under load");
    let state = reload_state(&admin).await;
    assert!(state["generation"].as_u64().unwrap() >= 25, "{state}");
}

#[tokio::test]
async fn sighup_and_the_admin_listener_reload_and_requests_in_flight_keep_their_specs() {
    let upstream = upstream().await;
    let admin_port = free_port();
    let slow = |version: u32| {
        format!(
            "endpoint: GET /slow\ncalls:\n  a: {{ service: s, get: /slow }}\nrespond:\n  jq: '{{version: {version}}}'\n"
        )
    };
    let dir = SpecDir::new(&bff_yaml(&upstream, admin_port, false))
        .endpoint("v", &versioned(0))
        .endpoint("slow", &slow(0));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let (base, admin) = (bff.url(), format!("http://127.0.0.1:{admin_port}"));
    let http = client();

    // Without watching, an edit waits for SIGHUP.
    write(dir.path(), "v.yaml", &versioned(1));
    write(dir.path(), "slow.yaml", &slow(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(version(&base).await, Some(0));
    let in_flight = tokio::spawn({
        let url = format!("{base}/slow");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &bff.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for_version(&base, 1).await;
    assert_eq!(
        in_flight.await.unwrap()["version"],
        0,
        "a request in flight finishes on the specs it started with"
    );
    let after: Value = http
        .get(format!("{base}/slow"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after["version"], 1);

    // The admin listener reloads with its token only.
    std::fs::write(
        dir.path().join("endpoints/new.yaml"),
        "endpoint: GET /new\ncalls:\n  a: { service: s, get: /item }\n",
    )
    .unwrap();
    assert_eq!(
        http.get(format!("{base}/new"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = http.post(format!("{admin}/reload")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = http
        .post(format!("{admin}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["generation"], 3);
    let r = http.get(format!("{base}/new")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["a"]["n"], 7);

    // A broken folder: 422 with every located error, nothing changes.
    write(
        dir.path(),
        "v.yaml",
        "endpoint: GET /v\ncalls:\n  a: { service: nope, get: /item }\n",
    );
    let r = http
        .post(format!("{admin}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    let error = problem["errors"][0].as_str().unwrap();
    assert!(
        error.contains("v.yaml:3:") && error.contains("nope"),
        "{problem}"
    );
    assert_eq!(version(&base).await, Some(1));
    assert_eq!(reload_state(&admin).await["generation"], 3);
}

/// A listener counting the connections it accepts.
struct Counting(tokio::net::TcpListener, Arc<AtomicUsize>);

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let accepted = axum::serve::Listener::accept(&mut self.0).await;
        self.1.fetch_add(1, Ordering::SeqCst);
        accepted
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// An upstream answering `/x`, and how many connections it accepted.
async fn counted_upstream() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let router = Router::new().route("/x", get(|| async { "x" }));
    tokio::spawn(axum::serve(Counting(listener, count.clone()), router).into_future());
    (url, count)
}

#[tokio::test]
async fn a_reload_keeps_upstream_connections_but_those_of_services_with_their_own_client() {
    let (shared, shared_count) = counted_upstream().await;
    let (own, own_count) = counted_upstream().await;
    let admin_port = bff_tests::process::free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  shared: {{ url: \"{shared}\" }}\n  own: {{ url: \"{own}\", connect_timeout: 2s }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\", token: \"{TOKEN}\" }}\n\
         proxy:\n  - {{ prefix: /shared, service: shared, rewrite: \"\" }}\n  - {{ prefix: /own, service: own, rewrite: \"\" }}\n"
    ));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let http = client();
    let get_both = || async {
        for route in ["shared", "own"] {
            let r = http
                .get(format!("{}/{route}/x", bff.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    };
    get_both().await;
    get_both().await;
    assert_eq!(
        (
            shared_count.load(Ordering::SeqCst),
            own_count.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    let reloaded = http
        .post(format!("http://127.0.0.1:{admin_port}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    get_both().await;
    // The gateway's client and its kept-alive connection carry on; the
    // service with a client of its own connects anew.
    assert_eq!(shared_count.load(Ordering::SeqCst), 1);
    assert_eq!(own_count.load(Ordering::SeqCst), 2);
}

/// Connection limits are bound when the process starts: a reload that
/// changes `limits.keep_alive_timeout` says so in the log, and idle
/// connections are still closed after the old time.
#[tokio::test]
async fn a_reload_that_changes_the_keep_alive_timeout_says_it_waits_for_a_restart() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = serve(Router::new().route("/x", get(|| async { "x" }))).await;
    let admin_port = free_port();
    let yaml = |keep_alive: &str| {
        format!(
            "services:\n  s: {{ url: \"{up}\" }}\n\
             admin: {{ listen: \"127.0.0.1:{admin_port}\", token: \"{TOKEN}\" }}\n\
             limits: {{ keep_alive_timeout: {keep_alive} }}\n\
             proxy:\n  - {{ prefix: /s, service: s, rewrite: \"\" }}\n"
        )
    };
    let dir = SpecDir::new(&yaml("700ms"));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    std::fs::write(dir.path().join("bff.yaml"), yaml("60s")).unwrap();
    let reloaded = client()
        .post(format!("http://127.0.0.1:{admin_port}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    let log = bff.log();
    assert!(
        log.contains("limits (of connections)") && log.contains("takes effect at the next restart"),
        "{log}"
    );
    let mut conn = tokio::net::TcpStream::connect(bff.url().trim_start_matches("http://"))
        .await
        .unwrap();
    conn.write_all(b"GET /s/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    assert!(conn.read(&mut answer).await.unwrap() > 0);
    let idle_since = Instant::now();
    let mut rest = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut rest)).await;
    assert!(
        matches!(read, Ok(Ok(0))),
        "the idle connection outlived the old timeout: {read:?}"
    );
    assert!(
        idle_since.elapsed() < Duration::from_secs(4),
        "{:?}",
        idle_since.elapsed()
    );
}

/// Editing the GraphQL schema and `graphql.yaml` reloads them like any
/// spec file; a broken schema is refused at its line while the last good
/// one keeps answering.
#[tokio::test]
async fn graphql_schema_and_resolvers_reload_when_edited() {
    let up = upstream().await;
    let admin_port = free_port();
    let dir = SpecDir::new(&bff_yaml(&up, admin_port, true))
        .file(
            "graphql.yaml",
            "resolvers:\n  Query.n: { service: s, get: /item, select: .n }\n",
        )
        .file("graphql/schema.graphql", "type Query { n: Int }\n");
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let base = bff.url();
    let admin = format!("http://127.0.0.1:{admin_port}");
    let ask = |q: &'static str| {
        let url = format!("{base}/graphql");
        async move {
            let r = client()
                .post(url)
                .json(&json!({ "query": q }))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(ask("{ n }").await, json!({"data": {"n": 7}}));
    // A new field, with its resolver.
    std::fs::write(
        dir.path().join("graphql/schema.graphql"),
        "type Query { n: Int\n  twice: Int }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("graphql.yaml"),
        "resolvers:\n  Query.n: { service: s, get: /item, select: .n }\n  Query.twice: { service: s, get: /item, select: .n * 2 }\n",
    )
    .unwrap();
    let started = Instant::now();
    while ask("{ n twice }").await != json!({"data": {"n": 7, "twice": 14}}) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the new field never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A broken schema: refused with its location, the last good one stays.
    std::fs::write(
        dir.path().join("graphql/schema.graphql"),
        "type Query { n: Int\n  twice: Itn }\n",
    )
    .unwrap();
    let started = Instant::now();
    let state = loop {
        let state = reload_state(&admin).await;
        if state["last_attempt"]["result"] == "error" {
            break state;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = state["last_attempt"]["errors"][0].as_str().unwrap();
    assert!(error.contains("schema.graphql:2:10"), "located: {error}");
    assert_eq!(
        ask("{ n twice }").await,
        json!({"data": {"n": 7, "twice": 14}})
    );
}

#[tokio::test]
async fn an_edited_soap_header_template_is_sent_after_the_reload_with_its_environment_values() {
    // A SOAP service answering with the user its header named.
    let up = serve(Router::new().route(
        "/ws",
        axum::routing::post(|body: String| async move {
            let user = body
                .split("<u>")
                .nth(1)
                .and_then(|s| s.split("</u>").next())
                .unwrap_or("")
                .to_owned();
            (
                [("content-type", "text/xml")],
                format!(
                    "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body><R><user>{user}</user></R></e:Body></e:Envelope>"
                ),
            )
        }),
    ))
    .await;
    let dir = SpecDir::new(&bff_yaml(&up, free_port(), true))
        .endpoint(
            "who",
            "endpoint: GET /who\ncalls:\n  w:\n    service: s\n    post: /ws\n    soap: { body: <Who/>, header: soap/h.xml }\nrespond:\n  jq: .w.R.user\n",
        )
        .file("soap/h.xml", "<u>${SOAP_USER}</u>\n");
    // An environment value lands as text: escaped, not read as a template.
    let bff = BffProcess::start("bff-web", dir.path(), &[("SOAP_USER", "al&ice{{ x }}")]);
    let who = || async {
        let r = client()
            .get(format!("{}/who", bff.url()))
            .send()
            .await
            .ok()?;
        r.json::<Value>().await.ok()
    };
    assert_eq!(who().await, Some(json!("al&ice{{ x }}")));
    std::fs::write(dir.path().join("soap/h.xml"), "<u>bob</u>\n").unwrap();
    let started = Instant::now();
    while who().await != Some(json!("bob")) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the edited header was never sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
