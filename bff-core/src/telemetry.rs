//! Distributed traces. A client's W3C `traceparent`/`tracestate` is
//! accepted; with an OTLP endpoint configured, each request becomes a
//! server span and each upstream call a child client span, exported over
//! OTLP/gRPC, and upstreams receive the call's span as their parent.
//! Without one, the client's trace context is passed on unchanged, so
//! traces stay whole across the BFF either way.

use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    FutureExt as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

static TRACER: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Starts exporting spans when an OTLP endpoint is configured: the
/// `endpoint` given (from `telemetry.otlp_endpoint` in bff.yaml) or the
/// standard `OTEL_EXPORTER_OTLP_ENDPOINT`. The service name is
/// `OTEL_SERVICE_NAME` or `default_name`. Needs a Tokio runtime (the gRPC
/// channel lives on it). Returns whether spans are exported.
pub(crate) fn init(endpoint: Option<&str>, default_name: &str) -> bool {
    if TRACER.get().is_some() {
        return true;
    }
    let from_env = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    let Some(endpoint) = endpoint
        .map(str::to_owned)
        .or(from_env)
        .filter(|e| !e.trim().is_empty())
    else {
        return false;
    };
    use opentelemetry_otlp::WithExportConfig;
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(%endpoint, error = %e, "OTLP exporter not started; no traces are exported");
            return false;
        }
    };
    let name = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| default_name.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("bff");
    let _ = TRACER.set((provider, tracer));
    tracing::info!(%endpoint, service = %name, "exporting traces over OTLP");
    true
}

/// Sends the spans not yet exported; called before the process exits.
pub(crate) fn flush() {
    if let Some((provider, _)) = TRACER.get() {
        let _ = provider.force_flush();
    }
}

tokio::task_local! {
    /// The span upstream requests made now are children of.
    static CURRENT: Context;
}

/// Whether spans are exported.
pub(crate) fn exporting() -> bool {
    TRACER.get().is_some()
}

/// Whether a request needs tracing work: spans are exported, or the
/// client sent a trace context to pass on.
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    TRACER.get().is_some() || headers.contains_key(&TRACEPARENT)
}

/// The server span of a request (or the client's context, when nothing is
/// exported), child of the client's `traceparent` if it sent one.
pub(crate) fn server(name: String, headers: &HeaderMap, attributes: Vec<KeyValue>) -> Context {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    match TRACER.get() {
        Some((_, tracer)) => {
            let span = tracer
                .span_builder(name)
                .with_kind(SpanKind::Server)
                .with_attributes(attributes)
                .start_with_context(tracer, &parent);
            parent.with_span(span)
        }
        None => parent,
    }
}

/// A client span for one upstream call, child of the current request's.
pub(crate) fn client(name: String, attributes: Vec<KeyValue>) -> Option<Context> {
    let (_, tracer) = TRACER.get()?;
    let parent = CURRENT.try_with(Clone::clone).ok()?;
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// Runs `f` with `cx` as the parent of the upstream requests it makes.
pub(crate) async fn within<F: Future>(cx: Context, f: F) -> F::Output {
    CURRENT.scope(cx.clone(), f.with_context(cx)).await
}

/// Records how a span's work ended and ends it.
pub(crate) fn finish(cx: &Context, status: Option<u16>, error: Option<&str>) {
    let span = cx.span();
    if let Some(s) = status {
        span.set_attribute(KeyValue::new("http.response.status_code", i64::from(s)));
    }
    if let Some(e) = error {
        span.set_status(Status::error(e.to_owned()));
    }
    span.end();
}

/// Sets `traceparent` (and `tracestate`) on an upstream request from the
/// current span, if there is one.
pub(crate) fn inject(headers: &mut HeaderMap) {
    let _ = CURRENT.try_with(|cx| {
        if cx.span().span_context().is_valid() {
            TraceContextPropagator::new().inject_context(cx, &mut Headers(headers));
        }
    });
}

/// The trace id of the current request, for its log line.
pub(crate) fn trace_id(cx: &Context) -> Option<String> {
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The trace id of a client's `traceparent`, for the log line of a request
/// no endpoint or route traced.
pub(crate) fn client_trace_id(headers: &HeaderMap) -> Option<String> {
    trace_id(&TraceContextPropagator::new().extract(&Headers(headers)))
}

struct Headers<H>(H);

impl Extractor for Headers<&HeaderMap> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

impl Injector for Headers<&mut HeaderMap> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_trace_context_passes_on_unchanged_when_nothing_is_exported() {
        let mut incoming = HeaderMap::new();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        incoming.insert("traceparent", HeaderValue::from_static(tp));
        incoming.insert("tracestate", HeaderValue::from_static("vendor=x"));
        assert!(wanted(&incoming));
        let cx = server("GET /x".into(), &incoming, Vec::new());
        assert_eq!(trace_id(&cx).unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let upstream = within(cx, async {
            let mut h = HeaderMap::new();
            inject(&mut h);
            h
        })
        .await;
        assert_eq!(upstream["traceparent"], tp);
        assert_eq!(upstream["tracestate"], "vendor=x");
        // No context, nothing added.
        let mut h = HeaderMap::new();
        inject(&mut h);
        assert!(h.is_empty());
        assert!(!wanted(&HeaderMap::new()));
    }
}
