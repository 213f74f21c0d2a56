//! The shipped composition specs against the demo services, so neither can
//! drift from the other: every spec folder loads, and every endpoint's
//! `example` request answers 200 with the payload its spec promises.
//!
//! Services and BFFs run in process on port 0: each folder is copied to a
//! temporary directory with its service URLs pointed at the ephemeral ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bff_core::Extension;
use bff_core::plan::Plan;
use bff_demo::{DemoPorts, Latency, Service, spawn_services};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// One BFF serving a shipped spec folder, and the plan it serves.
struct RunningBff {
    base: String,
    examples: Vec<Example>,
    _dir: tempfile::TempDir,
}

fn specs_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../composition-specs")
}

/// Copies `folder` with every `${X_URL:-http://127.0.0.1:91xx}` replaced by
/// the address the service really listens on.
fn localized_copy(folder: &str, services: &[(&str, SocketAddr)]) -> tempfile::TempDir {
    let source = specs_root().join(folder);
    let dir = tempfile::tempdir().unwrap();
    let mut config = std::fs::read_to_string(source.join("bff.yaml")).unwrap();
    for service in Service::ALL {
        let shipped = format!(
            "${{{}_URL:-http://127.0.0.1:{}}}",
            service.env_key(),
            service.default_port()
        );
        // Only the web BFF calls the gRPC pricing service.
        if service == Service::Pricing && folder != "web" {
            continue;
        }
        assert!(
            config.contains(&shipped),
            "{folder}/bff.yaml names {shipped}"
        );
        let addr = services
            .iter()
            .find(|(n, _)| *n == service.name())
            .unwrap()
            .1;
        config = config.replace(&shipped, &format!("http://{addr}"));
    }
    std::fs::write(dir.path().join("bff.yaml"), config).unwrap();
    // Files bff.yaml refers to, such as the API-key file, come along.
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "bff.yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    // Endpoints, protobuf contracts, page templates: every folder, whole.
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            copy_tree(&path, &dir.path().join(path.file_name().unwrap()));
        }
    }
    dir
}

/// Copies a folder with everything under it; nothing when it does not exist.
fn copy_tree(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    std::fs::create_dir_all(to).unwrap();
    for entry in entries {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, target).unwrap();
        }
    }
}

async fn start(
    folder: &str,
    services: &[(&str, SocketAddr)],
    extension: impl Extension,
) -> RunningBff {
    let dir = localized_copy(folder, services);
    let plan: Plan = bff_core::plan::load(dir.path())
        .unwrap_or_else(|diagnostics| panic!("{folder}: {diagnostics}"));
    let files = std::fs::read_dir(specs_root().join(folder).join("endpoints"))
        .unwrap()
        .count();
    assert_eq!(
        plan.endpoints.len(),
        files,
        "{folder}: one endpoint per file"
    );
    let examples = plan
        .endpoints
        .iter()
        .map(|ep| {
            let example = ep
                .example
                .as_ref()
                .unwrap_or_else(|| panic!("{folder}: {} has no example", ep.id()));
            Example {
                id: ep.id(),
                method: ep.method.clone(),
                path: example.path.clone(),
                headers: example.headers.clone().into_iter().collect(),
                body: example.body.clone(),
            }
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = bff_core::Gateway::from_plan(plan, extension)
        .unwrap_or_else(|d| panic!("{d}"))
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    RunningBff {
        base,
        examples,
        _dir: dir,
    }
}

/// An endpoint's `example:`, as the demo's curl commands send it.
struct Example {
    id: String,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

async fn services() -> Vec<(&'static str, SocketAddr)> {
    spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, Latency::none())
        .await
        .unwrap()
}

/// Sends every example; all must answer 200 in full (not partial).
async fn examples_answer(bff: &RunningBff) -> Vec<(String, Value)> {
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for Example {
        id,
        method,
        path,
        headers,
        body,
    } in &bff.examples
    {
        let mut request = http.request(method.clone(), format!("{}{path}", bff.base));
        for (k, v) in headers {
            request = request.header(k, v);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let partial = response.headers().get("bff-partial").is_some();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{id} ({path}): {text}");
        assert!(!partial, "{id} ({path}) is partial with every service up");
        answers.push((id.clone(), serde_json::from_str(&text).unwrap()));
    }
    answers
}

fn answer<'a>(answers: &'a [(String, Value)], id: &str) -> &'a Value {
    &answers
        .iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("no endpoint {id}"))
        .1
}

