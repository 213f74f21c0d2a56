//! Shaping the answer: without `respond` it is the results by call name;
//! a `respond.jq` output is sent exactly, keeping its key order.

use serde_json::json;

use crate::harness::{get_url, shaping_upstream, start};

#[tokio::test]
async fn without_respond_the_answer_is_the_results_by_call_name() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "raw",
            "endpoint: GET /v1/raw\ncalls:\n  alpha: { service: up, get: /a }\n  beta: { service: up, get: /b }\n",
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/raw")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"alpha": {"x": 1, "list": [1, 2], "unused": "u"}, "beta": {"y": "two"}})
    );
}

#[tokio::test]
async fn respond_jq_output_is_exact_and_keeps_key_order() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "shaped",
            r#"
endpoint: GET /v1/shaped/{id}
calls:
  alpha: { service: up, get: /a }
  beta: { service: up, get: /b }
respond:
  jq: |
    { zeta: .alpha.x, alpha: .beta.y, mid: [.alpha.list[] | . * 10],
      id: .path.id, q: .query.q }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/shaped/p-1?q=hi")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        r#"{"zeta":1,"alpha":"two","mid":[10,20],"id":"p-1","q":"hi"}"#
    );
}
