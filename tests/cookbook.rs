//! docs/cookbook.md cannot rot: every file block of the page is written into
//! one spec folder, which must load, serve against the demo services, and
//! answer each endpoint's `example:` with a 200.

use std::net::SocketAddr;

use bff_demo::{DemoPorts, Latency, Service, spawn_services};
use bff_tests::{client, gateway, workspace_root};

/// The page's code blocks as (language, first line, text).
fn blocks() -> Vec<(String, String, String)> {
    let page = std::fs::read_to_string(workspace_root().join("docs/cookbook.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        let Some(lang) = line.strip_prefix("```") else {
            continue;
        };
        let mut text = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        let first = text.lines().next().unwrap_or_default().to_owned();
        out.push((lang.trim().to_owned(), first, text));
    }
    out
}

/// The file blocks, by the path their first line names
/// (`# file: endpoints/x.yaml`, `// file: proto/…`, `<!-- file: soap/… -->`).
fn files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for (lang, first, text) in blocks() {
        let path = first
            .strip_prefix("# file: ")
            .or_else(|| first.strip_prefix("// file: "))
            .or_else(|| {
                first
                    .strip_prefix("<!-- file: ")
                    .and_then(|p| p.strip_suffix(" -->"))
            });
        match (lang.as_str(), path) {
            ("yaml" | "proto" | "graphql" | "xml", Some(path)) => {
                assert!(
                    files.iter().all(|(p, _)| p != path),
                    "two blocks claim {path}"
                );
                files.push((path.to_owned(), text));
            }
            ("yaml" | "proto" | "graphql" | "xml", None) => {
                panic!("a {lang} block names no file (`# file: …`): {first}")
            }
            _ => {}
        }
    }
    files
}

/// The folder, with the service URLs' defaults pointed at `services`.
fn folder(services: &[(&str, SocketAddr)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, mut text) in files() {
        if path == "bff.yaml" {
            for service in Service::ALL {
                let addr = services
                    .iter()
                    .find(|(n, _)| *n == service.name())
                    .unwrap()
                    .1;
                text = text.replace(
                    &format!("http://127.0.0.1:{}", service.default_port()),
                    &format!("http://{addr}"),
                );
            }
        }
        let file = dir.path().join(&path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    dir
}

#[test]
fn every_block_names_its_file() {
    let files = files();
    let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert!(names.contains(&"bff.yaml"), "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("endpoints/")).count() >= 5);
}

#[tokio::test]
async fn every_recipe_loads_and_answers_its_example() {
    let services = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, Latency::none())
        .await
        .unwrap();
    let dir = folder(&services);
    let plan = bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let base = gateway(dir.path()).await;
    let http = client();
    for endpoint in &plan.endpoints {
        let example = endpoint
            .example
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no example", endpoint.id()));
        let mut request = http.get(format!("{base}{}", example.path));
        for (name, value) in &example.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.try_clone().unwrap().send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        assert_eq!(status, 200, "{}: {body}", endpoint.id());
        assert!(
            !headers.contains_key("bff-partial"),
            "{}: partial with healthy services: {:?}",
            endpoint.id(),
            headers.get("bff-degraded")
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(json.is_object(), "{}: {json}", endpoint.id());
        if endpoint.message.is_some() {
            let binary = request
                .header("accept", "application/x-protobuf")
                .send()
                .await
                .unwrap();
            assert_eq!(binary.headers()["content-type"], "application/x-protobuf");
            assert!(!binary.bytes().await.unwrap().is_empty());
        }
    }
    // The SOAP recipe's plan names the operation as the page says.
    let parcel = plan
        .endpoints
        .iter()
        .find(|e| e.path.ends_with("/parcel"))
        .expect("the SOAP recipe loaded");
    let explained = parcel.explain();
    assert!(
        explained.contains("SOAP 1.1 orders urn:shop:tracking#TrackParcel"),
        "{explained}"
    );
    // The inspection recipe refuses what its page shows.
    let refused = http
        .get(format!("{base}/v1/cookbook/products"))
        .query(&[("category", "kitchen' OR '1'='1")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(
        problem["detail"],
        "the request's query parameter `category` looks like an SQL injection"
    );
    // The test recipe passes with no service running.
    let specs = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        bff_tests::process::run("bff-web", &["test", "--specs", specs.to_str().unwrap()])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed, 0 failed"),
        "{stdout}"
    );
    // The GraphQL recipe answers its query in full.
    assert!(plan.graphql.is_some(), "the GraphQL recipe did not load");
    let query =
        r#"{ product(id: "p-2001") { name stock related { reason product { name stock } } } }"#;
    let answer: serde_json::Value = http
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
    let related = answer["data"]["product"]["related"].as_array().unwrap();
    assert!(!related.is_empty(), "{answer}");
    assert!(
        related.iter().all(|r| r["product"]["name"].is_string()),
        "{answer}"
    );
    // The free plan is kept out of the partner endpoint.
    let free = http
        .get(format!("{base}/partner/v1/stock-levels?skus=p-2001"))
        .header(
            "x-api-key",
            "bff_knxvCXNz_HkKj27IvEtrdHAuzsjotXxYyie0tSb8j2tST8d",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(free.status(), 403);
}
