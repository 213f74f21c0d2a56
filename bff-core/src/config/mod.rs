//! `bff.yaml`: the BFF-wide settings (listen address, services, defaults,
//! pass-through routes, policies). Values may read the environment with
//! `${VAR:-default}`, so one folder runs locally and in containers alike.
//!
//! [`BffConfig`] is the whole file; each area of it has its own file here,
//! and every type is re-exported so `crate::config::X` names it. These are
//! the types read from the file (and its JSON Schema), nothing more: what
//! runs from them lives with the stage that runs it.

mod admin;
mod auth;
mod cache;
mod compression;
mod cookies;
mod defaults;
mod discovery;
mod env;
mod inspect;
mod limits;
mod openapi;
mod proxy;
mod rate_limits;
mod redis;
mod reload;
mod resilience;
mod services;
mod telemetry;
mod tls;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

pub use admin::AdminConfig;
pub use auth::{
    ApiKeyConfig, AuthPolicyConfig, CertField, IntrospectionConfig, JwtConfig, JwtKeyConfig,
    MtlsConfig, OneOrMany, RequireConfig,
};
pub use cache::CacheConfig;
pub use compression::CompressionConfig;
pub use cookies::{CookiesConfig, SameSite};
pub use defaults::Defaults;
pub use discovery::{DiscoveryConfig, EtcdConfig, HealthCheckConfig};
pub(crate) use env::expand_env_placed;
pub use env::{EnvError, expand_env};
pub use inspect::{InspectConfig, InspectMode};
pub use limits::{Limits, PerIpConfig};
pub use openapi::OpenApiConfig;
pub use proxy::{ProxyRoute, WebSocketConfig};
pub use rate_limits::{OnStoreError, QuotaConfig, QuotaWindow, RateLimitConfig, TierConfig};
pub use redis::{RedisConfig, StoreKind};
pub use reload::ReloadConfig;
pub use resilience::{BreakerConfig, HedgeConfig, OutlierConfig, RetryConfig, StaleConfig};
pub use services::{BalanceKind, InstanceConfig, ServiceCacheConfig, ServiceConfig};
pub use telemetry::TelemetryConfig;
pub use tls::{ClientCertMode, TlsConfig};

use crate::source::Loc;

/// The top of a BFF folder: `bff.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BffConfig {
    /// Address the BFF listens on, e.g. `127.0.0.1:8082`; `--listen` overrides it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Settings every endpoint inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// Upstream services by name; calls and routes refer to these names.
    #[serde(default)]
    pub services: IndexMap<String, Loc<ServiceConfig>>,
    /// Pass-through routes: requests under `prefix` are streamed to a service.
    #[serde(default)]
    pub proxy: Vec<Loc<ProxyRoute>>,
    /// Authentication policies by name; endpoints and routes choose one with `auth:`.
    #[serde(default)]
    pub auth: IndexMap<String, Loc<AuthPolicyConfig>>,
    /// Limits on what clients may send.
    #[serde(default)]
    pub limits: Limits,
    /// TLS termination on the listener, optionally verifying client certificates.
    #[serde(default)]
    pub tls: Option<Loc<TlsConfig>>,
    /// The admin listener (health and readiness), on an address of its own.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Rate-limit policies by name; endpoints and routes choose one with `rate_limit:`.
    #[serde(default)]
    pub rate_limits: IndexMap<String, Loc<RateLimitConfig>>,
    /// Inspection policies by name (SQL injection, cross-site scripting);
    /// endpoints and routes choose one with `inspect:`.
    #[serde(default)]
    pub inspect: IndexMap<String, Loc<InspectConfig>>,
    /// The cache of upstream answers.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Compression of answers (gzip, br, zstd as the client accepts).
    #[serde(default)]
    pub compression: CompressionConfig,
    /// The Redis server that `store: redis` policies share.
    #[serde(default)]
    pub redis: Option<Loc<RedisConfig>>,
    /// Reloading the specs while serving.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Traces, request logs and timing headers.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The API description served on the public listener.
    #[serde(default)]
    pub openapi: OpenApiConfig,
    /// Attributes forced onto the cookies services set through composed
    /// endpoints (`expose_headers: [set-cookie]`).
    #[serde(default)]
    pub cookies: CookiesConfig,
    /// Settings of the BFF binary's own extension (bff-web: `cors`),
    /// checked by that binary; its schema (`schema/bff-web.schema.json`)
    /// describes them.
    #[serde(default)]
    pub extensions: Option<serde_json::Value>,
}

/// `true`, the default of switches that are on unless turned off.
fn yes() -> bool {
    true
}
