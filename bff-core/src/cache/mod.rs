//! The shared HTTP cache of upstream answers (RFC 9111), used by composed
//! calls and pass-through GETs alike, beside the cache of composed answers
//! in [`answers`].
//!
//! What is kept: answers with explicit freshness (`Surrogate-Control`
//! aimed at this cache, else `s-maxage`, `max-age`, `Expires`), or a
//! service `ttl`, or heuristic freshness from `Last-Modified`, or at least
//! validators; never `no-store`, `private`, `Vary: *`, `Set-Cookie`
//! answers, partial content, nor an answer to a request with credentials
//! (`Authorization`, `Cookie`) unless it says `public`, `s-maxage` or
//! `must-revalidate`. The key is the service, the target (path and query
//! as sent), a scope (every header of a composed call's request; the
//! identity headers the BFF adds on pass-through routes), and the values
//! of the request headers the answer varies on. Memory is bounded by
//! bytes, least recently used first out.

pub(crate) mod answers;
pub(crate) mod directives;
mod entry;
mod flight;
mod parts;
mod store;

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode, header};

use directives::{RequestDirectives, ResponseDirectives, SurrogateDirectives, Vary};
pub(crate) use entry::Entry;
use entry::{Parts, Staleness};
pub(crate) use flight::{Turn, wait};
pub(crate) use parts::{Freshness, Part};

use crate::headers::PER_REQUEST;

/// Statuses that may be kept on heuristic freshness (RFC 9110 §15.1).
const HEURISTIC: [u16; 12] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Heuristic freshness: a tenth of the time since `Last-Modified`, at most a day.
const MAX_HEURISTIC: Duration = Duration::from_secs(86_400);

/// A request as the cache sees it.
#[derive(Debug)]
pub struct Ask<'a> {
    /// The service it goes to.
    pub service: &'a str,
    /// Path and query as sent to the service.
    pub target: &'a str,
    /// Its headers as sent, for `Vary`.
    pub headers: &'a HeaderMap,
    url: u64,
    scope: u64,
    /// It carries `Authorization` or `Cookie`.
    pub credentials: bool,
    /// What its `Cache-Control` asks.
    pub directives: RequestDirectives,
}

impl Ask<'_> {
    /// The key requests that may share one upstream answer wait on.
    fn flight(&self) -> u64 {
        self.url ^ self.scope.rotate_left(17)
    }
}

/// What the cache holds for a request.
#[derive(Debug)]
pub enum Lookup {
    /// An answer to serve as it is.
    Fresh(Arc<Entry>),
    /// An answer that needs revalidating (or may stand in, see [`Entry`]).
    Stale(Arc<Entry>),
    /// Nothing usable.
    Miss,
}

/// The cache of a BFF's upstream answers, shared by its services.
pub struct HttpCache {
    /// Headers that carry verified identities upstream (set once the
    /// authentication policies are known).
    pub identity: std::sync::OnceLock<Vec<HeaderName>>,
    store: Mutex<store::Store>,
    flights: flight::Flights,
    hasher: std::collections::hash_map::RandomState,
    ids: AtomicU64,
}

impl std::fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCache").finish_non_exhaustive()
    }
}

/// Counts one use of the cache.
pub(crate) fn record(service: &str, result: &'static str) {
    metrics::counter!("bff_cache_requests_total", "service" => service.to_owned(), "result" => result)
        .increment(1);
}

impl HttpCache {
    /// A cache of at most `max_bytes` of answers.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            identity: std::sync::OnceLock::new(),
            store: Mutex::new(store::Store::new(
                usize::try_from(max_bytes).unwrap_or(usize::MAX),
            )),
            flights: flight::Flights::default(),
            hasher: std::collections::hash_map::RandomState::new(),
            ids: AtomicU64::new(1),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, store::Store> {
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn url(&self, service: &str, target: &str) -> u64 {
        self.hasher.hash_one((service, target))
    }

    /// A composed call's request: scoped by every header it carries (but
    /// those naming one request), so answers to requests built with
    /// another caller's identity or credentials are never reused.
    pub fn ask_call<'a>(
        &self,
        service: &'a str,
        target: &'a str,
        headers: &'a HeaderMap,
    ) -> Ask<'a> {
        let mut pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .filter(|(k, _)| !PER_REQUEST.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        pairs.sort_unstable();
        self.ask(service, target, headers, self.hasher.hash_one(pairs))
    }

