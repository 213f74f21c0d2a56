//! The endpoint deadline: it cuts a slow required call short with a 504,
//! and drops an optional call still running, answering partial in time.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;

use crate::harness::{get_url, start};

#[tokio::test]
async fn the_endpoint_deadline_cuts_a_slow_upstream_short() {
    let upstream = Router::new()
        .route(
            "/sleepy",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                axum::Json(json!({}))
            }),
        )
        .route("/fast", get(|| async { axum::Json(json!({"fast": true})) }));
    let (gw, _dir) = start(
        upstream,
        &[
            (
                "deadline",
                r#"
endpoint: GET /v1/deadline
deadline: 300ms
calls:
  slow: { service: up, get: /sleepy, timeout: 10s }
"#,
            ),
            (
                "optional",
                r#"
endpoint: GET /v1/deadline-optional
deadline: 300ms
calls:
  fast: { service: up, get: /fast }
  slow: { service: up, get: /sleepy, timeout: 10s, on_error: { default: [] } }
"#,
            ),
        ],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/deadline")).await;
    r.problem(504);
    assert!(
        (300..600).contains(&r.ms()),
        "a 300 ms deadline answered after {} ms",
        r.ms()
    );

    // An optional call still running at the deadline is dropped: the
    // client gets what is there, marked partial, in time.
    let r = get_url(&format!("{gw}/v1/deadline-optional")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"fast": {"fast": true}, "slow": []}));
    assert_eq!(r.header("bff-partial"), Some("true"));
    assert_eq!(r.header("bff-degraded"), Some("slow;reason=timeout"));
    assert!(
        (300..600).contains(&r.ms()),
        "a 300 ms deadline answered after {} ms",
        r.ms()
    );
}
