//! Upstream resilience: a service's instances and how a call picks one
//! (round robin, weighted, least latency, hash), passive outlier ejection,
//! a circuit breaker per service, and retries within a budget.

pub mod breaker;
pub mod config;
pub mod retry;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

pub use breaker::Breaker;
pub use config::{BalanceKind, BreakerConfig, InstanceConfig, OutlierConfig, RetryConfig};
pub use retry::Retry;

/// One instance of a service, with what balancing and ejection need.
#[derive(Debug)]
pub struct Instance {
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
        }
    }

    /// The URI of `path_and_query` (already percent-encoded) on this instance.
    pub fn uri(&self, path_and_query: &str) -> Result<http::Uri, http::uri::InvalidUri> {
        let mut s = String::with_capacity(self.base_url.len() + path_and_query.len());
        s.push_str(&self.base_url);
        s.push_str(path_and_query);
        http::Uri::try_from(s)
    }
}

/// A service's instances and the state shared by all calls to it.
#[derive(Debug)]
pub struct Pool {
    /// The instances, in bff.yaml order.
    pub instances: Vec<Instance>,
    balance: BalanceKind,
    /// Header whose value picks the instance with `balance: hash`.
    pub hash_header: Option<http::HeaderName>,
    next: AtomicUsize,
    smooth: Mutex<Vec<i64>>,
    outlier: OutlierConfig,
    epoch: Instant,
    /// The service's circuit breaker.
    pub breaker: Option<Breaker>,
    /// The service's retry policy.
    pub retry: Option<Retry>,
}

/// An exchange in progress with one instance; report how it went.
#[derive(Debug)]
pub struct Attempt<'a> {
    pool: &'a Pool,
    /// Index of the instance.
    pub index: usize,
    started: Instant,
}

impl Attempt<'_> {
    /// The instance.
    pub fn instance(&self) -> &Instance {
        &self.pool.instances[self.index]
    }

    /// Records the outcome: `healthy` is false for connection failures,
    /// timeouts and 5xx answers.
    pub fn finish(self, healthy: bool) {
        self.pool.record(self.index, self.started, healthy);
    }
}

