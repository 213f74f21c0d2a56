//! Web client extensions: CORS for single-page apps served from other
//! origins, the allowed origins set in `bff.yaml` (`extensions.cors`).

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use bff_core::Extension;
use http::{HeaderValue, Method, header};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// Origins allowed by default: the usual local dev servers of SPAs.
const DEFAULT_ORIGINS: &str = "http://localhost:5173,http://127.0.0.1:5173,http://localhost:3000";

/// The web BFF's extension, allowing by default the origins in
/// `BFF_WEB_CORS_ORIGINS` (comma-separated) or the local dev servers;
/// `extensions.cors.origins` in `bff.yaml` replaces them. `Err` names an
/// entry of the variable that is not an origin, checked as strictly as
/// those of `bff.yaml`.
pub fn from_env() -> Result<WebExtension, String> {
    let origins =
        std::env::var("BFF_WEB_CORS_ORIGINS").unwrap_or_else(|_| DEFAULT_ORIGINS.to_owned());
    let mut checked = Vec::new();
    for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        checked.push(origin_value(origin).map_err(|e| format!("BFF_WEB_CORS_ORIGINS: {e}"))?);
    }
    Ok(WebExtension { origins: checked })
}

/// [`from_env`] for the demo and tests, where a wrong variable is a bug.
pub fn extension() -> WebExtension {
    from_env().unwrap_or_else(|e| panic!("{e}"))
}

/// Adds CORS: preflights answered at the edge, credentials allowed for the
/// listed origins only.
#[derive(Debug, Clone)]
pub struct WebExtension {
    /// The origins allowed when `bff.yaml` names none.
    origins: Vec<HeaderValue>,
}

impl WebExtension {
    /// Allows the given origins (e.g. `https://shop.example`) unless
    /// `bff.yaml` names its own.
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            origins: origins
                .into_iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
        }
    }
}

/// The web BFF's settings: the `extensions:` mapping of its `bff.yaml`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Cross-origin requests from pages on other origins.
    #[serde(default)]
    pub cors: CorsConfig,
}

/// Which pages on other origins may call the BFF.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins whose pages may call the BFF with credentials, each
    /// `scheme://host[:port]` as a browser sends it (`https://shop.example`).
    /// `${VAR}` and `${VAR:-default}` are expanded, and an entry may hold
    /// several origins separated by commas. Left out: the origins in
    /// `BFF_WEB_CORS_ORIGINS`, or the local dev servers
    /// `http://localhost:5173`, `http://127.0.0.1:5173`, `http://localhost:3000`.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub origins: Option<Origins>,
}

/// Allowed origins, each checked when the specs load.
#[derive(Debug, Clone, Default)]
pub struct Origins(pub Vec<HeaderValue>);

impl<'de> Deserialize<'de> for Origins {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut origins = Vec::new();
        for entry in Vec::<String>::deserialize(d)? {
            let expanded = bff_core::config::expand_env(&entry).map_err(D::Error::custom)?;
            for origin in expanded.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                origins.push(origin_value(origin).map_err(D::Error::custom)?);
            }
        }
        Ok(Self(origins))
    }
}

/// An origin as a browser's `Origin` header carries it, or why `text` is
/// not one (it would never match, or it would make the CORS layer fail).
fn origin_value(text: &str) -> Result<HeaderValue, String> {
    let refuse = |why: &str| Err(format!("`{text}` is not an origin: {why}"));
    if text == "*" {
        return refuse("`*` cannot be allowed with credentials; list the origins");
    }
    let Ok(uri) = text.parse::<http::Uri>() else {
        return refuse("write it as scheme://host[:port], e.g. https://shop.example");
    };
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return refuse("its scheme must be http or https, e.g. https://shop.example");
    }
    match uri.authority() {
        None => return refuse("it has no host; write https://shop.example"),
        Some(a) if a.as_str().contains('@') => return refuse("an origin has no user part"),
        Some(_) => {}
    }
    let (scheme, authority) = (uri.scheme_str().unwrap_or(""), uri.authority());
    if authority.is_none_or(|a| format!("{scheme}://{a}") != text) {
        return refuse("an origin has no path, not even `/`; write scheme://host[:port]");
    }
    if text.chars().any(|c| c.is_ascii_uppercase()) {
        return refuse("browsers send origins in lower case, so this one would never match");
    }
    HeaderValue::from_str(text).or_else(|_| refuse("it is not a valid header value"))
}

impl Extension for WebExtension {
    type Config = WebConfig;

    fn router(&self, config: &WebConfig, router: Router) -> Router {
        let origins = match &config.cors.origins {
            Some(Origins(listed)) => listed.clone(),
            None => self.origins.clone(),
        };
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
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
        router.layer(OriginOnly(Arc::new(cors)))
    }
}

/// CORS only where it applies: requests with an `Origin` header. Others
/// (same-origin pages, apps, servers) get answers without CORS headers or
/// an added `Vary: Origin`, so caches keep one copy for all of them.
#[derive(Debug, Clone)]
struct OriginOnly(Arc<CorsLayer>);

impl<S> Layer<S> for OriginOnly {
    type Service = OriginOnlyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginOnlyService {
            cors: self.0.clone(),
            inner,
        }
    }
}

/// The router clones this service for every request, so the CORS settings
/// are shared, and made into a CORS service only for requests that need one.
#[derive(Debug, Clone)]
struct OriginOnlyService<S> {
    cors: Arc<CorsLayer>,
    inner: S,
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.headers().contains_key(header::ORIGIN) {
            // The CORS service takes the inner service that is ready (it
            // has no readiness of its own) and leaves a clone in its place.
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            futures::future::Either::Left(self.cors.layer(ready).call(req))
        } else {
            futures::future::Either::Right(self.inner.call(req))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_as_browsers_send_them() {
        for good in [
            "https://shop.example",
            "http://127.0.0.1:5173",
            "http://localhost:3000",
        ] {
            assert_eq!(origin_value(good).unwrap(), good);
        }
        for (bad, why) in [
            ("*", "cannot be allowed with credentials"),
            ("https://shop.example/", "no path"),
            ("https://shop.example/app", "no path"),
            ("shop.example", "scheme"),
            ("ftp://shop.example", "scheme must be http or https"),
            ("https://user@shop.example", "no user part"),
            ("https://Shop.example", "lower case"),
        ] {
            let e = origin_value(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// The committed schema of bff-web's `bff.yaml` must match the types;
    /// `UPDATE_SCHEMA=1` rewrites it.
    #[test]
    fn committed_schema_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/bff-web.schema.json");
        let text = bff_core::schema::pretty(&bff_core::schema::bff_schema_for::<WebConfig>());
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &text).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "schema/bff-web.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p bff-web schema` and commit it"
        );
    }
}
