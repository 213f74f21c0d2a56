//! The GraphQL endpoint end to end: a schema and resolvers in the spec
//! folder over a real upstream on loopback. Only the resolvers of selected
//! fields send requests; the keys of every parent at a level go out in
//! one batched request; a slow optional field becomes `null` with an error
//! naming its path and reason, within the deadline; a failed non-null
//! field nulls its nearest nullable parent; limits refuse an operation
//! before any request; persisted operations and the automatic persisted
//! queries protocol; GET for queries only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query};
use axum::routing::get;
use bff_tests::{SpecDir, bff_yaml, client, gateway, serve};
use serde_json::{Value, json};

use crate::harness::{Reply, send};

const SCHEMA: &str = r#"
type Query {
  products(limit: Int = 10): [Product!]!
  product(id: ID!): Product
  strict: Strict
}

type Product {
  id: ID!
  name: String!
  price: Float
  stock: Int
  reviews: [Review!]
}

type Review {
  stars: Int!
  text: String
}

type Strict {
  id: ID!
  must: Int!
}

type Mutation {
  touch(id: ID!): Product
}
"#;

const GRAPHQL_YAML: &str = r#"
deadline: 1s
resolvers:
  Query.products:
    service: up
    get: "/products?limit={{ args.limit }}"
    select: "[.[] | {id, name, price: (.price_cents / 100)}]"
  Query.product:
    service: up
    get: "/products/{{ args.id }}"
    select: "{id, name, price: (.price_cents / 100)}"
  Query.strict: { service: up, get: /strict }
  Strict.must: { service: up, get: /fail }
  Mutation.touch: { service: up, post: "/products/{{ args.id }}" }
  Product.stock:
    service: up
    for_each: .parent.id
    batch: 100
    get: "/stock?ids={{ batch | join(sep=',') }}"
    key: .product_id
    select: .available
  Product.reviews:
    service: up
    get: "/reviews/{{ parent.id }}"
    timeout: 150ms
    on_error: {}
"#;

/// What the upstream was asked, by path.
type Seen = Arc<Mutex<Vec<String>>>;

