//! A call's request through the service's HTTP cache: served fresh,
//! served stale while one detached request renews it, revalidated with
//! its validators, or fetched (once for concurrent misses) and stored by
//! RFC 9111's rules. Every answer also tells the composed answer how fresh
//! and how private this part is.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use jaq_json::Val;
use tokio::time::Instant;

use super::call::{Capture, Rendered, decode, fetch};
use super::error::CallError;
use crate::cache::directives::{ResponseDirectives, SURROGATE_CAPABILITY};
use crate::cache::{self, Ask, Entry, HttpCache, Lookup, Part, Turn};
use crate::plan::Call;
use crate::running::Running;

/// Whether an answer to this request is for its caller only: the answer
/// says `private`, or the request carried credentials or a verified
/// identity and the answer does not say it may be shared.
fn private_part(personal: bool, answer: &HeaderMap) -> bool {
    let cc = ResponseDirectives::read(answer);
    cc.private || (personal && !cc.shareable())
}

/// An answer and what it says about the composed answer it is part of.
pub(super) type Fetched = (Result<Val, CallError>, Part);

/// A kept entry as a part of the answer being composed.
fn entry_part(e: &Entry, personal: bool) -> Part {
    let left = e.left();
    Part {
        left: (left > Duration::ZERO).then_some(left),
        private: private_part(personal, &e.headers),
    }
}

/// A call to a service without a cache (or not a GET): fetched, a part
/// that cannot be kept. An unsafe request that succeeds drops
/// what a cached service had stored for its target.
pub(super) async fn uncached(
    call: &Call,
    r: Rendered,
    running: &Running,
    deadline: Instant,
) -> Fetched {
    uncached_seen(call, r, running, deadline).await.0
}

/// [`uncached`], with the headers of the answer: what a call that exposes
/// headers (`expose_headers`) is sent with, every time, since the HTTP
/// cache keeps answers for their bodies.
pub(super) async fn uncached_seen(
    call: &Call,
    r: Rendered,
    running: &Running,
    deadline: Instant,
) -> (Fetched, Option<HeaderMap>) {
    let capture = Capture::default();
    let result = fetch(call, &r, running, deadline, Some(&capture)).await;
    let cache = call.service.cache.is_some().then_some(&running.call_cache);
    let personal = cache.map_or_else(|| r.has_credentials(), |c| c.personal(&r.headers));
    let answer = capture.take();
    let private = answer
        .as_ref()
        .is_some_and(|(_, h, _)| private_part(personal, h));
    let part = Part::unkept(private || (personal && answer.is_none()));
    if let (Some(c), Ok(_), Some((_, headers, _))) = (cache, &result, &answer)
        && !matches!(call.method, http::Method::GET | http::Method::HEAD)
    {
        let targets = cache::invalidated_targets(&r.path, headers, None);
        c.invalidate(&call.service.name, targets.iter().map(String::as_str));
    }
    ((result, part), answer.map(|(_, h, _)| h))
}

/// A GET to a cached service.
pub(super) async fn fetch_cached(
    call: &Call,
    mut r: Rendered,
    running: &Running,
    deadline: Instant,
    ttl: Option<Duration>,
) -> Fetched {
    let cache = &running.call_cache;
    r.headers.insert(
        "surrogate-capability",
        HeaderValue::from_static(SURROGATE_CAPABILITY),
    );
    let ask = cache.ask_call(&call.service.name, &r.path, &r.headers);
    let personal = cache.personal(&r.headers);
    let through = Through {
        cache,
        ask: &ask,
        ttl,
        personal,
    };
    let mut waited = false;
    loop {
        match cache.lookup(&ask) {
            Lookup::Fresh(e) => {
                cache::record(&call.service.name, "hit");
                let part = entry_part(&e, personal);
                return (decode(&e.body).map_err(|_| CallError::Malformed), part);
            }
            Lookup::Stale(e) if e.within_swr() => {
                // stale-while-revalidate: the kept answer now, one
                // detached request renews it.
                cache::record(&call.service.name, "stale-while-revalidate");
                let part = Part::unkept(private_part(personal, &e.headers));
                if e.claim_refresh() {
                    refresh_in_background(call, r.clone(), running, cache.clone(), ttl, e.clone());
                }
                return (decode(&e.body).map_err(|_| CallError::Malformed), part);
            }
            Lookup::Stale(e) => {
                return Box::pin(ask_service(call, &r, running, deadline, &through, Some(&e)))
                    .await;
            }
            Lookup::Miss if !waited => match cache.turn(&ask) {
                Turn::Wait(rx) => {
                    // Another request for the same answer is under way:
                    // whatever it stores serves this one too.
                    cache::wait(rx, deadline.saturating_duration_since(Instant::now())).await;
                    waited = true;
                }
                Turn::Lead(lead) => {
                    let result =
                        Box::pin(ask_service(call, &r, running, deadline, &through, None)).await;
                    drop(lead);
                    return result;
                }
            },
            Lookup::Miss => {
                return Box::pin(ask_service(call, &r, running, deadline, &through, None)).await;
            }
        }
    }
}

