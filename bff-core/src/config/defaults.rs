//! `defaults:` of bff.yaml: the deadline, call timeout and body limit
//! every endpoint inherits unless it sets its own.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Defaults for endpoints and calls.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// End-to-end deadline of an endpoint: no client waits longer.
    #[serde(default = "default_deadline", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub deadline: Duration,
    /// Time one upstream call may take, unless the service or call sets its own.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
    /// Largest client request body, in bytes, that a composed endpoint reads.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            deadline: default_deadline(),
            timeout: default_timeout(),
            body_limit: default_body_limit(),
        }
    }
}

fn default_deadline() -> Duration {
    Duration::from_secs(5)
}

fn default_timeout() -> Duration {
    Duration::from_secs(2)
}

fn default_body_limit() -> usize {
    1024 * 1024
}
