//! Web client extensions: CORS for single-page apps served from other origins.

use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use bff_core::Extension;
use http::{HeaderValue, Method, header};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// Origins allowed by default: the usual local dev servers of SPAs.
const DEFAULT_ORIGINS: &str = "http://localhost:5173,http://127.0.0.1:5173,http://localhost:3000";

/// The web BFF's extension, with allowed origins from `BFF_WEB_CORS_ORIGINS`
/// (comma-separated) or the local dev defaults.
pub fn extension() -> WebExtension {
    let origins =
        std::env::var("BFF_WEB_CORS_ORIGINS").unwrap_or_else(|_| DEFAULT_ORIGINS.to_owned());
    WebExtension::new(origins.split(',').map(str::trim).filter(|o| !o.is_empty()))
}

/// Adds CORS: preflights answered at the edge, credentials allowed for the
/// listed origins only.
#[derive(Debug, Clone)]
pub struct WebExtension {
    origins: Vec<HeaderValue>,
}

impl WebExtension {
    /// Allows the given origins (e.g. `https://shop.example`).
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            origins: origins
                .into_iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
        }
    }
}

impl Extension for WebExtension {
    fn router(&self, router: Router) -> Router {
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.origins.clone()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
            .expose_headers([
                header::HeaderName::from_static(bff_core::headers::PARTIAL),
                header::HeaderName::from_static(bff_core::headers::DEGRADED),
            ])
            .allow_credentials(true)
            .max_age(std::time::Duration::from_secs(600))
            // Preflight answers do not depend on the requested method or
            // headers (the allowed lists are fixed), only on the origin.
            .vary([header::ORIGIN]);
        router.layer(OriginOnly(cors))
    }
}

/// CORS only where it applies: requests with an `Origin` header. Others
/// (same-origin pages, apps, servers) get answers without CORS headers or
/// an added `Vary: Origin`, so caches keep one copy for all of them.
#[derive(Debug, Clone)]
struct OriginOnly(CorsLayer);

impl<S: Clone> Layer<S> for OriginOnly {
    type Service = OriginOnlyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginOnlyService {
            cors: self.0.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Debug, Clone)]
struct OriginOnlyService<S> {
    cors: Cors<S>,
    plain: S,
}

impl<S> Service<Request> for OriginOnlyService<S>
where
    S: Service<Request, Response = axum::response::Response> + Clone,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = futures::future::Either<<Cors<S> as Service<Request>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.cors.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.plain.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.headers().contains_key(header::ORIGIN) {
            futures::future::Either::Left(self.cors.call(req))
        } else {
            futures::future::Either::Right(self.plain.call(req))
        }
    }
}
