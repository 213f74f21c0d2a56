//! What a limited response says: the IETF `RateLimit` and
//! `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers-10:
//! `"name";q=<quota>;w=<window s>` and `"name";r=<remaining>;t=<reset s>`),
//! the customary `X-RateLimit-Limit/-Remaining/-Reset`, Kong-style
//! `X-RateLimit-Limit-Day`/`-Remaining-Day` for quotas, and on refusal a
//! `429` problem with `Retry-After`.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use super::Verdict;
use crate::config::QuotaWindow;
use crate::error::Refusal;

/// Whole seconds, rounded up: a client waiting this long is never early.
fn secs_up(us: u64) -> u64 {
    us.div_ceil(1_000_000)
}

/// The label of a quota window, and its length now (a month's is that
/// month's own: 28 to 31 days).
fn window_name(w: QuotaWindow) -> (&'static str, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let label = match w {
        QuotaWindow::Hour => "Hour",
        QuotaWindow::Day => "Day",
        QuotaWindow::Month => "Month",
    };
    (label, super::window::length(w, now))
}

/// Adds the rate-limit fields of a verdict to a response's headers.
pub(crate) fn apply(verdict: &Verdict, headers: &mut HeaderMap) {
    let Some(o) = verdict.outcome else {
        return;
    };
    let (burst, window) = verdict.gcra;
    let name = &verdict.policy;
    let remaining = verdict.remaining();
    let reset = secs_up(o.reset_us);
    let mut policy = format!("\"{name}\";q={burst};w={}", window.as_secs().max(1));
    let mut state = format!("\"{name}\";r={remaining};t={reset}");
    let mut put = |k: &str, v: String| {
        if let (Ok(k), Ok(v)) = (header::HeaderName::try_from(k), HeaderValue::try_from(v)) {
            headers.insert(k, v);
        }
    };
    put("x-ratelimit-limit", burst.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-reset", reset.to_string());
    if let Some((limit, w)) = verdict.quota {
        let (label, secs) = window_name(w);
        let left = limit.saturating_sub(o.quota_used);
        policy.push_str(&format!(", \"{name}-quota\";q={limit};w={secs}"));
        state.push_str(&format!(
            ", \"{name}-quota\";r={left};t={}",
            secs_up(o.quota_reset_us)
        ));
        put(&format!("x-ratelimit-limit-{label}"), limit.to_string());
        put(&format!("x-ratelimit-remaining-{label}"), left.to_string());
    }
    put("ratelimit-policy", policy);
    put("ratelimit", state);
}

/// The `429` for a refused request, with every field of [`apply`].
pub(crate) fn refusal(verdict: &Verdict) -> Response {
    if verdict.store_down {
        return unavailable(&format!(
            "rate limit `{}` cannot be checked right now",
            verdict.policy
        ));
    }
    let o = verdict.outcome.expect("a refusal has an outcome");
    let retry = secs_up(o.retry_after_us).max(1);
    let detail = match (o.by_quota, verdict.quota) {
        (true, Some((limit, w))) => format!(
            "the quota of {limit} requests per {} is used up; it renews in {retry} s",
            window_name(w).0.to_ascii_lowercase()
        ),
        _ => format!(
            "rate limit `{}` exceeded: at most {} requests at once, then one every {} ms; retry in {retry} s",
            verdict.policy,
            verdict.gcra.0,
            verdict.gcra.1.as_millis() / u128::from(verdict.gcra.0.max(1))
        ),
    };
    let mut r = Refusal::TooManyRequests {
        detail,
        retry_after: retry,
    }
    .into_response();
    apply(verdict, r.headers_mut());
    r
}

/// A `503` with `Retry-After: 1`: shed load, or a store that must answer.
pub(crate) fn unavailable(detail: &str) -> Response {
    Refusal::Unavailable {
        detail: detail.to_owned(),
        retry_after: Some(1),
        call: None,
    }
    .into_response()
}
