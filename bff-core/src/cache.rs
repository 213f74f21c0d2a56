//! Caching of upstream answers to calls, by HTTP's rules (RFC 9111): an
//! answer is kept only when it says for how long (`s-maxage`, `max-age`,
//! `Expires`, less its `Age`) or the service sets a TTL, never with
//! `no-store` (nor `no-cache`, which would need a revalidation per use) or
//! `Vary: *`. The key holds the method, the path with its query, the
//! values of the headers the answer varies on and, for `private` answers,
//! the caller's credentials and identity headers: one caller's private
//! answer is never another's. Concurrent misses for one key make one
//! upstream request. Memory is bounded by bytes.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, header};

/// What a stored answer needs.
#[derive(Debug)]
pub struct Entry {
    /// The body.
    pub body: Bytes,
    /// How long it stays fresh; zero for an answer that must not be kept
    /// (it still serves the requests that waited for it).
    pub ttl: Duration,
    /// How long past fresh it may still stand in for a failing upstream
    /// (`stale-if-error`), or be revalidated with its validators.
    pub stale_for: Duration,
    /// How long past fresh it is served while renewed in the background.
    pub swr: Duration,
    /// A background renewal is under way.
    pub refreshing: std::sync::atomic::AtomicBool,
    /// When it was stored (or last revalidated).
    pub stored: std::time::Instant,
    /// Made for one caller (`Cache-Control: private`).
    pub private: bool,
    /// Status and headers, for answers replayed whole (pass-through GETs).
    pub head: Option<(http::StatusCode, HeaderMap)>,
    /// `ETag` of the answer, for revalidation.
    pub etag: Option<http::HeaderValue>,
    /// `Last-Modified` of the answer, for revalidation.
    pub last_modified: Option<http::HeaderValue>,
}

impl Entry {
    /// Within its freshness lifetime.
    pub fn is_fresh(&self) -> bool {
        self.stored.elapsed() < self.ttl
    }

    /// Whether a conditional request could renew it.
    pub fn has_validators(&self) -> bool {
        self.etag.is_some() || self.last_modified.is_some()
    }

    /// Freshness time left.
    pub fn left(&self) -> Duration {
        self.ttl.saturating_sub(self.stored.elapsed())
    }

    /// Within `stale-while-revalidate`: served as it is while renewed.
    pub fn within_swr(&self) -> bool {
        self.stored.elapsed() < self.ttl + self.swr
    }

    /// Whether the caller is the one to renew it (nobody else is yet).
    pub fn claim_refresh(&self) -> bool {
        !self
            .refreshing
            .swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    /// The same answer, fresh again after a `304`.
    pub fn renewed(&self) -> Self {
        Self {
            body: self.body.clone(),
            ttl: self.ttl,
            stale_for: self.stale_for,
            swr: self.swr,
            private: self.private,
            head: self.head.clone(),
            refreshing: std::sync::atomic::AtomicBool::new(false),
            stored: std::time::Instant::now(),
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
        }
    }
}

/// How long the parts of one composed answer stay fresh: the least fresh
/// part bounds the whole, a private part makes it private, and a part that
/// cannot be kept makes the whole uncacheable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Freshness {
    /// Time the least fresh part has left; `None` before any part is seen.
    pub left: Option<Duration>,
    /// A part cannot be kept.
    pub uncacheable: bool,
    /// A part was made for one caller.
    pub private: bool,
}

impl Freshness {
    /// How long the whole may be kept, if at all.
    pub fn lifetime(&self) -> Option<Duration> {
        self.left
            .filter(|l| !self.uncacheable && *l > Duration::ZERO)
    }
}

tokio::task_local! {
    /// The freshness of the parts of the answer being composed.
    pub static PARTS: std::cell::Cell<Freshness>;
}

