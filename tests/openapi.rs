//! The API description on the public listener: `/openapi.json` of every
//! shipped BFF passes a real OpenAPI 3.1 validator (Python's
//! openapi-spec-validator), says what partners need to know, follows a
//! reload, and its reference page renders in headless Chromium.

use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bff_tests::browser::browse;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, gateway, gateway_with, workspace_root};
use serde_json::{Value, json};

async fn description(base: &str) -> Value {
    let r = client()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    r.json().await.unwrap()
}

/// Python's openapi-spec-validator on the document; panics with its verdict.
fn validate(doc: &Value) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), doc.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import OpenAPIV31SpecValidator, validate\n\
             validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n",
        ])
        .arg(file.path())
        .output()
        .expect("python3 runs (tests/run installs openapi-spec-validator)");
    assert!(
        out.status.success(),
        "not a valid OpenAPI 3.1 document:\n{}\n{doc:#}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A copy of a shipped folder whose admin listener takes any free port
/// (the shipped ones have fixed ports, and tests run side by side).
fn shipped(name: &str) -> SpecDir {
    SpecDir::copy_of(&workspace_root().join("composition-specs").join(name))
        .append_bff_yaml("admin: { listen: \"127.0.0.1:0\" }\n")
}

#[tokio::test]
async fn every_shipped_bff_describes_itself_validly() {
    for (name, base) in [
        (
            "mobile",
            gateway_with(shipped("mobile").path(), bff_mobile::extension()).await,
        ),
        (
            "web",
            gateway_with(shipped("web").path(), bff_web::extension()).await,
        ),
        (
            "partner",
            gateway_with(shipped("partner").path(), bff_partner::extension()).await,
        ),
    ] {
        let doc = description(&base).await;
        assert_eq!(doc["openapi"], "3.1.0", "{name}");
        validate(&doc);
    }
}

#[tokio::test]
async fn the_partner_description_says_what_an_integrator_needs() {
    let base = gateway_with(shipped("partner").path(), bff_partner::extension()).await;
    let doc = description(&base).await;
    let paths = &doc["paths"];

    assert_eq!(
        doc["components"]["securitySchemes"]["partner"],
        json!({ "type": "apiKey", "in": "header", "name": "x-api-key" })
    );
    let catalog = &paths["/partner/v1/catalog"]["get"];
    assert_eq!(catalog["security"], json!([{ "partner": [] }]));
    let params: Vec<(&str, &str)> = catalog["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["in"].as_str().unwrap()))
        .collect();
    assert_eq!(params, [("category", "query"), ("page", "query")]);
    for status in ["200", "400", "401", "429", "502", "503", "504"] {
        assert!(
            catalog["responses"][status].is_object(),
            "{status}: {catalog:#}"
        );
    }
    assert!(
        catalog["x-codeSamples"][0]["source"]
            .as_str()
            .unwrap()
            .contains("x-api-key: bff_")
    );

    let answer = catalog["responses"]["200"]["content"].as_object().unwrap();
    let types: Vec<&String> = answer.keys().collect();
    assert_eq!(
        types,
        [
            "application/vnd.shop.partner.v1+json",
            "application/vnd.shop.partner.v1+xml"
        ]
    );
    let order = &paths["/partner/v1/orders/{order_id}"]["get"];
    assert_eq!(order["parameters"][0]["in"], "path");
    assert_eq!(order["parameters"][0]["required"], true);
    let lookup = &paths["/partner/v1/inventory/lookup"]["post"];
    assert!(lookup["requestBody"]["content"]["application/json"].is_object());
    assert!(paths["/partner/v1/usage"]["get"].is_object());
    assert!(paths["/partner/v1/stock/{path}"]["get"]["x-bff-pass-through"].is_object());
    assert_eq!(
        doc["components"]["responses"]["Problem429"]["content"]["application/problem+json"]["schema"]
            ["$ref"],
        "#/components/schemas/Problem"
    );
}

#[tokio::test]
async fn formats_appear_as_media_types() {
    let mobile =
        description(&gateway_with(shipped("mobile").path(), bff_mobile::extension()).await).await;
    let home = &mobile["paths"]["/v1/users/{user_id}/home"]["get"]["responses"]["200"];
    assert_eq!(
        home["content"]["application/x-protobuf"]["x-protobuf-message"],
        "shop.mobile.v1.Home"
    );
    assert!(home["headers"]["Bff-Partial"].is_object());
    let web = description(&gateway_with(shipped("web").path(), bff_web::extension()).await).await;
    let product = &web["paths"]["/v1/products/{product_id}"]["get"]["responses"]["200"];
    assert!(product["content"]["text/html"].is_object(), "{product:#}");
}

#[tokio::test]
async fn a_reload_rebuilds_the_description() {
    const TOKEN: &str = "openapi-reload-token";
    let port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"http://127.0.0.1:9\" }}\n\
         admin: {{ listen: \"127.0.0.1:{port}\", token: \"{TOKEN}\" }}\n\
         reload: {{ watch: false }}\n\
         openapi: {{ title: Test API, version: \"2.1\" }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\ncalls:\n  a: { service: s, get: /a }\n",
    );
    let base = gateway(dir.path()).await;
    let doc = description(&base).await;
    assert_eq!(
        doc["info"],
        json!({ "title": "Test API", "version": "2.1" })
    );
    assert!(doc["paths"]["/v1/b"].is_null());

    let dir = dir.endpoint(
        "b",
        "endpoint: GET /v1/b\ndescription: The new one.\ncalls:\n  b: { service: s, get: /b }\n",
    );
    let admin = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let reloaded = loop {
        match client()
            .post(format!("{admin}/reload"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(reloaded.status(), StatusCode::OK);
    let doc = description(&base).await;
    assert_eq!(doc["paths"]["/v1/b"]["get"]["summary"], "The new one.");
    validate(&doc);
    drop(dir);
}

#[tokio::test]
async fn the_reference_page_renders_in_a_browser() {
    let base = gateway_with(shipped("partner").path(), bff_partner::extension()).await;
    let pages = browse(json!({
        "pages": [{ "url": format!("{base}/docs"), "wait_for": "#endpoints" }],
    }))
    .await;
    let page = &pages[0];
    assert_eq!(page["status"], 200);
    let text = page["text"].as_str().unwrap();
    for expected in [
        "/partner/v1/catalog",
        "/partner/v1/orders/{order_id}",
        "/partner/v1/inventory/lookup",
        "API key in the `x-api-key` header",
        "category",
        "429",
        "curl -s -H 'x-api-key: bff_",
        "/partner/v1/stock/…",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }
    // The curl commands name the address the reader used.
    assert!(
        text.contains(&format!("'{base}/partner/v1/catalog?")),
        "{text}"
    );
    assert!(page["console"].as_array().unwrap().is_empty(), "{page}");
}

#[tokio::test]
async fn a_route_is_described_with_exactly_the_methods_it_forwards() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let noted = seen.clone();
    let up = bff_tests::serve(
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let noted = noted.clone();
            async move {
                noted.lock().unwrap().push(req.method().to_string());
                "passed"
            }
        }),
    )
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy: [ {{ prefix: /p, service: s }} ]\n"
    ));
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let doc = description(&bff.url()).await;
    validate(&doc);
    let item = doc["paths"]["/p/{path}"].as_object().unwrap();

    // Every method an OpenAPI path item can hold.
    for method in [
        "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
    ] {
        let before = seen.lock().unwrap().len();
        let r = client()
            .request(method.parse().unwrap(), format!("{}/p/x", bff.url()))
            .send()
            .await
            .unwrap();
        let forwarded = seen.lock().unwrap().len() > before;
        assert_eq!(
            forwarded,
            r.status() == StatusCode::OK,
            "{method}: {}",
            r.status()
        );
        let described = item.contains_key(&method.to_ascii_lowercase());
        assert_eq!(
            described, forwarded,
            "{method}: forwarded {forwarded}, described {described}"
        );
        if !forwarded {
            assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        }
    }
    assert!(item.contains_key("head"), "HEAD passes through: {item:#?}");
}

