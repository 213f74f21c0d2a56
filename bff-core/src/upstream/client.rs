//! The clients upstream requests go through: hyper's pooled client with
//! keep-alive, no redirects, no proxies from the environment. Bodies are
//! axum bodies both ways, so a pass-through route hands the client's
//! stream to the upstream and the upstream's stream to the client without
//! converting either. A service may have its own client: HTTP/2, its own
//! CA, its own connect timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A pooled HTTP(S) client.
#[derive(Clone)]
pub(crate) struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Body>,
    /// The same, without a pool: for sending an idempotent request again
    /// after a kept-alive connection was closed under it.
    fresh: HyperClient<HttpsConnector<HttpConnector>, Body>,
}

/// Why an upstream exchange failed before a response arrived.
pub(crate) type Error = hyper_util::client::legacy::Error;

/// Why a client cannot be built from a service's options.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    /// rustls refused the protocol versions.
    #[error(transparent)]
    Tls(#[from] rustls::Error),
    /// The CA file cannot be read, or is not PEM.
    #[error("CA file `{}`: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    /// The CA file holds no certificate.
    #[error("CA file `{}` holds no certificate", .0.display())]
    NoCertificate(PathBuf),
    /// A certificate of the CA file is not one rustls accepts as a root.
    #[error("CA file `{}`: {source}", path.display())]
    CaCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
}

/// How a service's connections are made.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Which HTTP versions connections speak.
    pub protocol: Protocol,
    /// PEM file of the CAs that sign the service's certificates, instead of
    /// the system's roots.
    pub ca: Option<std::path::PathBuf>,
    /// Time to open a connection.
    pub connect_timeout: Option<Duration>,
}

/// The HTTP versions of a client's connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// HTTP/1.1 over `http://`, HTTP/2 or HTTP/1.1 by ALPN over `https://`.
    #[default]
    Negotiated,
    /// HTTP/2: with prior knowledge over `http://` (h2c), by ALPN over `https://`.
    Http2,
    /// HTTP/1.1 only, also over TLS: upgrades (WebSocket) need it, HTTP/2
    /// carries them differently.
    Http1,
}

impl Client {
    /// The default client: HTTP/1.1 (HTTP/2 where TLS offers it), system roots.
    pub(crate) fn new() -> Self {
        Self::with(&Options::default()).expect("the default client needs no files")
    }

    /// A client with a service's own options.
    pub(crate) fn with(options: &Options) -> Result<Self, BuildError> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(
            options.connect_timeout.unwrap_or(Duration::from_secs(5)),
        ));
        let tls = tls_config(options.ca.as_deref())?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let https = match options.protocol {
            Protocol::Negotiated => builder.enable_all_versions().wrap_connector(http),
            Protocol::Http2 => builder.enable_http2().wrap_connector(http),
            Protocol::Http1 => builder.enable_http1().wrap_connector(http),
        };
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .http2_only(options.protocol == Protocol::Http2)
            .build(https.clone());
        let fresh = HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .http2_only(options.protocol == Protocol::Http2)
            .build(https);
        Ok(Self { inner, fresh })
    }

    /// Sends a request and waits for the response head. An idempotent
    /// request without a body is sent once more, on a new connection, when
    /// the connection it went out on closed before an answer came.
    pub(crate) async fn send(&self, req: Request<Body>) -> Result<http::Response<Incoming>, Error> {
        use axum::body::HttpBody as _;
        if req.body().is_end_stream() {
            let (head, _) = req.into_parts();
            return self.send_replayable(head, None).await;
        }
        let mut req = req;
        crate::telemetry::inject(req.headers_mut());
        self.inner.request(req).await
    }

    /// Sends a request whose body is in memory (so it can be sent again):
    /// an idempotent one goes out once more, on a new connection, when a
    /// kept-alive connection closed under it before any answer came (the
    /// service closed it as idle while the request was on its way, RFC 9112
    /// §9.3.1). Counted in `bff_upstream_resent_total`.
    pub(crate) async fn send_replayable(
        &self,
        mut head: http::request::Parts,
        body: Option<bytes::Bytes>,
    ) -> Result<http::Response<Incoming>, Error> {
        crate::telemetry::inject(&mut head.headers);
        let again = is_idempotent(&head.method).then(|| {
            let mut r = Request::new(());
            *r.method_mut() = head.method.clone();
            *r.uri_mut() = head.uri.clone();
            *r.version_mut() = head.version;
            *r.headers_mut() = head.headers.clone();
            r
        });
        let first = Request::from_parts(head, body.clone().map_or_else(Body::empty, Body::from));
        match self.inner.request(first).await {
            Err(e) if again.is_some() && closed_before_answer(&e) => {
                metrics::counter!("bff_upstream_resent_total").increment(1);
                tracing::debug!(error = %e, "connection closed before an answer; sending again");
                let (head, ()) = again.expect("checked").into_parts();
                let retry = Request::from_parts(head, body.map_or_else(Body::empty, Body::from));
                self.fresh.request(retry).await
            }
            other => other,
        }
    }
}

/// Methods a request may be sent twice with (RFC 9110 §9.2.2).
pub(crate) fn is_idempotent(m: &http::Method) -> bool {
    matches!(
        *m,
        http::Method::GET
            | http::Method::HEAD
            | http::Method::PUT
            | http::Method::DELETE
            | http::Method::OPTIONS
            | http::Method::TRACE
    )
}

/// Whether an exchange failed because the connection closed (or was
/// reset) after the request went out and before any answer: what a
/// service closing an idle kept-alive connection looks like. Failures to
/// connect are not: nothing was sent, and a new connection would fail alike.
fn closed_before_answer(e: &Error) -> bool {
    if e.is_connect() {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionAborted
            )
        {
            return true;
        }
        source = s.source();
    }
    false
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads a service's CA file as a client built with it would, so a bad one
/// is reported when the folder loads (without loading the system's roots,
/// which a client with this CA does not use).
pub(crate) fn check_ca(ca: &Path) -> Result<(), BuildError> {
    tls_config(Some(ca)).map(|_| ())
}

fn tls_config(ca: Option<&Path>) -> Result<rustls::ClientConfig, BuildError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|source| BuildError::CaFile {
                    path: path.to_owned(),
                    source,
                })?;
            if certs.is_empty() {
                return Err(BuildError::NoCertificate(path.to_owned()));
            }
            for c in certs {
                roots.add(c).map_err(|source| BuildError::CaCertificate {
                    path: path.to_owned(),
                    source,
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                // No system roots: plain HTTP still works; HTTPS upstreams
                // fail their handshakes and say so in the logs.
                tracing::warn!("no system TLS roots; https upstreams will fail");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}
