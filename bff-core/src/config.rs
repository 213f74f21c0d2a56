//! `bff.yaml`: the BFF-wide settings (listen address, services, defaults,
//! pass-through routes). Values may read the environment with
//! `${VAR:-default}`, so one folder runs locally and in containers alike.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::spec::Loc;

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
    pub rate_limits: IndexMap<String, Loc<crate::ratelimit::RateLimitConfig>>,
    /// The cache of upstream answers.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Compression of answers (gzip, br, zstd as the client accepts).
    #[serde(default)]
    pub compression: CompressionConfig,
    /// The Redis server that `store: redis` policies share.
    #[serde(default)]
    pub redis: Option<Loc<crate::ratelimit::RedisConfig>>,
    /// Reloading the specs while serving.
    #[serde(default)]
    pub reload: ReloadConfig,
    /// Traces, request logs and timing headers.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The API description served on the public listener.
    #[serde(default)]
    pub openapi: OpenApiConfig,
}

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
    #[serde(default = "yes")]
    pub server_timing: bool,
    /// One JSON line per request on standard output (default `true`).
    #[serde(default = "yes")]
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

/// The OpenAPI 3.1 description of the BFF's endpoints and routes, built from
/// the specs (and rebuilt when they reload): `GET /openapi.json`, and
/// `GET /docs`, the same rendered as a reference page. A path that an
/// endpoint or route of the specs owns stays theirs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// Serve `/openapi.json` and `/docs` (default `true`).
    #[serde(default = "yes")]
    pub serve: bool,
    /// Title of the API; defaults to the spec folder's name.
    #[serde(default)]
    pub title: Option<String>,
    /// Version of the API (default `1.0.0`).
    #[serde(default)]
    pub version: Option<String>,
    /// What the API is for; Markdown.
    #[serde(default)]
    pub description: Option<String>,
}

impl Default for OpenApiConfig {
    fn default() -> Self {
        Self {
            serve: true,
            title: None,
            version: None,
            description: None,
        }
    }
}

/// Hot reload of the spec folder. A reload also happens on `SIGHUP` and on
/// `POST /reload` of the admin listener, whatever `watch` says.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Reload when a file under the spec folder changes (default `true`).
    #[serde(default = "yes")]
    pub watch: bool,
    /// Quiet time after the last change before reloading, so an editor's
    /// or a `kubectl apply`'s several writes make one reload (default `250ms`).
    #[serde(default = "default_debounce", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: default_debounce(),
        }
    }
}

fn default_debounce() -> Duration {
    Duration::from_millis(250)
}

/// The admin listener.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address, e.g. `127.0.0.1:9082`; `${VAR}` allowed. Keep it off public networks.
    pub listen: String,
    /// Token of the admin listener, presented as `Authorization: Bearer` or
    /// as the password of HTTP Basic; use `${VAR}` to keep it out of the
    /// file. With it, every route but `/healthz` and `/readyz` needs it;
    /// without it, routes that change things (reload, cache purge) are
    /// refused and the others are open.
    #[serde(default)]
    pub token: Option<String>,
}

/// TLS on the listener (HTTP/1.1 and HTTP/2 by ALPN). File paths are
/// relative to the spec folder; `${VAR}` allowed.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate, then its intermediates.
    pub cert: String,
    /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// PEM file with the CA certificates client certificates must chain to;
    /// setting it turns on client-certificate verification (mTLS).
    #[serde(default)]
    pub client_ca: Option<String>,
    /// With `client_ca`: whether every connection must present a valid client
    /// certificate (`required`, the default) or only endpoints whose policy
    /// is `mtls` need one (`optional`).
    #[serde(default)]
    pub client_cert: ClientCertMode,
}

/// Whether a client certificate is needed to connect at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientCertMode {
    /// The handshake fails without a valid client certificate.
    #[default]
    Required,
    /// Connections without one are accepted; `mtls` policies refuse them (401).
    Optional,
}

/// Identity from the verified client certificate.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    /// Which part of the certificate becomes `auth.sub`.
    #[serde(default)]
    pub subject: CertField,
}

/// A part of a certificate that names its holder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertField {
    /// The subject's common name (CN).
    #[default]
    Cn,
    /// The whole subject distinguished name, RFC 4514 style (`CN=a,O=b`).
    Dn,
    /// The first DNS name of the subject alternative names.
    SanDns,
    /// The first URI of the subject alternative names (e.g. a SPIFFE id).
    SanUri,
    /// The first e-mail address of the subject alternative names.
    SanEmail,
}

/// Limits that protect the gateway from slow and oversized requests.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Time a client has to send its request headers (against slowloris).
    #[serde(default = "default_header_read_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub header_read_timeout: Duration,
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
    pub per_ip: Option<Loc<crate::ratelimit::config::PerIpConfig>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: default_header_read_timeout(),
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

fn default_max_header_bytes() -> usize {
    32 * 1024
}

