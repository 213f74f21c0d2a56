//! Background renewal for `stale-while-revalidate`: one detached request,
//! conditional when the entry has validators, bounded by a timeout; its
//! answer (or `304`) replaces the entry. Nobody waits for it, so a failure
//! only means the entry is renewed later.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;

use crate::cache::{Entry, HttpCache};
use crate::upstream::{Payload, Upstream, Via};

/// Whose request the entry answers: how its key is rebuilt.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    /// A composed call (keyed by all its headers).
    Call,
    /// A pass-through request, with the identity headers the BFF added.
    Proxy(HeaderMap),
}

/// The request to renew an entry with.
#[derive(Debug)]
pub(crate) struct Renewal {
    /// The service, running.
    pub upstream: Arc<Upstream>,
    /// Largest answer read.
    pub max_response_bytes: usize,
    /// Path and query.
    pub target: String,
    /// The request's headers, as first sent (without validators).
    pub headers: HeaderMap,
    /// Its body, if any.
    pub body: Option<Bytes>,
    /// How it was keyed.
    pub scope: Scope,
    /// How long the renewal may take.
    pub timeout: Duration,
    /// The service's `ttl`, if any.
    pub ttl: Option<Duration>,
}

/// Renews `old` in the background.
pub(crate) fn spawn(cache: Arc<HttpCache>, old: Arc<Entry>, r: Renewal) {
    tokio::spawn(async move {
        // Through the service's door like any request: not while its
        // circuit is open or it is at its limit.
        let up = &r.upstream;
        let Ok((_pass, attempt)) = up.open(None) else {
            return;
        };
        let mut headers = r.headers.clone();
        for (name, value) in old.validators() {
            headers.insert(name, value);
        }
        let mut req = http::Request::new(());
        *req.headers_mut() = headers;
        let (head, ()) = req.into_parts();
        let requested = SystemTime::now();
        let limit = r.max_response_bytes;
        let exchange = async {
            let body = Payload::Whole(r.body.clone());
            let sent = up.send(&attempt, Via::Http, head, &r.target, body, None);
            let resp = sent.await.ok()?;
            let status = resp.status();
            if status.is_server_error() {
                return None;
            }
            let (head, body) = resp.into_parts();
            let bytes = http_body_util::Limited::new(body, limit)
                .collect()
                .await
                .ok()?;
            Some((status, head.headers, bytes.to_bytes()))
        };
        let answer = tokio::time::timeout(r.timeout, exchange)
            .await
            .ok()
            .flatten();
        attempt.finish(answer.is_some());
        let Some((status, headers, body)) = answer else {
            return;
        };
        let name = up.name.as_str();
        let ask = match &r.scope {
            Scope::Call => cache.ask_call(name, &r.target, &r.headers),
            Scope::Proxy(identity) => cache.ask_proxy(name, &r.target, &r.headers, identity),
        };
        if status == StatusCode::NOT_MODIFIED {
            cache.revalidated(&ask, &old, &headers, requested, r.ttl);
        } else {
            cache.admit(&ask, status, &headers, body, requested, r.ttl);
        }
    });
}