/// Records one part of the answer being composed (`None`: not keepable).
pub fn note_part(left: Option<Duration>, private: bool) {
    let _ = PARTS.try_with(|cell| {
        let mut f = cell.get();
        match left {
            Some(l) => f.left = Some(f.left.map_or(l, |m| m.min(l))),
            None => f.uncacheable = true,
        }
        f.private |= private;
        cell.set(f);
    });
}

/// What the last answer for a path said about keying.
#[derive(Debug, Clone, Default)]
struct Shape {
    vary: Vec<HeaderName>,
    private: bool,
}

struct ByTtl;

impl moka::Expiry<u64, Arc<Entry>> for ByTtl {
    fn expire_after_create(
        &self,
        _: &u64,
        v: &Arc<Entry>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(v.ttl + v.stale_for)
    }
}

/// The in-process cache of call answers, shared by a BFF's services.
pub struct CallCache {
    /// Headers that carry verified identities upstream (set once the
    /// authentication policies are known).
    pub identity: std::sync::OnceLock<Vec<HeaderName>>,
    entries: moka::future::Cache<u64, Arc<Entry>>,
    shapes: moka::sync::Cache<u64, Shape>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for CallCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCache")
            .field("bytes", &self.entries.weighted_size())
            .finish_non_exhaustive()
    }
}

/// Headers that name the request rather than what it asks: never part of
/// a key.
pub(crate) const PER_REQUEST: [&str; 3] = ["x-request-id", "traceparent", "tracestate"];

impl CallCache {
    /// A cache of at most `max_bytes` of bodies.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            identity: std::sync::OnceLock::new(),
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, v: &Arc<Entry>| u32::try_from(v.body.len()).unwrap_or(u32::MAX))
                .expire_after(ByTtl)
                .eviction_listener(|_, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        metrics::counter!("bff_cache_evictions_total").increment(1);
                    }
                })
                .build(),
            shapes: moka::sync::Cache::new(100_000),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The key of a request to `service`.
    pub fn key(&self, service: &str, path: &str, headers: &HeaderMap) -> (u64, u64) {
        let identity = self.identity.get().map_or(&[][..], Vec::as_slice);
        let primary = self.hasher.hash_one((service, path));
        let shape = self.shapes.get(&primary).unwrap_or_default();
        let mut h = self.hasher.build_hasher();
        primary.hash(&mut h);
        for name in &shape.vary {
            (name.as_str(), values(headers, name)).hash(&mut h);
        }
        if shape.private {
            for name in identity
                .iter()
                .chain([&header::AUTHORIZATION, &header::COOKIE])
            {
                (name.as_str(), values(headers, name)).hash(&mut h);
            }
        }
        (primary, h.finish())
    }

    /// The answer for `key`, fetching it with `fill` on a miss; concurrent
    /// misses share one fill. `fill` reports the answer's headers, from
    /// which its lifetime and keying are learnt.
    pub async fn get_or_fill<F>(
        &self,
        service: &str,
        (primary, key): (u64, u64),
        ttl_override: Option<Duration>,
        fill: F,
    ) -> Result<Arc<Entry>, Arc<crate::exec::CallError>>
    where
        F: Future<Output = Result<(Bytes, HeaderMap), crate::exec::CallError>>,
    {
        if let Some(hit) = self.entries.get(&key).await.filter(|e| e.is_fresh()) {
            metrics::counter!("bff_cache_requests_total", "service" => service.to_owned(), "result" => "hit")
                .increment(1);
            return Ok(hit);
        }
        metrics::counter!("bff_cache_requests_total", "service" => service.to_owned(), "result" => "miss")
            .increment(1);
        let before = self.shapes.get(&primary).unwrap_or_default();
        let entry = self
            .entries
            .try_get_with(key, async {
                let (body, headers) = fill.await?;
                Ok(Arc::new(self.entry_from(
                    primary,
                    &before,
                    body,
                    &headers,
                    ttl_override,
                )))
            })
            .await?;
        metrics::gauge!("bff_cache_bytes").set(self.entries.weighted_size() as f64);
        Ok(entry)
    }
}

