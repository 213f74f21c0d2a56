//! The pass-through routes of bff.yaml compiled: prefix and rewrite, the
//! policies guarding them, and their WebSocket settings.

use std::sync::Arc;

use indexmap::IndexMap;

use super::Policies;
use super::policies::lookup_policy;
use super::services::lookup_service;
use crate::config::{BffConfig, expand_env};
use crate::plan::{ProxyPlan, Service, WebSocketPlan};
use crate::source::Diagnostics;
use crate::spec::SpecFile;

/// Why a route's `websocket:` settings are not usable.
#[derive(Debug, thiserror::Error)]
enum WebSocketError {
    /// A zero idle timeout would close every connection at once.
    #[error("websocket: `idle_timeout` must be longer than 0")]
    NoIdleTime,
    /// A `${VAR}` in `origins` did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// An entry of `origins` is not a bare origin.
    #[error("websocket: `{0}` is not an origin such as `https://shop.example`")]
    NotAnOrigin(String),
}

/// Every route of bff.yaml that is well declared, in the order written.
pub(super) fn compile_proxies(
    file: &SpecFile<BffConfig>,
    services: &IndexMap<String, Arc<Service>>,
    policies: &Policies,
    rate_limits: &crate::plan::rate_limits::RateLimits,
    inspections: &super::policies::Inspections,
    diags: &mut Diagnostics,
) -> Vec<Arc<ProxyPlan>> {
    let mut out = Vec::new();
    for route in &file.spec.proxy {
        let Some(service) = lookup_service(file, &route.service, &file.spec, services, diags)
        else {
            continue;
        };
        if !route.prefix.starts_with('/') || route.prefix.contains(['{', '}', '*']) {
            diags.push(file.error_at(
                &route.prefix,
                "a proxy prefix is a literal path starting with `/`",
            ));
            continue;
        }
        let prefix = route.prefix.trim_end_matches('/').to_owned();
        let rewrite = route
            .rewrite
            .as_deref()
            .unwrap_or(&prefix)
            .trim_end_matches('/')
            .to_owned();
        let auth = lookup_policy(file, route.auth.as_ref(), policies, diags);
        if route.auth.is_some() && auth.is_none() {
            continue;
        }
        let require = match (&route.require, &auth) {
            (Some(r), None) => {
                diags.push(file.error_at(r, "`require` needs an `auth` policy"));
                continue;
            }
            (r, _) => r.as_ref().map(|r| crate::auth::Requirement::new(r)),
        };
        let rate_limit = crate::plan::rate_limits::lookup(
            file,
            route.rate_limit.as_ref(),
            auth.is_some(),
            rate_limits,
            diags,
        );
        let inspect =
            super::policies::lookup_inspection(file, route.inspect.as_ref(), inspections, diags);
        let websocket = match route.websocket.as_ref() {
            None => None,
            Some(ws) => match compile_websocket(ws) {
                Ok(w) => Some(w),
                Err(e) => {
                    diags.push(file.error_at(ws, e.to_string()));
                    continue;
                }
            },
        };
        if let Some(ws) = &websocket
            && ws.origins.is_empty()
            && auth.as_ref().is_some_and(|a| a.reads_cookie())
        {
            // Browsers send cookies with cross-site WebSocket handshakes, and
            // CORS does not apply to them: any page could connect as the user.
            tracing::warn!(
                prefix = %prefix,
                "WebSocket route authenticated by a cookie accepts any origin; set `websocket.origins`"
            );
        }
        out.push(Arc::new(ProxyPlan {
            auth,
            websocket,
            require,
            rate_limit,
            inspect,
            max_body: route.max_body,
            prefix,
            rewrite,
            timeout: route
                .timeout
                .or(service.timeout)
                .unwrap_or(file.spec.defaults.timeout),
            service,
        }));
    }
    out
}

/// A route's WebSocket settings, origins checked and normalised (the
/// gateway gives the service a client of HTTP/1.1 for them; its CA was
/// checked with the service).
fn compile_websocket(
    config: &crate::config::WebSocketConfig,
) -> Result<WebSocketPlan, WebSocketError> {
    if config.idle_timeout.is_zero() {
        return Err(WebSocketError::NoIdleTime);
    }
    let mut origins = Vec::new();
    for raw in &config.origins {
        let expanded = expand_env(raw).map_err(WebSocketError::Env)?;
        for origin in expanded.split(',').map(str::trim) {
            if origin.is_empty() {
                continue;
            }
            let parsed = reqwest::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                .filter(|u| u.query().is_none() && u.fragment().is_none());
            let Some(url) = parsed else {
                return Err(WebSocketError::NotAnOrigin(origin.to_owned()));
            };
            origins.push(url.origin().ascii_serialization());
        }
    }
    Ok(WebSocketPlan {
        idle_timeout: config.idle_timeout,
        origins,
    })
}
