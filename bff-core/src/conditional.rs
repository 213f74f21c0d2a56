//! Validators on composed answers: an `ETag` from the body, a
//! `Cache-Control` saying how clients may keep it, and `304 Not Modified`
//! for a matching `If-None-Match`, so a phone that has the answer already
//! does not download it again.

use aws_lc_rs::digest::{SHA256, digest};
use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;

/// Adds `ETag` and `Cache-Control` to a successful answer of a GET or
/// HEAD, and turns it into a `304` when the client's `If-None-Match`
/// names it. `private` marks answers made for one caller.
pub(crate) async fn finish(
    method: &Method,
    request: &HeaderMap,
    response: Response,
    private: bool,
) -> Response {
    if !matches!(*method, Method::GET | Method::HEAD) || !response.status().is_success() {
        return response;
    }
    // A part made for one caller makes the whole answer private.
    let private = private
        || response
            .extensions()
            .get::<crate::cache::Freshness>()
            .is_some_and(|f| f.private);
    let (mut head, body) = response.into_parts();
    let Ok(bytes) = body
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
    else {
        return Response::from_parts(head, Body::empty());
    };
    let etag = etag(&bytes);
    head.headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static(if private {
            "private, no-cache"
        } else {
            "no-cache"
        }));
    let matched = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        // Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/"));
    let value = HeaderValue::try_from(etag).expect("hex is a valid header value");
    head.headers.insert(header::ETAG, value);
    if matched {
        head.status = StatusCode::NOT_MODIFIED;
        head.headers.remove(header::CONTENT_LENGTH);
        head.headers.remove(header::CONTENT_TYPE);
        return Response::from_parts(head, Body::empty());
    }
    Response::from_parts(head, Body::from(bytes))
}

/// `W/"` + 32 hex digits of the body's SHA-256 + `"`. Weak, because
/// compression may send other bytes for the same answer.
fn etag(body: &[u8]) -> String {
    let d = digest(&SHA256, body);
    let mut s = String::with_capacity(36);
    s.push_str("W/\"");
    for b in &d.as_ref()[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s.push('"');
    s
}