/// `respond.headers` and passed-on cookies are described on the answer;
/// a computed status is described as the range it is in, and the document
/// stays valid OpenAPI 3.1.
#[tokio::test]
async fn respond_headers_and_computed_statuses_are_described() {
    let dir = SpecDir::new("services:\n  s: { url: \"http://127.0.0.1:9\" }\n").endpoint(
        "a",
        "endpoint: GET /v1/a\ncalls:\n  a: { service: s, get: /a, expose_headers: [set-cookie] }\n\
         respond:\n  status: 'if .a.new then 201 else 200 end'\n  headers:\n    X-Total-Count: \"{{ a.total }}\"\n",
    );
    let base = gateway(dir.path()).await;
    let doc = description(&base).await;
    validate(&doc);
    let responses = &doc["paths"]["/v1/a"]["get"]["responses"];
    assert!(responses["200"].is_null(), "{responses:#}");
    let headers = &responses["2XX"]["headers"];
    assert_eq!(
        headers["x-total-count"]["schema"]["type"], "string",
        "{responses:#}"
    );
    assert!(headers["Set-Cookie"].is_object(), "{responses:#}");
}

/// schemathesis (an independent property-based tester) generates requests
/// from the API description, valid and invalid alike, and every one must
/// be answered without a 5xx: the endpoints' request schemas turn bad
/// input into 400/422 before any template or expression could fail on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_caused_by_client_input() {
    // Every upstream request succeeds: a 5xx could only be the BFF's.
    let up = bff_tests::serve(
        axum::Router::new().fallback(|| async { axum::Json(json!({"ok": true, "total": 3})) }),
    )
    .await;
    let dir = SpecDir::new(&format!("services:\n  up: {{ url: \"{up}\" }}\n"))
        .endpoint(
            "order",
            r#"
endpoint: POST /v1/shops/{shop}/orders
request:
  path:
    shop: { type: string, pattern: "^[a-z0-9-]{1,20}$" }
  query:
    page: { type: integer, minimum: 1, maximum: 100 }
  body:
    type: object
    required: [items]
    additionalProperties: false
    properties:
      items:
        type: array
        maxItems: 10
        items:
          type: object
          required: [sku, qty]
          additionalProperties: false
          properties:
            sku: { type: string, pattern: "^[A-Za-z0-9-]{1,20}$" }
            qty: { type: integer, minimum: 1, maximum: 99 }
      note: { type: string, maxLength: 200 }
calls:
  placed:
    service: up
    post: "/shops/{{ path.shop }}/orders"
    body_jq: '{items: .body.items, note: .body.note, page: ((.query.page // 1) + 1)}'
respond:
  jq: '{placed: .placed.ok, lines: (.body.items | length), next: ((.query.page // 1) + 1)}'
"#,
        )
        .endpoint(
            "list",
            r#"
endpoint: GET /v1/products
request:
  query:
    page: { type: integer, minimum: 1, maximum: 1000, required: true }
    size: { type: integer, minimum: 1, maximum: 50 }
    sort: { type: string, enum: [price, name] }
calls:
  items:
    service: up
    get: /products
    query: { offset: "{{ (query.page - 1) * (query.size | default(value=10)) }}", sort: "{{ query.sort | default(value='name') }}" }
respond:
  jq: '{page: .query.page, pages: ((.items.total / (.query.size // 10)) | ceil)}'
"#,
        );
    let base = gateway(dir.path()).await;
    // schemathesis keeps what it found under its working folder: a temporary one.
    let scratch = tempfile::tempdir().unwrap();
    let cwd = scratch.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("st")
            .current_dir(cwd)
            .args([
                "run",
                &format!("{base}/openapi.json"),
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "60",
                "--seed",
                "7",
                "--no-color",
            ])
            .output()
            .expect("schemathesis runs (tests/run installs it)")
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found server errors:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
