//! gRPC on the wire, for unary calls over the ordinary upstream clients: a
//! message in a 5-byte length-prefixed frame, the deadline in
//! `grpc-timeout`, the outcome in `grpc-status`/`grpc-message` (trailers,
//! or headers when the answer is trailers-only). Speaking the framing
//! directly keeps gRPC calls on the same instances, balancing, breakers,
//! retries and deadlines as every other call.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper::body::Incoming;
use jaq_json::Val;

use super::error::CallError;
use crate::plan::GrpcMethod;

/// Content type of gRPC requests and answers (protobuf messages).
pub(super) const CONTENT_TYPE: &str = "application/grpc";

/// Largest value `grpc-timeout` can carry: eight digits.
const MAX_TIMEOUT_VALUE: u128 = 99_999_999;

/// A gRPC status code (the `grpc-status` values of the gRPC spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrpcCode {
    Ok,
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

/// A failed gRPC call's status, as the server sent it.
#[derive(Debug, Clone)]
pub(crate) struct GrpcStatus {
    /// `grpc-status`.
    pub code: GrpcCode,
    /// `grpc-message`, percent-decoded.
    pub message: String,
}

impl GrpcCode {
    const ALL: [Self; 17] = [
        Self::Ok,
        Self::Cancelled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// The code of a `grpc-status` value; codes the spec does not define
    /// count as `UNKNOWN`, as gRPC clients treat them.
    pub(crate) fn from_header(v: &HeaderValue) -> Self {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .and_then(|n| Self::ALL.get(n).copied())
            .unwrap_or(Self::Unknown)
    }

    /// The name in the gRPC spec, e.g. `NOT_FOUND`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Cancelled => "CANCELLED",
            Self::Unknown => "UNKNOWN",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Aborted => "ABORTED",
            Self::OutOfRange => "OUT_OF_RANGE",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::DataLoss => "DATA_LOSS",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The HTTP status a gRPC-to-HTTP gateway answers for the code (the
    /// table of grpc-gateway and Envoy), which `forward_status` matches.
    pub(crate) fn http_status(self) -> StatusCode {
        match self {
            Self::Ok => StatusCode::OK,
            Self::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_GATEWAY),
            Self::InvalidArgument | Self::FailedPrecondition | Self::OutOfRange => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Aborted => StatusCode::CONFLICT,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Self::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Self::Unknown | Self::Internal | Self::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the server, not the request, failed: counts against the
    /// instance's health and lets a last good answer stand in.
    pub(crate) fn is_server_failure(self) -> bool {
        matches!(
            self,
            Self::Unknown
                | Self::DeadlineExceeded
                | Self::Internal
                | Self::Unavailable
                | Self::DataLoss
        )
    }
}

/// One message in a gRPC frame: uncompressed flag, big-endian length, bytes.
pub(crate) fn frame(message: &[u8]) -> Result<Vec<u8>, CallError> {
    let len = u32::try_from(message.len())
        .map_err(|_| CallError::Input("the gRPC request message is over 4 GiB".into()))?;
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(len);
    out.put_slice(message);
    Ok(out.to_vec())
}

/// Why an answer is not one unary gRPC frame.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    /// Fewer bytes than a frame's header; holds how many.
    #[error("{0} bytes are no gRPC frame")]
    Short(usize),
    #[error("the answer is compressed, which was not offered")]
    Compressed,
    /// The header's length is not what follows it.
    #[error("a unary answer holds one message of {len} bytes, got {got} bytes")]
    Length { len: usize, got: usize },
}

/// The one message of a unary answer. Compressed frames are refused: no
/// `grpc-accept-encoding` is offered, so a server may not send them.
fn unframe(body: &[u8]) -> Result<&[u8], FrameError> {
    let [flag, a, b, c, d, rest @ ..] = body else {
        return Err(FrameError::Short(body.len()));
    };
    if *flag != 0 {
        return Err(FrameError::Compressed);
    }
    let len = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
    if rest.len() != len {
        return Err(FrameError::Length {
            len,
            got: rest.len(),
        });
    }
    Ok(rest)
}

/// `grpc-timeout` for the time left, in whole milliseconds rounded up (the
/// format allows eight digits; longer waits go in seconds).
pub(super) fn timeout_header(left: Duration) -> HeaderValue {
    let millis = left.as_micros().div_ceil(1000).max(1);
    let text = if millis <= MAX_TIMEOUT_VALUE {
        format!("{millis}m")
    } else {
        format!("{}S", left.as_secs().min(MAX_TIMEOUT_VALUE as u64))
    };
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("1m"))
}

/// The status in `grpc-status`/`grpc-message` of a header or trailer block.
fn status(block: &HeaderMap) -> Option<GrpcStatus> {
    let code = GrpcCode::from_header(block.get("grpc-status")?);
    let message = block
        .get("grpc-message")
        .map(|m| {
            percent_encoding::percent_decode(m.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    Some(GrpcStatus { code, message })
}

/// Reads a unary answer: its message as JSON (proto3 mapping), or the
/// failure its status, HTTP status or framing tells.
pub(super) async fn read(
    call: &str,
    method: &GrpcMethod,
    resp: http::Response<Incoming>,
    limit: usize,
) -> Result<Val, CallError> {
    let (head, body) = resp.into_parts();
    // Trailers-only: the status came with the headers and no body follows.
    let early = status(&head.headers);
    if early.is_none() && head.status != StatusCode::OK {
        tracing::info!(
            call,
            status = head.status.as_u16(),
            "gRPC upstream answered an HTTP error"
        );
        return Err(CallError::Status(head.status));
    }
    let collected = match early {
        Some(_) => None,
        None => Some(super::tries::collect_body(call, body, limit).await?),
    };
    let outcome = early.or_else(|| collected.as_ref()?.trailers().and_then(status));
    let Some(outcome) = outcome else {
        tracing::warn!(call, "gRPC answer without grpc-status");
        return Err(CallError::Malformed);
    };
    if outcome.code != GrpcCode::Ok {
        tracing::info!(call, code = outcome.code.name(), message = %outcome.message, "gRPC upstream answered an error");
        return Err(CallError::Grpc(outcome));
    }
    let bytes: Bytes = collected.map(|c| c.to_bytes()).unwrap_or_default();
    let message = unframe(&bytes).map_err(|e| {
        tracing::warn!(call, error = %e, "malformed gRPC answer");
        CallError::Malformed
    })?;
    let json = crate::proto::decode_json(&method.output, message).map_err(|e| {
        tracing::warn!(call, error = %e, message = method.output.full_name(), "gRPC answer does not decode");
        CallError::Malformed
    })?;
    crate::value::parse(&json).map_err(|_| CallError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let framed = frame(b"abc").unwrap();
        assert_eq!(framed, [0, 0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(unframe(&framed).unwrap(), b"abc");
        assert_eq!(unframe(&[0, 0, 0, 0, 0]).unwrap(), b"");
        assert!(unframe(&[0, 0, 0]).is_err());
        assert!(unframe(&[1, 0, 0, 0, 1, 9]).is_err(), "compressed");
        assert!(
            unframe(&[0, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0]).is_err(),
            "two messages"
        );
    }

    #[test]
    fn timeouts_use_the_grpc_format() {
        assert_eq!(timeout_header(Duration::from_millis(250)), "250m");
        assert_eq!(timeout_header(Duration::from_micros(1)), "1m");
        assert_eq!(timeout_header(Duration::from_micros(1500)), "2m");
        assert_eq!(timeout_header(Duration::from_secs(200_000)), "200000S");
    }

    #[test]
    fn statuses_are_read_and_mapped() {
        let mut h = HeaderMap::new();
        assert!(status(&h).is_none());
        h.insert("grpc-status", HeaderValue::from_static("5"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static("no%20such%20product"),
        );
        let s = status(&h).unwrap();
        assert_eq!(s.code, GrpcCode::NotFound);
        assert_eq!(s.message, "no such product");
        assert_eq!(s.code.http_status(), StatusCode::NOT_FOUND);
        h.insert("grpc-status", HeaderValue::from_static("99"));
        assert_eq!(status(&h).unwrap().code, GrpcCode::Unknown);
        assert_eq!(GrpcCode::Unavailable.http_status(), 503);
        assert_eq!(GrpcCode::DeadlineExceeded.http_status(), 504);
        assert_eq!(GrpcCode::FailedPrecondition.http_status(), 400);
        assert_eq!(GrpcCode::ResourceExhausted.http_status(), 429);
        assert_eq!(GrpcCode::Unimplemented.http_status(), 501);
        assert_eq!(GrpcCode::ALL[14], GrpcCode::Unavailable);
    }
}
