//! `rate_limits:` of bff.yaml: named rate-limit policies, their tiers and
//! quotas, and what a request gets when the shared store fails.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::StoreKind;

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
