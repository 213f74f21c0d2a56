//! One JSON line per request on standard output: who asked for what, what
//! it got, how long it took, and what each upstream call did. Only names,
//! numbers and ids are written: never headers, query strings, bodies or
//! credentials.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

/// What each call of a composed request did, attached to its response.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallReport(pub Vec<CallLog>);

/// One call of a composed request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallLog {
    /// The call's name in the spec.
    pub name: String,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// `ok`, or why it failed (`timeout`, `status-503`, …).
    pub outcome: String,
}

/// The identity subject of a request, attached to its response.
#[derive(Debug, Clone)]
pub(crate) struct Subject(pub String);

/// One request's line.
#[derive(Serialize)]
pub(crate) struct Entry<'a> {
    /// When it was answered (RFC 3339, milliseconds).
    pub ts: String,
    /// The `X-Request-Id` it was given or brought.
    pub request_id: &'a str,
    /// The W3C trace id, when the request is traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// HTTP method.
    pub method: &'a str,
    /// The path, without its query (which may carry secrets).
    pub path: &'a str,
    /// The endpoint (`GET /v1/products/{id}`) or route prefix that answered.
    pub endpoint: &'a str,
    /// Response status.
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub duration_ms: f64,
    /// The caller's identity subject, when authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    /// Whether optional calls fell back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The calls of a composed endpoint.
    #[serde(skip_serializing_if = "<[CallLog]>::is_empty")]
    pub calls: &'a [CallLog],
}

/// Writes the line; a failing stdout (a closed pipe) loses the line, not the request.
pub(crate) fn write(entry: &Entry<'_>) {
    let Ok(mut line) = serde_json::to_vec(entry) else {
        return;
    };
    line.push(b'\n');
    let _ = std::io::stdout().lock().write_all(&line);
}

/// Milliseconds with a tenth of a millisecond's precision.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Now, as the log writes it.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
