//! `limits:` of bff.yaml: what clients may send (header sizes and read
//! time), the BFF's concurrency, and its limit per client address.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::source::Loc;

/// Limits that protect the gateway from slow and oversized requests.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Time a client has to send its request headers (against slowloris).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_read_timeout: Duration,
    /// Longest an HTTP/1.1 keep-alive connection may stay idle between
    /// requests before the BFF closes it.
    #[serde(default = "default_keep_alive_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub keep_alive_timeout: Duration,
    /// Largest request head (request line and headers), in bytes; larger gets `431`.
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// Most request headers; more gets `431`.
    #[serde(default = "default_max_headers")]
    pub max_headers: usize,
    /// Most requests in progress in the whole BFF; more get `503` at once.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// A limit per client address over the whole BFF, before authentication.
    #[serde(default)]
    pub per_ip: Option<Loc<PerIpConfig>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: default_header_read_timeout(),
            keep_alive_timeout: default_keep_alive_timeout(),
            max_header_bytes: default_max_header_bytes(),
            max_headers: default_max_headers(),
            max_concurrency: None,
            per_ip: None,
        }
    }
}

fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_keep_alive_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_header_bytes() -> usize {
    32 * 1024
}

fn default_max_headers() -> usize {
    100
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
