//! `tls:` of bff.yaml: TLS termination on the listener, and whether
//! clients must present certificates.

use schemars::JsonSchema;
use serde::Deserialize;

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
