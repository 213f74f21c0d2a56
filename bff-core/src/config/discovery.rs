//! Where a service's instances come from at run time (DNS or etcd), and
//! the active health checks of each, as bff.yaml declares them.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Where a service's instances come from when they change at run time.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// `host:port` resolved again every `interval`; every address is an
    /// instance (a Kubernetes headless service, docker-compose replicas).
    #[serde(default)]
    pub dns: Option<String>,
    /// A watched etcd prefix whose values are instance URLs (or JSON
    /// `{"url": …, "weight": …}`).
    #[serde(default)]
    pub etcd: Option<EtcdConfig>,
    /// Scheme of instances found by DNS.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// How often DNS is resolved again; for etcd, how soon a failed watch is retried.
    #[serde(default = "default_discovery_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub interval: Duration,
}

fn default_scheme() -> String {
    "http".to_owned()
}

fn default_discovery_interval() -> Duration {
    Duration::from_secs(5)
}

/// An etcd v3 server (its JSON gateway) and a key prefix.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// e.g. `http://127.0.0.1:2379`; `${VAR}` allowed.
    pub url: String,
    /// e.g. `/services/catalog/`.
    pub prefix: String,
}

/// Active health checks of each instance.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Path requested with GET; a 2xx answer is healthy.
    pub path: String,
    /// Time between checks.
    #[serde(default = "default_health_interval", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub interval: Duration,
    /// Time one check may take.
    #[serde(default = "default_health_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// Failed checks in a row that take an instance out.
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
    /// Passed checks in a row that bring it back.
    #[serde(default = "default_healthy_after")]
    pub healthy_after: u32,
}

fn default_health_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_health_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_unhealthy_after() -> u32 {
    2
}

fn default_healthy_after() -> u32 {
    1
}
