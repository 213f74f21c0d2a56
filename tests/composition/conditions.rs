//! Conditional calls with `when`: a false condition skips the call (no
//! upstream request, a null result) and a true one runs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use serde_json::{Value, json};

use crate::harness::{get_url, start};

#[tokio::test]
async fn when_false_skips_the_call_and_true_runs_it() {
    let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = counts.clone();
    let upstream = Router::new()
        .route(
            "/flags",
            get(|| async { axum::Json(json!({"beta": false, "ads": true})) }),
        )
        .route(
            "/count/{name}",
            get(move |Path(name): Path<String>| {
                let seen = seen.clone();
                async move {
                    *seen.lock().unwrap().entry(name.clone()).or_default() += 1;
                    axum::Json(json!({ "ran": name }))
                }
            }),
        );
    let (gw, _dir) = start(
        upstream,
        &[(
            "when",
            r#"
endpoint: GET /v1/when
calls:
  flags: { service: up, get: /flags }
  beta:  { service: up, get: /count/beta, when: ".flags.beta" }
  ads:   { service: up, get: /count/ads, when: ".flags.ads" }
  asked: { service: up, get: /count/asked, when: '.query.run == "yes"' }
"#,
        )],
    )
    .await;
    let count = |name: &str| counts.lock().unwrap().get(name).copied().unwrap_or(0);

    let r = get_url(&format!("{gw}/v1/when?run=no")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["beta"], Value::Null);
    assert_eq!(v["asked"], Value::Null);
    assert_eq!(v["ads"], json!({"ran": "ads"}));
    assert_eq!((count("beta"), count("ads"), count("asked")), (0, 1, 0));

    let r = get_url(&format!("{gw}/v1/when?run=yes")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["asked"], json!({"ran": "asked"}));
    assert_eq!((count("beta"), count("ads"), count("asked")), (0, 2, 1));
}
