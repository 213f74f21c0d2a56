//! `compression:` of bff.yaml: which answers are compressed.

use schemars::JsonSchema;
use serde::Deserialize;

/// Compression of answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    /// Whether answers are compressed at all.
    #[serde(default = "super::yes")]
    pub enabled: bool,
    /// Smaller answers are sent as they are.
    #[serde(default = "default_min_bytes")]
    pub min_bytes: u64,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_bytes: default_min_bytes(),
        }
    }
}

fn default_min_bytes() -> u64 {
    1024
}