fn default_max_headers() -> usize {
    100
}

/// An authentication policy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthPolicyConfig {
    /// Bearer JSON Web Tokens (`Authorization: Bearer …`): one issuer, or a
    /// list of issuers each with its own keys, chosen by the token's `iss`.
    #[serde(default)]
    pub jwt: Option<OneOrMany<JwtConfig>>,
    /// API keys sent in a header, checked against a file of hashed keys.
    #[serde(default)]
    pub api_key: Option<ApiKeyConfig>,
    /// Opaque bearer tokens checked by OAuth 2.0 token introspection (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
    /// The client certificate verified by the TLS listener (`tls.client_ca`).
    #[serde(default)]
    pub mtls: Option<MtlsConfig>,
    /// Headers that carry the verified identity to upstreams: header name →
    /// claim (`sub`, `scope`, `tier`, or a dotted path such as `org.id`).
    /// Clients' own values of these headers are always removed.
    #[serde(default)]
    pub forward: IndexMap<String, String>,
    /// Whether the client's `Authorization` header goes on to upstreams of
    /// pass-through routes using this policy (default: it is removed).
    #[serde(default)]
    pub forward_authorization: bool,
}

/// A single item or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// One.
    One(T),
    /// Several.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The items as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

/// Token introspection against an authorization server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint; `${VAR}` allowed.
    pub url: String,
    /// Client id the BFF authenticates with (HTTP Basic).
    pub client_id: String,
    /// Client secret; use `${VAR}` to keep it out of the file.
    pub client_secret: String,
    /// Longest time an answer is reused; never past the token's `exp`.
    #[serde(default = "default_introspection_cache", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub cache: Duration,
    /// Time one introspection request may take.
    #[serde(default = "default_introspection_timeout", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub timeout: Duration,
}

fn default_introspection_cache() -> Duration {
    Duration::from_secs(60)
}

fn default_introspection_timeout() -> Duration {
    Duration::from_secs(2)
}

/// API-key checks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header the key is sent in.
    #[serde(default = "default_api_key_header")]
    pub header: String,
    /// YAML file of key records (hashes and metadata), relative to the spec folder.
    pub keys: String,
}

fn default_api_key_header() -> String {
    "x-api-key".into()
}

/// What an identity must hold (403 otherwise).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequireConfig {
    /// Every one of these scopes (claim `scope`, space-separated, or `scp`).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// At least one of these roles (claim `roles`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// One of these tiers (claim `tier`).
    #[serde(default)]
    pub tiers: Vec<String>,
}

/// JWT checks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss` claim.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Cookie to read the token from when there is no `Authorization` header.
    #[serde(default)]
    pub cookie: Option<String>,
    /// Required `aud` claim (one of the token's audiences).
    #[serde(default)]
    pub audience: Option<String>,
    /// Keys that may have signed a token; a token is checked only with keys of its `alg`.
    #[serde(default)]
    pub keys: Vec<JwtKeyConfig>,
    /// URL of a JSON Web Key Set (the issuer's `jwks_uri`), fetched in the background.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS is fetched again, e.g. `5m`.
    #[serde(default = "default_jwks_refresh", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub jwks_refresh: Duration,
    /// Clock skew allowed for `exp` and `nbf`, e.g. `30s`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub leeway: Duration,
}

fn default_jwks_refresh() -> Duration {
    Duration::from_secs(300)
}

fn default_leeway() -> Duration {
    Duration::from_secs(60)
}

/// One verification key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Algorithm the key verifies: RS256/384/512, PS256/384/512, ES256/384, EdDSA, HS256/384/512.
    pub alg: String,
    /// PEM file of a public key, relative to the spec folder (RS*, PS*, ES*, EdDSA).
    #[serde(default)]
    pub pem: Option<String>,
    /// Shared secret for HS*; `${VAR}` reads it from the environment.
    #[serde(default)]
    pub secret: Option<String>,
    /// Key id; when both the key and the token name one, they must match.
    #[serde(default)]
    pub kid: Option<String>,
}

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

fn default_max_response_bytes() -> usize {
    16 * 1024 * 1024
}

fn default_body_limit() -> usize {
    1024 * 1024
}