fn upstream(seen: Seen) -> Router {
    let log = move |what: String| seen.lock().unwrap().push(what);
    let (l1, l2, l3, l4, l5, l6) = (
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log.clone(),
        log,
    );
    Router::new()
        .route(
            "/products",
            get(move |Query(q): Query<HashMap<String, String>>| {
                let n: usize = q["limit"].parse().unwrap();
                l1(format!("/products?limit={n}"));
                async move {
                    let list: Vec<Value> = (0..n)
                        .map(|i| json!({"id": format!("p{i}"), "name": format!("P{i}"), "price_cents": 100 * i as u64, "secret": "x"}))
                        .collect();
                    axum::Json(Value::Array(list))
                }
            }),
        )
        .route(
            "/products/{id}",
            get(move |Path(id): Path<String>| {
                l2(format!("/products/{id}"));
                async move { axum::Json(json!({"id": id, "name": "One", "price_cents": 250})) }
            })
            .post(|Path(id): Path<String>| async move {
                axum::Json(json!({"id": id, "name": "Touched"}))
            }),
        )
        .route(
            "/stock",
            get(move |Query(q): Query<HashMap<String, String>>| {
                l3(format!("/stock?ids={}", q["ids"]));
                async move {
                    let items: Vec<Value> = q["ids"]
                        .split(',')
                        .map(|id| json!({"product_id": id, "available": id.len()}))
                        .collect();
                    axum::Json(Value::Array(items))
                }
            }),
        )
        .route(
            "/reviews/{id}",
            get(move |Path(id): Path<String>| {
                l4(format!("/reviews/{id}"));
                async move {
                    if id == "p1" {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    axum::Json(json!([{"stars": 5, "text": "good"}]))
                }
            }),
        )
        .route(
            "/strict",
            get(move || {
                l5("/strict".to_owned());
                async { axum::Json(json!({"id": "s"})) }
            }),
        )
        .route(
            "/fail",
            get(move || {
                l6("/fail".to_owned());
                async { (http::StatusCode::SERVICE_UNAVAILABLE, "down") }
            }),
        )
}

async fn start(graphql_yaml: &str, extra: &[(&str, &str)]) -> (String, Seen, SpecDir) {
    let seen: Seen = Arc::default();
    let up = serve(upstream(seen.clone())).await;
    let mut dir = SpecDir::new(&bff_yaml(&[("up", &up)]))
        .file("graphql.yaml", graphql_yaml)
        .file("graphql/schema.graphql", SCHEMA);
    for (path, text) in extra {
        dir = dir.file(path, text);
    }
    let gw = gateway(dir.path()).await;
    (gw, seen, dir)
}

async fn post(gw: &str, body: Value) -> Reply {
    send(
        client()
            .post(format!("{gw}/graphql"))
            .header("accept", "application/graphql-response+json")
            .json(&body),
    )
    .await
}

async fn query(gw: &str, q: &str) -> Reply {
    post(gw, json!({ "query": q })).await
}

#[tokio::test]
async fn only_selected_fields_reach_their_services() {
    let (gw, seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(&gw, r#"{ product(id: "p7") { id name price } }"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/graphql-response+json")
    );
    assert_eq!(
        r.json(),
        json!({"data": {"product": {"id": "p7", "name": "One", "price": 2.5}}})
    );
    assert_eq!(*seen.lock().unwrap(), ["/products/p7"]);
}

#[tokio::test]
async fn fifty_parents_send_one_batched_request_of_their_keys() {
    let (gw, seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(
        &gw,
        r#"{ products(limit: 50) { id stock } again: products(limit: 3) { id alsoStock: stock } }"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["products"].as_array().unwrap().len(), 50);
    assert_eq!(v["data"]["products"][12], json!({"id": "p12", "stock": 3}));
    assert_eq!(v["data"]["again"][2], json!({"id": "p2", "alsoStock": 2}));
    let seen = seen.lock().unwrap().clone();
    let stock: Vec<&String> = seen.iter().filter(|s| s.starts_with("/stock")).collect();
    // One request per field selection at the level, its keys each once.
    assert_eq!(stock.len(), 2, "{seen:?}");
    let ids: Vec<String> = (0..50).map(|i| format!("p{i}")).collect();
    assert!(
        stock.contains(&&format!("/stock?ids={}", ids.join(","))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_slow_optional_field_is_null_with_an_error_within_the_deadline() {
    let (gw, _seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(&gw, r#"{ products(limit: 3) { id reviews { stars } } }"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.ms() < 1000, "took {} ms", r.ms());
    assert_eq!(r.header("bff-partial"), Some("true"));
    let v = r.json();
    assert_eq!(v["data"]["products"][0]["reviews"], json!([{"stars": 5}]));
    assert_eq!(v["data"]["products"][1]["reviews"], Value::Null);
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["path"], json!(["products", 1, "reviews"]));
    assert_eq!(errors[0]["extensions"]["reason"], "timeout");
    assert_eq!(errors[0]["extensions"]["code"], "UPSTREAM_TIMEOUT");
    assert_eq!(errors[0]["extensions"]["resolver"], "Product.reviews");
}

#[tokio::test]
async fn a_failed_non_null_field_nulls_its_nearest_nullable_parent() {
    let (gw, _seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(&gw, r#"{ strict { id must } product(id: "p1") { id } }"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["data"]["strict"], Value::Null, "{v}");
    assert_eq!(v["data"]["product"], json!({"id": "p1"}));
    assert_eq!(v["errors"][0]["path"], json!(["strict", "must"]));
    assert_eq!(v["errors"][0]["extensions"]["reason"], "status-503");
}

#[tokio::test]
async fn limits_refuse_an_operation_before_any_request() {
    let yaml = format!("{GRAPHQL_YAML}limits: {{ max_depth: 2, max_aliases: 1, max_cost: 400 }}\n");
    let (gw, seen, _dir) = start(&yaml, &[]).await;
    let deep = query(&gw, r#"{ products { reviews { stars } } }"#).await;
    assert_eq!(deep.status, 400, "{}", deep.text);
    assert_eq!(
        deep.json()["errors"][0]["extensions"]["code"],
        "MAX_DEPTH_EXCEEDED"
    );
    let aliases = query(
        &gw,
        r#"{ a: product(id: "1") { id } b: product(id: "2") { id } }"#,
    )
    .await;
    assert_eq!(
        aliases.json()["errors"][0]["extensions"]["code"],
        "MAX_ALIASES_EXCEEDED"
    );
    // 500 products, each with a per-parent stock: far past the cost limit.
    let costly = query(&gw, r#"{ products(limit: 500) { id name } }"#).await;
    assert_eq!(
        costly.json()["errors"][0]["extensions"]["code"],
        "COST_LIMIT_EXCEEDED",
        "{}",
        costly.text
    );
    assert!(costly.json().get("data").is_none());
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // Within the limits the same endpoint answers.
    let fine = query(&gw, r#"{ products(limit: 2) { id } }"#).await;
    assert_eq!(fine.status, 200, "{}", fine.text);
}

#[tokio::test]
async fn invalid_operations_get_located_errors_and_plain_json_clients_get_200() {
    let (gw, seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(&gw, "{ product(id: \"1\") { nope } }").await;
    assert_eq!(r.status, 400, "{}", r.text);
    let v = r.json();
    let e = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["message"].as_str().unwrap().contains("nope"))
        .unwrap_or_else(|| panic!("no error names the field: {v}"));
    assert_eq!(e["locations"][0], json!({"line": 1, "column": 22}));
    assert_eq!(e["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");
    let plain = send(
        client()
            .post(format!("{gw}/graphql"))
            .json(&json!({"query": "{ nope }"})),
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn get_serves_queries_with_variables_but_not_mutations() {
    let (gw, _seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = send(client().get(format!("{gw}/graphql")).query(&[
        ("query", "query One($id: ID!) { product(id: $id) { id } }"),
        ("variables", r#"{"id": "p3"}"#),
        ("operationName", "One"),
    ]))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"data": {"product": {"id": "p3"}}}));
    let m = send(
        client()
            .get(format!("{gw}/graphql"))
            .query(&[("query", r#"mutation { touch(id: "1") { id } }"#)]),
    )
    .await;
    assert_eq!(m.status, 405, "{}", m.text);
    assert_eq!(m.header("allow"), Some("POST"));
    let posted = query(&gw, r#"mutation { touch(id: "9") { name } }"#).await;
    assert_eq!(
        posted.json(),
        json!({"data": {"touch": {"name": "Touched"}}})
    );
}

#[tokio::test]
async fn automatic_persisted_queries_register_then_answer_by_hash() {
    let (gw, _seen, _dir) = start(
        &format!("{GRAPHQL_YAML}persisted: {{ dir: graphql/persisted }}\n"),
        &[(
            "graphql/persisted/one.graphql",
            "query { product(id: \"p5\") { id } }",
        )],
    )
    .await;
    let text = r#"{ product(id: "p2") { name } }"#;
    let hash = sha256(text);
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let miss = post(&gw, json!({"extensions": ext})).await;
    assert_eq!(
        miss.json()["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    let wrong = post(
        &gw,
        json!({"query": "{ strict { id } }", "extensions": ext}),
    )
    .await;
    assert_eq!(
        wrong.json()["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_HASH_MISMATCH"
    );
    let register = post(&gw, json!({"query": text, "extensions": ext})).await;
    assert_eq!(
        register.json(),
        json!({"data": {"product": {"name": "One"}}})
    );
    let by_hash = post(&gw, json!({"extensions": ext})).await;
    assert_eq!(
        by_hash.json(),
        json!({"data": {"product": {"name": "One"}}})
    );
    // A file of the persisted folder answers by its hash from the start.
    let file_hash = sha256("query { product(id: \"p5\") { id } }");
    let from_file = post(
        &gw,
        json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": file_hash}}}),
    )
    .await;
    assert_eq!(from_file.json(), json!({"data": {"product": {"id": "p5"}}}));
}

#[tokio::test]
async fn required_persisted_operations_refuse_any_other_text() {
    let op = "query { product(id: \"p5\") { id } }";
    let (gw, seen, _dir) = start(
        &format!("{GRAPHQL_YAML}persisted: {{ require: true }}\nintrospection: false\n"),
        &[("graphql/persisted/one.graphql", op)],
    )
    .await;
    let other = query(&gw, r#"{ product(id: "p6") { id } }"#).await;
    assert_eq!(
        other.json()["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_REQUIRED"
    );
    assert!(seen.lock().unwrap().is_empty());
    let same = query(&gw, op).await;
    assert_eq!(same.json(), json!({"data": {"product": {"id": "p5"}}}));
}

#[tokio::test]
async fn introspection_answers_unless_turned_off() {
    let q = "{ __schema { queryType { name } } }";
    let (gw, _s, _d) = start(GRAPHQL_YAML, &[]).await;
    let on = query(&gw, q).await;
    assert_eq!(
        on.json(),
        json!({"data": {"__schema": {"queryType": {"name": "Query"}}}})
    );
    let (gw, _s, _d) = start(&format!("{GRAPHQL_YAML}introspection: false\n"), &[]).await;
    let off = query(&gw, q).await;
    assert!(
        off.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("introspection"),
        "{}",
        off.text
    );
}

fn sha256(text: &str) -> String {
    bff_core::plan::graphql::sha256(text)
}

/// The web BFF's shipped GraphQL endpoint over the demo services, checked
/// by graphql-js and driven by graphql-request (`tests/graphql-js`, which
/// `tests/run` installs): the schema graphql-js builds from our
/// introspection is the schema of the spec folder, every demo operation is
/// valid, answers without errors, and re-executing it with graphql-js over
/// the answer's own data gives the same data (types, nullability, only the
/// fields asked for).
#[tokio::test]
async fn graphql_js_and_graphql_request_agree_with_the_web_bffs_endpoint() {
    use bff_demo::{DemoPorts, Latency, Service, spawn_services};
    let services = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, Latency::none())
        .await
        .unwrap();
    let root = bff_tests::workspace_root();
    let dir = SpecDir::copy_of(&root.join("composition-specs/web"));
    let bff_yaml = dir.path().join("bff.yaml");
    let mut text = std::fs::read_to_string(&bff_yaml).unwrap();
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
    // bff-web's own settings (CORS) need its extension, which this
    // in-process gateway does not have; GraphQL does not read them.
    let mut skipping = false;
    let text: String = text
        .lines()
        .filter(|l| {
            if l.starts_with("extensions:") {
                skipping = true;
            } else if !l.starts_with([' ', '#']) && !l.is_empty() {
                skipping = false;
            }
            !skipping
        })
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&bff_yaml, text).unwrap();
    let gw = gateway(dir.path()).await;
    let page = std::fs::read_to_string(
        root.join("composition-specs/web/graphql/persisted/product-page.graphql"),
    )
    .unwrap();
    let operations = json!([
        {"query": page, "variables": {"id": "p-2001", "quantity": 3}},
        {"query": r#"query Two($ids: [ID!]!) {
            products(ids: $ids) { ...card stock { in_stock } }
            first: product(id: "p-2003") { __typename name related(limit: 2) { product { ...card } } }
          }
          fragment card on Product { id name brand price { amount currency } }"#,
         "variables": {"ids": ["p-2001", "p-2002"]}},
        {"query": r#"{ user(id: "u-1003") { name tier orders(limit: 2) { id status total { amount } } } }"#},
    ]);
    // On a thread of its own: the gateway answers on this test's runtime.
    let mut node = std::process::Command::new("node");
    node.arg(root.join("tests/graphql-js/check.mjs"))
        .arg(format!("{gw}/graphql"))
        .arg(root.join("composition-specs/web/graphql/schema.graphql"))
        .arg(operations.to_string());
    let out = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("node runs (tests/run installs tests/graphql-js)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["schema_equal"],
        true,
        "served:\n{}\nwritten:\n{}",
        report["served"].as_str().unwrap(),
        report["written"].as_str().unwrap()
    );
    for (i, r) in report["results"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["problems"], json!([]), "operation {i}: {r}");
        assert_eq!(r["errors"], json!([]), "operation {i}: {r}");
        assert!(r["data"].is_object(), "operation {i}: {r}");
    }
    let results = &report["results"];
    assert_eq!(results[0]["data"]["product"]["offer"]["quantity"], 3);
    assert_eq!(results[1]["data"]["products"][1]["id"], "p-2002");
    assert!(
        results[2]["data"]["user"]["orders"]
            .as_array()
            .is_some_and(|o| !o.is_empty())
    );
}

/// A mutation's root fields run one after the other (GraphQL spec
/// §6.2.2), a query's at once.
#[tokio::test]
async fn mutation_fields_run_in_order_and_query_fields_at_once() {
    let log = crate::harness::SleepLog::new();
    let up = serve(log.router()).await;
    let sdl = "type Query { nap(ms: Int!, tag: String!): Int }\ntype Mutation { nap(ms: Int!, tag: String!): Int }\n";
    let yaml = r#"
resolvers:
  Query.nap: { service: up, get: "/sleep/{{ args.ms }}/{{ args.tag }}", select: .slept }
  Mutation.nap: { service: up, get: "/sleep/{{ args.ms }}/{{ args.tag }}", select: .slept }
"#;
    let dir = SpecDir::new(&bff_yaml(&[("up", &up)]))
        .file("graphql.yaml", yaml)
        .file("graphql/schema.graphql", sdl);
    let gw = gateway(dir.path()).await;
    let m = query(
        &gw,
        r#"mutation { a: nap(ms: 120, tag: "m1") b: nap(ms: 10, tag: "m2") }"#,
    )
    .await;
    assert_eq!(m.json(), json!({"data": {"a": 120, "b": 10}}), "{}", m.text);
    assert!(
        log.at("m2", "arrived") >= log.at("m1", "finished"),
        "the second mutation field started before the first ended"
    );
    let q = query(
        &gw,
        r#"{ a: nap(ms: 120, tag: "q1") b: nap(ms: 10, tag: "q2") }"#,
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.text);
    assert!(
        log.at("q2", "arrived") < log.at("q1", "finished"),
        "query fields did not run at once"
    );
}

#[tokio::test]
async fn each_resolver_shows_in_server_timing() {
    let (gw, _seen, _dir) = start(GRAPHQL_YAML, &[]).await;
    let r = query(&gw, r#"{ products(limit: 3) { id stock } }"#).await;
    let timing = r.header("server-timing").unwrap_or_default();
    assert!(timing.contains("Query.products;dur="), "{timing}");
    assert!(timing.contains("Product.stock;dur="), "{timing}");
}

/// With `explorer: true`, a browser opening the path gets GraphiQL from
/// the binary (no CDN: this machine has no route out), runs a query with
/// it and sees the answer; GraphQL clients at the same path are unaffected.
#[tokio::test]
async fn a_browser_runs_a_query_in_the_embedded_graphiql() {
    let (gw, _seen, _dir) = start(&format!("{GRAPHQL_YAML}explorer: true\n"), &[]).await;
    let q = r#"{ product(id: "p9") { id name } }"#;
    // The page is for a browser opening the path; the query is typed into
    // its editor and run with its execute button.
    let page = format!("{gw}/graphql");
    let run = format!(
        r#"(() => {{
            const button = document.querySelector('.graphiql-execute-button');
            const editor = document.querySelector('.graphiql-query-editor .CodeMirror');
            if (!button || !editor) return false;
            if (!window.__ran) {{
                editor.CodeMirror.setValue({q:?});
                button.click();
                window.__ran = true;
            }}
            const out = document.querySelector('.graphiql-response .CodeMirror');
            return out && out.CodeMirror.getValue().includes('"p9"');
        }})()"#
    );
    let results = bff_tests::browser::browse(json!({
        "pages": [{
            "url": page,
            "wait_for": ".graphiql-container",
            "wait_until": run,
            "evaluate": "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()",
        }]
    }))
    .await;
    let answer: Value = serde_json::from_str(results[0]["value"].as_str().unwrap()).unwrap();
    assert_eq!(
        answer,
        json!({"data": {"product": {"id": "p9", "name": "One"}}})
    );
    // A GraphQL GET with `query` is still a GraphQL request, even from a browser.
    let r = send(
        client()
            .get(format!("{gw}/graphql"))
            .query(&[("query", q)])
            .header("accept", "text/html,application/json"),
    )
    .await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.text
    );
    // The files come from the binary.
    let js = send(client().get(format!("{gw}/graphql/explorer/graphiql.min.js"))).await;
    assert_eq!(js.status, 200);
    assert!(js.text.len() > 100_000);
}

/// Two callers on one GraphQL endpoint with `auth`: each gets their own
/// data, through the service's HTTP cache and through a persisted query
/// the other registered; no token is a 401 problem before any call.
#[tokio::test]
async fn two_callers_each_get_their_own_data() {
    const SECRET: &str = "graphql-two-callers-secret";
    let calls = Arc::new(Mutex::new(0usize));
    let counted = calls.clone();
    let up = serve(Router::new().route(
        "/me",
        get(move |headers: http::HeaderMap| {
            *counted.lock().unwrap() += 1;
            let user = headers["x-user-id"].to_str().unwrap().to_owned();
            async move {
                (
                    [("cache-control", "max-age=60")],
                    axum::Json(json!({"sub": user, "secret": format!("secret of {user}")})),
                )
            }
        }),
    ))
    .await;
    let bff = format!(
        "services:\n  up: {{ url: \"{up}\", cache: {{}} }}\n\
         auth:\n  user:\n    jwt: {{ keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ] }}\n    forward: {{ x-user-id: sub }}\n"
    );
    let dir = SpecDir::new(&bff)
        .file(
            "graphql.yaml",
            "auth: user\npersisted: {}\nresolvers:\n  Query.me: { service: up, get: /me }\n",
        )
        .file(
            "graphql/schema.graphql",
            "type Query { me: Me }\ntype Me { sub: ID! secret: String! }\n",
        )
        .file("graphql/persisted/.keep.graphql", "{ me { sub } }\n");
    let gw = gateway(dir.path()).await;
    let token = |sub: &str| {
        bff_tests::jwt::hs256(
            SECRET,
            json!({"sub": sub, "exp": bff_tests::jwt::in_ten_minutes()}),
        )
    };
    let text = "{ me { sub secret } }";
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}});
    let ask = |sub: &str, body: Value| {
        let req = client()
            .post(format!("{gw}/graphql"))
            .bearer_auth(token(sub))
            .json(&body);
        async move { send(req).await.json() }
    };
    assert_eq!(
        ask("alice", json!({"query": text, "extensions": ext})).await,
        json!({"data": {"me": {"sub": "alice", "secret": "secret of alice"}}})
    );
    // Bob sends only the hash Alice registered, and gets his own answer.
    assert_eq!(
        ask("bob", json!({"extensions": ext})).await,
        json!({"data": {"me": {"sub": "bob", "secret": "secret of bob"}}})
    );
    assert_eq!(
        ask("alice", json!({"query": text})).await["data"]["me"]["sub"],
        "alice"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        2,
        "one upstream call per caller, the rest from the cache"
    );
    let anonymous = send(
        client()
            .post(format!("{gw}/graphql"))
            .json(&json!({"query": text})),
    )
    .await;
    anonymous.problem(401);
    assert_eq!(*calls.lock().unwrap(), 2);
}

/// `for_each` without `batch` (one request per distinct key, matched by
/// position), keys that are lists (a list field), keys with no answer,
/// `when` per parent, and a default that stands in for a failure.
#[tokio::test]
async fn per_key_requests_list_keys_missing_keys_when_and_defaults() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let up = serve(
        Router::new()
            .route(
                "/shelves",
                get(|| async {
                    axum::Json(json!([
                        {"id": "s1", "items": ["x", "y"], "open": true},
                        {"id": "s2", "items": ["y", "nope"], "open": true},
                        {"id": "s3", "items": ["x"], "open": false}
                    ]))
                }),
            )
            .route(
                "/item/{id}",
                get(move |Path(id): Path<String>| {
                    log.lock().unwrap().push(format!("/item/{id}"));
                    async move {
                        if id == "nope" {
                            return axum::Json(Value::Null);
                        }
                        axum::Json(json!({"id": id, "label": id.to_uppercase()}))
                    }
                }),
            )
            .route("/down", get(|| async { http::StatusCode::BAD_GATEWAY })),
    )
    .await;
    let sdl = "type Query { shelves: [Shelf!]! }\n\
               type Shelf { id: ID! items: [String!]! open: Boolean! things: [Item!] first: Item note: String! }\n\
               type Item { id: ID! label: String! }\n";
    let yaml = r#"
resolvers:
  Query.shelves: { service: up, get: /shelves }
  Shelf.things:
    service: up
    for_each: .parent.items
    get: "/item/{{ item }}"
    when: .parent.open
    on_error: { default: [] }
  Shelf.first:
    service: up
    for_each: ".parent.items[0]"
    get: "/item/{{ item }}"
  Shelf.note:
    service: up
    get: /down
    on_error: { default: "no note" }
"#;
    let dir = SpecDir::new(&bff_yaml(&[("up", &up)]))
        .file("graphql.yaml", yaml)
        .file("graphql/schema.graphql", sdl);
    let gw = gateway(dir.path()).await;
    let r = query(&gw, "{ shelves { id things { label } first { id } note } }").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        v["data"]["shelves"],
        json!([
            {"id": "s1", "things": [{"label": "X"}, {"label": "Y"}], "first": {"id": "x"}, "note": "no note"},
            {"id": "s2", "things": [{"label": "Y"}], "first": {"id": "y"}, "note": "no note"},
            // `when` is false for a closed shelf: nothing sent, null.
            {"id": "s3", "things": null, "first": {"id": "x"}, "note": "no note"}
        ]),
        "{v}"
    );
    // The default stands in: no error, but the answer says it is partial.
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        v["extensions"]["degraded"],
        json!([{"resolver": "Shelf.note", "reason": "status-502"}])
    );
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(
        r.header("bff-degraded"),
        Some("Shelf.note;reason=status-502")
    );
    // One request per distinct key of the level, for each field.
    let mut asked = seen.lock().unwrap().clone();
    asked.sort();
    assert_eq!(
        asked,
        ["/item/nope", "/item/x", "/item/x", "/item/y", "/item/y"],
        "{asked:?}"
    );
}

/// What GraphQL over HTTP asks of the transport, and the request errors
/// that stop an operation before it runs.
#[tokio::test]
async fn transport_and_request_errors() {
    let yaml = format!("{GRAPHQL_YAML}limits: {{ max_root_fields: 2 }}\n");
    let (gw, seen, _dir) = start(&yaml, &[]).await;
    let url = format!("{gw}/graphql");
    let put = send(
        client()
            .put(&url)
            .json(&json!({"query": "{ strict { id } }"})),
    )
    .await;
    put.problem(405);
    assert_eq!(put.header("allow"), Some("GET, POST"));
    let text = send(
        client()
            .post(&url)
            .header("content-type", "text/plain")
            .body("{ strict { id } }"),
    )
    .await;
    text.problem(415);
    let big = send(
        client()
            .post(&url)
            .json(&json!({"query": "#".repeat(2 << 20)})),
    )
    .await;
    big.problem(413);
    let broken = send(
        client()
            .post(&url)
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    broken.problem(400);
    let named = post(&gw, json!({"query": "query A { strict { id } } query B { strict { id } }", "operationName": "C"})).await;
    assert_eq!(named.status, 400, "{}", named.text);
    assert!(
        named.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("C"),
        "{}",
        named.text
    );
    let vars = post(&gw, json!({"query": "query ($id: ID!) { product(id: $id) { id } }", "variables": {"id": [1, 2]}})).await;
    assert_eq!(vars.status, 400, "{}", vars.text);
    assert!(vars.json().get("data").is_none());
    let roots = query(
        &gw,
        r#"{ a: strict { id } b: strict { id } c: strict { id } }"#,
    )
    .await;
    assert_eq!(
        roots.json()["errors"][0]["extensions"]["code"],
        "MAX_ROOT_FIELDS_EXCEEDED",
        "{}",
        roots.text
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

/// Objects of an interface or union type say what they are with a
/// `__typename` member; fragments on each type select their fields.
#[tokio::test]
async fn abstract_types_are_told_apart_by_typename() {
    let up = serve(Router::new().route(
        "/feed",
        get(|| async {
            axum::Json(json!([
                {"__typename": "Post", "id": "1", "title": "Hello"},
                {"__typename": "Photo", "id": "2", "url": "https://img/2"},
                {"id": "3", "title": "no type"}
            ]))
        }),
    ))
    .await;
    let sdl = "type Query { feed: [Item] }\ninterface Node { id: ID! }\n\
               type Post implements Node { id: ID! title: String }\n\
               type Photo implements Node { id: ID! url: String }\nunion Item = Post | Photo\n";
    let dir = SpecDir::new(&bff_yaml(&[("up", &up)]))
        .file(
            "graphql.yaml",
            "resolvers:\n  Query.feed: { service: up, get: /feed }\n",
        )
        .file("graphql/schema.graphql", sdl);
    let gw = gateway(dir.path()).await;
    let r = query(
        &gw,
        "{ feed { __typename ... on Node { id } ... on Post { title } ... on Photo { url } } }",
    )
    .await;
    let v = r.json();
    assert_eq!(
        v["data"]["feed"][0],
        json!({"__typename": "Post", "id": "1", "title": "Hello"}),
        "{v}"
    );
    assert_eq!(
        v["data"]["feed"][1],
        json!({"__typename": "Photo", "id": "2", "url": "https://img/2"})
    );
    // Without `__typename` the object cannot be placed: that item is null, with an error.
    assert_eq!(v["data"]["feed"][2], Value::Null);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("__typename"),
        "{v}"
    );
}

#[tokio::test]
async fn subscriptions_are_refused() {
    let up = serve(Router::new()).await;
    let dir = SpecDir::new(&bff_yaml(&[("up", &up)]))
        .file("graphql.yaml", "resolvers: {}\n")
        .file(
            "graphql/schema.graphql",
            "type Query { n: Int }\ntype Subscription { ticks: Int }\n",
        );
    let gw = gateway(dir.path()).await;
    let r = query(&gw, "subscription { ticks }").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json()["errors"][0]["extensions"]["code"],
        "OPERATION_NOT_SUPPORTED"
    );
}

#[tokio::test]
async fn a_rate_limit_refuses_with_a_problem_before_any_call() {
    let seen: Seen = Arc::default();
    let up = serve(upstream(seen.clone())).await;
    let bff = format!(
        "{}rate_limits:\n  tight: {{ rate: 1/min, burst: 1 }}\n",
        bff_yaml(&[("up", &up)])
    );
    let dir = SpecDir::new(&bff)
        .file(
            "graphql.yaml",
            &format!("rate_limit: tight\n{GRAPHQL_YAML}"),
        )
        .file("graphql/schema.graphql", SCHEMA);
    let gw = gateway(dir.path()).await;
    let q = r#"{ product(id: "p1") { id } }"#;
    assert_eq!(query(&gw, q).await.status, 200);
    let refused = query(&gw, q).await;
    refused.problem(429);
    assert!(refused.header("retry-after").is_some());
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the refused request made no call"
    );
}