impl CallCache {
    /// An entry for an answer, by its headers; learns how the path varies.
    fn entry_from(
        &self,
        primary: u64,
        before: &Shape,
        body: Bytes,
        headers: &HeaderMap,
        ttl_override: Option<Duration>,
    ) -> Entry {
        let rules = Rules::read(headers, SystemTime::now());
        let shape = Shape {
            vary: rules.vary.clone().unwrap_or_default(),
            private: rules.private,
        };
        // Keyed on less than the answer varies on: keep nothing now, key
        // right from the next request on.
        let keyed_right = shape.vary.iter().all(|v| before.vary.contains(v))
            && (!shape.private || before.private);
        self.shapes.insert(primary, shape);
        let keep = rules.storable() && keyed_right;
        let ttl = if keep {
            ttl_override.or(rules.ttl).unwrap_or_default()
        } else {
            Duration::ZERO
        };
        let has_validators =
            headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
        // Kept past fresh to stand in on errors, to be served while renewed
        // in the background, and (with validators) to be renewed by a
        // `304` rather than fetched whole.
        let stale_for = if keep {
            rules
                .stale_if_error
                .max(rules.stale_while_revalidate)
                .max(if has_validators { ttl } else { Duration::ZERO })
        } else {
            Duration::ZERO
        };
        Entry {
            body,
            ttl,
            stale_for,
            swr: if keep {
                rules.stale_while_revalidate
            } else {
                Duration::ZERO
            },
            refreshing: std::sync::atomic::AtomicBool::new(false),
            stored: std::time::Instant::now(),
            private: rules.private,
            head: None,
            etag: headers.get(header::ETAG).cloned(),
            last_modified: headers.get(header::LAST_MODIFIED).cloned(),
        }
    }

    /// Stores a new answer for `key` (a background refresh).
    pub async fn store(
        &self,
        (primary, key): (u64, u64),
        body: Bytes,
        headers: &HeaderMap,
        ttl_override: Option<Duration>,
    ) {
        let before = self.shapes.get(&primary).unwrap_or_default();
        let entry = self.entry_from(primary, &before, body, headers, ttl_override);
        self.entries.insert(key, Arc::new(entry)).await;
    }

    /// Keeps a whole answer of a pass-through GET, by its headers.
    pub async fn store_response(
        &self,
        (primary, key): (u64, u64),
        status: http::StatusCode,
        headers: HeaderMap,
        body: Bytes,
    ) {
        let before = self.shapes.get(&primary).unwrap_or_default();
        let mut entry = self.entry_from(primary, &before, body, &headers, None);
        entry.head = Some((status, headers));
        if entry.ttl > Duration::ZERO {
            self.entries.insert(key, Arc::new(entry)).await;
        }
    }

    /// A fresh entry for `key`.
    pub async fn fresh(&self, key: u64) -> Option<Arc<Entry>> {
        self.entries.get(&key).await.filter(|e| e.is_fresh())
    }

    /// An entry past its freshness that may still be revalidated or stand
    /// in for a failing upstream.
    pub async fn stale(&self, key: u64) -> Option<Arc<Entry>> {
        self.entries.get(&key).await.filter(|e| !e.is_fresh())
    }

    /// Drops an entry, so the next request fills it anew.
    pub async fn forget(&self, key: u64) {
        self.entries.invalidate(&key).await;
    }

    /// Stores an entry again (after a `304`).
    pub async fn renew(&self, key: u64, entry: Entry) -> Arc<Entry> {
        let entry = Arc::new(entry);
        self.entries.insert(key, entry.clone()).await;
        entry
    }
}

fn values<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

/// What an answer's headers say about keeping it.
#[derive(Debug, Default, PartialEq)]
struct Rules {
    no_store: bool,
    no_cache: bool,
    private: bool,
    ttl: Option<Duration>,
    stale_if_error: Duration,
    stale_while_revalidate: Duration,
    /// `None` for `Vary: *`.
    vary: Option<Vec<HeaderName>>,
}

