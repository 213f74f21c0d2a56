//! Headless Chromium, driven by `tests/browser/browse.mjs` (playwright-core),
//! for tests that check what a person sees in a page.

use std::process::Command;

use serde_json::Value;

/// Opens the job's pages (see `browse.mjs` for its shape) and returns, per
/// page, `{url, text, console}`. Panics with Chromium's output on failure.
pub async fn browse(job: Value) -> Vec<Value> {
    let dir = super::workspace_root().join("tests").join("browser");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(dir.join("browse.mjs"))
            .arg(job.to_string())
            .current_dir(&dir)
            .output()
            .expect("node runs (tests/run installs Node.js packages and Chromium)")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "browser run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("browse.mjs prints JSON")
}