/// What storing an answer of this request needs: the cache and the
/// request's place in it, the service's `ttl`, and whether the request
/// was made for one caller.
struct Through<'a> {
    cache: &'a HttpCache,
    ask: &'a Ask<'a>,
    ttl: Option<Duration>,
    personal: bool,
}

impl Through<'_> {
    /// Stores a new answer if it may be kept; what it is as a part.
    fn keep(
        &self,
        answer: Option<(StatusCode, HeaderMap, bytes::Bytes)>,
        requested: SystemTime,
    ) -> Part {
        match answer {
            Some((status, headers, body)) => {
                match self
                    .cache
                    .admit(self.ask, status, &headers, body, requested, self.ttl)
                {
                    Some(e) => entry_part(&e, self.personal),
                    None => Part::unkept(private_part(self.personal, &headers)),
                }
            }
            None => Part::unkept(self.personal),
        }
    }
}

/// Asks the service, and stores its answer if it may be kept. With a kept
/// answer past its freshness (`old`), the request is conditional: a `304`
/// renews it, and a failing service has it stand in (stale-if-error).
async fn ask_service(
    call: &Call,
    r: &Rendered,
    running: &Running,
    deadline: Instant,
    through: &Through<'_>,
    old: Option<&Arc<Entry>>,
) -> Fetched {
    let mut conditional;
    let mut sent = r;
    if let Some(old) = old.filter(|o| o.has_validators()) {
        conditional = r.clone();
        for (name, value) in old.validators() {
            conditional.headers.insert(name, value);
        }
        sent = &conditional;
    }
    let requested = SystemTime::now();
    let capture = Capture::default();
    let service = &call.service.name;
    match (
        fetch(call, sent, running, deadline, Some(&capture)).await,
        old,
    ) {
        (Err(CallError::Status(s)), Some(old))
            if s == StatusCode::NOT_MODIFIED && old.has_validators() =>
        {
            cache::record(service, "revalidated");
            let headers = capture.take().map(|(_, h, _)| h).unwrap_or_default();
            let renewed =
                through
                    .cache
                    .revalidated(through.ask, old, &headers, requested, through.ttl);
            let part = entry_part(&renewed, through.personal);
            (
                decode(&renewed.body).map_err(|_| CallError::Malformed),
                part,
            )
        }
        (Ok(v), _) => {
            cache::record(service, "miss");
            (Ok(v), through.keep(capture.take(), requested))
        }
        (Err(e), Some(old)) if e.is_upstream_failure() && old.may_stand_in() => {
            cache::record(service, "stale");
            let part = Part::unkept(private_part(through.personal, &old.headers));
            let stale = decode(&old.body)
                .map_err(|_| CallError::Malformed)
                .and_then(|v| Err(CallError::Stale(v)));
            (stale, part)
        }
        (Err(e), _) => {
            if old.is_none() {
                cache::record(service, "miss");
            }
            (Err(e), Part::unkept(through.personal))
        }
    }
}

/// Renews an entry with a request no caller waits for, bounded by the
/// call's timeout.
fn refresh_in_background(
    call: &Call,
    r: Rendered,
    running: &Running,
    cache: Arc<HttpCache>,
    ttl: Option<Duration>,
    old: Arc<Entry>,
) {
    let renewal = super::refresh::Renewal {
        upstream: running.upstream(&call.service).clone(),
        max_response_bytes: call.service.max_response_bytes,
        target: r.path,
        headers: r.headers,
        body: r.body,
        scope: super::refresh::Scope::Call,
        timeout: call.timeout,
        ttl,
    };
    super::refresh::spawn(cache, old, renewal);
}
