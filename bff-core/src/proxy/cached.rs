//! Pass-through GETs to a cached service: answered from the cache while
//! fresh (a `304` when the client's own validators match), served stale
//! within `stale-while-revalidate` while one detached request renews the
//! entry, revalidated with the entry's validators, standing in for a
//! failing service within `stale-if-error`, and otherwise fetched — once
//! for concurrent misses — and stored when RFC 9111 allows. Answers too
//! large to keep stream through.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;

use crate::cache::directives::SURROGATE_CAPABILITY;
use crate::cache::{self, Ask, Entry, HttpCache, Lookup, Turn};
use crate::error::Refusal;
use crate::upstream;

/// Largest pass-through answer read whole to be cached; larger ones stream.
pub(super) const MAX_CACHED_BODY: usize = 1024 * 1024;

/// One GET on its way through the cache.
pub(super) struct Request<'a> {
    pub to: super::To<'a>,
    pub cache: &'a Arc<HttpCache>,
    pub ttl: Option<Duration>,
    /// The request as sent upstream (its headers include the identity).
    pub ask: &'a Ask<'a>,
    /// The identity headers the BFF added.
    pub scope: HeaderMap,
}

impl Request<'_> {
    fn service(&self) -> &str {
        &self.to.route.service.name
    }

    /// The answer: from the cache or the service.
    pub(super) async fn answer(self) -> Response {
        let mut waited = false;
        loop {
            match self.cache.lookup(self.ask) {
                Lookup::Fresh(e) => {
                    cache::record(self.service(), "hit");
                    return e.response(self.ask.headers, false);
                }
                Lookup::Stale(e) if e.within_swr() => {
                    cache::record(self.service(), "stale-while-revalidate");
                    if e.claim_refresh() {
                        self.refresh_in_background(e.clone());
                    }
                    return e.response(self.ask.headers, false);
                }
                Lookup::Stale(e) => return self.fetch(Some(e)).await,
                Lookup::Miss if self.ask.directives.only_if_cached => {
                    return Refusal::Timeout {
                        detail: "nothing is stored for this request (`only-if-cached`)".to_owned(),
                        call: None,
                    }
                    .into_response();
                }
                Lookup::Miss if !waited => match self.cache.turn(self.ask) {
                    Turn::Wait(rx) => {
                        // The same request is under way: whatever it stores
                        // serves this one too.
                        cache::wait(rx, self.to.route.timeout).await;
                        waited = true;
                    }
                    Turn::Lead(lead) => {
                        let r = self.fetch(None).await;
                        drop(lead);
                        return r;
                    }
                },
                Lookup::Miss => return self.fetch(None).await,
            }
        }
    }

    /// Asks the service: conditionally when `old` has validators.
    async fn fetch(&self, old: Option<Arc<Entry>>) -> Response {
        let route = self.to.route;
        let mut headers = self.ask.headers.clone();
        with_capability(&mut headers);
        if let Some(old) = old.as_ref().filter(|o| o.has_validators()) {
            headers.remove(header::IF_NONE_MATCH);
            headers.remove(header::IF_MODIFIED_SINCE);
            for (name, value) in old.validators() {
                headers.insert(name, value);
            }
        }
        let stand_in = |why: Response| match old.as_ref().filter(|o| o.may_stand_in()) {
            Some(o) => {
                cache::record(self.service(), "stale");
                o.response(self.ask.headers, false)
            }
            None => why,
        };
        let (_pass, attempt) = match super::door(self.to, &headers) {
            Ok(o) => o,
            Err(refused) => return stand_in(*refused),
        };
        let mut request = http::Request::new(());
        *request.headers_mut() = headers;
        let (head, ()) = request.into_parts();
        let requested = SystemTime::now();
        let (via, whole) = (upstream::Via::Http, upstream::Payload::Whole(None));
        let sent = super::send_once(self.to, attempt, via, (head, self.ask.target), whole, None);
        let resp = match sent.await {
            Ok(resp) => resp,
            Err(e @ upstream::SendError::BadTarget(_)) => return super::failed(route, &e),
            Err(e) => return stand_in(super::failed(route, &e)),
        };
        let status = resp.status();
        if status == StatusCode::NOT_MODIFIED
            && let Some(old) = old.as_ref().filter(|o| o.has_validators())
        {
            cache::record(self.service(), "revalidated");
            let renewed =
                self.cache
                    .revalidated(self.ask, old, resp.headers(), requested, self.ttl);
            let mut r = renewed.response(self.ask.headers, false);
            // A cookie set on revalidation is for this client only.
            for c in resp.headers().get_all(header::SET_COOKIE) {
                r.headers_mut().append(header::SET_COOKIE, c.clone());
            }
            return r;
        }
        if status.is_server_error() && old.as_ref().is_some_and(|o| o.may_stand_in()) {
            return stand_in(Response::new(Body::empty()));
        }
        cache::record(self.service(), "miss");
        let (mut head, incoming) = resp.into_parts();
        super::strip_hop_by_hop(&mut head.headers);
        let sized = head
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let keep = self
            .cache
            .may_keep(self.ask, status, &head.headers, self.ttl)
            && sized.is_none_or(|n| n <= MAX_CACHED_BODY);
        if !keep {
            head.headers.remove("surrogate-control");
            return Response::from_parts(head, Body::new(incoming));
        }
        match read_bounded(incoming, MAX_CACHED_BODY).await {
            Ok(Read::Whole(bytes)) => {
                self.cache.admit(
                    self.ask,
                    status,
                    &head.headers,
                    bytes.clone(),
                    requested,
                    self.ttl,
                );
                // Made by the service for this very request: passed on as
                // it came (no `Age` of the cache's own).
                head.headers.remove("surrogate-control");
                Response::from_parts(head, Body::from(bytes))
            }
            Ok(Read::Longer(body)) => {
                head.headers.remove("surrogate-control");
                Response::from_parts(head, body)
            }
            Err(()) => Refusal::BadGateway {
                detail: format!("service `{}` broke off its answer", self.service()),
                call: None,
            }
            .into_response(),
        }
    }

    fn refresh_in_background(&self, old: Arc<Entry>) {
        let mut headers = self.ask.headers.clone();
        with_capability(&mut headers);
        headers.remove(header::IF_NONE_MATCH);
        headers.remove(header::IF_MODIFIED_SINCE);
        let renewal = crate::exec::refresh::Renewal {
            upstream: self.to.up.clone(),
            max_response_bytes: self.to.route.service.max_response_bytes,
            target: self.ask.target.to_owned(),
            headers,
            body: None,
            scope: crate::exec::refresh::Scope::Proxy(self.scope.clone()),
            timeout: self.to.route.timeout,
            ttl: self.ttl,
        };
        crate::exec::refresh::spawn(self.cache.clone(), old, renewal);
    }
}

/// Announces this cache to the service, so `Surrogate-Control` may target it.
fn with_capability(headers: &mut HeaderMap) {
    headers.append(
        "surrogate-capability",
        HeaderValue::from_static(SURROGATE_CAPABILITY),
    );
}

/// A body read up to a bound.
enum Read {
    /// All of it.
    Whole(Bytes),
    /// More than the bound: what was read, then the rest, as one body.
    Longer(Body),
}

async fn read_bounded(mut body: hyper::body::Incoming, max: usize) -> Result<Read, ()> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut len = 0;
    loop {
        match body.frame().await {
            None => break,
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                len += data.len();
                chunks.push(data);
                if len > max {
                    let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, axum::Error>));
                    let rest = Body::new(body).into_data_stream();
                    return Ok(Read::Longer(Body::from_stream(head.chain(rest))));
                }
            }
        }
    }
    let mut whole = bytes::BytesMut::with_capacity(len);
    for c in chunks {
        whole.extend_from_slice(&c);
    }
    Ok(Read::Whole(whole.freeze()))
}
