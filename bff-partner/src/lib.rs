//! Partner client extensions: a versioned media type, so integrations can
//! pin the payload version they were written against, and XML for those
//! that ask for it.

pub mod xml;

use axum::response::Response;
use bff_core::Extension;
use bff_core::plan::Endpoint;
use bff_core::value::Value;
use http::HeaderValue;

/// Media type of partner payloads.
pub const MEDIA_TYPE: &str = "application/vnd.shop.partner.v1+json";

/// Media type of the XML rendering.
pub const XML_MEDIA_TYPE: &str = "application/vnd.shop.partner.v1+xml";

/// Whether the client asks for XML rather than JSON: an XML type listed
/// before any JSON type in `Accept`.
fn wants_xml(request: &http::request::Parts) -> bool {
    let accept = request
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let position = |needle: &str| accept.find(needle);
    match (position("xml"), position("json")) {
        (Some(x), Some(j)) => x < j,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The partner BFF's extension.
pub fn extension() -> PartnerExtension {
    PartnerExtension
}

/// Labels every payload with its version and keeps partner data out of
/// shared caches.
#[derive(Debug, Default, Clone, Copy)]
pub struct PartnerExtension;

impl Extension for PartnerExtension {
    type Config = bff_core::NoConfig;

    /// Successful answers come in the versioned media types, never as plain JSON.
    fn describe(&self, _: &Self::Config, document: &mut serde_json::Value) {
        let operations = document["paths"]
            .as_object_mut()
            .into_iter()
            .flat_map(|paths| paths.values_mut())
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|item| item.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for op in operations {
            let answers = op
                .get_mut("responses")
                .and_then(serde_json::Value::as_object_mut)
                .into_iter()
                .flatten();
            for (_, answer) in answers.filter(|(status, _)| status.starts_with('2')) {
                let Some(content) = answer["content"].as_object_mut() else {
                    continue;
                };
                if let Some(schema) = content.remove("application/json") {
                    content.insert(MEDIA_TYPE.to_owned(), schema.clone());
                    content.insert(XML_MEDIA_TYPE.to_owned(), schema);
                }
            }
        }
    }

    fn encode(
        &self,
        _: &Self::Config,
        _: &Endpoint,
        request: &http::request::Parts,
        v: &Value,
    ) -> Option<Response> {
        let (mut r, media_type) = if wants_xml(request) {
            let json: serde_json::Value =
                serde_json::from_slice(&bff_core::value::to_json(v)).unwrap_or_default();
            (
                Response::new(axum::body::Body::from(xml::render(&json))),
                XML_MEDIA_TYPE,
            )
        } else {
            (bff_core::formats::json_response(v), MEDIA_TYPE)
        };
        let h = r.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(media_type),
        );
        h.insert(http::header::VARY, HeaderValue::from_static("accept"));
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        );
        Some(r)
    }
}
