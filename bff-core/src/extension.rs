//! The public hooks a BFF binary implements to add what its kind of client
//! needs. Every hook defaults to doing nothing, so an extension states only
//! what it changes.

use axum::Router;
use axum::response::Response;
use jaq_json::Val;

use crate::plan::Endpoint;

/// Client-specific behaviour of one BFF binary.
pub trait Extension: Send + Sync + 'static {
    /// Wraps or extends the router (layers such as CORS, extra routes).
    /// Its layers see every request after the request id is set and
    /// before the BFF's limits, path normalisation and routing, so what
    /// they add (CORS headers) is on every answer, refusals included;
    /// routes added here are matched on the path as the client sent it,
    /// outside the BFF's limits.
    fn router(&self, router: Router) -> Router {
        router
    }

    /// Encodes a shaped value into a response; `None` keeps the default
    /// JSON encoding. The status and partial-response headers are added
    /// afterwards by the gateway.
    fn encode(
        &self,
        endpoint: &Endpoint,
        request: &http::request::Parts,
        value: &Val,
    ) -> Option<Response> {
        let _ = (endpoint, request, value);
        None
    }

    /// Adjusts the BFF's OpenAPI description (`/openapi.json`, `/docs`),
    /// built once per generation of specs: say which media types `encode`
    /// answers with, add what the router adds.
    fn describe(&self, document: &mut serde_json::Value) {
        let _ = document;
    }
}

/// An extension that changes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExtension;

impl Extension for NoExtension {}
