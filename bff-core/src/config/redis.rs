//! `redis:` of bff.yaml: the Redis server replicas share, and the choice
//! of store (`local` or `redis`) of what uses it.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

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
