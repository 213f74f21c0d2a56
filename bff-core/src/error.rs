//! Errors as HTTP responses: every failure a client sees is an RFC 9457
//! `application/problem+json` body, built in this one place so internals
//! (upstream URLs, bodies, Rust error texts) never leak.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem detail.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Short, human-readable summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The call of the composition that caused the problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// Each of several errors, when there are several (an extension member).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Problem {
    /// A problem with the canonical reason phrase as its title.
    pub fn new(status: StatusCode, kind: &'static str) -> Self {
        Self {
            kind,
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            call: None,
            errors: Vec::new(),
        }
    }

    /// Adds a human-readable explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Names the call of the composition that caused the problem.
    pub fn call(mut self, call: impl Into<String>) -> Self {
        self.call = Some(call.into());
        self
    }

    /// Lists the individual errors behind the problem.
    pub fn errors(mut self, errors: Vec<String>) -> Self {
        self.errors = errors;
        self
    }

    /// 404 for a path no endpoint or route owns.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "about:blank").detail("no endpoint matches this path")
    }

    /// 403 for an identity that lacks what the endpoint or route requires.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "about:blank").detail(why)
    }

    /// 400 for a request the BFF cannot read.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "about:blank").detail(detail)
    }

    /// 500 for a fault of the BFF itself; the cause is logged, not shown.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "about:blank")
            .detail("the gateway failed to build the response")
    }

    /// The status as an `http` type.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serializes_rfc9457_members() {
        let p = Problem::new(StatusCode::BAD_GATEWAY, "about:blank")
            .detail("call `reviews` failed")
            .call("reviews");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Bad Gateway");
        assert_eq!(v["status"], 502);
        assert_eq!(v["call"], "reviews");
    }
}
