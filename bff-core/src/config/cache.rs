//! `cache:` of bff.yaml: memory for kept upstream answers, and where
//! endpoints' kept answers live.

use schemars::JsonSchema;
use serde::Deserialize;

use super::StoreKind;

/// The in-process cache.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    /// Memory for cached bodies, in bytes.
    #[serde(default = "default_cache_bytes")]
    pub max_bytes: u64,
    /// Where endpoints' kept answers live: `local`, or `redis` (shared by
    /// every replica, purged for all at once; needs `redis:`).
    #[serde(default)]
    pub store: StoreKind,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_cache_bytes(),
            store: StoreKind::Local,
        }
    }
}

fn default_cache_bytes() -> u64 {
    64 * 1024 * 1024
}