impl Drop for Attempt<'_> {
    /// Also when cancelled (deadline, client gone), which counts as
    /// neither healthy nor failed.
    fn drop(&mut self) {
        self.pool.instances[self.index]
            .outstanding
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// A pool of the given instances.
    pub fn new(
        instances: Vec<(String, u32)>,
        balance: BalanceKind,
        hash_header: Option<http::HeaderName>,
        outlier: OutlierConfig,
        breaker: Option<Breaker>,
        retry: Option<Retry>,
    ) -> Self {
        let n = instances.len();
        Self {
            instances: instances
                .into_iter()
                .map(|(u, w)| Instance::new(u, w))
                .collect(),
            balance,
            hash_header,
            next: AtomicUsize::new(0),
            smooth: Mutex::new(vec![0; n]),
            outlier,
            epoch: Instant::now(),
            breaker,
            retry,
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Whether instance `i` is ejected now.
    pub fn is_ejected(&self, i: usize) -> bool {
        self.instances[i].ejected_until.load(Ordering::Relaxed) > self.now_us()
    }

    /// Starts an exchange with the instance the balancer picks; `key` is
    /// the hash key's value, if any.
    pub fn start(&self, key: Option<&[u8]>) -> Attempt<'_> {
        let index = self.pick(key);
        self.instances[index]
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        Attempt {
            pool: self,
            index,
            started: Instant::now(),
        }
    }

    fn pick(&self, key: Option<&[u8]>) -> usize {
        let n = self.instances.len();
        if n == 1 {
            return 0;
        }
        // Ejected instances sit out, unless every one is ejected.
        let up: Vec<usize> = (0..n).filter(|&i| !self.is_ejected(i)).collect();
        let up = if up.is_empty() { (0..n).collect() } else { up };
        match self.balance {
            BalanceKind::RoundRobin => up[self.next.fetch_add(1, Ordering::Relaxed) % up.len()],
            BalanceKind::Weighted => self.smooth_weighted(&up),
            BalanceKind::LeastLatency => {
                let a = up[fastrand::usize(..up.len())];
                let b = up[fastrand::usize(..up.len())];
                if self.load(a) <= self.load(b) { a } else { b }
            }
            BalanceKind::Hash => match key {
                Some(k) => *up
                    .iter()
                    .max_by_key(|&&i| rendezvous(k, &self.instances[i].base_url))
                    .expect("at least one instance"),
                None => up[self.next.fetch_add(1, Ordering::Relaxed) % up.len()],
            },
        }
    }

    /// Nginx's smooth weighted round robin over the instances that are up.
    fn smooth_weighted(&self, up: &[usize]) -> usize {
        let mut current = self
            .smooth
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let total: i64 = up
            .iter()
            .map(|&i| i64::from(self.instances[i].weight))
            .sum();
        let mut best = up[0];
        for &i in up {
            current[i] += i64::from(self.instances[i].weight);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }

    /// Expected wait at an instance: latency EWMA × (outstanding + 1).
    fn load(&self, i: usize) -> u64 {
        let inst = &self.instances[i];
        let ewma = inst.ewma_us.load(Ordering::Relaxed).max(1);
        ewma * (inst.outstanding.load(Ordering::Relaxed) as u64 + 1)
    }

    fn record(&self, i: usize, started: Instant, healthy: bool) {
        let inst = &self.instances[i];
        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let old = inst.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { took } else { (old * 7 + took) / 8 };
        inst.ewma_us.store(new, Ordering::Relaxed);
        if let Some(b) = &self.breaker {
            b.record(healthy);
        }
        if healthy {
            inst.consecutive_failures.store(0, Ordering::Relaxed);
            return;
        }
        let failures = inst.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if self.instances.len() > 1 && failures >= self.outlier.consecutive_failures {
            self.eject(i);
        }
    }

    fn eject(&self, i: usize) {
        let n = self.instances.len();
        let ejected = (0..n).filter(|&j| self.is_ejected(j)).count();
        // Never all: at most max_ejected of them, and always one left.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cap = ((n as f64 * self.outlier.max_ejected).floor() as usize).min(n - 1);
        if ejected >= cap.max(1).min(n - 1) {
            return;
        }
        let inst = &self.instances[i];
        let times = inst.ejections.fetch_add(1, Ordering::Relaxed) + 1;
        let length = self.outlier.base_ejection * times.min(10);
        inst.ejected_until
            .store(self.now_us() + duration_us(length), Ordering::Relaxed);
        inst.consecutive_failures.store(0, Ordering::Relaxed);
        tracing::warn!(instance = %inst.base_url, for_ = ?length, "instance ejected");
    }
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
mod tests {
    use super::*;

    fn pool(balance: BalanceKind, weights: &[u32]) -> Pool {
        let instances = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (format!("http://10.0.0.{i}"), *w))
            .collect();
        Pool::new(
            instances,
            balance,
            None,
            OutlierConfig::default(),
            None,
            None,
        )
    }

    #[test]
    fn weighted_round_robin_follows_the_weights_smoothly() {
        let p = pool(BalanceKind::Weighted, &[5, 1, 1]);
        let picks: Vec<usize> = (0..7).map(|_| p.pick(None)).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 5);
        // Smooth: the heavy instance never gets all five in a row.
        assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn hashing_keeps_keys_on_their_instance_and_moves_only_the_lost_ones() {
        let p = pool(BalanceKind::Hash, &[1, 1, 1]);
        let before: Vec<usize> = (0..100)
            .map(|k| p.pick(Some(format!("user-{k}").as_bytes())))
            .collect();
        assert!((0..3).all(|i| before.contains(&i)));
        p.eject(1);
        for (k, was) in before.iter().enumerate() {
            let now = p.pick(Some(format!("user-{k}").as_bytes()));
            if *was == 1 {
                assert_ne!(now, 1);
            } else {
                assert_eq!(now, *was, "key {k} moved though its instance is up");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_eject_for_a_growing_time_but_never_all() {
        let p = pool(BalanceKind::RoundRobin, &[1, 1]);
        for _ in 0..5 {
            p.record(1, Instant::now(), false);
        }
        assert!(p.is_ejected(1));
        assert!((0..10).all(|_| p.pick(None) == 0));
        // The other one failing too cannot eject it: one always stays.
        for _ in 0..5 {
            p.record(0, Instant::now(), false);
        }
        assert!(!p.is_ejected(0));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!p.is_ejected(1), "back after the base ejection");
        for _ in 0..5 {
            p.record(1, Instant::now(), false);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(p.is_ejected(1), "the second ejection lasts twice as long");
    }
}
