//! `services:` of bff.yaml: each upstream service, its instances and how a
//! call picks one, and the settings of calls to it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    BreakerConfig, DiscoveryConfig, HealthCheckConfig, HedgeConfig, OutlierConfig, RetryConfig,
    StaleConfig,
};
use crate::source::Loc;

/// One upstream service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Base URL, e.g. `${USERS_URL:-http://127.0.0.1:9101}`; call paths are
    /// appended. For several instances use `instances` instead.
    #[serde(default)]
    pub url: Option<Loc<String>>,
    /// Several instances of the service, chosen per call by `balance`.
    #[serde(default)]
    pub instances: Vec<InstanceConfig>,
    /// Instances found at run time (DNS or etcd), instead of `url` or `instances`.
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// Active health checks: failing instances get no calls.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// How a call picks an instance.
    #[serde(default)]
    pub balance: BalanceKind,
    /// With `balance: hash`: `header:<name>` of the upstream request whose
    /// value keeps a caller on one instance (e.g. a `forward`ed identity header).
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Retries of failed idempotent calls.
    #[serde(default)]
    pub retries: Option<RetryConfig>,
    /// Keep the service's answers to GET calls by HTTP's caching rules
    /// (`{}`), or for an explicit `ttl`.
    #[serde(default)]
    pub cache: Option<ServiceCacheConfig>,
    /// stale-if-error: the last good answer of each distinct request stands in
    /// when the service fails (the answer is marked partial).
    #[serde(default)]
    pub stale_if_error: Option<StaleConfig>,
    /// Hedging: a slow idempotent call gets a second try on another instance.
    #[serde(default)]
    pub hedge: Option<HedgeConfig>,
    /// A circuit breaker for the service.
    #[serde(default)]
    pub circuit_breaker: Option<BreakerConfig>,
    /// Passive ejection of failing instances (with several instances).
    #[serde(default)]
    pub outlier: OutlierConfig,
    /// HTTP/2 to the service: prior knowledge over `http://` (h2c), ALPN over `https://`.
    #[serde(default)]
    pub http2: bool,
    /// PEM file (relative to the folder) of the CAs signing the service's
    /// certificates, instead of the system's roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// Time to open a connection to an instance.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Duration>,
    /// Largest upstream response body a call reads, in bytes; more is a failure.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Time one call to this service may take, unless the call sets its own.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Most requests in flight to this service at once; more fail at once
    /// (`503` naming the service) instead of queueing.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

/// Caching of a service's answers.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceCacheConfig {
    /// Keep answers this long whatever their headers say (but never with `no-store`).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Duration>,
}

fn default_max_response_bytes() -> usize {
    16 * 1024 * 1024
}

/// One instance of a service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Base URL of the instance; `${VAR}` allowed.
    pub url: String,
    /// Share of traffic relative to the others (`weighted` balancing).
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// How a call picks an instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceKind {
    /// In turn.
    #[default]
    RoundRobin,
    /// In turn, in proportion to `weight` (smooth weighted round robin).
    Weighted,
    /// The better of two random instances by outstanding requests times
    /// latency (EWMA), as Linkerd and Kong's `latency` balancer do.
    LeastLatency,
    /// Always the same instance for the same `hash_key` while it is up
    /// (rendezvous hashing: losing an instance moves only its keys).
    Hash,
}
