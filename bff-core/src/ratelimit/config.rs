//! How rate limits, quotas and the shared store are declared in bff.yaml.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

/// A named rate-limit policy; endpoints and routes choose one with `rate_limit:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// What a limit is counted per: any of `ip`, `identity` (`auth.sub`),
    /// `api_key` (`auth.key_id`), `endpoint`, or `header:<name>`; combined
    /// when several are listed.
    #[serde(default = "default_key")]
    pub key: Vec<String>,
    /// Sustained rate, `<n>/s`, `<n>/min`, `<n>/h` or `<n>/day`.
    pub rate: String,
    /// Requests allowed at once above the sustained rate (the bucket size).
    #[serde(default)]
    pub burst: Option<u32>,
    /// A long-window allowance on top of the rate.
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
    /// Rate, burst and quota by the identity's tier (`auth.tier`); identities
    /// without a listed tier get the policy's own.
    #[serde(default)]
    pub tiers: IndexMap<String, TierConfig>,
    /// Where the counts live: `local` (this process) or `redis` (shared by
    /// every replica; needs `redis:`).
    #[serde(default)]
    pub store: StoreKind,
    /// With `store: redis`, what a request gets when Redis cannot answer
    /// within `redis.timeout`.
    #[serde(default)]
    pub on_store_error: OnStoreError,
    /// Path of an endpoint answering the caller's own usage under this
    /// policy, e.g. `/v1/usage`; it uses the policy's `usage_auth`.
    #[serde(default)]
    pub usage_path: Option<String>,
    /// Authentication policy of the usage endpoint.
    #[serde(default)]
    pub usage_auth: Option<String>,
}

fn default_key() -> Vec<String> {
    vec!["ip".to_owned()]
}

/// A tier's own rate, burst and quota.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TierConfig {
    /// Sustained rate, as for the policy.
    pub rate: String,
    /// Bucket size.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Long-window allowance.
    #[serde(default)]
    pub quota: Option<QuotaConfig>,
}

/// Requests allowed per calendar window (UTC).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Requests per window.
    pub limit: u64,
    /// The window: `hour`, `day` or `month`.
    pub per: QuotaWindow,
}

/// A calendar window, aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    /// From the top of the hour.
    Hour,
    /// From midnight UTC.
    Day,
    /// From the first of the month, midnight UTC.
    Month,
}

/// Where counts are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// In this process.
    #[default]
    Local,
    /// In Redis, one atomic script per decision.
    Redis,
}

/// What to do when the shared store fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnStoreError {
    /// Allow the request.
    Open,
    /// Refuse it with `503`.
    Closed,
    /// Limit it with this process's own counts.
    #[default]
    Local,
}

/// The Redis server shared by replicas.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`; `${VAR}` allowed.
    pub url: String,
    /// Longest wait for one decision before `on_store_error` applies.
    #[serde(default = "default_redis_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

fn default_redis_timeout() -> Duration {
    Duration::from_millis(50)
}

/// A whole-BFF limit per client address, applied before anything else.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerIpConfig {
    /// Sustained rate per client address, e.g. `50/s`.
    pub rate: String,
    /// Bucket size.
    pub burst: u32,
}

/// A rate: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests.
    pub count: u32,
    /// Per this long.
    pub period: Duration,
}

impl Rate {
    /// Reads `100/s`, `6000/min`, `10/h`, `1000/day`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (n, unit) = text
            .split_once('/')
            .ok_or_else(|| format!("rate `{text}`: write it as <count>/<s|min|h|day>"))?;
        let count: u32 =
            n.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("rate `{text}`: the count must be a whole number above 0")
            })?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86_400),
            other => return Err(format!("rate `{text}`: unknown unit `{other}`")),
        };
        Ok(Self { count, period })
    }

    /// Time between two requests at the sustained rate.
    pub fn interval(self) -> Duration {
        self.period / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_the_human_way() {
        let r = Rate::parse("6000/min").unwrap();
        assert_eq!(r.interval(), Duration::from_millis(10));
        assert_eq!(
            Rate::parse("2/s").unwrap().interval(),
            Duration::from_millis(500)
        );
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
        assert!(Rate::parse("fast").is_err());
    }
}
