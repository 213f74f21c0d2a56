//! The alerts of docs/operations.md as Prometheus evaluates them: the
//! rules file the page quotes is the one deploy/prometheus/ ships, it
//! passes promtool's checks and its unit tests, and it fires on what a
//! real BFF exposes — a replica's first refused reload included, which
//! only a series present (at 0) before the refusal lets `increase()` see.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, workspace_root};
use serde_json::{Value, json};

const RULES: &str = "deploy/prometheus/alerts.yml";
const TOKEN: &str = "alerts-test-token";

/// Runs promtool (Debian's `prometheus` package, which tests/run installs)
/// and panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}); tests/run installs it (apt package prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_documented_alerts_are_the_shipped_rules_file() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/operations.md")).unwrap();
    let section = doc
        .split_once("## Alerts worth setting")
        .expect("docs/operations.md has its alerts section")
        .1;
    let block = section
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("the section quotes the rules")
        .0;
    let file = std::fs::read_to_string(workspace_root().join(RULES)).unwrap();
    assert_eq!(block, file, "docs/operations.md quotes {RULES} as it is");
    assert!(
        section.contains(RULES),
        "the section names the file it quotes"
    );
}

#[test]
fn the_rules_and_the_scrape_configuration_pass_promtool_and_their_unit_tests() {
    promtool(&["check", "rules", RULES]);
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
    promtool(&["test", "rules", "deploy/prometheus/alerts.test.yml"]);
}

/// Every sample of an exposition, by series (`name{labels}`), with the
/// labels Prometheus adds to a scraped target.
fn samples(text: &str, target: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .map(|(series, value)| {
            let added = format!("job=\"bff-web\",instance=\"{target}\"");
            let series = match series.split_once('{') {
                Some((name, labels)) => format!("{name}{{{added},{labels}"),
                None => format!("{series}{{{added}}}"),
            };
            (series, value.to_owned())
        })
        .collect()
}

async fn scrape(admin: &str) -> String {
    let started = Instant::now();
    loop {
        match client()
            .get(format!("{admin}/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
        {
            Ok(r) => {
                assert_eq!(r.status(), 200);
                return r.text().await.unwrap();
            }
            Err(_) if started.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn a_replicas_first_refused_reload_fires_the_alert() {
    let admin_port = free_port();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"http://127.0.0.1:9\" }}\n\
         admin: {{ listen: \"127.0.0.1:{admin_port}\", token: \"{TOKEN}\" }}\n\
         reload: {{ watch: false }}\n"
    ))
    .endpoint(
        "a",
        "endpoint: GET /v1/a\ncalls:\n  a: { service: s, get: /a }\n",
    );
    let _bff = BffProcess::start("bff-web", dir.path(), &[]);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let before = scrape(&admin).await;

    let dir = dir.endpoint(
        "b",
        "endpoint: GET /v1/b\ncalls:\n  b: { service: nowhere }\n",
    );
    let refused = client()
        .post(format!("{admin}/reload"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422, "the broken folder is refused");
    let after = scrape(&admin).await;

    // Prometheus' view of the replica: scraped each minute, three times
    // before the refusal and three times after.
    let target = "web-1:9082";
    let (before, after) = (samples(&before, target), samples(&after, target));
    let mut names: Vec<&String> = before.iter().chain(&after).map(|(s, _)| s).collect();
    names.sort_unstable();
    names.dedup();
    let at = |scrape: &[(String, String)], name: &str| {
        scrape
            .iter()
            .find(|(s, _)| s == name)
            .map_or("_".to_owned(), |(_, v)| v.clone())
    };
    let input_series: Vec<Value> = names
        .iter()
        .map(|name| {
            let (b, a) = (at(&before, name), at(&after, name));
            json!({ "series": name, "values": format!("{b} {b} {b} {a} {a} {a}") })
        })
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("bff_spec_reloads_total")),
        "the replica exposes its reloads: {names:?}"
    );
    let rules = workspace_root().join(RULES).canonicalize().unwrap();
    let unit = json!({
        "rule_files": [rules],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": input_series,
            "alert_rule_test": [
                { "eval_time": "2m", "alertname": "BffSpecReloadFailed", "exp_alerts": [] },
                {
                    "eval_time": "5m",
                    "alertname": "BffSpecReloadFailed",
                    "exp_alerts": [{ "exp_labels": { "job": "bff-web", "instance": target, "result": "error" } }],
                },
            ],
        }],
    });
    // JSON is YAML, so promtool reads it as it is.
    let file = tempfile::Builder::new().suffix(".yml").tempfile().unwrap();
    std::fs::write(file.path(), unit.to_string()).unwrap();
    promtool(&["test", "rules", path(file.path())]);
    drop(dir);
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}
