//! Retries: only where safe, with exponential backoff and full jitter, an
//! upstream's `Retry-After` honoured, and a budget (a share of recent
//! calls) so that retries never multiply an outage.

use std::sync::Mutex;
use std::time::Duration;

use http::{HeaderMap, Method};
use tokio::time::Instant;

use crate::config::RetryConfig;

/// The budget is counted over this window, in one-second buckets.
const WINDOW_SECS: u64 = 10;

/// A service's retry policy and budget.
#[derive(Debug)]
pub(crate) struct Retry {
    config: RetryConfig,
    /// Per second of the window: (second, calls, retries).
    counts: Mutex<Vec<(u64, u32, u32)>>,
    epoch: Instant,
}

impl Retry {
    /// A policy with an empty budget window.
    pub(crate) fn new(config: RetryConfig) -> Self {
        Self {
            config,
            counts: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    /// Retries after the first try.
    pub(crate) fn attempts(&self) -> u32 {
        self.config.attempts
    }

    /// Whether a request may be sent twice: an idempotent method, or an
    /// `Idempotency-Key` header.
    pub(crate) fn is_safe(method: &Method, headers: &HeaderMap) -> bool {
        matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        ) || headers.contains_key("idempotency-key")
    }

    fn bump(&self, retry: bool) -> (u32, u32) {
        let second = self.epoch.elapsed().as_secs();
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.retain(|(s, _, _)| second - s < WINDOW_SECS);
        match counts.last_mut() {
            Some((s, calls, retries)) if *s == second => {
                *calls += u32::from(!retry);
                *retries += u32::from(retry);
            }
            _ => counts.push((second, u32::from(!retry), u32::from(retry))),
        }
        counts.iter().fold((0, 0), |(c, r), (_, calls, retries)| {
            (c + calls, r + retries)
        })
    }

    /// Counts a first try.
    pub(crate) fn record_call(&self) {
        self.bump(false);
    }

    /// Takes a retry from the budget, if it has one.
    pub(crate) fn take(&self) -> bool {
        let (calls, retries) = self.bump(true);
        #[allow(clippy::cast_precision_loss)]
        let allowed = self.config.budget * f64::from(calls)
            + f64::from(self.config.min_per_second) * WINDOW_SECS as f64;
        if f64::from(retries) <= allowed {
            true
        } else {
            // Not taken after all.
            let mut counts = self
                .counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(last) = counts.last_mut() {
                last.2 = last.2.saturating_sub(1);
            }
            false
        }
    }

    /// The wait before retry `n` (0-based): random in [0, base × 2^n),
    /// at most `max_backoff`; an upstream's `Retry-After` instead when it
    /// gave one, or `None` when that is longer than `max_backoff`.
    pub(crate) fn backoff(&self, n: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(after) = retry_after {
            return (after <= self.config.max_backoff).then_some(after);
        }
        let ceiling = self
            .config
            .backoff
            .saturating_mul(1 << n.min(16))
            .min(self.config.max_backoff);
        let us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Some(Duration::from_micros(fastrand::u64(0..us.max(1))))
    }
}

/// An upstream's `Retry-After` in seconds (dates are not honoured).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(budget: f64, min_per_second: u32) -> Retry {
        Retry::new(RetryConfig {
            attempts: 3,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            budget,
            min_per_second,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_caps_retries_at_a_share_of_calls() {
        let r = retry(0.2, 0);
        for _ in 0..100 {
            r.record_call();
        }
        let granted = (0..100).filter(|_| r.take()).count();
        assert_eq!(granted, 20);
        // Ten seconds later the old calls no longer pay for retries.
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(!r.take());
    }

    #[test]
    fn backoff_is_jittered_below_an_exponential_ceiling() {
        let r = retry(0.2, 3);
        for n in 0..6 {
            let ceiling = Duration::from_millis((10 << n).min(100));
            let d = r.backoff(n, None).unwrap();
            assert!(d < ceiling, "{d:?} >= {ceiling:?}");
        }
        assert_eq!(
            r.backoff(0, Some(Duration::ZERO)),
            Some(Duration::ZERO),
            "Retry-After wins"
        );
        assert_eq!(r.backoff(0, Some(Duration::from_secs(30))), None);
    }

    #[test]
    fn only_safe_requests_are_retried() {
        let mut h = HeaderMap::new();
        assert!(Retry::is_safe(&Method::GET, &h));
        assert!(Retry::is_safe(&Method::PUT, &h));
        assert!(!Retry::is_safe(&Method::POST, &h));
        h.insert("idempotency-key", "k-1".parse().unwrap());
        assert!(Retry::is_safe(&Method::POST, &h));
    }
}
