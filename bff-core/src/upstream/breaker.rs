//! A circuit breaker per service: it opens when the share of failed calls
//! over a rolling window passes a threshold (after a minimum number of
//! calls), fails calls at once while open, lets one probe through after
//! `open_for` (half-open), and closes when the probe succeeds.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;

const BUCKETS: u32 = 10;

/// What the breaker lets through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Calls pass.
    Closed,
    /// Calls fail at once.
    Open,
    /// One probe is out; the others fail at once.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: State,
    opened_at: Instant,
    /// (bucket start, calls, failures), oldest first.
    buckets: Vec<(Instant, u32, u32)>,
}

/// A circuit breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
    service: String,
}

impl Breaker {
    /// A closed breaker for the named service.
    pub(crate) fn new(config: BreakerConfig, service: &str) -> Self {
        Self {
            service: service.to_owned(),
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                opened_at: Instant::now(),
                buckets: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state now (an open breaker past `open_for` reads half-open).
    pub(crate) fn state(&self) -> State {
        let inner = self.lock();
        match inner.state {
            State::Open if inner.opened_at.elapsed() >= self.config.open_for => State::HalfOpen,
            s => s,
        }
    }

    /// Whether a call may go out; an open breaker past `open_for` lets
    /// exactly one probe through.
    pub(crate) fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => true,
            State::HalfOpen => false,
            State::Open => {
                if inner.opened_at.elapsed() >= self.config.open_for {
                    inner.state = State::HalfOpen;
                    self.publish(State::HalfOpen);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Records a call's outcome.
    pub(crate) fn record(&self, ok: bool) {
        let mut inner = self.lock();
        match inner.state {
            State::HalfOpen => {
                if ok {
                    inner.state = State::Closed;
                    inner.buckets.clear();
                    tracing::info!(service = %self.service, "circuit closed");
                } else {
                    inner.state = State::Open;
                    inner.opened_at = Instant::now();
                }
                self.publish(inner.state);
                return;
            }
            State::Open => return,
            State::Closed => {}
        }
        let now = Instant::now();
        let width = self.config.window / BUCKETS;
        let window = self.config.window;
        inner
            .buckets
            .retain(|(start, _, _)| now.duration_since(*start) < window);
        match inner.buckets.last_mut() {
            Some((start, calls, failures)) if now.duration_since(*start) < width => {
                *calls += 1;
                *failures += u32::from(!ok);
            }
            _ => inner.buckets.push((now, 1, u32::from(!ok))),
        }
        let (calls, failures) = inner
            .buckets
            .iter()
            .fold((0, 0), |(c, f), b| (c + b.1, f + b.2));
        if calls >= self.config.min_requests
            && f64::from(failures) >= self.config.failure_rate * f64::from(calls)
        {
            inner.state = State::Open;
            inner.opened_at = now;
            tracing::warn!(service = %self.service, calls, failures, "circuit opened");
            self.publish(State::Open);
        }
    }

    fn publish(&self, state: State) {
        let open = if state == State::Closed { 0.0 } else { 1.0 };
        metrics::gauge!("bff_circuit_open", "service" => self.service.clone()).set(open);
    }

    /// How long until an open breaker lets a probe through.
    pub(crate) fn retry_in(&self) -> Duration {
        let inner = self.lock();
        self.config
            .open_for
            .saturating_sub(inner.opened_at.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        let config = BreakerConfig {
            failure_rate: 0.5,
            min_requests: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        };
        Breaker::new(config, "s")
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_the_failure_rate_probes_once_and_closes_on_success() {
        let b = breaker();
        b.record(false);
        b.record(false);
        b.record(false);
        assert_eq!(b.state(), State::Closed, "too few calls to judge");
        b.record(true);
        assert_eq!(b.state(), State::Open);
        assert!(!b.allow());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow(), "one probe");
        assert!(!b.allow(), "only one");
        b.record(false);
        assert_eq!(b.state(), State::Open, "a failed probe opens it again");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(b.allow());
        b.record(true);
        assert_eq!(b.state(), State::Closed);
        assert!(b.allow());
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_leave_the_window() {
        let b = breaker();
        b.record(false);
        b.record(false);
        tokio::time::advance(Duration::from_secs(11)).await;
        b.record(true);
        b.record(true);
        b.record(false);
        assert_eq!(b.state(), State::Closed, "1 of 3 in the window");
    }
}
