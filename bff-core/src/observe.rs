//! What is noted of every request the public listener answers, once, at
//! the edge: its count and time in the metrics and the dashboard's
//! traffic, and its line in the request log. The endpoint or route that
//! answers names itself through [`Answered`]; a request answered before or
//! without routing (an unknown path, another method, a refusal at the
//! edge, a CORS preflight, load shedding) is [`UNROUTED`].
//!
//! Every label stays within a set the specs fix, whatever clients send:
//! endpoints by their declared method and path template, routes by prefix,
//! and methods outside RFC 9110's and PATCH as `other`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method};

use crate::access_log::{self, CallReport, Subject};

/// The `endpoint` of requests no endpoint or route answered.
pub(crate) const UNROUTED: &str = "unrouted";

/// What the endpoint or route that answers a request tells the edge: its
/// name for labels and the log, and the trace the request belongs to.
#[derive(Debug, Default)]
pub(crate) struct Answered {
    what: OnceLock<String>,
    trace_id: OnceLock<String>,
}

impl Answered {
    /// Names what answered; the first name given stands.
    pub(crate) fn set(&self, what: &str, trace_id: Option<String>) {
        let _ = self.what.set(what.to_owned());
        if let Some(t) = trace_id {
            let _ = self.trace_id.set(t);
        }
    }

    /// The note the edge put on a request, if it passed the edge.
    pub(crate) fn of(req: &Request) -> Option<Arc<Self>> {
        req.extensions().get::<Arc<Self>>().cloned()
    }
}

/// The `method` label: the methods of RFC 9110 and PATCH by name, any other
/// (a client may send any token) as `other`, so clients cannot add series.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A request as the edge let it in, until its answer leaves.
pub(crate) struct Arrival {
    started: Instant,
    method: Method,
    /// Only when something records requests.
    answered: Option<Arc<Answered>>,
    /// Only when the request log is on: it costs allocations.
    logged: Option<Logged>,
}

struct Logged {
    request_id: String,
    path: String,
    client: Option<String>,
    /// The client's trace context, for the line of a request no endpoint
    /// or route traced.
    traceparent: Option<http::HeaderValue>,
}

impl Arrival {
    /// Notes the request (with its final path) and gives it the
    /// [`Answered`] the endpoint or route fills, when the request log or
    /// the metrics want it.
    pub(crate) fn new(req: &mut Request, request_id: &str, access_log: bool) -> Self {
        let answered = (access_log || crate::dashboard_counts::enabled()).then(|| {
            let answered = Arc::new(Answered::default());
            req.extensions_mut().insert(answered.clone());
            answered
        });
        let logged = access_log.then(|| Logged {
            request_id: request_id.to_owned(),
            path: req.uri().path().to_owned(),
            client: crate::ratelimit::peer_ip(req.extensions()).map(|ip| ip.to_string()),
            traceparent: req.headers().get("traceparent").cloned(),
        });
        Self {
            started: Instant::now(),
            method: req.method().clone(),
            answered,
            logged,
        }
    }

    /// Counts the answered request and writes its log line.
    pub(crate) fn finish(self, response: &Response) {
        let Some(answered) = &self.answered else {
            return;
        };
        let what = answered.what.get().map_or(UNROUTED, String::as_str);
        let status = response.status();
        let took = self.started.elapsed();
        if crate::dashboard_counts::enabled() {
            crate::dashboard_counts::record(what, status, took);
            if crate::metrics::enabled() {
                let labels = [
                    ("endpoint", what.to_owned()),
                    ("method", method_label(&self.method).to_owned()),
                    ("status", status.as_str().to_owned()),
                ];
                metrics::counter!("bff_requests_total", &labels).increment(1);
                metrics::histogram!("bff_request_duration_seconds", "endpoint" => what.to_owned())
                    .record(took.as_secs_f64());
            }
        }
        let Some(logged) = &self.logged else { return };
        let trace_id = answered.trace_id.get().cloned().or_else(|| {
            let tp = logged.traceparent.clone()?;
            let mut headers = HeaderMap::new();
            headers.insert("traceparent", tp);
            crate::telemetry::client_trace_id(&headers)
        });
        let report = response.extensions().get::<CallReport>();
        let sub = response.extensions().get::<Subject>();
        access_log::write(&access_log::Entry {
            ts: access_log::now(),
            request_id: &logged.request_id,
            trace_id,
            client: logged.client.clone(),
            method: self.method.as_str(),
            path: &logged.path,
            endpoint: what,
            status: status.as_u16(),
            duration_ms: access_log::ms(took),
            sub: sub.map(|s| s.0.as_str()),
            partial: response.headers().contains_key(crate::headers::PARTIAL),
            calls: report.map_or(&[], |r| r.0.as_slice()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_registered_set_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        for made_up in ["M-SEARCH", "PROPFIND", "get", "XYZZY"] {
            let m = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{made_up}");
        }
    }
}
