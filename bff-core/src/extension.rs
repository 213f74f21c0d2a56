//! The public hooks a BFF binary implements to add what its kind of client
//! needs, and the typed settings it reads from the `extensions:` key of
//! `bff.yaml`. Every hook defaults to doing nothing, so an extension states
//! only what it changes.
//!
//! Each generation of specs gets the extension together with its settings
//! as parsed from that generation's `bff.yaml` ([`Hooks`]); a setting the
//! extension's type refuses is a located load-time error, and a reload
//! with one keeps the last good specs serving.

use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use http::HeaderMap;
use jaq_json::Val;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::Problem;
use crate::plan::{Endpoint, Plan};
use crate::source::Diagnostics;

/// Client-specific behaviour of one BFF binary.
pub trait Extension: Send + Sync + 'static {
    /// The extension's settings: the `extensions:` mapping of `bff.yaml`
    /// (its default when the key is left out). Its JSON Schema is what
    /// [`crate::schema::bff_schema_for`] puts under `extensions`.
    type Config: DeserializeOwned + JsonSchema + Default + Send + Sync + 'static;

    /// Wraps or extends the router (layers such as CORS, extra routes).
    /// Its layers see every request after the request id is set and
    /// before the BFF's limits, path normalisation and routing, so what
    /// they add (CORS headers) is on every answer, refusals included;
    /// routes added here are matched on the path as the client sent it,
    /// outside the BFF's limits.
    fn router(&self, config: &Self::Config, router: Router) -> Router {
        let _ = config;
        router
    }

    /// Encodes a shaped value into a response; `None` keeps the default
    /// JSON encoding. The status and partial-response headers are added
    /// afterwards by the gateway.
    fn encode(
        &self,
        config: &Self::Config,
        endpoint: &Endpoint,
        request: &http::request::Parts,
        value: &Val,
    ) -> Option<Response> {
        let _ = (config, endpoint, request, value);
        None
    }

    /// Adjusts the BFF's OpenAPI description (`/openapi.json`, `/docs`),
    /// built once per generation of specs: say which media types `encode`
    /// answers with, add what the router adds.
    fn describe(&self, config: &Self::Config, document: &mut serde_json::Value) {
        let _ = (config, document);
    }

    /// Sees the identity an `auth` policy verified, before the endpoint's
    /// or route's `require` is checked and before identity headers are
    /// derived from it: it may add or change claims (what `require`,
    /// `forward` and the templates' `auth` then see), or refuse the
    /// request with a problem (a `403`, say). Not called for requests
    /// without `auth`.
    fn identity(
        &self,
        config: &Self::Config,
        request: &http::request::Parts,
        identity: &mut Val,
    ) -> Result<(), Problem> {
        let _ = (config, request, identity);
        Ok(())
    }

    /// Sees each upstream request before it is sent, composed calls and
    /// pass-through routes alike, and may add or change `headers`: for a
    /// composed call every header the call sends, for a pass-through route
    /// the headers the BFF adds to the client's (its identity headers).
    /// What it sets is part of the request's cache key, so a header that
    /// differs per caller never lets one caller's kept answer reach another.
    fn call(&self, config: &Self::Config, call: &CallRequest<'_>, headers: &mut HeaderMap) {
        let _ = (config, call, headers);
    }
}

/// An upstream request about to be sent, as [`Extension::call`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallRequest<'a> {
    /// The service, as named in `bff.yaml`.
    pub service: &'a str,
    /// The call's name in its endpoint spec; `None` for a pass-through route.
    pub call: Option<&'a str>,
    /// The request method.
    pub method: &'a http::Method,
    /// Path and query as sent to the service.
    pub path: &'a str,
    /// The caller's verified identity (`null` without `auth`).
    pub identity: &'a Val,
}

/// Settings of an extension that has none: `extensions:` must be left out
/// or empty.
#[derive(Debug, Default, Clone, Copy, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// An extension that changes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExtension;

impl Extension for NoExtension {
    type Config = NoConfig;
}

/// An extension with the settings of one generation of specs, without its
/// type: what the pipeline calls.
pub(crate) trait Hooks: Send + Sync {
    fn router(&self, router: Router) -> Router;
    fn encode(
        &self,
        endpoint: &Endpoint,
        request: &http::request::Parts,
        value: &Val,
    ) -> Option<Response>;
    fn describe(&self, document: &mut serde_json::Value);
    fn identity(&self, request: &http::request::Parts, identity: &mut Val) -> Result<(), Problem>;
    fn call(&self, call: &CallRequest<'_>, headers: &mut HeaderMap);
}

impl std::fmt::Debug for dyn Hooks + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}

struct Configured<E: Extension> {
    extension: Arc<E>,
    config: E::Config,
}

impl<E: Extension> Hooks for Configured<E> {
    fn router(&self, router: Router) -> Router {
        self.extension.router(&self.config, router)
    }

    fn encode(
        &self,
        endpoint: &Endpoint,
        request: &http::request::Parts,
        value: &Val,
    ) -> Option<Response> {
        self.extension
            .encode(&self.config, endpoint, request, value)
    }

    fn describe(&self, document: &mut serde_json::Value) {
        self.extension.describe(&self.config, document);
    }

    fn identity(&self, request: &http::request::Parts, identity: &mut Val) -> Result<(), Problem> {
        self.extension.identity(&self.config, request, identity)
    }

    fn call(&self, call: &CallRequest<'_>, headers: &mut HeaderMap) {
        self.extension.call(&self.config, call, headers);
    }
}

/// Makes an extension's [`Hooks`] for each generation of specs: what a
/// reload keeps between generations.
pub(crate) trait Configure: Send + Sync {
    /// The extension with the settings of `plan`'s `bff.yaml`, or the
    /// located errors in them.
    fn configure(&self, plan: &Plan) -> Result<Arc<dyn Hooks>, Diagnostics>;
}

pub(crate) struct Factory<E>(pub(crate) Arc<E>);

impl<E: Extension> Configure for Factory<E> {
    fn configure(&self, plan: &Plan) -> Result<Arc<dyn Hooks>, Diagnostics> {
        let config = read_config::<E::Config>(plan)?;
        Ok(Arc::new(Configured {
            extension: self.0.clone(),
            config,
        }))
    }
}

/// Only the `extensions:` key of `bff.yaml` (the rest was read into
/// [`crate::config::BffConfig`]).
#[derive(serde::Deserialize)]
#[serde(bound = "C: DeserializeOwned")]
struct ExtensionsKey<C> {
    #[serde(default)]
    extensions: Option<C>,
}

/// Parses the extension's settings from the plan's `bff.yaml`, errors
/// located in that file. The text is parsed again, rather than the
/// `extensions` value kept in `BffConfig` converted, because only the
/// text knows where each setting was written.
pub(crate) fn read_config<C: DeserializeOwned + Default>(plan: &Plan) -> Result<C, Diagnostics> {
    let path = plan.dir.join("bff.yaml");
    crate::spec::parse_text::<ExtensionsKey<C>>(&path, &plan.config_text)
        .map(|k| k.extensions.unwrap_or_default())
        .map_err(|d| Diagnostics(vec![d]))
}