#[tokio::test]
async fn mobile_specs_serve_their_examples() {
    let services = services().await;
    let bff = start("mobile", &services, bff_mobile::extension()).await;
    let answers = examples_answer(&bff).await;

    let home = answer(&answers, "GET /v1/users/{user_id}/home");
    assert_eq!(home["greeting"], "Hi Anna");
    assert!(!home["recent_orders"].as_array().unwrap().is_empty());
    assert!(home["recent_orders"][0]["thumbnail"].is_string());
    assert_eq!(home["for_you"].as_array().unwrap().len(), 6);

    let product = answer(&answers, "GET /v1/products/{product_id}");
    assert_eq!(product["id"], "p-2001");
    assert!(
        ["in_stock", "low_stock", "out_of_stock"]
            .contains(&product["availability"].as_str().unwrap())
    );
    assert!(product["latest_review"]["title"].is_string());

    let tracking = answer(&answers, "GET /v1/orders/{order_id}/tracking");
    assert!(tracking["events"].as_array().unwrap().len() > 1);
    assert!(
        tracking["items"][0]["name"].as_str().unwrap().contains(' '),
        "a product name, not an id"
    );

    let unknown = reqwest::get(format!("{}/v1/users/u-0/home", bff.base))
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_specs_serve_their_examples() {
    let services = services().await;
    let bff = start("web", &services, bff_web::extension()).await;
    let answers = examples_answer(&bff).await;

    let home = answer(&answers, "GET /v1/users/{user_id}/home");
    assert_eq!(home["customer"]["name"], "Anna Keller");
    assert!(home["recent_orders"]["items"][0]["lines"][0]["product"]["name"].is_string());
    assert_eq!(home["recommendations"].as_array().unwrap().len(), 12);
    assert_eq!(home["categories"].as_array().unwrap().len(), 6);

    let product = answer(&answers, "GET /v1/products/{product_id}");
    assert_eq!(product["product"]["id"], "p-2001");
    assert_eq!(product["reviews"]["page"], 1);
    assert!(!product["related"].as_array().unwrap().is_empty());
    assert!(!product["for_you"].as_array().unwrap().is_empty());
    // From the gRPC pricing service: three pieces earn the first discount.
    assert_eq!(product["offer"]["quantity"], 3);
    assert_eq!(product["offer"]["discount_percent"], 5);
    assert_eq!(product["offer"]["unit_price"], product["product"]["price"]);

    let orders = answer(&answers, "GET /v1/users/{user_id}/orders");
    assert_eq!(orders["page"], 1);
    assert_eq!(orders["page_size"], 3);
    assert_eq!(orders["orders"].as_array().unwrap().len(), 3);
    assert_eq!(orders["has_more"], true);

    let bad_page = reqwest::get(format!("{}/v1/users/u-1001/orders?page=0", bff.base))
        .await
        .unwrap();
    assert_eq!(bad_page.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn partner_specs_serve_their_examples() {
    let services = services().await;
    let bff = start("partner", &services, bff_partner::extension()).await;
    let answers = examples_answer(&bff).await;

    let catalog = answer(&answers, "GET /partner/v1/catalog");
    assert_eq!(catalog["total_items"], 10);
    assert!(
        catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["available"].is_number())
    );

    let lookup = answer(&answers, "POST /partner/v1/inventory/lookup");
    assert_eq!(lookup["results"].as_array().unwrap().len(), 4);
    assert_eq!(lookup["not_found"], json!(["p-9999"]));

    let order = answer(&answers, "GET /partner/v1/orders/{order_id}");
    assert!(order["lines"][0]["title"].is_string());
    assert!(order["shipment"]["tracking_code"].is_string());

    // The free demo key named in bff.yaml works, in its own tier, and the
    // usage endpoint tells what is left of its daily quota.
    let config = std::fs::read_to_string(specs_root().join("partner/bff.yaml")).unwrap();
    let free = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("#   free:"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/partner/v1/categories", bff.base))
        .header("x-api-key", &free)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-ratelimit-limit-day"], "1000");
    let usage: Value = http
        .get(format!("{}/partner/v1/usage", bff.base))
        .header("x-api-key", &free)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["tier"], "free");
    assert_eq!(usage["quota"]["used"], 1);
    assert_eq!(usage["quota"]["remaining"], 999);
    // XML for integrations that ask for it, read back by another parser.
    let r = http
        .get(format!("{}/partner/v1/orders/o-50061", bff.base))
        .header("x-api-key", &free)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.shop.partner.v1+xml"
    );
    let xml = r.text().await.unwrap();
    let mut python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom as m; d = m.parseString(sys.stdin.buffer.read()); \
             print(d.documentElement.tagName, d.getElementsByTagName('order_id')[0].firstChild.data)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), xml.as_bytes()).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "{xml}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "response o-50061"
    );

    // An XML request body reaches the upstreams as JSON.
    let r = http
        .post(format!("{}/partner/v1/inventory/lookup", bff.base))
        .header("x-api-key", &free)
        .header("content-type", "application/xml")
        .body("<lookup><skus><item>p-2001</item><item>p-9999</item></skus></lookup>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lookup: Value = r.json().await.unwrap();
    assert_eq!(lookup["results"].as_array().unwrap().len(), 2, "{lookup}");
    assert_eq!(lookup["not_found"], json!(["p-9999"]));
    let r = http
        .post(format!("{}/partner/v1/inventory/lookup", bff.base))
        .header("x-api-key", &free)
        .header("content-type", "application/xml")
        .body("<lookup><skus>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_failing_optional_service_makes_the_answer_partial() {
    let services = services().await;
    let bff = start("mobile", &services, bff_mobile::extension()).await;
    let reviews = services.iter().find(|(n, _)| *n == "reviews").unwrap().1;
    let http = reqwest::Client::new();
    http.put(format!("http://{reviews}/_demo/faults"))
        .json(&json!({ "fail": 503 }))
        .send()
        .await
        .unwrap();
    let response = http
        .get(format!("{}/v1/products/p-2001", bff.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["bff-partial"], "true");
    let product: Value = response.json().await.unwrap();
    assert_eq!(product["name"], "Auralis Wireless Headphones");
    assert_eq!(
        product["review_count"], 12,
        "falls back to the catalog's count"
    );
}
