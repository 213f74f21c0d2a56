//! A service's instances and how a try picks one (round robin, weighted,
//! least latency, hash; avoiding instances tried already), passive outlier
//! ejection, and the latency record hedging reads.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use tokio::time::Instant;

use super::breaker::Breaker;
use super::retry::Retry;

use crate::config::{BalanceKind, HedgeConfig, OutlierConfig};

/// One instance of a service, with what balancing and ejection need.
#[derive(Debug)]
pub(crate) struct Instance {
    /// Base URL without a trailing slash.
    pub base_url: String,
    /// Relative share for weighted balancing.
    pub weight: u32,
    outstanding: AtomicUsize,
    /// Latency EWMA, microseconds.
    ewma_us: AtomicU64,
    consecutive_failures: AtomicU32,
    ejections: AtomicU32,
    /// Microseconds after the pool's epoch until which it is ejected.
    ejected_until: AtomicU64,
    /// The last active health check passed (true until one fails).
    healthy: AtomicBool,
    /// Smooth weighted round robin's running weight.
    current: AtomicI64,
}

impl Instance {
    fn new(base_url: String, weight: u32) -> Self {
        Self {
            base_url,
            weight: weight.max(1),
            outstanding: AtomicUsize::new(0),
            ewma_us: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            current: AtomicI64::new(0),
        }
    }

    /// The URI of `path_and_query` (already percent-encoded) on this instance.
    pub(crate) fn uri(&self, path_and_query: &str) -> Result<http::Uri, http::uri::InvalidUri> {
        let mut s = String::with_capacity(self.base_url.len() + path_and_query.len());
        s.push_str(&self.base_url);
        s.push_str(path_and_query);
        http::Uri::try_from(s)
    }

    /// Whether the last active health check passed.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Requests to this instance in flight now.
    pub(crate) fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Latency of recent exchanges (moving average); `None` before the first.
    pub(crate) fn latency(&self) -> Option<Duration> {
        match self.ewma_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Times outlier detection has ejected this instance.
    pub(crate) fn ejections(&self) -> u32 {
        self.ejections.load(Ordering::Relaxed)
    }

    /// Records an active health check's result.
    pub(crate) fn set_healthy(&self, healthy: bool) {
        if self.healthy.swap(healthy, Ordering::Relaxed) != healthy {
            tracing::warn!(instance = %self.base_url, healthy, "health check changed");
        }
    }
}

/// A service's instances and the state shared by all calls to it.
#[derive(Debug)]
pub(crate) struct Pool {
    instances: ArcSwap<Vec<Arc<Instance>>>,
    balance: BalanceKind,
    /// Header whose value picks the instance with `balance: hash`.
    pub hash_header: Option<http::HeaderName>,
    next: AtomicUsize,
    smooth: Mutex<()>,
    outlier: OutlierConfig,
    epoch: Instant,
    /// The service's circuit breaker.
    pub breaker: Option<Breaker>,
    /// The service's retry policy.
    pub retry: Option<Retry>,
    /// Hedging of slow calls.
    pub hedge: Option<HedgeConfig>,
    /// Latencies of the last successful exchanges, microseconds.
    recent: Mutex<std::collections::VecDeque<u64>>,
    /// The service's name, for metrics.
    service: String,
}

/// Latencies kept for the hedging percentile.
const RECENT: usize = 256;
/// Exchanges seen before the percentile is trusted.
const MIN_SAMPLES: usize = 20;

/// An exchange in progress with one instance; report how it went.
#[derive(Debug)]
pub(crate) struct Attempt<'a> {
    pool: &'a Pool,
    instance: Arc<Instance>,
    started: Instant,
}

impl Attempt<'_> {
    /// The instance.
    pub(crate) fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Records the outcome: `healthy` is false for connection failures,
    /// timeouts and 5xx answers.
    pub(crate) fn finish(self, healthy: bool) {
        self.pool.record(&self.instance, self.started, healthy);
    }
}

