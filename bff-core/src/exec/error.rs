//! How a call can fail, and what that means for the client.

use http::StatusCode;

use super::grpc::{GrpcCode, GrpcStatus};
use super::soap::SoapFault;
use crate::error::Refusal;

/// Why one call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    /// The upstream answered with a status that is not a success.
    #[error("upstream answered {0}")]
    Status(StatusCode),
    /// The upstream could not be reached or broke the connection.
    #[error("upstream unreachable")]
    Unreachable,
    /// The call's timeout or the endpoint's deadline passed.
    #[error("upstream did not answer in time")]
    Timeout,
    /// The upstream's body is not JSON.
    #[error("upstream answer is not JSON")]
    Malformed,
    /// A template or expression of the call failed on this request's data.
    #[error("the request could not be built: {0}")]
    Input(String),
    /// The service is at its concurrency limit; the call was not sent.
    #[error("service at its limit of requests in flight")]
    Overloaded,
    /// The circuit of the named service is open; the call was not sent.
    #[error("the circuit of service `{0}` is open")]
    CircuitOpen(String),
    /// The upstream's body is larger than the service's `max_response_bytes`.
    #[error("upstream answer too large")]
    TooLarge,
    /// The service failed; its last good answer to this request stands in.
    #[error("the service failed; its last good answer stands in")]
    Stale(jaq_json::Val),
    /// A gRPC upstream answered a status other than `OK`.
    #[error("gRPC status {}: {}", .0.code.name(), .0.message)]
    Grpc(GrpcStatus),
    /// A SOAP upstream answered a `Fault`.
    #[error("SOAP fault {}: {}", .0.code, .0.message)]
    SoapFault(SoapFault),
}

impl CallError {
    /// Short machine-readable reason, used in the degraded-calls header.
    pub(crate) fn reason(&self) -> String {
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
            Self::Grpc(s) => format!(
                "grpc-{}",
                s.code.name().to_ascii_lowercase().replace('_', "-")
            ),
            Self::SoapFault(_) => "soap-fault".into(),
        }
    }

    /// The upstream's status as HTTP, which `forward_status` matches; a gRPC
    /// status by the usual gRPC-to-HTTP table.
    pub(crate) fn upstream_status(&self) -> Option<StatusCode> {
        match self {
            Self::Status(s) => Some(*s),
            Self::Grpc(s) => Some(s.code.http_status()),
            Self::SoapFault(f) => Some(f.http_status()),
            _ => None,
        }
    }

    /// Whether the service failed (rather than the request or its answer's shape).
    pub(crate) fn is_upstream_failure(&self) -> bool {
        matches!(
            self,
            Self::Unreachable | Self::Timeout | Self::CircuitOpen(_) | Self::Overloaded
        ) || matches!(self, Self::Status(s) if s.is_server_error())
            || matches!(self, Self::Grpc(s) if s.code.is_server_failure())
            || matches!(self, Self::SoapFault(f) if !f.is_sender())
    }

    /// Whether another try might succeed: the upstream failed, not the request.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable | Self::Timeout => true,
            Self::Status(s) => s.is_server_error() || *s == http::StatusCode::TOO_MANY_REQUESTS,
            // The one status gRPC itself names as safe to try again.
            Self::Grpc(s) => s.code == GrpcCode::Unavailable,
            _ => false,
        }
    }
}

/// Why an endpoint could not answer as specified.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ExecError {
    /// A required call failed.
    #[error("call `{call}`: {error}")]
    Call {
        /// The call.
        call: String,
        /// How.
        error: CallError,
    },
    /// A call's upstream status is forwarded as the endpoint's own.
    #[error("call `{call}`: upstream answered {status}, forwarded")]
    Forward {
        /// The call.
        call: String,
        /// The status.
        status: StatusCode,
        /// What the upstream said about it (a gRPC status message).
        message: Option<String>,
    },
    /// The shaping expression failed.
    #[error("the respond expression failed: {0}")]
    Shape(String),
    /// The endpoint's deadline passed.
    #[error("the endpoint's deadline passed")]
    Deadline,
}

impl ExecError {
    /// The client's view: a refusal that names the call and hides internals.
    pub(crate) fn refusal(&self) -> Refusal {
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
                    CallError::Grpc(s) => (
                        // Unavailability and timeouts pass through as the
                        // gateway's own do; any other status means the
                        // upstream could not serve a request the client
                        // cannot fix, so a bad gateway.
                        match s.code {
                            GrpcCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                            GrpcCode::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                            _ => StatusCode::BAD_GATEWAY,
                        },
                        grpc_detail(call, s),
                    ),
                    CallError::SoapFault(f) => (
                        StatusCode::BAD_GATEWAY,
                        if f.message.is_empty() {
                            format!("call `{call}` failed: SOAP fault {}", f.code)
                        } else {
                            format!("call `{call}` failed: SOAP fault {}: {}", f.code, f.message)
                        },
                    ),
                    CallError::Overloaded => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "call `{call}` not sent: its service is at its limit of requests in flight"
                        ),
                    ),
                };
                let call = Some(call.clone());
                match status {
                    StatusCode::GATEWAY_TIMEOUT => Refusal::Timeout { detail, call },
                    StatusCode::SERVICE_UNAVAILABLE => Refusal::Unavailable {
                        detail,
                        retry_after: None,
                        call,
                    },
                    _ => Refusal::BadGateway { detail, call },
                }
            }
            Self::Forward {
                call,
                status,
                message,
            } => {
                let detail = match message {
                    Some(m) if !m.is_empty() => {
                        format!("call `{call}` answered {}: {m}", status.as_u16())
                    }
                    _ => format!("call `{call}` answered {}", status.as_u16()),
                };
                Refusal::Forwarded {
                    status: *status,
                    detail,
                    call: call.clone(),
                }
            }
            Self::Shape(_) => Refusal::Internal,
            Self::Deadline => Refusal::Timeout {
                detail: "the endpoint's deadline passed".to_owned(),
                call: None,
            },
        }
    }
}

fn grpc_detail(call: &str, s: &GrpcStatus) -> String {
    if s.message.is_empty() {
        format!("call `{call}` failed: gRPC status {}", s.code.name())
    } else {
        format!(
            "call `{call}` failed: gRPC status {}: {}",
            s.code.name(),
            s.message
        )
    }
}
