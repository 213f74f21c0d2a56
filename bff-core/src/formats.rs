//! Answers in the format a client asks for, beside JSON: protobuf messages
//! for apps and server-rendered pages for browsers, as the endpoint's
//! `respond.message` and `respond.html` allow.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, header};
use jaq_json::Val;

use crate::pages::Pages;
use crate::plan::Endpoint;
use crate::{negotiate, proto, value};

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/x-protobuf";
const PROTOBUF_IANA: &str = "application/protobuf";
const HTML: &str = "text/html";

/// The answer encoded as the client prefers, or `None` for JSON (which the
/// BFF's extension may still encode its own way).
pub fn encode(
    endpoint: &Endpoint,
    pages: &Pages,
    request: &http::request::Parts,
    v: &Val,
) -> Option<Response> {
    if endpoint.message.is_none() && endpoint.page.is_none() {
        return None;
    }
    let mut offered = vec![JSON];
    if endpoint.message.is_some() {
        offered.extend([PROTOBUF, PROTOBUF_IANA]);
    }
    if endpoint.page.is_some() {
        offered.push(HTML);
    }
    let accept = request
        .headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    let chosen = offered[negotiate::preferred(accept, &offered)];
    let mut response = match (chosen, &endpoint.message, &endpoint.page) {
        (PROTOBUF | PROTOBUF_IANA, Some(message), _) => {
            match proto::encode_json(message, &value::to_json(v)) {
                Ok(bytes) => typed(Body::from(bytes), chosen),
                Err(e) => misfit(endpoint, "protobuf message", &e.to_string()),
            }
        }
        (HTML, _, Some(page)) => {
            let json: serde_json::Value =
                serde_json::from_slice(&value::to_json(v)).unwrap_or_default();
            match pages.render(page, &json) {
                Ok(html) => typed(Body::from(html), "text/html; charset=utf-8"),
                Err(e) => misfit(endpoint, "page template", &format!("{page}: {e}")),
            }
        }
        _ => return None,
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    Some(response)
}

/// The default encoding: compact JSON.
pub fn json_response(v: &Val) -> Response {
    typed(Body::from(value::to_json(v)), "application/json")
}

fn typed(body: Body, content_type: &'static str) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A result the endpoint's own contract cannot carry: the spec is wrong,
/// not the client, so 500, with the field in the log and the problem.
fn misfit(endpoint: &Endpoint, what: &str, error: &str) -> Response {
    tracing::error!(endpoint = %endpoint.id(), error, "answer does not fit its {what}");
    // A client that asked for another format sees why this one failed.
    axum::response::IntoResponse::into_response(crate::error::Refusal::Misfit(format!(
        "the answer does not fit its {what}: {error}"
    )))
}

/// Whether the JSON answer of an endpoint depends on `Accept` (so caches must vary on it).
pub fn negotiated(endpoint: &Endpoint) -> bool {
    endpoint.message.is_some() || endpoint.page.is_some()
}