/// One upstream service.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Base URL, e.g. `${USERS_URL:-http://127.0.0.1:9101}`; call paths are
    /// appended. For several instances use `instances` instead.
    #[serde(default)]
    pub url: Option<Loc<String>>,
    /// Several instances of the service, chosen per call by `balance`.
    #[serde(default)]
    pub instances: Vec<crate::resilience::InstanceConfig>,
    /// Instances found at run time (DNS or etcd), instead of `url` or `instances`.
    #[serde(default)]
    pub discovery: Option<crate::resilience::DiscoveryConfig>,
    /// Active health checks: failing instances get no calls.
    #[serde(default)]
    pub health_check: Option<crate::resilience::HealthCheckConfig>,
    /// How a call picks an instance.
    #[serde(default)]
    pub balance: crate::resilience::BalanceKind,
    /// With `balance: hash`: `header:<name>` of the upstream request whose
    /// value keeps a caller on one instance (e.g. a `forward`ed identity header).
    #[serde(default)]
    pub hash_key: Option<String>,
    /// Retries of failed idempotent calls.
    #[serde(default)]
    pub retries: Option<crate::resilience::RetryConfig>,
    /// Keep the service's answers to GET calls by HTTP's caching rules
    /// (`{}`), or for an explicit `ttl`.
    #[serde(default)]
    pub cache: Option<ServiceCacheConfig>,
    /// stale-if-error: the last good answer of each distinct request stands in
    /// when the service fails (the answer is marked partial).
    #[serde(default)]
    pub stale_if_error: Option<crate::resilience::config::StaleConfig>,
    /// Hedging: a slow idempotent call gets a second try on another instance.
    #[serde(default)]
    pub hedge: Option<crate::resilience::HedgeConfig>,
    /// A circuit breaker for the service.
    #[serde(default)]
    pub circuit_breaker: Option<crate::resilience::BreakerConfig>,
    /// Passive ejection of failing instances (with several instances).
    #[serde(default)]
    pub outlier: crate::resilience::OutlierConfig,
    /// HTTP/2 to the service: prior knowledge over `http://` (h2c), ALPN over `https://`.
    #[serde(default)]
    pub http2: bool,
    /// PEM file (relative to the folder) of the CAs signing the service's
    /// certificates, instead of the system's roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// Time to open a connection to an instance.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Duration>,
    /// Largest upstream response body a call reads, in bytes; more is a failure.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// Time one call to this service may take, unless the call sets its own.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Most requests in flight to this service at once; more fail at once
    /// (`503` naming the service) instead of queueing.
    #[serde(default)]
    pub max_concurrency: Option<usize>,
}

/// Caching of a service's answers.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceCacheConfig {
    /// Keep answers this long whatever their headers say (but never with `no-store`).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Duration>,
}

/// Compression of answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionConfig {
    /// Whether answers are compressed at all.
    #[serde(default = "yes")]
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

fn yes() -> bool {
    true
}

fn default_min_bytes() -> u64 {
    1024
}

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
    pub store: crate::ratelimit::StoreKind,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_cache_bytes(),
            store: crate::ratelimit::StoreKind::Local,
        }
    }
}

fn default_cache_bytes() -> u64 {
    64 * 1024 * 1024
}

/// A pass-through route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyRoute {
    /// Path prefix owned by the route, e.g. `/api/users`.
    pub prefix: Loc<String>,
    /// Service the requests go to.
    pub service: Loc<String>,
    /// What replaces `prefix` upstream, e.g. `/users`; by default the path is kept.
    #[serde(default)]
    pub rewrite: Option<String>,
    /// Authentication policy of bff.yaml every request of the route must pass.
    #[serde(default)]
    pub auth: Option<Loc<String>>,
    /// Largest request body, in bytes, the route passes on; larger gets `413`.
    #[serde(default)]
    pub max_body: Option<u64>,
    /// What the identity must hold to use the route (needs `auth`).
    #[serde(default)]
    pub require: Option<Loc<RequireConfig>>,
    /// Rate-limit policy of bff.yaml counting the route's requests.
    #[serde(default)]
    pub rate_limit: Option<Loc<String>>,
    /// Time the upstream may take to answer (its response headers) once the request body is sent.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Carry WebSocket upgrades to the service and relay the connection
    /// (`websocket: {}` for the defaults). Without it, `Upgrade` is dropped
    /// and the request goes on as a plain one.
    #[serde(default)]
    pub websocket: Option<Loc<WebSocketConfig>>,
}

/// WebSocket connections on a pass-through route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    /// A connection over which no byte has moved, in either direction, for
    /// this long is closed. Pings count as traffic.
    #[serde(default = "default_websocket_idle", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub idle_timeout: Duration,
    /// Browser origins allowed to open a connection (`Origin` header), e.g.
    /// `https://shop.example`; `${VAR}` allowed, several in one value
    /// separated by commas. Any origin when empty.
    #[serde(default)]
    pub origins: Vec<String>,
}

fn default_websocket_idle() -> Duration {
    Duration::from_secs(60)
}

/// Replaces `${VAR}` and `${VAR:-default}` with the environment's values.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_and_defaults() {
        let env = |n: &str| (n == "SET").then(|| "http://set:1".to_owned());
        assert_eq!(expand_with("${SET:-x}", env).unwrap(), "http://set:1");
        assert_eq!(
            expand_with("a ${UNSET:-http://d:2}/b", env).unwrap(),
            "a http://d:2/b"
        );
        assert_eq!(expand_with("plain", env).unwrap(), "plain");
        assert!(expand_with("${UNSET}", env).unwrap_err().contains("UNSET"));
        assert!(expand_with("${OPEN", env).is_err());
    }
}
