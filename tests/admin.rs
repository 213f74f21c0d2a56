//! The admin listener as operators use it: the token in front of every
//! route but the orchestrator probes, the loaded call graphs, upstream
//! instances that real failures eject and a circuit that real failures
//! open, and the live dashboard in headless Chromium under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bff_demo::Latency;
use bff_tests::browser::browse;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, gateway, serve, workspace_root};
use serde_json::{Value, json};

const TOKEN: &str = "admin-test-token";

/// The admin listener's base URL once it answers.
async fn admin_up(port: u16) -> String {
    let admin = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while client()
        .get(format!("{admin}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "admin listener not up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin
}

async fn get_json(url: &str) -> Value {
    let r = client().get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{url}");
    assert_eq!(r.headers()["cache-control"], "no-store", "{url}");
    r.json().await.unwrap()
}

fn admin_yaml(port: u16, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("admin: {{ listen: \"127.0.0.1:{port}\", token: \"{t}\" }}\n"),
        None => format!("admin: {{ listen: \"127.0.0.1:{port}\" }}\n"),
    }
}

#[tokio::test]
async fn the_token_guards_every_route_but_the_probes() {
    let up = serve(Router::new().route("/item", get(|| async { "{}" }))).await;
    let port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n{}",
        admin_yaml(port, Some(TOKEN))
    ))
    .endpoint(
        "item",
        "endpoint: GET /v1/item\ncalls:\n  a: { service: s, get: /item }\n",
    );
    gateway(dir.path()).await;
    let admin = admin_up(port).await;
    let http = client();

    for probe in ["/healthz", "/readyz"] {
        let r = http.get(format!("{admin}{probe}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{probe} stays open for probes");
    }
    for route in [
        "/metrics",
        "/reload",
        "/endpoints",
        "/instances",
        "/dashboard",
        "/dashboard.json",
    ] {
        let url = format!("{admin}{route}");
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{route}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"bff admin\""),
            "{challenge}"
        );
        let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{route}");
        let bearer = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(bearer.status(), StatusCode::OK, "{route} with Bearer");
        let basic = http
            .get(&url)
            .basic_auth("anyone", Some(TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(basic.status(), StatusCode::OK, "{route} with Basic");
    }

    // A browser navigating is asked for Basic, so it shows a login dialog.
    let r = http
        .get(format!("{admin}/dashboard"))
        .header("sec-fetch-mode", "navigate")
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Basic realm=\"bff admin\""),
        "{challenge}"
    );

    let reload = |token: Option<&str>| {
        let mut r = http.post(format!("{admin}/reload"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    assert_eq!(
        reload(None).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(reload(Some(TOKEN)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_reads_are_open_and_changes_refused() {
    let port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"http://127.0.0.1:9\" }}\n{}",
        admin_yaml(port, None)
    ));
    gateway(dir.path()).await;
    let admin = admin_up(port).await;
    let http = client();
    for route in ["/endpoints", "/instances", "/dashboard.json", "/metrics"] {
        let r = http.get(format!("{admin}{route}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{route}");
    }
    for route in ["/reload", "/cache/purge"] {
        let r = http
            .post(format!("{admin}{route}"))
            .json(&json!({ "tag": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{route}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["detail"].as_str().unwrap().contains("admin.token"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn endpoints_lists_the_call_graphs_of_the_shipped_mobile_specs() {
    let port = free_port();
    let dir = SpecDir::copy_of(&workspace_root().join("composition-specs/mobile"))
        .append_bff_yaml(&admin_yaml(port, Some(TOKEN)));
    gateway(dir.path()).await;
    let admin = admin_up(port).await;

    let listing = get_json(&format!("{admin}/endpoints")).await;
    assert_eq!(listing["generation"], 1);
    let home = listing["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "GET /v1/users/{user_id}/home")
        .unwrap_or_else(|| panic!("home endpoint missing: {listing:#}"));
    assert_eq!(home["method"], "GET");
    assert_eq!(home["path"], "/v1/users/{user_id}/home");
    assert!(home["file"].as_str().unwrap().ends_with("home.yaml"));
    assert_eq!(home["deadline"], "800ms");
    assert_eq!(home["protobuf"], "shop.mobile.v1.Home");
    assert_eq!(
        home["stages"],
        json!([["profile", "orders", "picks"], ["products"]])
    );
    let call = |name: &str| {
        home["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let profile = call("profile");
    assert_eq!(profile["service"], "users");
    assert_eq!(profile["path"], "/users/{{ path.user_id }}");
    assert_eq!(profile["stage"], 1);
    assert_eq!(profile["optional"], false);
    assert_eq!(profile["forward_status"], json!([404]));
    let products = call("products");
    assert_eq!(products["deps"], json!(["orders", "picks"]));
    assert_eq!(products["stage"], 2);
    assert_eq!(products["optional"], true);
    assert_eq!(products["for_each"]["batch"], 50);
    assert!(listing["routes"].is_array());
}

/// An instance that answers `/data` and `/health` with `status`.
async fn instance(status: u16) -> String {
    let status = StatusCode::from_u16(status).unwrap();
    serve(
        Router::new()
            .route("/data", get(move || async move { (status, "{}") }))
            .route("/health", get(move || async move { status })),
    )
    .await
}

fn service_state<'a>(instances: &'a Value, name: &str) -> &'a Value {
    instances["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

fn instance_state<'a>(service: &'a Value, url: &str) -> &'a Value {
    service["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["url"] == url)
        .unwrap()
}

#[tokio::test]
async fn instances_show_what_real_failures_do_to_instances_and_circuits() {
    let (good, bad, down) = (
        instance(200).await,
        instance(500).await,
        instance(500).await,
    );
    let port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n\
         \x20 flaky:\n\
         \x20   instances: [ {{ url: \"{good}\" }}, {{ url: \"{bad}\" }} ]\n\
         \x20   outlier: {{ consecutive_failures: 2, base_ejection: 60s, max_ejected: 0.5 }}\n\
         \x20 checked:\n\
         \x20   instances: [ {{ url: \"{good}\" }}, {{ url: \"{bad}\" }} ]\n\
         \x20   health_check: {{ path: /health, interval: 100ms, timeout: 1s, unhealthy_after: 1, healthy_after: 1 }}\n\
         \x20 down:\n\
         \x20   url: \"{down}\"\n\
         \x20   circuit_breaker: {{ failure_rate: 0.5, min_requests: 4, window: 10s, open_for: 60s }}\n\
         {}",
        admin_yaml(port, Some(TOKEN))
    ))
    .endpoint("flaky", "endpoint: GET /v1/flaky\ncalls:\n  a: { service: flaky, get: /data }\n")
    .endpoint("down", "endpoint: GET /v1/down\ncalls:\n  a: { service: down, get: /data }\n");
    let bff = gateway(dir.path()).await;
    let admin = admin_up(port).await;

    let before = get_json(&format!("{admin}/instances")).await;
    assert_eq!(service_state(&before, "down")["circuit"], "closed");
    assert_eq!(service_state(&before, "flaky")["circuit"], "none");
    assert_eq!(
        instance_state(service_state(&before, "flaky"), &bad)["state"],
        "up"
    );

    let http = client();
    for _ in 0..8 {
        http.get(format!("{bff}/v1/flaky")).send().await.unwrap();
        http.get(format!("{bff}/v1/down")).send().await.unwrap();
    }
    // Health checks run every 100 ms: wait for the failing one to count.
    let started = Instant::now();
    let after = loop {
        let state = get_json(&format!("{admin}/instances")).await;
        let checked = service_state(&state, "checked");
        if instance_state(checked, &bad)["state"] == "unhealthy" {
            break state;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{state:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let flaky = service_state(&after, "flaky");
    let (ejected, kept) = (instance_state(flaky, &bad), instance_state(flaky, &good));
    assert_eq!(ejected["state"], "ejected", "{flaky:#}");
    assert_eq!(ejected["ejected"], true);
    assert!(ejected["ejected_for_s"].as_f64().unwrap() > 30.0);
    assert_eq!(ejected["ejections"], 1);
    assert_eq!(kept["state"], "up");
    assert!(kept["latency_ms"].as_f64().is_some(), "{kept}");
    let checked = service_state(&after, "checked");
    assert_eq!(instance_state(checked, &bad)["healthy"], false);
    assert_eq!(instance_state(checked, &good)["state"], "up");
    let down = service_state(&after, "down");
    assert_eq!(down["circuit"], "open", "{down:#}");
    assert!(down["circuit_retry_in_s"].as_f64().unwrap() > 30.0);

    // The dashboard's data says the same, beside the endpoints' traffic.
    let dash = get_json(&format!("{admin}/dashboard.json")).await;
    assert_eq!(service_state(&dash, "down")["circuit"], "open");
    let row = dash["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "GET /v1/down")
        .unwrap();
    assert_eq!(row["total"], 8);
}

/// Where the dashboard's picture goes: into the docs with
/// `UPDATE_SCREENSHOTS=1`, else a temporary file.
fn screenshot_path(scratch: &tempfile::TempDir) -> std::path::PathBuf {
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        workspace_root().join("docs").join("dashboard.png")
    } else {
        scratch.path().join("dashboard.png")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_live_traffic_in_a_browser() {
    let env = bff_demo::spawn_for_env(Latency::none()).await.unwrap();
    let port = free_port();
    let dir = SpecDir::copy_of(&workspace_root().join("composition-specs/web"))
        .append_bff_yaml(&admin_yaml(port, Some(TOKEN)));
    // Circuit breakers on two services, so the page shows their state.
    let yaml = dir.path().join("bff.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    let breaker =
        ", circuit_breaker: { failure_rate: 0.5, min_requests: 20, window: 10s, open_for: 5s } }";
    let with_breakers = text
        .replace(
            "9104}\", timeout: 600ms }",
            &format!("9104}}\", timeout: 600ms{breaker}"),
        )
        .replace("9103}\" }", &format!("9103}}\"{breaker}"));
    assert_eq!(
        with_breakers.matches("circuit_breaker").count(),
        2,
        "{text}"
    );
    std::fs::write(&yaml, with_breakers).unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bff = BffProcess::start("bff-web", dir.path(), &env);
    let admin = admin_up(port).await;

    // Steady load on every endpoint and route, a few unknown products among it.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for (path, pause_ms) in [
        ("/v1/users/u-1001/home", 15),
        ("/v1/users/u-1007/orders?page=1&page_size=3", 25),
        ("/v1/products/p-2001?reviews_page=1&user=u-1003", 15),
        ("/v1/products/p-9999", 400),
        ("/api/products?category=audio&limit=5", 40),
        ("/api/reviews?product=p-2001&offset=0", 60),
    ] {
        let (stop, url) = (stop.clone(), format!("{}{path}", bff.url()));
        load.push(tokio::spawn(async move {
            let http = client();
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                http.get(&url).send().await.unwrap();
                n += 1;
                tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            }
            n
        }));
    }
    // Rates count complete seconds only.
    tokio::time::sleep(Duration::from_millis(4000)).await;

    let scratch = tempfile::tempdir().unwrap();
    let shot = screenshot_path(&scratch);
    let pages = browse(json!({
        "http_credentials": { "username": "ops", "password": TOKEN },
        "viewport": { "width": 1280, "height": 900 },
        "pages": [{
            "url": format!("{admin}/dashboard"),
            "wait_for": "#endpoints",
            // Live: the polled numbers replace the rendered ones and move on.
            "wait_until": "(() => { const t = document.querySelector('#endpoints .total')?.textContent; \
                           window.firstTotal ??= t; \
                           const updated = document.getElementById('updated').textContent; \
                           return updated !== 'at load' && !updated.startsWith('failed') \
                             && t !== window.firstTotal; })()",
            "evaluate": "[...document.querySelectorAll('#endpoints tr')].map(r => \
                         ({ name: r.querySelector('.name').firstChild.textContent, \
                            rate: parseFloat(r.querySelector('.rate').textContent), \
                            total: parseInt(r.querySelector('.total').textContent) }))",
            "screenshot": shot,
        }],
    }))
    .await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        assert!(l.await.unwrap() > 2);
    }

    let page = &pages[0];
    assert_eq!(page["status"], 200, "{page}");
    let text = page["text"].as_str().unwrap();
    for name in [
        "GET /v1/users/{user_id}/home",
        "GET /v1/users/{user_id}/orders",
        "GET /v1/products/{product_id}",
        "/api/products/* → catalog",
        "/api/reviews/* → reviews",
        "/live/orders/* → orders",
    ] {
        assert!(text.contains(name), "{name} not shown:\n{text}");
    }
    let rows = page["value"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    // Every row the load reached (all but the WebSocket route) shows live numbers.
    for row in rows
        .iter()
        .filter(|r| r["name"] != "/live/orders/* → orders")
    {
        assert!(row["rate"].as_f64().unwrap() > 0.0, "no rate shown: {row}");
        assert!(row["total"].as_u64().unwrap() > 0, "{row}");
    }
    assert!(page["console"].as_array().unwrap().is_empty(), "{page}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    drop(bff);
}

#[tokio::test]
async fn endpoints_lists_the_graphql_endpoint_and_its_resolvers() {
    let port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  up: {{ url: \"http://127.0.0.1:9\" }}\n{}",
        admin_yaml(port, Some(TOKEN))
    ))
    .file(
        "graphql.yaml",
        "deadline: 700ms\nresolvers:\n  Query.item: { service: up, get: \"/items/{{ args.id }}\" }\n  Item.stock:\n    service: up\n    for_each: .parent.id\n    batch: 20\n    get: \"/stock?ids={{ batch | join(sep=',') }}\"\n    key: .id\n    on_error: {}\n",
    )
    .file(
        "graphql/schema.graphql",
        "type Query { item(id: ID!): Item }\ntype Item { id: ID! stock: Int }\n",
    );
    gateway(dir.path()).await;
    let admin = admin_up(port).await;
    let listing = get_json(&format!("{admin}/endpoints")).await;
    let g = &listing["graphql"];
    assert_eq!(g["path"], "/graphql", "{listing:#}");
    assert_eq!(g["deadline"], "700ms");
    assert_eq!(g["limits"]["max_depth"], 12);
    assert_eq!(
        g["resolvers"],
        json!([
            {"field": "Item.stock", "service": "up", "method": "GET", "path": "/stock?ids={{ batch | join(sep=',') }}",
             "grpc": null, "batch": 20, "for_each": ".parent.id", "optional": false},
            {"field": "Query.item", "service": "up", "method": "GET", "path": "/items/{{ args.id }}",
             "grpc": null, "batch": null, "for_each": null, "optional": false}
        ])
    );
}
