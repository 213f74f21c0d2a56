//! How a call can fail, and what that means for the client.

use http::StatusCode;

use crate::error::Problem;

/// Why one call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The upstream answered with a status that is not a success.
    Status(StatusCode),
    /// The upstream could not be reached or broke the connection.
    Unreachable,
    /// The call's timeout or the endpoint's deadline passed.
    Timeout,
    /// The upstream's body is not JSON.
    Malformed,
    /// A template or expression of the call failed on this request's data.
    Input(String),
    /// The service is at its concurrency limit; the call was not sent.
    Overloaded,
    /// The circuit of the named service is open; the call was not sent.
    CircuitOpen(String),
    /// The upstream's body is larger than the service's `max_response_bytes`.
    TooLarge,
    /// The service failed; its last good answer to this request stands in.
    Stale(jaq_json::Val),
}

impl CallError {
    /// Short machine-readable reason, used in the degraded-calls header.
    pub fn reason(&self) -> String {
        match self {
            Self::Status(s) => format!("status-{}", s.as_u16()),
            Self::Unreachable => "unreachable".into(),
            Self::Timeout => "timeout".into(),
            Self::Malformed => "malformed".into(),
            Self::Input(_) => "input".into(),
            Self::Overloaded => "overloaded".into(),
            Self::CircuitOpen(_) => "circuit-open".into(),
            Self::TooLarge => "too-large".into(),
            Self::Stale(_) => "stale".into(),
        }
    }

    /// Whether the service failed (rather than the request or its answer's shape).
    pub fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            Self::Unreachable | Self::Timeout | Self::CircuitOpen(_) | Self::Overloaded
        ) || matches!(self, Self::Status(s) if s.is_server_error())
    }

    /// Whether another try might succeed: the upstream failed, not the request.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable | Self::Timeout => true,
            Self::Status(s) => s.is_server_error() || *s == http::StatusCode::TOO_MANY_REQUESTS,
            _ => false,
        }
    }
}

/// Why an endpoint could not answer as specified.
#[derive(Debug, Clone)]
pub enum ExecError {
    /// A required call failed.
    Call {
        /// The call.
        call: String,
        /// How.
        error: CallError,
    },
    /// A call's upstream status is forwarded as the endpoint's own.
    Forward {
        /// The call.
        call: String,
        /// The status.
        status: StatusCode,
    },
    /// The shaping expression failed.
    Shape(String),
    /// The endpoint's deadline passed.
    Deadline,
}

impl ExecError {
    /// The client's view: a problem that names the call and hides internals.
    pub fn problem(&self) -> Problem {
        match self {
            Self::Call { call, error } => {
                let (status, detail) = match error {
                    CallError::Timeout => (
                        StatusCode::GATEWAY_TIMEOUT,
                        format!("call `{call}` did not answer in time"),
                    ),
                    CallError::Status(s) => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` failed: upstream answered {}", s.as_u16()),
                    ),
                    CallError::Unreachable => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` failed: upstream unreachable"),
                    ),
                    CallError::Malformed => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` failed: upstream sent a malformed response"),
                    ),
                    CallError::Input(_) => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` could not be built from this request"),
                    ),
                    CallError::CircuitOpen(service) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "call `{call}` not sent: the circuit of service `{service}` is open"
                        ),
                    ),
                    CallError::Stale(_) => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` failed; only an old answer was at hand"),
                    ),
                    CallError::TooLarge => (
                        StatusCode::BAD_GATEWAY,
                        format!("call `{call}` failed: upstream sent a body over its size limit"),
                    ),
                    CallError::Overloaded => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "call `{call}` not sent: its service is at its limit of requests in flight"
                        ),
                    ),
                };
                Problem::new(status, "about:blank")
                    .detail(detail)
                    .call(call)
            }
            Self::Forward { call, status } => Problem::new(*status, "about:blank")
                .detail(format!("call `{call}` answered {}", status.as_u16()))
                .call(call),
            Self::Shape(_) => Problem::internal(),
            Self::Deadline => Problem::new(StatusCode::GATEWAY_TIMEOUT, "about:blank")
                .detail("the endpoint's deadline passed"),
        }
    }
}
