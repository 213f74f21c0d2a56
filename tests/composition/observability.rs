//! Observability: the `Server-Timing` header lists each call, skipped
//! ones included, with its duration.

use std::collections::HashMap;

use crate::harness::{SleepLog, get_url, start};

#[tokio::test]
async fn server_timing_lists_each_call() {
    let log = SleepLog::new();
    let (gw, _dir) = start(
        log.router(),
        &[(
            "timed",
            r#"
endpoint: GET /v1/timed
calls:
  quick: { service: up, get: /sleep/1/quick }
  slow: { service: up, get: /sleep/60/slow }
  skipped: { service: up, get: /sleep/1/skipped, when: "false" }
"#,
        )],
    )
    .await;
    let r = get_url(&format!("{gw}/v1/timed")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let header = r.header("server-timing").expect("a Server-Timing header");
    let entries: HashMap<&str, f64> = header
        .split(',')
        .map(|e| {
            let (name, dur) = e
                .trim()
                .split_once(";dur=")
                .unwrap_or_else(|| panic!("{header}"));
            (name, dur.parse().unwrap_or_else(|_| panic!("{header}")))
        })
        .collect();
    let mut names: Vec<&str> = entries.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(names, ["quick", "skipped", "slow"], "{header}");
    assert!(entries["slow"] >= 60.0, "{header}");
}
