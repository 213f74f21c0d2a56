//! Timing of the call graph: independent calls run at the same time, a
//! dependent call waits for its inputs, and a call starts as soon as its
//! own inputs are done rather than level by level.

use serde_json::json;

use crate::harness::{SleepLog, get_url, start};

#[tokio::test]
async fn independent_calls_run_concurrently_and_dependents_wait() {
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[
            (
                "three",
                r#"
endpoint: GET /three
calls:
  a: { service: up, get: /sleep/100/a }
  b: { service: up, get: /sleep/100/b }
  c: { service: up, get: /sleep/100/c }
"#,
            ),
            (
                "chain",
                r#"
endpoint: GET /chain
calls:
  a: { service: up, get: /sleep/100/a }
  b: { service: up, get: /sleep/100/b }
  c: { service: up, get: /sleep/100/c }
  d: { service: up, get: "/sleep/100/d-after-{{ a.tag }}" }
"#,
            ),
        ],
    )
    .await;
    // Warm the gateway's connection pool so timings measure composition.
    assert_eq!(get_url(&format!("{gw}/three")).await.status, 200);
    assert_eq!(get_url(&format!("{gw}/chain")).await.status, 200);

    let r = get_url(&format!("{gw}/three")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (100..250).contains(&r.ms()),
        "three 100 ms calls took {} ms",
        r.ms()
    );
    assert_eq!(r.json()["c"], json!({"tag": "c", "slept": 100}));

    let r = get_url(&format!("{gw}/chain")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (200..350).contains(&r.ms()),
        "a dependent call after 100 ms calls took {} ms in all",
        r.ms()
    );
    assert_eq!(r.json()["d"]["tag"], "d-after-a");
}

#[tokio::test]
async fn a_call_starts_when_its_own_inputs_are_done_not_level_by_level() {
    // a 50 ms, b 250 ms, c needs a and takes 150 ms: c is done at ~200 ms,
    // before b, so the answer comes at ~250 ms. Level by level it would be
    // 250 + 150 = 400 ms.
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[(
            "eager",
            r#"
endpoint: GET /eager
calls:
  a: { service: up, get: /sleep/50/a }
  b: { service: up, get: /sleep/250/b }
  c: { service: up, get: "/sleep/150/c-after-{{ a.tag }}" }
"#,
        )],
    )
    .await;
    assert_eq!(get_url(&format!("{gw}/eager")).await.status, 200);
    log.clear();

    let r = get_url(&format!("{gw}/eager")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        (250..375).contains(&r.ms()),
        "took {} ms; level by level would be ~400",
        r.ms()
    );
    let c_arrived = log.at("c-after-a", "arrived");
    let a_finished = log.at("a", "finished");
    let b_finished = log.at("b", "finished");
    assert!(
        c_arrived >= a_finished,
        "c started at {c_arrived:?}, before a finished at {a_finished:?}"
    );
    assert!(
        c_arrived < b_finished,
        "c started at {c_arrived:?}, only after b finished at {b_finished:?}"
    );
}
