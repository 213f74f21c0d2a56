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
    pub errors: Vec<ErrorEntry>,
}

/// One entry of a problem's `errors`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ErrorEntry {
    /// A sentence.
    Text(String),
    /// What is wrong, and where in the request (RFC 9457 §3.2's example):
    /// a JSON pointer into `{"path": …, "query": …, "body": …}`.
    At {
        /// What is wrong.
        detail: String,
        /// Where: `/query/page`, `/body/items/0/quantity`.
        pointer: String,
    },
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
        self.errors = errors.into_iter().map(ErrorEntry::Text).collect();
        self
    }

    /// Adds what is wrong with the request, each where it is.
    pub fn violations(mut self, violations: Vec<(String, String)>) -> Self {
        self.errors = violations
            .into_iter()
            .map(|(pointer, detail)| ErrorEntry::At { detail, pointer })
            .collect();
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

/// Every way the BFF answers other than as asked, by kind: the one table
/// from what went wrong to its status, problem detail and the headers that
/// go with it. Stages return their own typed errors; where they become an
/// answer they become one of these.
#[derive(Debug, Clone)]
pub(crate) enum Refusal {
    /// 404: no endpoint or route owns the path.
    NotFound,
    /// 405: the path is known, the method is not; `allow`, when known,
    /// lists the methods that are.
    MethodNotAllowed {
        detail: String,
        allow: Option<HeaderValue>,
    },
    /// 400: a request the BFF cannot read.
    BadRequest(String),
    /// 401, with the challenge of the scheme that was not met.
    Unauthenticated {
        detail: String,
        challenge: Option<HeaderValue>,
    },
    /// 403: an identity without what is required, or a change not allowed.
    Forbidden(String),
    /// 413: a body past its limit.
    TooLarge(String),
    /// 415: a body in a format the endpoint does not read.
    UnsupportedMediaType(String),
    /// 422: a request understood but refused, with each reason.
    Unprocessable { detail: String, errors: Vec<String> },
    /// 400 (parameters) or 422 (body): the request is not what the
    /// endpoint's `request:` says; each violation with its JSON pointer.
    Invalid {
        status: StatusCode,
        violations: Vec<(String, String)>,
    },
    /// 429: a limit of the caller; retry after that many seconds.
    TooManyRequests { detail: String, retry_after: u64 },
    /// 503: shed load, an open circuit, keys or a store not ready; retry
    /// after that many seconds, when known; `call` names the call of a
    /// composition that was not sent.
    Unavailable {
        detail: String,
        retry_after: Option<u64>,
        call: Option<String>,
    },
    /// 502: a service failed; `call` names the call of a composition.
    BadGateway {
        detail: String,
        call: Option<String>,
    },
    /// 504: a service or the endpoint's deadline ran out of time.
    Timeout {
        detail: String,
        call: Option<String>,
    },
    /// A service's own status, passed on for a call that forwards it.
    Forwarded {
        status: StatusCode,
        detail: String,
        call: String,
    },
    /// 400 for a request that cannot be read as HTTP at all.
    Unparsable,
    /// 408: the request head did not arrive in time.
    HeadTimeout,
    /// 431: a request head larger than the BFF accepts.
    HeadTooLarge,
    /// 500: a fault of the BFF itself; the cause is logged, not shown.
    Internal,
    /// 500 whose detail says what in the spec does not fit.
    Misfit(String),
}

impl Refusal {
    /// The problem this refusal answers with.
    pub(crate) fn problem(&self) -> Problem {
        let with = |status: StatusCode, detail: &str| {
            Problem::new(status, "about:blank").detail(detail.to_owned())
        };
        // A composition's refusal names the call behind it, when one is.
        let naming = |p: Problem, call: &Option<String>| Problem {
            call: call.clone(),
            ..p
        };
        match self {
            Self::NotFound => Problem::not_found(),
            Self::MethodNotAllowed { detail, .. } => with(StatusCode::METHOD_NOT_ALLOWED, detail),
            Self::BadRequest(d) => with(StatusCode::BAD_REQUEST, d),
            Self::Unauthenticated { detail, .. } => with(StatusCode::UNAUTHORIZED, detail),
            Self::Forbidden(d) => with(StatusCode::FORBIDDEN, d),
            Self::TooLarge(d) => with(StatusCode::PAYLOAD_TOO_LARGE, d),
            Self::UnsupportedMediaType(d) => with(StatusCode::UNSUPPORTED_MEDIA_TYPE, d),
            Self::Unprocessable { detail, errors } => {
                with(StatusCode::UNPROCESSABLE_ENTITY, detail).errors(errors.clone())
            }
            Self::Invalid { status, violations } => {
                let detail = match violations.len() {
                    1 => "the request breaks a rule of this endpoint".to_owned(),
                    n => format!("the request breaks {n} rules of this endpoint"),
                };
                with(*status, &detail).violations(violations.clone())
            }
            Self::TooManyRequests { detail, .. } => with(StatusCode::TOO_MANY_REQUESTS, detail),
            Self::Unavailable { detail, call, .. } => {
                naming(with(StatusCode::SERVICE_UNAVAILABLE, detail), call)
            }
            Self::BadGateway { detail, call } => {
                naming(with(StatusCode::BAD_GATEWAY, detail), call)
            }
            Self::Timeout { detail, call } => {
                naming(with(StatusCode::GATEWAY_TIMEOUT, detail), call)
            }
            Self::Forwarded {
                status,
                detail,
                call,
            } => with(*status, detail).call(call.clone()),
            Self::Unparsable => with(
                StatusCode::BAD_REQUEST,
                "the request could not be parsed as HTTP",
            ),
            Self::HeadTimeout => with(
                StatusCode::REQUEST_TIMEOUT,
                "the request head did not arrive in time",
            ),
            Self::HeadTooLarge => with(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request head is larger than this BFF accepts",
            ),
            Self::Internal => Problem::internal(),
            Self::Misfit(d) => with(StatusCode::INTERNAL_SERVER_ERROR, d),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = self.problem().into_response();
        let headers = response.headers_mut();
        match self {
            Self::MethodNotAllowed {
                allow: Some(allow), ..
            } => {
                headers.insert(header::ALLOW, allow);
            }
            Self::Unauthenticated {
                challenge: Some(c), ..
            } => {
                headers.insert(header::WWW_AUTHENTICATE, c);
            }
            Self::TooManyRequests { retry_after, .. }
            | Self::Unavailable {
                retry_after: Some(retry_after),
                ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            // What a client that asked for another format needs to see
            // why this one failed must not be kept.
            Self::Misfit(_) => {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_carries_its_status_and_the_headers_that_go_with_it() {
        let r = Refusal::TooManyRequests {
            detail: "slow down".to_owned(),
            retry_after: 7,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let r = Refusal::Unavailable {
            detail: "busy".to_owned(),
            retry_after: None,
            call: Some("a".to_owned()),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!r.headers().contains_key(header::RETRY_AFTER));
        let r = Refusal::Unauthenticated {
            detail: "no".to_owned(),
            challenge: Some(HeaderValue::from_static("Bearer")),
        }
        .into_response();
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = Refusal::Misfit("x".to_owned()).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let p = Refusal::Forwarded {
            status: StatusCode::NOT_FOUND,
            detail: "gone".to_owned(),
            call: "item".to_owned(),
        }
        .problem();
        assert_eq!((p.status, p.call.as_deref()), (404, Some("item")));
        assert_eq!(
            Refusal::HeadTooLarge.problem().title,
            "Request Header Fields Too Large"
        );
    }

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
