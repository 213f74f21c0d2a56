//! Keeping a service's instances current: DNS names resolved again now
//! and then, an etcd prefix watched, and active health checks.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::Pool;
use crate::config::{DiscoveryConfig, EtcdConfig, HealthCheckConfig};

/// Why listing or watching the etcd prefix failed.
#[derive(Debug, thiserror::Error)]
enum EtcdError {
    /// etcd could not be asked, or answered with an error.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The watch ended without an event.
    #[error("the watch stream closed")]
    Closed,
}

/// Resolves `host:port` every interval; each address becomes an instance.
pub(crate) async fn dns(pool: Arc<Pool>, config: DiscoveryConfig, name: String) {
    let Some(target) = config.dns.clone() else {
        return;
    };
    loop {
        match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => {
                let mut found: Vec<(String, u32)> = addrs
                    .map(|a| (format!("{}://{a}", config.scheme), 1))
                    .collect();
                found.sort();
                found.dedup();
                pool.set_instances(found);
            }
            Err(e) => tracing::warn!(service = %name, %target, error = %e, "DNS lookup failed"),
        }
        tokio::time::sleep(config.interval).await;
    }
}

/// Lists the etcd prefix, then watches it and lists again on every change.
pub(crate) async fn etcd(pool: Arc<Pool>, config: DiscoveryConfig, name: String) {
    let Some(etcd) = config.etcd.clone() else {
        return;
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client builds");
    let (key, range_end) = (
        B64.encode(&etcd.prefix),
        B64.encode(prefix_end(&etcd.prefix)),
    );
    loop {
        match list(&http, &etcd, &key, &range_end).await {
            Ok(found) => pool.set_instances(found),
            Err(e) => {
                tracing::warn!(service = %name, error = %e, "etcd listing failed");
                tokio::time::sleep(config.interval).await;
                continue;
            }
        }
        if let Err(e) = watch_once(&http, &etcd, &key, &range_end).await {
            tracing::warn!(service = %name, error = %e, "etcd watch ended");
            tokio::time::sleep(config.interval).await;
        }
    }
}

async fn list(
    http: &reqwest::Client,
    etcd: &EtcdConfig,
    key: &str,
    range_end: &str,
) -> Result<Vec<(String, u32)>, EtcdError> {
    let answer: Value = http
        .post(format!("{}/v3/kv/range", etcd.url.trim_end_matches('/')))
        .json(&json!({ "key": key, "range_end": range_end }))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)?
        .json()
        .await?;
    let mut found = Vec::new();
    for kv in answer["kvs"].as_array().into_iter().flatten() {
        let raw = kv["value"]
            .as_str()
            .and_then(|v| B64.decode(v).ok())
            .and_then(|v| String::from_utf8(v).ok())
            .unwrap_or_default();
        let raw = raw.trim();
        let (url, weight) = match serde_json::from_str::<Value>(raw) {
            Ok(v) if v.is_object() => (
                v["url"].as_str().unwrap_or_default().to_owned(),
                v["weight"]
                    .as_u64()
                    .and_then(|w| u32::try_from(w).ok())
                    .unwrap_or(1),
            ),
            _ => (raw.to_owned(), 1),
        };
        if url.starts_with("http://") || url.starts_with("https://") {
            found.push((url.trim_end_matches('/').to_owned(), weight));
        }
    }
    found.sort();
    Ok(found)
}

/// Waits for the first change under the prefix (or the watch failing).
async fn watch_once(
    http: &reqwest::Client,
    etcd: &EtcdConfig,
    key: &str,
    range_end: &str,
) -> Result<(), EtcdError> {
    let mut stream = http
        .post(format!("{}/v3/watch", etcd.url.trim_end_matches('/')))
        .json(&json!({ "create_request": { "key": key, "range_end": range_end } }))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)?;
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.chunk().await? {
        buffer.extend_from_slice(&chunk);
        // One JSON object per message; the first only confirms the watch.
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            if let Ok(v) = serde_json::from_slice::<Value>(&line)
                && v["result"]["events"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty())
            {
                return Ok(());
            }
        }
    }
    Err(EtcdError::Closed)
}

/// The end of the key range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Checks every instance each interval; `unhealthy_after` failures in a
/// row take it out of balancing, `healthy_after` passes bring it back.
pub(crate) async fn health(pool: Arc<Pool>, config: HealthCheckConfig, name: String) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(config.timeout)
        .build()
        .expect("an HTTP client builds");
    let mut streaks: std::collections::HashMap<String, (u32, u32)> = Default::default();
    loop {
        for inst in pool.instances().iter() {
            let ok = http
                .get(format!("{}{}", inst.base_url, config.path))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let (fails, passes) = streaks.entry(inst.base_url.clone()).or_default();
            let gauge = metrics::gauge!(
                "bff_instance_healthy",
                "service" => name.clone(),
                "instance" => inst.base_url.clone()
            );
            if ok {
                *fails = 0;
                *passes += 1;
                if *passes >= config.healthy_after {
                    inst.set_healthy(true);
                }
            } else {
                *passes = 0;
                *fails += 1;
                if *fails >= config.unhealthy_after {
                    if inst.is_healthy() {
                        tracing::warn!(service = %name, instance = %inst.base_url, "health check failing");
                    }
                    inst.set_healthy(false);
                }
            }
            gauge.set(if inst.is_healthy() { 1.0 } else { 0.0 });
        }
        tokio::time::sleep(config.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_range_ends_after_every_key_under_it() {
        assert_eq!(prefix_end("/svc/a/"), b"/svc/a0");
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }
}
