//! One stored answer: what it is (status, headers, body), which request
//! it answers (service, target, the values of the headers it varies on),
//! and how old it is by RFC 9111 §4.2.3. It says whether it is fresh,
//! may be served stale, and how a `304` updates it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::directives;

/// Headers a `304` never changes in a stored answer (RFC 9111 §3.2: they
/// describe the stored body, which the `304` does not carry).
const KEPT_ON_UPDATE: [HeaderName; 5] = [
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_RANGE,
    header::ETAG,
    HeaderName::from_static("content-md5"),
];

/// Headers never stored: they belong to one connection or one client
/// (`Set-Cookie` answers are not stored at all; a `304`'s is passed to
/// its own client only).
pub(super) const NEVER_STORED: [HeaderName; 12] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    HeaderName::from_static("proxy-authentication-info"),
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::SET_COOKIE,
    header::AGE,
];

/// The values a request had for each header an answer varies on
/// (normalized; `None` for absent).
pub(super) type Selecting = Box<[(HeaderName, Option<Box<[u8]>>)]>;

/// How an entry may be used past its freshness.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Staleness {
    /// `no-cache`: revalidated on every use.
    pub no_cache: bool,
    /// `must-revalidate`, `proxy-revalidate` or `s-maxage`: never served
    /// stale, not even when the service fails.
    pub never_stale: bool,
    /// `stale-while-revalidate`.
    pub while_revalidate: Duration,
    /// `stale-if-error`.
    pub if_error: Duration,
}

/// A stored answer.
#[derive(Debug)]
pub struct Entry {
    pub(super) id: u64,
    /// Service and target, hashed: what invalidation names.
    pub(super) url: u64,
    /// Credentials and identity the request was made with, hashed.
    pub(super) scope: u64,
    /// The service, for purges.
    pub(super) service: Arc<str>,
    /// Path and query as sent upstream, for purges by prefix.
    pub(super) target: Box<str>,
    /// The values the request had for each header the answer varies on.
    pub(super) vary: Selecting,
    /// Status of the answer.
    pub status: StatusCode,
    /// Headers of the answer, without those never stored.
    pub headers: HeaderMap,
    /// Body of the answer.
    pub body: Bytes,
    /// When the answer arrived (or was last revalidated).
    received: Instant,
    /// Its age on arrival (`corrected_initial_age`).
    initial_age: Duration,
    /// How long it is fresh for, counted from age zero.
    lifetime: Duration,
    pub(super) stale: Staleness,
    /// A background renewal is under way.
    refreshing: AtomicBool,
}

/// What an entry is made from.
pub(super) struct Parts {
    pub url: u64,
    pub scope: u64,
    pub service: Arc<str>,
    pub target: Box<str>,
    pub vary: Selecting,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub lifetime: Duration,
    pub stale: Staleness,
    /// When the request was sent.
    pub requested: SystemTime,
}

impl Entry {
    pub(super) fn new(id: u64, p: Parts) -> Self {
        let now = SystemTime::now();
        let initial_age = initial_age(&p.headers, p.requested, now);
        let mut headers = p.headers;
        for h in &NEVER_STORED {
            headers.remove(h);
        }
        Self {
            id,
            url: p.url,
            scope: p.scope,
            service: p.service,
            target: p.target,
            vary: p.vary,
            status: p.status,
            headers,
            body: p.body,
            received: Instant::now(),
            initial_age,
            lifetime: p.lifetime,
            stale: p.stale,
            refreshing: AtomicBool::new(false),
        }
    }

    /// Its current age (RFC 9111 §4.2.3).
    pub fn age(&self) -> Duration {
        self.initial_age.saturating_add(self.received.elapsed())
    }

    /// Freshness time left (zero when stale or to be revalidated on every use).
    pub fn left(&self) -> Duration {
        if self.stale.no_cache {
            return Duration::ZERO;
        }
        self.lifetime.saturating_sub(self.age())
    }

    /// Within its freshness lifetime, and not to be revalidated on each use.
    pub fn is_fresh(&self) -> bool {
        self.left() > Duration::ZERO
    }

    /// How long past its freshness it is.
    fn overdue(&self) -> Duration {
        self.age().saturating_sub(self.lifetime)
    }

    /// Within `stale-while-revalidate`: served as it is while renewed.
    pub fn within_swr(&self) -> bool {
        !self.stale.never_stale
            && !self.stale.no_cache
            && self.overdue() < self.stale.while_revalidate
    }

    /// Within `stale-if-error`: stands in for a failing service.
    pub fn may_stand_in(&self) -> bool {
        !self.stale.never_stale && self.overdue() < self.stale.if_error
    }

    /// Served stale by a request's `max-stale`.
    pub(super) fn within_max_stale(&self, max_stale: super::directives::MaxStale) -> bool {
        let within = match max_stale {
            super::directives::MaxStale::Any => true,
            super::directives::MaxStale::Seconds(s) => self.overdue() <= Duration::from_secs(s),
        };
        !self.stale.never_stale && !self.stale.no_cache && within
    }

    /// How long past fresh it is still worth keeping: to be served stale,
    /// or (with validators) to be renewed by a `304` instead of a body.
    pub(super) fn retention(&self) -> Duration {
        let validators = if self.has_validators() {
            self.lifetime.max(MIN_VALIDATOR_RETENTION)
        } else {
            Duration::ZERO
        };
        self.stale
            .while_revalidate
            .max(self.stale.if_error)
            .max(validators)
    }

