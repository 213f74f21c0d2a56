//! Templated upstream requests as the upstream received them: path,
//! query and headers filled from the client's request and from earlier
//! results, encoded, and a value with dot segments cannot leave the
//! templated path.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{OriginalUri, Path, Query};
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::client;
use serde_json::{Value, json};

use crate::harness::{get_url, send, start};

async fn echo(
    seg: Option<Path<String>>,
    Query(query): Query<Vec<(String, String)>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> axum::Json<Value> {
    axum::Json(json!({
        "seg": seg.map(|Path(s)| s),
        "query": query,
        "x_bar": headers.get("x-bar").map(|v| String::from_utf8_lossy(v.as_bytes())),
        "uri": uri.to_string(),
    }))
}

#[tokio::test]
async fn templates_fill_path_query_headers_and_earlier_results_encoded() {
    let token = "t 1/2?a&b#c%d+e=f ü";
    let upstream = Router::new().route("/echo/{seg}", get(echo)).route(
        "/token",
        get(move || async move { axum::Json(json!({ "token": token })) }),
    );
    let (gw, _dir) = start(
        upstream,
        &[(
            "items",
            r#"
endpoint: GET /v1/items/{id}
calls:
  first: { service: up, get: /token }
  direct:
    service: up
    get: "/echo/{{ path.id }}?inline={{ query.q }}"
    query: { q: "{{ query.q }}", n: "{{ query.n }}" }
    headers: { x-bar: '{{ headers["x-foo"] }}' }
  chained:
    service: up
    get: "/echo/{{ first.token }}"
    query: { q: "{{ first.token }}" }
    headers: { x-bar: "{{ first.token }}|{{ path.id }}" }
"#,
        )],
    )
    .await;
    // No `/` in the client's id: an encoded slash in a request path is
    // refused at the edge. The chained call below carries one from an
    // upstream result instead.
    let id = "a b?d&e+ü";
    let r = send(
        client()
            .get(format!(
                "{gw}/v1/items/a%20b%3Fd%26e%2B%C3%BC?q=x%26y%3Dz%20w%2F%2B%23&n=7"
            ))
            .header("x-foo", "hello foo"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();

    let direct = &v["direct"];
    assert_eq!(direct["seg"], id, "{direct}");
    let q = "x&y=z w/+#";
    assert_eq!(
        direct["query"],
        json!([["inline", q], ["q", q], ["n", "7"]]),
        "{direct}"
    );
    assert_eq!(direct["x_bar"], "hello foo");

    let chained = &v["chained"];
    assert_eq!(chained["seg"], token, "{chained}");
    assert_eq!(chained["query"], json!([["q", token]]), "{chained}");
    assert_eq!(chained["x_bar"], format!("{token}|{id}"));
}

#[tokio::test]
async fn a_dot_segment_value_cannot_leave_the_templated_path() {
    let strays = Arc::new(AtomicUsize::new(0));
    let stray = strays.clone();
    let upstream = Router::new()
        .route("/users/{id}/orders", get(echo))
        .fallback(move || async move {
            stray.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"admin": "everything"}))
        });
    let (gw, _dir) = start(
        upstream,
        &[(
            "orders",
            r#"
endpoint: GET /v1/orders
calls:
  orders: { service: up, get: "/users/{{ query.user }}/orders" }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/orders?user=u%2F1")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["orders"]["seg"], "u/1");

    // A value that merely looks encoded is data, and arrives as written.
    let r = get_url(&format!("{gw}/v1/orders?user=%252E%252E")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["orders"]["seg"], "%2E%2E");

    // Query text whose value is `..` or `.`.
    for user in ["..", ".", "%2E%2E", ".%2e"] {
        let r = get_url(&format!("{gw}/v1/orders?user={user}")).await;
        assert_ne!(r.status, 200, "user `{user}` answered {}", r.text);
        let p = r.problem(r.status);
        assert_eq!(p["call"], "orders", "{p}");
        assert!(!r.text.contains("everything"), "{}", r.text);
    }
    assert_eq!(
        strays.load(Ordering::SeqCst),
        0,
        "a request left /users/{{id}}/orders"
    );
}
