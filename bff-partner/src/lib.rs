//! Partner client extensions: a versioned media type, so integrations can
//! pin the payload version they were written against.

use axum::response::Response;
use bff_core::Extension;
use bff_core::plan::Endpoint;
use bff_core::value::Value;
use http::HeaderValue;

/// Media type of partner payloads.
pub const MEDIA_TYPE: &str = "application/vnd.shop.partner.v1+json";

/// The partner BFF's extension.
pub fn extension() -> PartnerExtension {
    PartnerExtension
}

/// Labels every payload with its version and keeps partner data out of
/// shared caches.
#[derive(Debug, Default, Clone, Copy)]
pub struct PartnerExtension;

impl Extension for PartnerExtension {
    fn encode(&self, _: &Endpoint, _: &http::request::Parts, v: &Value) -> Option<Response> {
        let mut r = bff_core::server::json_response(v);
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(MEDIA_TYPE),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        Some(r)
    }
}
