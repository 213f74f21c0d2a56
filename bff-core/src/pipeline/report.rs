//! What a composed request leaves behind for operators: each call's time
//! and outcome for the request log, and the per-call latency and error
//! metrics, for successful and failed requests alike.

use crate::exec::{self, Outcome};
use crate::plan::Endpoint;

/// Each call's latency, and its failures, by endpoint and call.
pub(super) fn record_calls(endpoint: &Endpoint, outcome: &Outcome) {
    let id = endpoint.id();
    for (name, took) in &outcome.timings {
        metrics::histogram!("bff_call_duration_seconds", "endpoint" => id.clone(), "call" => name.clone())
            .record(took.as_secs_f64());
    }
    for d in &outcome.degraded {
        metrics::counter!("bff_call_errors_total", "endpoint" => id.clone(), "call" => d.call.clone(), "outcome" => d.reason.clone()).increment(1);
    }
}

/// Each call's time and outcome, for the log line.
pub(super) fn call_report(outcome: &Outcome) -> crate::access_log::CallReport {
    let calls = outcome
        .timings
        .iter()
        .map(|(name, took)| crate::access_log::CallLog {
            name: name.clone(),
            ms: crate::access_log::ms(*took),
            outcome: outcome
                .degraded
                .iter()
                .find(|d| &d.call == name)
                .map_or_else(|| "ok".to_owned(), |d| d.reason.clone()),
        })
        .collect();
    crate::access_log::CallReport(calls)
}

/// Every call of a failed request with its real time and outcome, for the
/// log line.
pub(super) fn failed_calls(failure: &exec::Failure) -> crate::access_log::CallReport {
    crate::access_log::CallReport(
        failure
            .calls
            .iter()
            .map(|(name, took, outcome)| crate::access_log::CallLog {
                name: name.clone(),
                ms: crate::access_log::ms(*took),
                outcome: outcome.clone(),
            })
            .collect(),
    )
}

/// The calls of a failed request in the metrics: each one's time, and an
/// error for each that failed (not for those cancelled once the answer was
/// decided).
pub(super) fn record_failed_calls(endpoint: &Endpoint, failure: &exec::Failure) {
    let id = endpoint.id();
    for (name, took, outcome) in &failure.calls {
        metrics::histogram!("bff_call_duration_seconds", "endpoint" => id.clone(), "call" => name.clone())
            .record(took.as_secs_f64());
        if outcome != "ok" && outcome != "cancelled" {
            metrics::counter!("bff_call_errors_total", "endpoint" => id.clone(), "call" => name.clone(), "outcome" => outcome.clone()).increment(1);
        }
    }
}