    /// A pass-through request: scoped by the identity headers the BFF
    /// added (`identity`), so one caller's answer never reaches another.
    pub fn ask_proxy<'a>(
        &self,
        service: &'a str,
        target: &'a str,
        headers: &'a HeaderMap,
        identity: &HeaderMap,
    ) -> Ask<'a> {
        let mut h = self.hasher.build_hasher();
        for (k, v) in identity {
            (k.as_str(), v.as_bytes()).hash(&mut h);
        }
        self.ask(service, target, headers, h.finish())
    }

    fn ask<'a>(
        &self,
        service: &'a str,
        target: &'a str,
        headers: &'a HeaderMap,
        scope: u64,
    ) -> Ask<'a> {
        let credentials =
            headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE);
        Ask {
            service,
            target,
            headers,
            url: self.url(service, target),
            // Requests with credentials and without never share answers: a
            // `401` to an anonymous request is no answer for a signed-in
            // one, nor is what a signed-in caller was shown for others.
            scope: scope ^ u64::from(credentials),
            credentials,
            directives: RequestDirectives::read(headers),
        }
    }

    /// Whether a request carries credentials or a verified identity: an
    /// answer to it is for that caller only, unless it says otherwise.
    pub fn personal(&self, headers: &HeaderMap) -> bool {
        headers.contains_key(header::AUTHORIZATION)
            || headers.contains_key(header::COOKIE)
            || self
                .identity
                .get()
                .is_some_and(|names| names.iter().any(|n| headers.contains_key(n)))
    }

    /// What is stored for a request, by its directives.
    pub fn lookup(&self, ask: &Ask<'_>) -> Lookup {
        let variants = {
            let mut store = self.store();
            let before = store.bytes();
            let variants = store.variants(ask.url);
            if store.bytes() != before {
                metrics::gauge!("bff_cache_bytes").set(store.bytes() as f64);
            }
            variants
        };
        let best = variants
            .into_iter()
            // The URL is compared whole, not only by its hash.
            .filter(|e| &*e.target == ask.target && &*e.service == ask.service)
            .filter(|e| e.scope == ask.scope && e.selected_by(ask.headers))
            .max_by_key(|e| e.id);
        let Some(e) = best else {
            return Lookup::Miss;
        };
        let d = &ask.directives;
        if d.no_cache {
            return Lookup::Stale(e);
        }
        let young_enough = d.max_age.is_none_or(|m| e.age() <= Duration::from_secs(m));
        let fresh_enough = d
            .min_fresh
            .is_none_or(|m| e.left() >= Duration::from_secs(m));
        if young_enough && fresh_enough && e.is_fresh() {
            return Lookup::Fresh(e);
        }
        if young_enough
            && let Some(max_stale) = d.max_stale
            && e.within_max_stale(max_stale)
        {
            return Lookup::Fresh(e);
        }
        Lookup::Stale(e)
    }

    /// Whose turn it is to ask the service after a miss.
    pub fn turn(&self, ask: &Ask<'_>) -> Turn<'_> {
        self.flights.turn(ask.flight())
    }

    /// Whether an answer with this status and these headers would be
    /// stored (before its body is read).
    pub fn may_keep(
        &self,
        ask: &Ask<'_>,
        status: StatusCode,
        headers: &HeaderMap,
        ttl: Option<Duration>,
    ) -> bool {
        !ask.directives.no_store
            && keeping(status, headers, ask.credentials, ttl, SystemTime::now()).is_some()
    }

    /// Stores an answer when RFC 9111 and the service's `ttl` allow; the
    /// stored entry, if it was.
    pub fn admit(
        &self,
        ask: &Ask<'_>,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        requested: SystemTime,
        ttl: Option<Duration>,
    ) -> Option<Arc<Entry>> {
        if ask.directives.no_store {
            return None;
        }
        let (lifetime, stale) = keeping(status, headers, ask.credentials, ttl, SystemTime::now())?;
        let Vary::Headers(names) = directives::vary(headers) else {
            return None;
        };
        let vary: entry::Selecting = names
            .into_iter()
            .map(|n| {
                let v = directives::normalized(ask.headers, &n);
                (n, v)
            })
            .collect();
        let mut headers = headers.clone();
        headers.remove("surrogate-control");
        let entry = Arc::new(Entry::new(
            self.ids.fetch_add(1, Ordering::Relaxed),
            Parts {
                url: ask.url,
                scope: ask.scope,
                service: Arc::from(ask.service),
                target: ask.target.into(),
                vary,
                status,
                headers,
                body,
                lifetime,
                stale,
                requested,
            },
        ));
        self.put(entry.clone(), ask);
        Some(entry)
    }

    fn put(&self, entry: Arc<Entry>, ask: &Ask<'_>) {
        let mut store = self.store();
        let replaces: Vec<u64> = store
            .variants(ask.url)
            .iter()
            .filter(|e| e.scope == entry.scope && e.vary == entry.vary)
            .map(|e| e.id)
            .collect();
        let evicted = store.insert(entry, &replaces);
        metrics::gauge!("bff_cache_bytes").set(store.bytes() as f64);
        if evicted > 0 {
            metrics::counter!("bff_cache_evictions_total").increment(evicted as u64);
        }
    }

    /// The stored answer renewed by a `304` (its headers merged in). It is
    /// stored again unless the merged headers no longer allow keeping it.
    pub fn revalidated(
        &self,
        ask: &Ask<'_>,
        old: &Entry,
        not_modified: &HeaderMap,
        requested: SystemTime,
        ttl: Option<Duration>,
    ) -> Arc<Entry> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let headers = old.headers_after(not_modified);
        let keep = keeping(
            old.status,
            &headers,
            ask.credentials,
            ttl,
            SystemTime::now(),
        );
        let (lifetime, stale) = keep.unwrap_or_default();
        let entry = Arc::new(old.updated(id, headers, not_modified, requested, lifetime, stale));
        if keep.is_some() && !ask.directives.no_store {
            self.put(entry.clone(), ask);
        } else {
            self.store().remove(old.id);
        }
        entry
    }

    /// Drops what is stored for these targets of a service (after a
    /// successful unsafe request, RFC 9111 §4.4).
    pub fn invalidate<'t>(&self, service: &str, targets: impl IntoIterator<Item = &'t str>) {
        let mut store = self.store();
        for t in targets {
            store.remove_url(self.url(service, t));
        }
        metrics::gauge!("bff_cache_bytes").set(store.bytes() as f64);
    }

    /// Drops the stored answers of a service (all of them, or those whose
    /// target starts with `prefix`); returns how many.
    pub fn purge(&self, service: &str, prefix: Option<&str>) -> usize {
        let mut store = self.store();
        let n = store.remove_where(|e| {
            &*e.service == service && prefix.is_none_or(|p| e.target.starts_with(p))
        });
        metrics::gauge!("bff_cache_bytes").set(store.bytes() as f64);
        n
    }
}

