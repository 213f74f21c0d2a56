//! SOAP backends against a real SOAP server of another implementation (the
//! npm package `soap`, in `tests/soap-server`): both versions, the answer
//! as JSON with `lists`, faults as problems, forwarded or standing in for a
//! default, values that cannot inject markup, a WS-Security header from a
//! template file, sent once unless idempotent, and the deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bff_tests::{SpecDir, client, gateway, workspace_root};
use serde_json::{Value, json};

use super::harness::send;

/// The npm `soap` server of `tests/soap-server`, killed when dropped.
struct SoapServer {
    child: Child,
    url: String,
}

impl SoapServer {
    fn start() -> Self {
        let dir = workspace_root().join("tests/soap-server");
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line.trim().strip_prefix("PORT ") else {
            let _ = child.kill();
            panic!("the SOAP server did not start (tests/run installs tests/soap-server): {line}")
        };
        Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Every request the server received, oldest first.
    async fn requests(&self) -> Vec<Value> {
        let v: Value = client()
            .get(format!("{}/requests", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().unwrap().clone()
    }
}

impl Drop for SoapServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The quote endpoint over one SOAP version, with `extra` call keys.
fn quote_endpoint(version: &str, path: &str, extra: &str) -> String {
    format!(
        r#"
endpoint: GET /quotes/{{sym}}
deadline: 2s
calls:
  quote:
    service: stock
    post: {path}
    soap:
      version: {version}
      action: http://example.com/stock/GetQuote
      namespaces: {{ s: "http://example.com/stock" }}
      body: <s:GetQuote><s:symbol>{{{{ path.sym }}}}</s:symbol></s:GetQuote>
      lists: [tag]
    headers: {{ x-symbol: "{{{{ path.sym }}}}" }}
{extra}
respond:
  jq: '.quote.GetQuoteResponse | {{symbol, price, currency, tags: .tags.tag}}'
"#
    )
}

async fn gateway_over(
    server: &SoapServer,
    endpoints: &[(&str, &str)],
    service: &str,
) -> (String, SpecDir) {
    let mut dir = SpecDir::new(&format!(
        "services:\n  stock: {{ url: \"{}\"{service} }}\n",
        server.url
    ));
    for (name, yaml) in endpoints {
        dir = dir.endpoint(name, yaml);
    }
    (gateway(dir.path()).await, dir)
}

#[tokio::test]
async fn soap_1_1_and_1_2_operations_answer_as_json_with_lists() {
    let server = SoapServer::start();
    let (gw, _dir) = gateway_over(
        &server,
        &[
            ("q11", &quote_endpoint("\"1.1\"", "/soap11", "")),
            (
                "q12",
                &quote_endpoint("1.2", "/soap12", "").replace("/quotes/", "/v12/quotes/"),
            ),
        ],
        "",
    )
    .await;
    let c = client();
    let r = send(c.get(format!("{gw}/quotes/ACME"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // One tag still a list, because of `lists: [tag]`.
    assert_eq!(
        r.json(),
        json!({"symbol": "ACME", "price": 12.5, "currency": "EUR", "tags": ["tools"]})
    );
    let r = send(c.get(format!("{gw}/v12/quotes/GLOBEX"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        json!({"symbol": "GLOBEX", "price": 99.25, "currency": "USD", "tags": ["energy", "chemicals"]})
    );

    let seen = server.requests().await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (v11, v12) = (&seen[0], &seen[1]);
    assert_eq!(v11["method"], "POST");
    assert_eq!(v11["path"], "/soap11");
    assert_eq!(v11["headers"]["content-type"], "text/xml; charset=utf-8");
    assert_eq!(v11["headers"]["x-symbol"], "ACME");
    assert_eq!(
        v11["headers"]["soapaction"],
        "\"http://example.com/stock/GetQuote\""
    );
    let body = v11["body"].as_str().unwrap();
    assert!(
        body.contains(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:s="http://example.com/stock"><soap:Body><s:GetQuote><s:symbol>ACME</s:symbol></s:GetQuote></soap:Body></soap:Envelope>"#),
        "{body}"
    );
    assert_eq!(
        v12["headers"]["content-type"],
        "application/soap+xml; charset=utf-8; action=\"http://example.com/stock/GetQuote\""
    );
    assert!(v12["headers"].get("soapaction").is_none(), "{v12}");
    assert!(
        v12["body"]
            .as_str()
            .unwrap()
            .contains(r#"xmlns:soap="http://www.w3.org/2003/05/soap-envelope""#)
    );
}

#[tokio::test]
async fn faults_become_problems_forwarded_or_replaced_by_a_default() {
    let server = SoapServer::start();
    let forwarded = quote_endpoint("1.2", "/soap12", "    on_error: { forward_status: [400] }")
        .replace("/quotes/", "/fwd/");
    let optional = r#"
endpoint: GET /opt/{sym}
calls:
  quote:
    service: stock
    post: /soap11
    soap:
      action: http://example.com/stock/GetQuote
      namespaces: { s: "http://example.com/stock" }
      body: <s:GetQuote><s:symbol>{{ path.sym }}</s:symbol></s:GetQuote>
    on_error: { default: { none: true } }
"#;
    let (gw, _dir) = gateway_over(
        &server,
        &[
            ("plain", &quote_endpoint("1.1", "/soap11", "")),
            ("fwd", &forwarded),
            ("opt", optional),
        ],
        "",
    )
    .await;
    let c = client();
    // A sender's fault, required call: 502 naming the call, with the faultstring.
    let r = send(c.get(format!("{gw}/quotes/UNKNOWN-X"))).await;
    let p = r.problem(502);
    assert_eq!(
        p["detail"],
        "call `quote` failed: SOAP fault soap:Client: unknown symbol UNKNOWN-X"
    );
    // Forwarded by the SOAP 1.2 binding's status for a sender's fault.
    let r = send(c.get(format!("{gw}/fwd/UNKNOWN-Y"))).await;
    let p = r.problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("unknown symbol UNKNOWN-Y"),
        "{p}"
    );
    // A receiver's fault is not a 400: it is not forwarded.
    let r = send(c.get(format!("{gw}/fwd/CRASH"))).await;
    let p = r.problem(502);
    assert_eq!(
        p["detail"],
        "call `quote` failed: SOAP fault soap:Receiver: quote engine down"
    );
    // An optional call: its default, and the answer says why it is partial.
    let r = send(c.get(format!("{gw}/opt/CRASH"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"quote": {"none": true}}));
    assert_eq!(r.header("bff-degraded"), Some("quote;reason=soap-fault"));
}

#[tokio::test]
async fn template_values_cannot_add_markup_to_the_envelope() {
    let server = SoapServer::start();
    let echo = r#"
endpoint: GET /echo
calls:
  echo:
    service: stock
    post: /soap11
    soap:
      action: http://example.com/stock/Echo
      namespaces: { s: "http://example.com/stock" }
      body: <s:Echo><s:text>{{ query.text }}</s:text></s:Echo>
respond:
  jq: '.echo.EchoResponse | {text: (.text | tostring), count}'
"#;
    let (gw, _dir) = gateway_over(&server, &[("echo", echo)], "").await;
    let hostile = "x</s:text><s:evil/><s:text>&amp;\"'";
    let r = send(
        client()
            .get(format!("{gw}/echo"))
            .query(&[("text", hostile)]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The server parsed one child element, whose text is the value as given.
    assert_eq!(r.json(), json!({"text": hostile, "count": 1}));
}

#[tokio::test]
async fn a_ws_security_header_comes_from_its_template_file() {
    let server = SoapServer::start();
    let whoami = r#"
endpoint: GET /whoami
calls:
  me:
    service: stock
    post: /soap12
    soap:
      version: "1.2"
      action: http://example.com/stock/Whoami
      namespaces: { s: "http://example.com/stock" }
      header: soap/wsse.xml
      body: <s:Whoami/>
respond:
  jq: .me.WhoamiResponse.user
"#;
    let header = r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
  <wsse:UsernameToken>
    <wsse:Username>{{ query.user }}</wsse:Username>
    <wsse:Password>${STOCK_WS_PASSWORD:-s3cret}{{ query.suffix | default(value="") }}</wsse:Password>
  </wsse:UsernameToken>
</wsse:Security>
"#;
    let dir = SpecDir::new(&format!(
        "services:\n  stock: {{ url: \"{}\" }}\n",
        server.url
    ))
    .endpoint("whoami", whoami)
    .file("soap/wsse.xml", header);
    let gw = gateway(dir.path()).await;
    let c = client();
    let r = send(c.get(format!("{gw}/whoami")).query(&[("user", "alice")])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!("alice"));
    let r = send(
        c.get(format!("{gw}/whoami"))
            .query(&[("user", "alice"), ("suffix", "x")]),
    )
    .await;
    let p = r.problem(502);
    assert!(
        p["detail"].as_str().unwrap().contains("not authenticated"),
        "{p}"
    );
}

#[tokio::test]
async fn operations_are_sent_once_unless_idempotent_and_never_past_the_deadline() {
    let server = SoapServer::start();
    let once = quote_endpoint("1.1", "/soap11", "    timeout: 300ms");
    let twice = quote_endpoint("1.1", "/soap11", "    timeout: 300ms")
        .replace("lists: [tag]", "lists: [tag]\n      idempotent: true")
        .replace("/quotes/", "/retried/");
    let (gw, _dir) = gateway_over(
        &server,
        &[("once", &once), ("twice", &twice)],
        ", retries: { attempts: 2, backoff: 1ms, budget: 1.0 }",
    )
    .await;
    let c = client();
    let r = send(c.get(format!("{gw}/quotes/SLOW"))).await;
    r.problem(504);
    assert!(r.ms() < 1500, "took {} ms", r.ms());
    let sent = server.requests().await.len();
    assert_eq!(sent, 1, "a SOAP operation is sent once");

    let r = send(c.get(format!("{gw}/retried/SLOW"))).await;
    r.problem(504);
    assert!(r.ms() < 2500, "took {} ms", r.ms());
    let retried = server.requests().await.len() - sent;
    assert_eq!(
        retried, 3,
        "an idempotent operation is retried as the service says"
    );
}

/// A SOAP service of our own whose answers the test switches: a quote, a
/// receiver's fault, or a sender's fault; it counts the envelopes it got.
async fn switched_service() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let mode = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let (m, s) = (mode.clone(), seen.clone());
    let up = bff_tests::serve(axum::Router::new().route(
        "/ws",
        axum::routing::post(move || {
            let (m, s) = (m.clone(), s.clone());
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                let body = match m.load(Ordering::SeqCst) {
                    0 => "<Q><price>7</price></Q>",
                    1 => "<e:Fault><faultcode>e:Server</faultcode><faultstring>down</faultstring></e:Fault>",
                    _ => "<e:Fault><faultcode>e:Client</faultcode><faultstring>bad</faultstring></e:Fault>",
                };
                let status = if body.contains("Fault") { 500 } else { 200 };
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "text/xml")],
                    format!("<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body>{body}</e:Body></e:Envelope>"),
                )
            }
        }),
    ))
    .await;
    (up, mode, seen)
}

const SWITCHED: &str = "endpoint: GET /q\ncalls:\n  q:\n    service: legacy\n    post: /ws\n    soap: { body: <Q/> }\nrespond:\n  jq: .q.Q.price\n";

#[tokio::test]
async fn a_receivers_fault_lets_the_last_good_answer_stand_in() {
    let (up, mode, _) = switched_service().await;
    let dir = SpecDir::new(&format!(
        "services:\n  legacy: {{ url: \"{up}\", stale_if_error: {{ max_age: 1m }} }}\n"
    ))
    .endpoint("q", SWITCHED);
    let gw = gateway(dir.path()).await;
    let r = send(client().get(format!("{gw}/q"))).await;
    assert_eq!((r.status, r.json()), (200, json!(7)));
    mode.store(1, Ordering::SeqCst);
    let r = send(client().get(format!("{gw}/q"))).await;
    assert_eq!((r.status, r.json()), (200, json!(7)), "{}", r.text);
    assert_eq!(r.header("bff-degraded"), Some("q;reason=stale"));
    // A sender's fault is an answer about the request: nothing stands in.
    mode.store(2, Ordering::SeqCst);
    let r = send(client().get(format!("{gw}/q"))).await;
    r.problem(502);
}

#[tokio::test]
async fn receivers_faults_open_the_circuit_and_senders_faults_do_not() {
    let (up, mode, seen) = switched_service().await;
    let dir = SpecDir::new(&format!(
        "services:\n  legacy: {{ url: \"{up}\", circuit_breaker: {{ failure_rate: 0.5, min_requests: 3, window: 10s, open_for: 30s }} }}\n"
    ))
    .endpoint("q", SWITCHED);
    let gw = gateway(dir.path()).await;
    mode.store(2, Ordering::SeqCst);
    for _ in 0..5 {
        send(client().get(format!("{gw}/q"))).await.problem(502);
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        5,
        "sender's faults leave the circuit closed"
    );
    // Receiver's faults: half of the window's calls failed after five.
    mode.store(1, Ordering::SeqCst);
    for _ in 0..5 {
        send(client().get(format!("{gw}/q"))).await.problem(502);
    }
    let r = send(client().get(format!("{gw}/q"))).await;
    let p = r.problem(503);
    assert!(p["detail"].as_str().unwrap().contains("circuit"), "{p}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        10,
        "an open circuit sends nothing"
    );
}
