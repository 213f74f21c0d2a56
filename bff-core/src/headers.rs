//! The headers the BFF itself adds to answers, or treats specially in
//! requests, named in one place for every stage and every binary.

/// Set on an answer some optional calls of which fell back.
pub const PARTIAL: &str = "bff-partial";

/// Lists the calls that fell back and why (`name;reason=timeout, …`).
pub const DEGRADED: &str = "bff-degraded";

/// Carries the request id, to upstreams and back to the client.
pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// Headers that name one request rather than what it asks: never part of
/// a cache key or a `Vary` match.
pub(crate) const PER_REQUEST: [&str; 3] = ["x-request-id", "traceparent", "tracestate"];
