//! Recent traffic per endpoint and route, kept in the process for the admin
//! dashboard: requests, client and server errors and a latency histogram,
//! in one-second slots over the last minute. Prometheus gives the long view
//! through its own recorder; this is what a person watching one replica
//! needs, answered without a round trip to a metrics backend.
//!
//! Counters are atomics in a ring of slots; a slot whose second has passed
//! is reset by the first request of a new second. A request racing that
//! reset may be lost, which a dashboard can afford and a lock per request
//! could not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Seconds kept, for the per-second history.
const SLOTS: usize = 64;
/// Seconds of history reported (complete seconds only).
pub(crate) const HISTORY: u64 = 60;
/// Seconds the rates, shares and percentiles are computed over.
pub(crate) const WINDOW: u64 = 10;
/// Upper bounds of the latency buckets, microseconds: 100 µs to 30 s, each
/// about 1.5 times the last, so a percentile is off by at most that much.
const BOUNDS_US: [u64; 32] = [
    100, 150, 225, 340, 500, 750, 1_100, 1_700, 2_500, 3_800, 5_700, 8_500, 13_000, 19_000, 29_000,
    43_000, 65_000, 100_000, 150_000, 220_000, 330_000, 500_000, 750_000, 1_100_000, 1_700_000,
    2_500_000, 3_800_000, 5_700_000, 8_500_000, 13_000_000, 20_000_000, 30_000_000,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static TRAFFIC: OnceLock<Traffic> = OnceLock::new();

/// Turns recording on; the admin listener does when it starts.
pub(crate) fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether requests are being recorded.
pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Records one answered request of an endpoint (`GET /v1/x`) or route (its prefix).
pub(crate) fn record(what: &str, status: http::StatusCode, took: Duration) {
    traffic().window(what).record(status, took);
}

/// What the last [`WINDOW`] seconds looked like for `what`; `None` before
/// its first request.
pub(crate) fn summary(what: &str) -> Option<Summary> {
    let window = traffic().windows.read().ok()?.get(what).cloned()?;
    Some(window.summary())
}

fn traffic() -> &'static Traffic {
    TRAFFIC.get_or_init(|| Traffic {
        epoch: Instant::now(),
        windows: RwLock::new(HashMap::new()),
    })
}

/// Every endpoint's window, by name. Kept across spec reloads: an endpoint
/// that stays keeps its history.
struct Traffic {
    epoch: Instant,
    windows: RwLock<HashMap<String, Arc<Window>>>,
}

impl Traffic {
    fn window(&self, what: &str) -> Arc<Window> {
        if let Some(w) = self.windows.read().ok().and_then(|m| m.get(what).cloned()) {
            return w;
        }
        let mut map = self
            .windows
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(what.to_owned())
            .or_insert_with(|| Arc::new(Window::new(self.epoch)))
            .clone()
    }
}

/// The recent traffic of one endpoint.
struct Window {
    epoch: Instant,
    slots: Box<[Slot]>,
    total: AtomicU64,
}

