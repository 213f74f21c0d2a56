//! Prometheus metrics, in base units, served on the admin listener. The
//! recorder is installed once per process, and only when an admin listener
//! is configured: without one, recording is a no-op.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder (once); later calls return the same handle.
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    start_at_zero();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Whether metrics are being recorded: label values are only built then.
pub(crate) fn enabled() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// The text exposition of every metric.
pub(crate) fn render() -> String {
    match HANDLE.get().and_then(Option::as_ref) {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

/// Counts a reload attempt of the specs.
pub(crate) fn record_reload(ok: bool) {
    let result = if ok { "ok" } else { "error" };
    metrics::counter!("bff_spec_reloads_total", "result" => result).increment(1);
    if ok {
        record_loaded(std::time::SystemTime::now());
    }
}

/// When the specs serving were loaded: at start, then at each reload.
pub(crate) fn record_loaded(at: std::time::SystemTime) {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!("bff_spec_reload_last_success_timestamp_seconds").set(secs);
}

/// Series whose labels the code fixes exist from the start, at zero:
/// Prometheus' `increase()` and `rate()` see nothing of a series' first
/// sample, so a counter born at 1 would hide the first refused reload or
/// shed request from every alert.
fn start_at_zero() {
    for result in ["ok", "error"] {
        metrics::counter!("bff_spec_reloads_total", "result" => result).increment(0);
    }
    for scope in ["bff", "service"] {
        metrics::counter!("bff_shed_total", "scope" => scope).increment(0);
    }
    metrics::counter!("bff_cache_evictions_total").increment(0);
    metrics::gauge!("bff_cache_bytes").increment(0.0);
}

/// The generation of specs now serving.
pub(crate) fn record_generation(n: u64) {
    metrics::gauge!("bff_spec_generation").set(n as f64);
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "bff_inspect_total",
        "Injections found in requests, by inspection policy, kind (sqli, xss) and action (block, detect)"
    );
    describe_counter!(
        "bff_requests_total",
        "Requests answered, by endpoint or route, method and status"
    );
    describe_histogram!(
        "bff_request_duration_seconds",
        Unit::Seconds,
        "Time to answer a request, by endpoint or route"
    );
    describe_histogram!(
        "bff_call_duration_seconds",
        Unit::Seconds,
        "Time of each call of a composed endpoint, by endpoint and call"
    );
    describe_counter!(
        "bff_call_errors_total",
        "Failed calls of composed endpoints (required or fallen back), by endpoint, call and outcome"
    );
    describe_counter!(
        "bff_upstream_requests_total",
        "Requests to upstream instances, by service, instance and outcome"
    );
    describe_histogram!(
        "bff_upstream_duration_seconds",
        Unit::Seconds,
        "Time of upstream exchanges, by service and instance"
    );
    describe_gauge!(
        "bff_circuit_open",
        "1 while a service's circuit is open or half-open"
    );
    describe_counter!(
        "bff_instance_ejections_total",
        "Outlier ejections of instances"
    );
    describe_gauge!(
        "bff_instance_healthy",
        "1 while an instance passes its active health checks"
    );
    describe_counter!("bff_retries_total", "Retried upstream calls, by service");
    describe_counter!(
        "bff_request_log_dropped_total",
        "Request log lines dropped because standard output stopped taking them"
    );
    describe_counter!(
        "bff_ratelimit_decisions_total",
        "Rate-limit decisions, by policy and result"
    );
    describe_counter!(
        "bff_ratelimit_store_errors_total",
        "Decisions the shared store could not take, by policy"
    );
    describe_counter!(
        "bff_spec_reloads_total",
        "Spec reload attempts, by result (ok, error)"
    );
    describe_gauge!(
        "bff_spec_generation",
        "Generation of the specs serving, counting loads since start"
    );
    describe_gauge!(
        "bff_spec_reload_last_success_timestamp_seconds",
        Unit::Seconds,
        "When the specs were last reloaded successfully"
    );
    describe_counter!(
        "bff_cache_requests_total",
        "Cache lookups, by service (or answers, answers-shared) and result"
    );
    describe_gauge!(
        "bff_cache_bytes",
        Unit::Bytes,
        "Bytes of cached upstream answers"
    );
    describe_counter!(
        "bff_cache_evictions_total",
        "Cached upstream answers evicted for room"
    );
    describe_counter!(
        "bff_shed_total",
        "Requests refused at a concurrency limit, by scope"
    );
    describe_gauge!(
        "bff_websocket_connections",
        "WebSocket connections being relayed, by route"
    );
    describe_counter!(
        "bff_websocket_closed_total",
        "Relayed WebSocket connections that ended, by route and reason"
    );
}
