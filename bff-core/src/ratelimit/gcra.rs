//! The generic cell rate algorithm, as one pure function over a key's
//! theoretical arrival time (TAT), so the in-process store and the Redis
//! script (which mirrors it line for line) decide alike. Times are
//! microseconds on the store's clock.

use std::time::Duration;

/// A rate and a burst, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    /// Time between requests at the sustained rate.
    pub interval: u64,
    /// How far ahead of now the TAT may run: `burst × interval`.
    pub tolerance: u64,
    /// The bucket size.
    pub burst: u32,
}

/// One decision of [`Gcra::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// Whether the request may pass.
    pub allowed: bool,
    /// The key's TAT after this request (unchanged when refused).
    pub tat: u64,
    /// How long until the bucket is full again.
    pub reset: u64,
    /// How long until a refused request would pass.
    pub retry_after: u64,
}

impl Gcra {
    /// `burst` requests at once, refilled at one per `interval`.
    pub(crate) fn new(interval: Duration, burst: u32) -> Self {
        let interval = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = burst.max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst)),
            burst,
        }
    }

    /// Whether a request at `now` passes, given the key's stored TAT.
    pub(crate) fn decide(self, tat: Option<u64>, now: u64) -> Step {
        let tat = tat.unwrap_or(now).max(now);
        let new_tat = tat.saturating_add(self.interval);
        let allow_at = new_tat.saturating_sub(self.tolerance);
        if now < allow_at {
            Step {
                allowed: false,
                tat,
                reset: tat - now,
                retry_after: allow_at - now,
            }
        } else {
            Step {
                allowed: true,
                tat: new_tat,
                reset: new_tat - now,
                retry_after: 0,
            }
        }
    }

    /// Requests that could pass right now, given how far the TAT is ahead.
    pub(crate) fn remaining(self, reset: u64) -> u32 {
        let left = self.tolerance.saturating_sub(reset) / self.interval;
        u32::try_from(left).unwrap_or(u32::MAX)
    }

    /// Time to refill the whole bucket: the window of `RateLimit-Policy`.
    pub(crate) fn window(self) -> Duration {
        Duration::from_micros(self.tolerance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn a_burst_passes_then_one_per_interval() {
        let g = Gcra::new(Duration::from_millis(100), 3);
        let mut tat = None;
        let now = 1_000_000;
        for left in [2, 1, 0] {
            let s = g.decide(tat, now);
            assert!(s.allowed);
            assert_eq!(g.remaining(s.reset), left);
            tat = Some(s.tat);
        }
        let refused = g.decide(tat, now);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 100 * MS);
        assert_eq!(refused.tat, tat.unwrap(), "a refusal changes nothing");
        // One interval later exactly one more passes.
        let s = g.decide(tat, now + 100 * MS);
        assert!(s.allowed);
        assert_eq!(g.remaining(s.reset), 0);
        assert!(!g.decide(Some(s.tat), now + 100 * MS).allowed);
        // After a full window the bucket is full again.
        let s = g.decide(Some(s.tat), now + 500 * MS);
        assert_eq!(g.remaining(s.reset), 2);
    }
}