struct Slot {
    /// The second (since the epoch, plus one: 0 is never used) these counts belong to.
    second: AtomicU64,
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    latency_us: AtomicU64,
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            second: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            client_errors: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            latency_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Slot {
    fn reset(&self) {
        for c in [
            &self.requests,
            &self.client_errors,
            &self.server_errors,
            &self.latency_us,
        ]
        .into_iter()
        .chain(self.buckets.iter())
        {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Numbers over the last [`WINDOW`] seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Summary {
    /// Requests per second.
    pub rate: f64,
    /// Share of answers with a 4xx status, 0 to 1.
    pub client_errors: f64,
    /// Share of answers with a 5xx status, 0 to 1.
    pub server_errors: f64,
    /// Mean latency, milliseconds.
    pub mean_ms: Option<f64>,
    /// Median latency, milliseconds (upper bound of its bucket).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, milliseconds (upper bound of its bucket).
    pub p99_ms: Option<f64>,
    /// Requests since the process started.
    pub total: u64,
    /// Requests in each of the last [`HISTORY`] seconds, oldest first.
    pub history: Vec<u64>,
}

impl Window {
    fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            total: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs() + 1
    }

    fn record(&self, status: http::StatusCode, took: Duration) {
        let second = self.now();
        let slot = &self.slots[slot_index(second)];
        let seen = slot.second.load(Ordering::Acquire);
        if seen != second
            && slot
                .second
                .compare_exchange(seen, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.reset();
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        slot.requests.fetch_add(1, Ordering::Relaxed);
        if status.is_client_error() {
            slot.client_errors.fetch_add(1, Ordering::Relaxed);
        } else if status.is_server_error() {
            slot.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        slot.latency_us.fetch_add(us, Ordering::Relaxed);
        let bucket = BOUNDS_US.partition_point(|b| *b < us);
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts of complete seconds only: the second under way would read low.
    fn summary(&self) -> Summary {
        let now = self.now();
        let in_second = |s: u64| -> Option<&Slot> {
            let slot = &self.slots[slot_index(s)];
            (s > 0 && slot.second.load(Ordering::Acquire) == s).then_some(slot)
        };
        let history: Vec<u64> = (1..=HISTORY)
            .rev()
            .map(|back| {
                now.checked_sub(back)
                    .and_then(in_second)
                    .map_or(0, |s| s.requests.load(Ordering::Relaxed))
            })
            .collect();
        let (mut requests, mut client, mut server, mut latency) = (0u64, 0u64, 0u64, 0u64);
        let mut buckets = [0u64; BOUNDS_US.len() + 1];
        for slot in (1..=WINDOW).filter_map(|back| now.checked_sub(back).and_then(in_second)) {
            requests += slot.requests.load(Ordering::Relaxed);
            client += slot.client_errors.load(Ordering::Relaxed);
            server += slot.server_errors.load(Ordering::Relaxed);
            latency += slot.latency_us.load(Ordering::Relaxed);
            for (sum, b) in buckets.iter_mut().zip(slot.buckets.iter()) {
                *sum += b.load(Ordering::Relaxed);
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let share = |n: u64| {
            if requests == 0 {
                0.0
            } else {
                n as f64 / requests as f64
            }
        };
        #[allow(clippy::cast_precision_loss)]
        Summary {
            rate: requests as f64 / WINDOW as f64,
            client_errors: share(client),
            server_errors: share(server),
            mean_ms: (requests > 0).then(|| latency as f64 / requests as f64 / 1000.0),
            p50_ms: percentile(&buckets, 0.50),
            p99_ms: percentile(&buckets, 0.99),
            total: self.total.load(Ordering::Relaxed),
            history,
        }
    }
}

fn slot_index(second: u64) -> usize {
    usize::try_from(second % SLOTS as u64).unwrap_or(0)
}

/// The upper bound of the bucket holding the `q` quantile, milliseconds.
fn percentile(buckets: &[u64], q: f64) -> Option<f64> {
    let count: u64 = buckets.iter().sum();
    if count == 0 {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * count as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let us = BOUNDS_US
                .get(i)
                .copied()
                .unwrap_or(BOUNDS_US[BOUNDS_US.len() - 1]);
            #[allow(clippy::cast_precision_loss)]
            return Some(us as f64 / 1000.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn complete_seconds_give_rates_shares_and_percentiles() {
        // An epoch in the past puts the requests below in an old, complete second.
        let w = Window::new(Instant::now() - Duration::from_secs(5));
        let second = w.now() - 2;
        let slot = &w.slots[slot_index(second)];
        slot.second.store(second, Ordering::Relaxed);
        // Record straight into that second's slot, as `record` would have then.
        for i in 0..100u64 {
            let status = match i {
                0..=1 => StatusCode::BAD_GATEWAY,
                2..=11 => StatusCode::NOT_FOUND,
                _ => StatusCode::OK,
            };
            let us = if i == 99 { 900_000 } else { 2_000 };
            slot.requests.fetch_add(1, Ordering::Relaxed);
            if status.is_client_error() {
                slot.client_errors.fetch_add(1, Ordering::Relaxed);
            } else if status.is_server_error() {
                slot.server_errors.fetch_add(1, Ordering::Relaxed);
            }
            slot.latency_us.fetch_add(us, Ordering::Relaxed);
            slot.buckets[BOUNDS_US.partition_point(|b| *b < us)].fetch_add(1, Ordering::Relaxed);
        }
        let s = w.summary();
        assert!((s.rate - 10.0).abs() < 1e-9, "{s:?}");
        assert!((s.server_errors - 0.02).abs() < 1e-9);
        assert!((s.client_errors - 0.10).abs() < 1e-9);
        assert_eq!(s.p50_ms, Some(2.5));
        assert_eq!(s.p99_ms, Some(2.5));
        assert_eq!(s.history[usize::try_from(HISTORY).unwrap() - 2], 100);
    }

    #[test]
    fn the_second_under_way_is_not_reported_yet() {
        let w = Window::new(Instant::now());
        w.record(StatusCode::OK, Duration::from_millis(3));
        let s = w.summary();
        assert_eq!(s.total, 1);
        assert!(s.rate.abs() < f64::EPSILON);
        assert_eq!(s.p50_ms, None);
    }

    #[test]
    fn a_slot_of_an_old_second_starts_over() {
        let w = Window::new(Instant::now() - Duration::from_secs(200));
        let second = w.now();
        let slot = &w.slots[slot_index(second)];
        slot.second.store(second - SLOTS as u64, Ordering::Relaxed);
        slot.requests.store(50, Ordering::Relaxed);
        w.record(StatusCode::OK, Duration::from_millis(1));
        assert_eq!(slot.requests.load(Ordering::Relaxed), 1);
    }
}
