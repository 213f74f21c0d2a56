//! `auth:` of bff.yaml: authentication policies (JWT, API keys, token
//! introspection, client certificates), the identity headers they fill,
//! and what an identity must hold (`require:`).

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

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