impl Rules {
    fn read(h: &HeaderMap, now: SystemTime) -> Self {
        let mut r = Self {
            vary: Some(Vec::new()),
            ..Self::default()
        };
        let (mut max_age, mut s_maxage) = (None, None);
        for directive in h
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let (name, arg) = directive
                .trim()
                .split_once('=')
                .map_or((directive.trim(), None), |(n, a)| {
                    (n.trim(), Some(a.trim().trim_matches('"')))
                });
            match name.to_ascii_lowercase().as_str() {
                "no-store" => r.no_store = true,
                "no-cache" => r.no_cache = true,
                "private" => r.private = true,
                "max-age" => max_age = arg.and_then(|a| a.parse::<u64>().ok()),
                "s-maxage" => s_maxage = arg.and_then(|a| a.parse::<u64>().ok()),
                "stale-while-revalidate" => {
                    r.stale_while_revalidate = arg
                        .and_then(|a| a.parse::<u64>().ok())
                        .map_or(Duration::ZERO, Duration::from_secs);
                }
                "stale-if-error" => {
                    r.stale_if_error = arg
                        .and_then(|a| a.parse::<u64>().ok())
                        .map_or(Duration::ZERO, Duration::from_secs);
                }
                _ => {}
            }
        }
        let lifetime = s_maxage.or(max_age).map(Duration::from_secs).or_else(|| {
            let expires = httpdate(h.get(header::EXPIRES)?)?;
            let date = h.get(header::DATE).and_then(httpdate).unwrap_or(now);
            Some(expires.duration_since(date).unwrap_or_default())
        });
        let age = h
            .get(header::AGE)
            .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        r.ttl = lifetime.map(|l| l.saturating_sub(age));
        for v in h
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if name == "*" {
                    r.vary = None;
                } else if let (Some(list), Ok(n)) = (r.vary.as_mut(), HeaderName::try_from(name))
                    && !PER_REQUEST.contains(&n.as_str())
                {
                    list.push(n);
                }
            }
        }
        r
    }

    fn storable(&self) -> bool {
        !self.no_store && !self.no_cache && self.vary.is_some()
    }
}

fn httpdate(v: &http::HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(v.to_str().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::try_from(*k).unwrap(), v.parse().unwrap());
        }
        Rules::read(&h, SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
    }

    #[test]
    fn freshness_follows_rfc_9111() {
        assert_eq!(
            rules(&[("cache-control", "max-age=60")]).ttl,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rules(&[("cache-control", "max-age=60, s-maxage=10")]).ttl,
            Some(Duration::from_secs(10)),
            "a shared cache prefers s-maxage"
        );
        assert_eq!(
            rules(&[("cache-control", "max-age=60"), ("age", "45")]).ttl,
            Some(Duration::from_secs(15))
        );
        let r = rules(&[
            ("date", "Mon, 12 Jan 1970 13:46:40 GMT"),
            ("expires", "Mon, 12 Jan 1970 13:47:10 GMT"),
        ]);
        assert_eq!(r.ttl, Some(Duration::from_secs(30)));
        assert_eq!(rules(&[]).ttl, None, "no freshness information, no caching");
        assert!(!rules(&[("cache-control", "no-store, max-age=60")]).storable());
        assert!(!rules(&[("cache-control", "no-cache")]).storable());
        assert!(!rules(&[("cache-control", "max-age=5"), ("vary", "*")]).storable());
        let r = rules(&[
            ("cache-control", "private, max-age=5"),
            ("vary", "Accept-Language, x-request-id"),
        ]);
        assert!(r.private && r.storable());
        assert_eq!(
            r.vary,
            Some(vec![HeaderName::from_static("accept-language")])
        );
    }
}
