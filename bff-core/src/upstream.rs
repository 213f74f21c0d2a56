//! The client every upstream request goes through: hyper's pooled client
//! with keep-alive, no redirects, no proxies from the environment. Bodies
//! are axum bodies both ways, so a pass-through route hands the client's
//! stream to the upstream and the upstream's stream to the client without
//! converting either.

use std::time::Duration;

use axum::body::Body;
use http::Request;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The pooled HTTP(S) client of a gateway.
#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpsConnector<HttpConnector>, Body>,
}

/// Why an upstream exchange failed before a response arrived.
pub type Error = hyper_util::client::legacy::Error;

impl Client {
    /// A client that keeps idle connections for a minute.
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
            // No system roots: plain HTTP still works; HTTPS upstreams will
            // fail their handshakes and say so in the logs.
            Err(e) => {
                tracing::warn!(error = %e, "no system TLS roots; https upstreams will fail");
                hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(
                        rustls::ClientConfig::builder()
                            .with_root_certificates(rustls::RootCertStore::empty())
                            .with_no_client_auth(),
                    )
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http)
            }
        };
        let inner = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Self { inner }
    }

    /// Sends a request and waits for the response head.
    pub async fn send(&self, req: Request<Body>) -> Result<http::Response<Incoming>, Error> {
        self.inner.request(req).await
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}
