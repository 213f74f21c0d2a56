//! gRPC backends of composed endpoints, against servers the gateway's own
//! code did not write: a Python `grpcio` server (compiled from the `.proto`
//! at test time with `grpc_tools`; `tests/run` installs both) and the demo's
//! tonic pricing service. Request encoding, answer decoding, deadlines,
//! status mapping and retries are checked through what the client gets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bff_tests::{SpecDir, client, gateway, workspace_root};
use serde_json::{Value, json};

/// The Python server of `fixtures/grpc`, killed when dropped.
struct PyServer {
    child: Child,
    url: String,
    _out: tempfile::TempDir,
}

impl PyServer {
    fn start() -> Self {
        let fixtures = fixtures();
        let out = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(fixtures.join("quote_server.py"))
            .arg(&fixtures)
            .arg(out.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the Python gRPC server did not start (are grpcio and grpcio-tools installed?)")
        });
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _out: out,
        }
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fixtures() -> std::path::PathBuf {
    workspace_root().join("tests/fixtures/grpc")
}

/// A spec folder whose `proto/` holds the given `.proto` files.
fn with_protos(bff_yaml: &str, protos: &[(&str, &Path)]) -> SpecDir {
    let dir = SpecDir::new(bff_yaml);
    for (name, source) in protos {
        let target = dir.path().join("proto").join(name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(source, target).unwrap();
    }
    dir
}

/// A gateway whose service `quotes` is the Python server (`service` adds
/// keys to its bff.yaml entry), serving the endpoint file `endpoint`.
async fn quote_gateway(server: &PyServer, service: &str, endpoint: &str) -> String {
    let yaml = format!(
        "services:\n  quotes: {{ url: \"{}\"{service} }}\n",
        server.url
    );
    let dir = with_protos(&yaml, &[("quote.proto", &fixtures().join("quote.proto"))])
        .endpoint("quote", endpoint);
    // The folder is read once, at load: the gateway keeps what it compiled.
    gateway(dir.path()).await
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

const QUOTE: &str = r#"
endpoint: GET /v1/quotes/{sku}
deadline: 2s
calls:
  quote:
    service: quotes
    grpc: test.quote.v1.Quotes/Quote
    timeout: 800ms
    body:
      sku: "{{ path.sku }}"
      quantity: "{{ query.qty }}"
      mode: "{{ query.mode | default(value='ok') }}"
      tags: [fast, "{{ query.tag }}"]
      customer: { id: "c-{{ query.qty }}", tier: "{{ query.tier | default(value='TIER_UNSPECIFIED') }}" }
"#;

#[tokio::test]
async fn a_python_grpc_server_answers_a_composed_call() {
    let server = PyServer::start();
    let base = quote_gateway(&server, "", QUOTE).await;

    let (status, _, body) = get(&format!("{base}/v1/quotes/sku-7?qty=4&tag=red&tier=GOLD")).await;
    assert_eq!(status, 200, "{body}");
    let quote = &body["quote"];
    // Computed by the server from the fields the templates filled in.
    assert_eq!(quote["sku"], "sku-7");
    assert_eq!(quote["quantity"], 4);
    assert_eq!(
        quote["total_cents"], "900",
        "int64 is a string in proto3 JSON"
    );
    assert_eq!(quote["echo"], "sku-7|fast,red|c-4");
    assert_eq!(quote["tier"], "GOLD");
    assert_eq!(quote["discounted"], true);

    // Defaults are part of the answer, with the .proto's field names.
    let (_, _, body) = get(&format!("{base}/v1/quotes/sku-8?qty=0&tag=x")).await;
    assert_eq!(body["quote"]["quantity"], 0);
    assert_eq!(body["quote"]["total_cents"], "0");
    assert_eq!(body["quote"]["tier"], "TIER_UNSPECIFIED");
    assert_eq!(body["quote"]["discounted"], false);
}

#[tokio::test]
async fn the_server_sees_the_calls_time_left_as_grpc_timeout() {
    let server = PyServer::start();
    let base = quote_gateway(&server, "", QUOTE).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/sku-1?qty=1&tag=t")).await;
    assert_eq!(status, 200, "{body}");
    // The call's 800ms timeout is shorter than the endpoint's 2s deadline.
    let left = body["quote"]["deadline_ms"].as_i64().unwrap();
    assert!((500..=800).contains(&left), "server saw {left}ms left");

    // A deadline shorter than the call timeout is what goes out.
    let short = QUOTE.replace("deadline: 2s", "deadline: 300ms");
    let base = quote_gateway(&server, "", &short).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/sku-2?qty=1&tag=t")).await;
    assert_eq!(status, 200, "{body}");
    let left = body["quote"]["deadline_ms"].as_i64().unwrap();
    assert!((100..=300).contains(&left), "server saw {left}ms left");
}

#[tokio::test]
async fn body_jq_builds_typed_request_messages() {
    let server = PyServer::start();
    let endpoint = r#"
endpoint: GET /v1/quotes/{sku}
calls:
  quote:
    service: quotes
    grpc: test.quote.v1.Quotes/Quote
    body_jq: '{sku: .path.sku, quantity: (.query.qty | tonumber), mode: "ok", tags: [.query.tag], customer: {tier: 1}}'
respond:
  jq: '{sku: .quote.sku, total: (.quote.total_cents | tonumber), tags: .quote.echo}'
"#;
    let base = quote_gateway(&server, "", endpoint).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/jq-1?qty=10&tag=blue")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"sku": "jq-1", "total": 2250, "tags": "jq-1|blue|"})
    );

    // A value that does not fit the message fails the call, naming the field.
    let (status, _, body) = get(&format!("{base}/v1/quotes/jq-1?qty=1.5&tag=blue")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["call"], "quote");
}

#[tokio::test]
async fn not_found_is_forwarded_as_404_or_fails_the_call_by_name() {
    let server = PyServer::start();
    let forwarded = QUOTE.replace(
        "    timeout: 800ms\n",
        "    timeout: 800ms\n    on_error: { forward_status: [404] }\n",
    );
    let base = quote_gateway(&server, "", &forwarded).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/gone?qty=1&tag=t&mode=missing")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["call"], "quote");
    assert!(
        body["detail"].as_str().unwrap().contains("no sku gone"),
        "{body}"
    );

    let base = quote_gateway(&server, "", QUOTE).await;
    let (status, headers, body) =
        get(&format!("{base}/v1/quotes/gone?qty=1&tag=t&mode=missing")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(body["call"], "quote");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("`quote`"), "{detail}");
    assert!(detail.contains("NOT_FOUND"), "{detail}");
    assert!(detail.contains("no sku gone"), "{detail}");
}

#[tokio::test]
async fn unavailable_is_503_or_a_partial_answer_with_a_default() {
    let server = PyServer::start();
    let base = quote_gateway(&server, "", QUOTE).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/x?qty=1&tag=t&mode=down")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["call"], "quote");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("down for maintenance"),
        "{body}"
    );

    let optional = QUOTE.replace(
        "    timeout: 800ms\n",
        "    timeout: 800ms\n    on_error: { default: { total_cents: \"0\" } }\n",
    );
    let base = quote_gateway(&server, "", &optional).await;
    let (status, headers, body) = get(&format!("{base}/v1/quotes/x?qty=1&tag=t&mode=down")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quote"], json!({"total_cents": "0"}));
    assert_eq!(headers["bff-partial"], "true");
    assert_eq!(headers["bff-degraded"], "quote;reason=grpc-unavailable");
}

#[tokio::test]
async fn a_server_past_the_deadline_does_not_hold_the_client() {
    let server = PyServer::start();
    let slow = QUOTE
        .replace("deadline: 2s", "deadline: 400ms")
        .replace("    timeout: 800ms\n", "");
    let base = quote_gateway(&server, "", &slow).await;
    let started = Instant::now();
    let (status, _, body) = get(&format!("{base}/v1/quotes/z?qty=1&tag=t&mode=slow")).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    let optional = slow.replace(
        "    grpc: test.quote.v1.Quotes/Quote\n",
        "    grpc: test.quote.v1.Quotes/Quote\n    timeout: 200ms\n    on_error: { default: null }\n",
    );
    let base = quote_gateway(&server, "", &optional).await;
    let started = Instant::now();
    let (status, headers, body) = get(&format!("{base}/v1/quotes/z?qty=1&tag=t&mode=slow")).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(headers["bff-degraded"], "quote;reason=timeout");
}

#[tokio::test]
async fn unavailable_is_retried_only_for_methods_declared_safe() {
    let server = PyServer::start();
    let retries = ", retries: { attempts: 2, backoff: 10ms }";
    let base = quote_gateway(&server, retries, QUOTE).await;
    // `Quote` is NO_SIDE_EFFECTS: its first UNAVAILABLE is tried again.
    let (status, _, body) = get(&format!("{base}/v1/quotes/flaky-1?qty=2&tag=t&mode=flaky")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quote"]["attempts"], 2);

    // `Place` declares nothing: sent once, its UNAVAILABLE stands.
    let place = QUOTE.replace("Quotes/Quote", "Quotes/Place");
    let base = quote_gateway(&server, retries, &place).await;
    let (status, _, body) = get(&format!("{base}/v1/quotes/flaky-2?qty=2&tag=t&mode=flaky")).await;
    assert_eq!(status, 503, "{body}");
    let (status, _, body) = get(&format!("{base}/v1/quotes/flaky-2?qty=2&tag=t&mode=flaky")).await;
    assert_eq!(status, 200, "the server saw one request before: {body}");
    assert_eq!(body["quote"]["attempts"], 2);
}

/// Errors of gRPC calls found when specs load, with their places.
#[test]
fn grpc_spec_errors_are_located() {
    let endpoint = r#"endpoint: GET /v1/q
calls:
  a:
    service: quotes
    grpc: test.quote.v1.Quotes/Nope
  b:
    service: quotes
    grpc: test.quote.v1.Quotes/Watch
  c:
    service: quotes
    grpc: test.quote.v1.Quotes/Quote
    body:
      sku: x
      customer: { id: c, rank: 3 }
      amount: 2
  d:
    service: quotes
    grpc: test.quote.v1.Nobody/Quote
    query: { x: "1" }
"#;
    let dir = with_protos(
        "services:\n  quotes: { url: \"http://127.0.0.1:9\" }\n",
        &[("quote.proto", &fixtures().join("quote.proto"))],
    )
    .endpoint("q", endpoint);
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    for (needle, line) in [
        (
            "no protobuf method of `test.quote.v1.Quotes` `Nope`; known: Quote, Place, Watch",
            5,
        ),
        (
            "`test.quote.v1.Quotes/Watch` streams; only unary methods",
            8,
        ),
        (
            "`rank` is not a field of `test.quote.v1.Customer` (it has id, tier)",
            14,
        ),
        (
            "`amount` is not a field of `test.quote.v1.QuoteRequest`",
            15,
        ),
        (
            "no protobuf service `test.quote.v1.Nobody`; known: test.quote.v1.Quotes",
            18,
        ),
        ("a gRPC call has no query string", 19),
    ] {
        let at = errors
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{errors}"));
        let place = errors[at..].lines().nth(1).unwrap_or("");
        assert!(
            place.contains(&format!("q.yaml:{line}:")),
            "`{needle}` not at line {line}:\n{errors}"
        );
    }
}

// The demo's tonic service, through a BFF configured as the demo's are.

/// The URL of the demo's pricing service, started with the other demo services.
async fn demo_pricing() -> String {
    let services = bff_demo::spawn_services(
        [127, 0, 0, 1].into(),
        bff_demo::DemoPorts::EPHEMERAL,
        bff_demo::Latency::none(),
    )
    .await
    .unwrap();
    let addr = services.iter().find(|(n, _)| *n == "pricing").unwrap().1;
    format!("http://{addr}")
}

const PRICE: &str = r#"
endpoint: GET /v1/prices/{product_id}
deadline: 1s
calls:
  price:
    service: pricing
    grpc: shop.pricing.v1.Pricing/GetPrice
    body: { product_id: "{{ path.product_id }}", quantity: "{{ query.quantity | default(value='1') }}" }
    on_error: { forward_status: [404, 400] }
respond:
  jq: .price
"#;

#[tokio::test]
async fn the_demo_tonic_pricing_service_answers_through_the_gateway() {
    let url = demo_pricing().await;
    let proto = workspace_root().join("composition-specs/web/proto/shop/pricing/v1/pricing.proto");
    let dir = with_protos(
        &format!("services:\n  pricing: {{ url: \"{url}\", timeout: 500ms }}\n"),
        &[("shop/pricing/v1/pricing.proto", &proto)],
    )
    .endpoint("price", PRICE);
    let base = gateway(dir.path()).await;

    let (status, _, one) = get(&format!("{base}/v1/prices/p-2001")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["product_id"], "p-2001");
    assert_eq!(one["quantity"], 1);
    assert_eq!(one["currency"], "EUR");
    let unit = one["unit_price_cents"].as_u64().unwrap();
    assert!(unit > 0);
    assert_eq!(one["total_cents"].as_u64().unwrap(), unit);

    let (status, _, ten) = get(&format!("{base}/v1/prices/p-2001?quantity=10")).await;
    assert_eq!(status, 200, "{ten}");
    assert_eq!(ten["unit_price_cents"].as_u64().unwrap(), unit);
    let percent = ten["discount_percent"].as_u64().unwrap();
    assert!(percent > 0, "a quantity discount: {ten}");
    assert_eq!(
        ten["total_cents"].as_u64().unwrap(),
        unit * 10 * (100 - percent) / 100
    );

    let (status, _, body) = get(&format!("{base}/v1/prices/p-0")).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("p-0"), "{body}");
    let (status, _, body) = get(&format!("{base}/v1/prices/p-2001?quantity=0")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_demo_pricing_faults_speak_grpc() {
    let url = demo_pricing().await;
    let proto = workspace_root().join("composition-specs/web/proto/shop/pricing/v1/pricing.proto");
    let endpoint = PRICE.replace("forward_status: [404, 400]", "default: null");
    let dir = with_protos(
        &format!("services:\n  pricing: {{ url: \"{url}\" }}\n"),
        &[("shop/pricing/v1/pricing.proto", &proto)],
    )
    .endpoint("price", &endpoint);
    let base = gateway(dir.path()).await;
    let set = client()
        .put(format!("{url}/_demo/faults"))
        .json(&json!({"fail": 503}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let (status, headers, body) = get(&format!("{base}/v1/prices/p-2001")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, Value::Null);
    assert_eq!(headers["bff-degraded"], "price;reason=grpc-unavailable");
}
