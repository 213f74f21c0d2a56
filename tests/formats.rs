//! Answers in each frontend's format: protobuf for the mobile apps (checked
//! with Google's Python protobuf runtime), server-rendered pages for the
//! web (checked in headless Chromium), and what happens when a spec's
//! shape does not fit its contract.

use std::io::Write;
use std::process::{Command, Stdio};

use axum::Router;
use axum::routing::get;
use bff_demo::Latency;
use bff_tests::browser::browse;
use bff_tests::process::BffProcess;
use bff_tests::{SpecDir, client, gateway, serve, workspace_root};
use serde_json::{Value, json};

fn start(bff: &str, env: &[(String, String)]) -> BffProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    BffProcess::start(
        bff,
        &workspace_root()
            .join("composition-specs")
            .join(bff.trim_start_matches("bff-")),
        &env,
    )
}

/// The message decoded by Python's protobuf runtime, as JSON.
fn python_decode(proto_dir: &std::path::Path, message: &str, bytes: &[u8]) -> Value {
    let mut child = Command::new("python3")
        .arg(workspace_root().join("tests/fixtures/proto_decode.py"))
        .arg(proto_dir)
        .arg(message)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python could not decode {message}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// JSON as protobuf's JSON mapping prints it: no members with default
/// values (null, "", 0, false, []), every number a float.
fn without_defaults(v: &Value) -> Option<Value> {
    match v {
        Value::Null | Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Number(n) => Some(json!(n.as_f64().unwrap())),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(a) => Some(Value::Array(
            a.iter()
                .map(|x| without_defaults(x).unwrap_or(json!({})))
                .collect(),
        )),
        Value::Object(o) => Some(Value::Object(
            o.iter()
                .filter_map(|(k, x)| without_defaults(x).map(|x| (k.clone(), x)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

#[tokio::test]
async fn mobile_protobuf_answers_decode_with_an_independent_implementation() {
    let env = bff_demo::spawn_for_env(Latency::none()).await.unwrap();
    let bff = start("bff-mobile", &env);
    let specs = workspace_root().join("composition-specs/mobile");
    let plan = bff_core::plan::load(&specs).unwrap();
    let http = client();
    let mut checked = 0;
    for endpoint in &plan.endpoints {
        let message = endpoint
            .message
            .as_ref()
            .unwrap_or_else(|| panic!("{} names no protobuf message", endpoint.id()));
        let path = &endpoint.example.as_ref().unwrap().path;
        let url = format!("{}{path}", bff.url());

        let json: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        let response = http
            .get(&url)
            .header("accept", "application/x-protobuf")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], "application/x-protobuf");
        assert_eq!(response.headers()["vary"], "accept");
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.len() < serde_json::to_vec(&json).unwrap().len(),
            "{path}: protobuf is smaller than JSON"
        );
        let decoded = python_decode(&specs.join("proto"), message.full_name(), &bytes);
        let decoded = without_defaults(&decoded).unwrap_or(json!({}));
        assert_eq!(
            decoded,
            without_defaults(&json).unwrap(),
            "{path}: the protobuf answer carries the JSON answer"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);

    // The IANA name works too, and clients asking for nothing special get JSON.
    let url = format!("{}/v1/products/p-2001", bff.url());
    let r = http
        .get(&url)
        .header("accept", "application/protobuf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/protobuf");
    let r = http.get(&url).header("accept", "*/*").send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/json");
}

const PROTO: &str =
    "syntax = \"proto3\";\npackage t.v1;\nmessage Card { string id = 1; int32 count = 2; }\n";

fn proto_dir(endpoint: &str) -> SpecDir {
    let dir = SpecDir::new("services:\n  s: { url: \"http://127.0.0.1:9\" }\n")
        .endpoint("card", endpoint);
    std::fs::create_dir(dir.path().join("proto")).unwrap();
    std::fs::write(dir.path().join("proto/card.proto"), PROTO).unwrap();
    dir
}

fn load_errors(dir: &SpecDir) -> bff_core::Diagnostics {
    match bff_core::plan::load(dir.path()) {
        Ok(_) => panic!("the folder loaded"),
        Err(e) => e,
    }
}

#[test]
fn a_shape_that_cannot_fit_its_message_is_refused_where_it_is_written() {
    let dir = proto_dir(
        "endpoint: GET /c\ncalls:\n  a: { service: s, get: /a }\nrespond:\n  message: t.v1.Card\n  jq: '{id: .a.id, total: .a.n}'\n",
    );
    let errors = load_errors(&dir);
    let d = &errors.0[0];
    assert!(d.file.ends_with("card.yaml"), "{errors}");
    assert_eq!((d.line, d.column), (6, 20), "{errors}");
    assert!(
        d.message
            .contains("`total` is not a field of protobuf message `t.v1.Card`"),
        "{errors}"
    );

    let dir = proto_dir("endpoint: GET /c\nrespond:\n  message: t.v1.Crad\n");
    let errors = load_errors(&dir);
    assert_eq!(errors.0[0].line, 3, "{errors}");
    assert!(errors.0[0].message.contains("known: t.v1.Card"), "{errors}");

    let dir = proto_dir("endpoint: GET /c\n");
    std::fs::write(
        dir.path().join("proto/bad.proto"),
        "syntax = \"proto3\";\nmessage X {\n  int32 = 1;\n}\n",
    )
    .unwrap();
    let errors = load_errors(&dir);
    assert!(errors.0[0].file.ends_with("proto/bad.proto"), "{errors}");
    assert_eq!(errors.0[0].line, 3, "{errors}");
}

/// `Struct` and `Value` take any JSON object, so literal keys under them
/// are data, as are a map's keys; a map's literal values fill its value
/// message.
#[tokio::test]
async fn literal_objects_for_well_known_types_and_maps_load_and_encode() {
    let dir = SpecDir::new("services: {}\n")
        .file(
            "proto/meta.proto",
            "syntax = \"proto3\";\npackage t.v1;\nimport \"google/protobuf/struct.proto\";\n\
             message Card { string id = 1; int32 count = 2; }\n\
             message Meta { google.protobuf.Struct meta = 1; google.protobuf.Value extra = 2;\n\
             map<string, Card> cards = 3; }\n",
        )
        .endpoint(
            "meta",
            "endpoint: GET /m\nrespond:\n  message: t.v1.Meta\n  jq: |\n    \
             {meta: {source: \"bff\", tags: [\"a\"]}, extra: {kind: {deep: true}},\n     \
             cards: {first: {id: \"c-1\", count: 2}}}\n",
        );
    let plan = bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let message = bff_core::testing::message(&plan.protos, "t.v1.Meta").unwrap();
    let bff = gateway(dir.path()).await;
    let r = client()
        .get(format!("{bff}/m"))
        .header("accept", "application/x-protobuf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let decoded: Value =
        serde_json::from_slice(&bff_core::testing::decode_json(&message, &bytes).unwrap()).unwrap();
    assert_eq!(
        decoded,
        json!({
            "meta": {"source": "bff", "tags": ["a"]},
            "extra": {"kind": {"deep": true}},
            "cards": {"first": {"id": "c-1", "count": 2}},
        })
    );
}

#[tokio::test]
async fn a_result_that_does_not_fit_at_run_time_is_a_500_naming_the_field() {
    let upstream = serve(Router::new().route(
        "/a",
        get(|| async { axum::Json(json!({"id": "c-1", "n": "many"})) }),
    ))
    .await;
    let dir = proto_dir(
        "endpoint: GET /c\ncalls:\n  a: { service: s, get: /a }\nrespond:\n  message: t.v1.Card\n  jq: '{id: .a.id, count: .a.n}'\n",
    );
    let yaml = std::fs::read_to_string(dir.path().join("bff.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:9", &upstream);
    std::fs::write(dir.path().join("bff.yaml"), yaml).unwrap();
    let bff = gateway(dir.path()).await;
    let http = client();
    let r = http
        .get(format!("{bff}/c"))
        .header("accept", "application/x-protobuf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("t.v1.Card.count"), "{detail}");
    // The same result is fine as JSON.
    let r = http.get(format!("{bff}/c")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["count"], "many");
}

#[tokio::test]
async fn the_web_product_page_renders_in_a_browser() {
    let env = bff_demo::spawn_for_env(Latency::none()).await.unwrap();
    let bff = start("bff-web", &env);
    let url = format!("{}/v1/products/p-2001", bff.url());
    // What a script gets as JSON is what the page shows.
    let answer: Value = client()
        .get(&url)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = answer["product"]["name"].as_str().unwrap();
    let first_review = answer["reviews"]["items"][0]["title"].as_str().unwrap();

    let shot = std::env::temp_dir().join("bff-product-page.png");
    let seen = browse(json!({
        "pages": [{ "url": url, "wait_for": "main", "screenshot": shot }]
    }))
    .await;
    let text = seen[0]["text"].as_str().unwrap();
    assert!(text.contains(name), "{text}");
    assert!(text.contains(first_review), "{text}");
    assert!(text.contains("Reviews"), "{text}");
    let amount = answer["product"]["price"]["amount"].as_f64().unwrap();
    assert!(
        text.contains(&format!("{amount}")),
        "price {amount} in {text}"
    );
    assert!(
        text.contains("In stock") || text.contains("Out of stock"),
        "{text}"
    );
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a real screenshot"
    );
    assert!(
        seen[0]["console"].as_array().unwrap().is_empty(),
        "no console errors: {}",
        seen[0]["console"]
    );
}

#[tokio::test]
async fn the_partner_tracking_answers_from_the_demo_soap_interface_in_json_and_xml() {
    let env = bff_demo::spawn_for_env(Latency::none()).await.unwrap();
    let orders = env
        .iter()
        .find(|(k, _)| k == "ORDERS_URL")
        .unwrap()
        .1
        .clone();
    let bff = start("bff-partner", &env);
    let key = "bff_OyZO47Ak_DLFubVhrOATxgVAnW2tKHtU6t2hV29Xe0KUWL0";
    let http = client();
    let order: Value = http
        .get(format!("{orders}/orders/o-50061/tracking"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{}/partner/v1/orders/o-50061/tracking", bff.url());
    let r = http
        .get(&url)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    // The SOAP answer carries what the orders service's JSON says.
    assert_eq!(got["order_id"], "o-50061");
    assert_eq!(got["carrier"], order["carrier"]);
    assert_eq!(got["tracking_code"], order["code"]);
    assert_eq!(got["estimated_delivery"], order["eta"]);
    let events = order["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert_eq!(got["events"].as_array().unwrap().len(), events.len());
    for (g, e) in got["events"].as_array().unwrap().iter().zip(events) {
        assert_eq!(
            (&g["at"], &g["status"], &g["location"]),
            (&e["at"], &e["status"], &e["location"])
        );
    }
    let xml = http
        .get(&url)
        .header("x-api-key", key)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), 200);
    assert!(
        xml.text()
            .await
            .unwrap()
            .contains("<order_id>o-50061</order_id>")
    );
    // An unknown order: the service's fault, as the partner's 400.
    let r = http
        .get(format!("{}/partner/v1/orders/o-1/tracking", bff.url()))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("unknown order o-1"),
        "{p}"
    );
}
