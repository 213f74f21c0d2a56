//! How a service's calls survive failures, as bff.yaml declares it:
//! retries, hedging, the circuit breaker, outlier ejection and
//! stale-if-error.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Retries of failed calls. Only idempotent methods (GET, HEAD, OPTIONS,
/// PUT, DELETE) and requests carrying an `Idempotency-Key` are retried.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first try.
    pub attempts: u32,
    /// Base of the exponential backoff; each wait is random in [0, base × 2^n).
    #[serde(default = "default_backoff", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub backoff: Duration,
    /// Longest single wait (also caps an upstream's `Retry-After`).
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_backoff: Duration,
    /// Retries allowed as a share of calls over the last 10 s (a retry
    /// budget), so retries never multiply an outage.
    #[serde(default = "default_budget")]
    pub budget: f64,
    /// Retries always allowed per second, whatever the budget.
    #[serde(default = "default_min_per_second")]
    pub min_per_second: u32,
}

fn default_backoff() -> Duration {
    Duration::from_millis(25)
}

fn default_max_backoff() -> Duration {
    Duration::from_millis(250)
}

fn default_budget() -> f64 {
    0.2
}

fn default_min_per_second() -> u32 {
    3
}

/// A circuit breaker for the whole service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Share of failed calls (0–1) over `window` that opens the circuit.
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
    /// Calls in the window before the rate counts.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
    /// The rolling window the rate is measured over.
    #[serde(default = "default_window", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub window: Duration,
    /// How long the circuit stays open before a probe may pass.
    #[serde(default = "default_open_for", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub open_for: Duration,
}

fn default_failure_rate() -> f64 {
    0.5
}

fn default_min_requests() -> u32 {
    20
}

fn default_window() -> Duration {
    Duration::from_secs(10)
}

fn default_open_for() -> Duration {
    Duration::from_secs(5)
}

/// Passive outlier ejection of instances.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlierConfig {
    /// Failures in a row (connection errors, timeouts, 5xx) that eject an instance.
    #[serde(default = "default_consecutive")]
    pub consecutive_failures: u32,
    /// First ejection; each further one of the same instance lasts one more of these.
    #[serde(default = "default_ejection", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub base_ejection: Duration,
    /// Most of the instances (0–1) ejected at once; at least one always stays.
    #[serde(default = "default_max_ejected")]
    pub max_ejected: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: default_consecutive(),
            base_ejection: default_ejection(),
            max_ejected: default_max_ejected(),
        }
    }
}

fn default_consecutive() -> u32 {
    5
}

fn default_ejection() -> Duration {
    Duration::from_secs(10)
}

fn default_max_ejected() -> f64 {
    0.5
}

/// Answers kept to stand in when the service fails (stale-if-error).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaleConfig {
    /// How old a kept answer may be when it is served.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub max_age: Duration,
    /// Memory for kept answers, in bytes.
    #[serde(default = "default_stale_bytes")]
    pub max_bytes: u64,
}

fn default_stale_bytes() -> u64 {
    16 * 1024 * 1024
}

/// Hedged calls: a second try, to another instance, when the first is slow.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// The service's recent latency percentile after which a call is hedged.
    #[serde(default = "default_percentile")]
    pub percentile: f64,
    /// Never hedge sooner than this (and, until enough calls were seen, wait this long).
    #[serde(default = "default_min_delay", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub min_delay: Duration,
}

fn default_percentile() -> f64 {
    95.0
}

fn default_min_delay() -> Duration {
    Duration::from_millis(20)
}