    /// Past any use: neither fresh, nor servable stale, nor worth revalidating.
    pub(super) fn is_dead(&self) -> bool {
        self.overdue() > self.retention()
    }

    /// Whether a conditional request could renew it.
    pub fn has_validators(&self) -> bool {
        self.headers.contains_key(header::ETAG) || self.headers.contains_key(header::LAST_MODIFIED)
    }

    /// The conditional headers that ask the service whether it changed.
    pub fn validators(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let etag = self
            .headers
            .get(header::ETAG)
            .map(|v| (header::IF_NONE_MATCH, v.clone()));
        let lm = self
            .headers
            .get(header::LAST_MODIFIED)
            .map(|v| (header::IF_MODIFIED_SINCE, v.clone()));
        etag.into_iter().chain(lm)
    }

    /// Whether the caller is the one to renew it (nobody else is yet).
    pub fn claim_refresh(&self) -> bool {
        !self.refreshing.swap(true, Ordering::AcqRel)
    }

    /// The stored headers with those of a `304` that renewed the answer
    /// (RFC 9111 §3.2): each it carries replaces the stored one, but for
    /// those describing the stored body and those never stored.
    pub(super) fn headers_after(&self, not_modified: &HeaderMap) -> HeaderMap {
        let mut headers = self.headers.clone();
        let mut replaced: Vec<&HeaderName> = Vec::new();
        for (name, value) in not_modified {
            if KEPT_ON_UPDATE.contains(name) || NEVER_STORED.contains(name) {
                continue;
            }
            if !replaced.contains(&name) {
                headers.remove(name);
                replaced.push(name);
            }
            headers.append(name.clone(), value.clone());
        }
        headers
    }

    /// The stored answer with `headers` (from [`Entry::headers_after`]),
    /// fresh again from the `304` that renewed it (RFC 9111 §4.3.4).
    pub(super) fn updated(
        &self,
        id: u64,
        headers: HeaderMap,
        not_modified: &HeaderMap,
        requested: SystemTime,
        lifetime: Duration,
        stale: Staleness,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            id,
            url: self.url,
            scope: self.scope,
            service: self.service.clone(),
            target: self.target.clone(),
            vary: self.vary.clone(),
            status: self.status,
            initial_age: initial_age(not_modified, requested, now),
            headers,
            body: self.body.clone(),
            received: Instant::now(),
            lifetime,
            stale,
            refreshing: AtomicBool::new(false),
        }
    }

    /// Bytes it holds, for the memory bound.
    pub(super) fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 32)
            .sum();
        self.body.len() + headers + self.target.len() + 256
    }

    /// Whether a request's headers select this entry (RFC 9111 §4.1).
    pub(super) fn selected_by(&self, request: &HeaderMap) -> bool {
        self.vary
            .iter()
            .all(|(name, value)| directives::normalized(request, name) == *value)
    }

    /// The stored answer as a response, with its current `Age`; a `304`
    /// when the request's own validators match it (RFC 9110 §13.2.2:
    /// `If-None-Match` first, `If-Modified-Since` only without it).
    pub fn response(&self, request: &HeaderMap, head_only: bool) -> Response {
        let mut headers = self.headers.clone();
        headers.insert(header::AGE, HeaderValue::from(self.age().as_secs()));
        if self.status == StatusCode::OK && self.not_modified_for(request) {
            for h in [
                header::CONTENT_LENGTH,
                header::CONTENT_TYPE,
                header::CONTENT_ENCODING,
                header::CONTENT_RANGE,
            ] {
                headers.remove(h);
            }
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            *r.headers_mut() = headers;
            return r;
        }
        let body = if head_only {
            Body::empty()
        } else {
            Body::from(self.body.clone())
        };
        let mut r = Response::new(body);
        *r.status_mut() = self.status;
        *r.headers_mut() = headers;
        r
    }

    fn not_modified_for(&self, request: &HeaderMap) -> bool {
        let tags = directives::entity_tags(request);
        if !tags.is_empty() {
            let Some(etag) = self.headers.get(header::ETAG) else {
                return tags.iter().any(|t| t == "*");
            };
            return tags
                .iter()
                .any(|t| t == "*" || directives::weak_match(t, etag));
        }
        let Some(since) = directives::date(request, &header::IF_MODIFIED_SINCE) else {
            return false;
        };
        directives::date(&self.headers, &header::LAST_MODIFIED)
            .or_else(|| directives::date(&self.headers, &header::DATE))
            .is_some_and(|modified| modified <= since)
    }
}

/// How long past fresh an entry with validators is kept at least, to be
/// renewed with a `304` (memory stays bounded: the least recently used go
/// first).
const MIN_VALIDATOR_RETENTION: Duration = Duration::from_secs(600);

/// The age of an answer on arrival: its `Age` plus the time it took to
/// arrive (RFC 9111 §4.2.3's `corrected_age_value`). The `Date`-based
/// `apparent_age` is left out: it measures the distance between two clocks
/// (with a second's resolution) as much as the answer's age, and a service
/// whose clock runs behind would have every answer stale. An invalid `Age`
/// makes the answer stale from the start.
fn initial_age(headers: &HeaderMap, requested: SystemTime, received: SystemTime) -> Duration {
    let Some(age) = directives::age(headers) else {
        return Duration::from_secs(u64::from(u32::MAX));
    };
    let delay = received.duration_since(requested).unwrap_or_default();
    Duration::from_secs(age) + delay
}