/// The targets an unsafe request's success makes stale (RFC 9111 §4.4):
/// its own, and those its `Location` and `Content-Location` name on the
/// same service (a path, or an absolute URL with `authority`).
pub(crate) fn invalidated_targets(
    target: &str,
    answer: &HeaderMap,
    authority: Option<&str>,
) -> Vec<String> {
    let mut out = vec![target.to_owned()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(v) = answer.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let v = v.split('#').next().unwrap_or_default().trim();
        let path = if let Some((scheme, rest)) = v.split_once("://")
            && !scheme.contains('/')
        {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if authority.is_none_or(|a| !a.eq_ignore_ascii_case(host)) {
                continue;
            }
            if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            }
        } else if v.starts_with('/') {
            v.to_owned()
        } else if v.is_empty() {
            continue;
        } else {
            // Relative to the target's last segment.
            let base = target.split('?').next().unwrap_or_default();
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{v}")
        };
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// Whether an answer may be stored, and if so for how long it is fresh
/// and how it may be used stale.
fn keeping(
    status: StatusCode,
    headers: &HeaderMap,
    credentials: bool,
    ttl: Option<Duration>,
    received: SystemTime,
) -> Option<(Duration, Staleness)> {
    if status.as_u16() < 200
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || headers.contains_key(header::SET_COOKIE)
        || directives::vary(headers) == Vary::Anything
    {
        return None;
    }
    let cc = ResponseDirectives::read(headers);
    let surrogate = SurrogateDirectives::read(headers);
    let no_store = surrogate.as_ref().map_or(cc.no_store, |s| s.no_store);
    if no_store || cc.private || (credentials && !cc.shareable()) {
        return None;
    }
    if cc.must_understand && status.canonical_reason().is_none() {
        return None;
    }
    let secs = Duration::from_secs;
    let explicit = surrogate
        .as_ref()
        .and_then(|s| s.max_age)
        .or(cc.s_maxage)
        .or(cc.max_age)
        .map(secs)
        .or_else(|| directives::expires_lifetime(headers, received));
    let validators =
        headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
    let stale = Staleness {
        no_cache: cc.no_cache && surrogate.is_none(),
        never_stale: cc.must_revalidate || cc.s_maxage.is_some(),
        while_revalidate: cc.stale_while_revalidate.map_or(Duration::ZERO, secs),
        if_error: cc.stale_if_error.map_or(Duration::ZERO, secs),
    };
    let lifetime = match ttl.or(explicit) {
        Some(l) => l,
        None => heuristic(status, headers, received).unwrap_or_default(),
    };
    let useful = lifetime > Duration::ZERO || validators || stale.if_error > Duration::ZERO;
    useful.then_some((lifetime, stale))
}

/// A tenth of the time since `Last-Modified`, for statuses that allow it.
fn heuristic(status: StatusCode, headers: &HeaderMap, received: SystemTime) -> Option<Duration> {
    if !HEURISTIC.contains(&status.as_u16()) {
        return None;
    }
    let modified = directives::date(headers, &header::LAST_MODIFIED)?;
    let date = directives::date(headers, &header::DATE).unwrap_or(received);
    let since = date.duration_since(modified).ok()?;
    Some((since / 10).min(MAX_HEURISTIC))
}

#[cfg(test)]
mod tests;