impl Drop for Attempt<'_> {
    /// Also when cancelled (deadline, client gone), which counts as
    /// neither healthy nor failed.
    fn drop(&mut self) {
        self.instance.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// A pool of the given instances (base URL, weight).
    pub(crate) fn new(
        instances: Vec<(String, u32)>,
        balance: BalanceKind,
        hash_header: Option<http::HeaderName>,
        outlier: OutlierConfig,
        breaker: Option<Breaker>,
        retry: Option<Retry>,
    ) -> Self {
        Self {
            instances: ArcSwap::from_pointee(
                instances
                    .into_iter()
                    .map(|(u, w)| Arc::new(Instance::new(u, w)))
                    .collect(),
            ),
            balance,
            hash_header,
            next: AtomicUsize::new(0),
            smooth: Mutex::new(()),
            outlier,
            epoch: Instant::now(),
            breaker,
            retry,
            hedge: None,
            recent: Mutex::new(std::collections::VecDeque::with_capacity(RECENT)),
            service: String::new(),
        }
    }

    /// Names the pool after its service (for metrics).
    #[must_use]
    pub(crate) fn named(mut self, service: &str) -> Self {
        self.service = service.to_owned();
        self
    }

    /// Turns hedging on.
    #[must_use]
    pub(crate) fn with_hedge(mut self, hedge: Option<HedgeConfig>) -> Self {
        self.hedge = hedge;
        self
    }

    /// How long a call waits before it is hedged: the configured latency
    /// percentile of recent exchanges, at least `min_delay`.
    pub(crate) fn hedge_delay(&self) -> Option<Duration> {
        let hedge = self.hedge.as_ref()?;
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() < MIN_SAMPLES {
            return Some(hedge.min_delay);
        }
        let mut sorted: Vec<u64> = recent.iter().copied().collect();
        sorted.sort_unstable();
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let rank = ((hedge.percentile / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        let at = Duration::from_micros(sorted[rank.min(sorted.len() - 1)]);
        Some(at.max(hedge.min_delay))
    }

    /// The instances now.
    pub(crate) fn instances(&self) -> Arc<Vec<Arc<Instance>>> {
        self.instances.load_full()
    }

    /// Replaces the instance set (discovery); instances that stay keep
    /// their statistics and ejections. An empty set is ignored once there
    /// were instances: the last known ones are better than none.
    pub(crate) fn set_instances(&self, wanted: Vec<(String, u32)>) {
        if wanted.is_empty() {
            return;
        }
        let old = self.instances.load();
        let new: Vec<Arc<Instance>> = wanted
            .into_iter()
            .map(|(url, weight)| {
                old.iter()
                    .find(|i| i.base_url == url && i.weight == weight.max(1))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Instance::new(url, weight)))
            })
            .collect();
        let changed =
            new.len() != old.len() || new.iter().zip(old.iter()).any(|(a, b)| !Arc::ptr_eq(a, b));
        if changed {
            let urls: Vec<&str> = new.iter().map(|i| i.base_url.as_str()).collect();
            tracing::info!(instances = ?urls, "service instances changed");
            self.instances.store(Arc::new(new));
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether an instance is ejected now.
    pub(crate) fn is_ejected(&self, inst: &Instance) -> bool {
        inst.ejected_until.load(Ordering::Relaxed) > self.now_us()
    }

    /// How long an ejected instance stays out; `None` when it is not ejected.
    pub(crate) fn ejected_for(&self, inst: &Instance) -> Option<Duration> {
        let left = inst
            .ejected_until
            .load(Ordering::Relaxed)
            .checked_sub(self.now_us())?;
        (left > 0).then(|| Duration::from_micros(left))
    }

    /// How calls pick an instance.
    pub(crate) fn balance(&self) -> BalanceKind {
        self.balance
    }

    /// Starts an exchange with the instance the balancer picks; `key` is
    /// the hash key's value, if any. `None` while discovery has found none.
    pub(crate) fn start(&self, key: Option<&[u8]>) -> Option<Attempt<'_>> {
        self.start_avoiding(key, &[])
    }

    /// Like [`Pool::start`], but on an instance other than those named
    /// (by base URL) when there is one: a retry or hedge goes elsewhere
    /// than the try that failed or is slow.
    pub(crate) fn start_avoiding(&self, key: Option<&[u8]>, avoid: &[&str]) -> Option<Attempt<'_>> {
        let instance = self.pick(key, avoid)?;
        instance.outstanding.fetch_add(1, Ordering::Relaxed);
        Some(Attempt {
            pool: self,
            instance,
            started: Instant::now(),
        })
    }

    fn pick(&self, key: Option<&[u8]>, avoid: &[&str]) -> Option<Arc<Instance>> {
        let all = self.instances.load();
        if all.len() <= 1 {
            return all.first().cloned();
        }
        // Ejected and unhealthy instances sit out, unless none is left.
        let mut up: Vec<&Arc<Instance>> = all
            .iter()
            .filter(|i| i.is_healthy() && !self.is_ejected(i))
            .collect();
        if up.is_empty() {
            up = all.iter().collect();
        }
        // Those tried already sit out too, unless none would be left.
        if !avoid.is_empty() && up.iter().any(|i| !avoid.contains(&i.base_url.as_str())) {
            up.retain(|i| !avoid.contains(&i.base_url.as_str()));
        }
        let chosen = match self.balance {
            BalanceKind::RoundRobin => up[self.next.fetch_add(1, Ordering::Relaxed) % up.len()],
            BalanceKind::Weighted => self.smooth_weighted(&up),
            BalanceKind::LeastLatency => {
                let a = up[fastrand::usize(..up.len())];
                let b = up[fastrand::usize(..up.len())];
                if load(a) <= load(b) { a } else { b }
            }
            BalanceKind::Hash => match key {
                Some(k) => *up
                    .iter()
                    .max_by_key(|i| rendezvous(k, &i.base_url))
                    .expect("at least one instance"),
                None => up[self.next.fetch_add(1, Ordering::Relaxed) % up.len()],
            },
        };
        Some(chosen.clone())
    }

    /// Nginx's smooth weighted round robin over the instances that are up.
    fn smooth_weighted<'a>(&self, up: &[&'a Arc<Instance>]) -> &'a Arc<Instance> {
        let _turn = self
            .smooth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: i64 = up.iter().map(|i| i64::from(i.weight)).sum();
        let mut best = up[0];
        let mut best_weight = i64::MIN;
        for i in up {
            let w =
                i.current.fetch_add(i64::from(i.weight), Ordering::Relaxed) + i64::from(i.weight);
            if w > best_weight {
                best = i;
                best_weight = w;
            }
        }
        best.current.fetch_sub(total, Ordering::Relaxed);
        best
    }

    fn record(&self, inst: &Instance, started: Instant, healthy: bool) {
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if crate::metrics::enabled() {
            let (service, instance) = (self.service.clone(), inst.base_url.clone());
            #[allow(clippy::cast_precision_loss)]
            metrics::histogram!(
                "bff_upstream_duration_seconds",
                "service" => service.clone(),
                "instance" => instance.clone()
            )
            .record(took as f64 / 1e6);
            metrics::counter!(
                "bff_upstream_requests_total",
                "service" => service,
                "instance" => instance,
                "outcome" => if healthy { "ok" } else { "failure" }
            )
            .increment(1);
        }
        let old = inst.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        inst.ewma_us.store(new, Ordering::Relaxed);
        if let Some(b) = &self.breaker {
            b.record(healthy);
        }
        if healthy {
            inst.consecutive_failures.store(0, Ordering::Relaxed);
            if self.hedge.is_some() {
                let mut recent = self
                    .recent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(took);
            }
            return;
        }
        let failures = inst.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.outlier.consecutive_failures {
            self.eject(inst);
        }
    }

    fn eject(&self, inst: &Instance) {
        let all = self.instances.load();
        let n = all.len();
        if n < 2 {
            return;
        }
        let ejected = all.iter().filter(|i| self.is_ejected(i)).count();
        // Never all: at most max_ejected of them (at least one may go),
        // and always one left.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cap = ((n as f64 * self.outlier.max_ejected).floor() as usize).clamp(1, n - 1);
        if ejected >= cap {
            return;
        }
        let times = inst.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let length = self.outlier.base_ejection * times.min(10);
        inst.ejected_until
            .store(self.now_us() + duration_us(length), Ordering::Relaxed);
        inst.consecutive_failures.store(0, Ordering::Relaxed);
        tracing::warn!(instance = %inst.base_url, for_ = ?length, "instance ejected");
        metrics::counter!(
            "bff_instance_ejections_total",
            "service" => self.service.clone(),
            "instance" => inst.base_url.clone()
        )
        .increment(1);
    }
}

/// Expected wait at an instance: latency EWMA × (outstanding + 1).
fn load(inst: &Instance) -> u64 {
    let ewma = inst.ewma_us.load(Ordering::Relaxed).max(1);
    ewma * (inst.outstanding.load(Ordering::Relaxed) as u64 + 1)
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Highest-random-weight score of `key` on an instance (FNV-1a of both).
fn rendezvous(key: &[u8], instance: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.iter().chain(b"\x00").chain(instance.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // A final mix, so near-equal inputs spread.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
