//! `telemetry:` of bff.yaml: where spans are exported, and which timing
//! headers and request logs the BFF writes.

use schemars::JsonSchema;
use serde::Deserialize;

/// What the BFF tells about each request.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC endpoint spans are exported to, e.g. `http://collector:4317`;
    /// `${VAR}` allowed. Without it, the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// is used; with neither, nothing is exported (a client's `traceparent`
    /// is still passed on to upstreams).
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `Server-Timing` on composed answers, one entry per call (default `true`).
    #[serde(default = "super::yes")]
    pub server_timing: bool,
    /// One JSON line per request on standard output (default `true`).
    #[serde(default = "super::yes")]
    pub access_log: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            server_timing: true,
            access_log: true,
        }
    }
}
