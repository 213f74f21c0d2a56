//! The cache of composed answers: an endpoint with `cache: { ttl }` keeps
//! its complete (not partial) `200` answers for that long. The key holds
//! the method, the path with its sorted query, the `Accept` and
//! `Accept-Language` the answer may depend on, and — on endpoints with
//! `auth` — the caller's subject, so an answer made for one caller is only
//! ever served to them. Concurrent misses make one composition. Entries
//! can be purged by request target, endpoint or tag.

mod shared;

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;

/// Why a purge may have left entries it names.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PurgeError {
    /// No connection to Redis could be made; told as the client says it.
    #[error("{}", .0.0)]
    Connect(crate::redis_store::StoreError),
    /// Redis answered the purge with an error.
    #[error("redis: {0}")]
    Redis(redis::RedisError),
    /// Redis did not answer within `redis.timeout`.
    #[error("redis did not answer in time")]
    Timeout,
    /// This process's entries could not be marked for dropping.
    #[error(transparent)]
    Local(#[from] moka::PredicateError),
}

/// A kept answer.
#[derive(Debug)]
pub(crate) struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    /// How long this process keeps it (zero when Redis keeps it).
    ttl: Duration,
    /// How long it is fresh, for the headers.
    fresh_for: Duration,
    private: bool,
    /// How fresh and private its parts were.
    parts: crate::cache::Freshness,
    /// `GET /v1/x?a=1`: what an exact purge names.
    pub target: String,
    /// The endpoint, e.g. `GET /v1/products/{id}`.
    pub endpoint: String,
    /// Tags from the endpoint's spec.
    pub tags: Vec<String>,
}

struct ByTtl;

impl moka::Expiry<u64, Arc<Answer>> for ByTtl {
    fn expire_after_create(&self, _: &u64, v: &Arc<Answer>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// The composed-answer cache of a BFF.
pub(crate) struct AnswerCache {
    entries: moka::future::Cache<u64, Arc<Answer>>,
    hasher: std::collections::hash_map::RandomState,
    shared: Option<shared::RedisAnswers>,
}

/// Where an answer is kept: a key for this process, and one every replica
/// computes alike (for Redis).
#[derive(Debug, Clone)]
pub(crate) struct Key {
    local: u64,
    shared: String,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache").finish_non_exhaustive()
    }
}

/// What to purge.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Purge {
    /// A request target, e.g. `GET /v1/products/p-1?lang=en` (every caller's entry).
    #[serde(default)]
    pub key: Option<String>,
    /// An endpoint as its spec names it, e.g. `GET /v1/products/{id}`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A tag from endpoint specs.
    #[serde(default)]
    pub tag: Option<String>,
    /// A service: drops the upstream answers kept for it (its calls' and
    /// its pass-through routes'), not composed answers.
    #[serde(default)]
    pub service: Option<String>,
    /// With `service`: only upstream answers whose path starts with this
    /// (as sent to the service, e.g. `/products/p-1`).
    #[serde(default)]
    pub prefix: Option<String>,
}

impl AnswerCache {
    /// A cache of at most `max_bytes` of bodies in this process, or in
    /// Redis when `redis` is given.
    pub(crate) fn new(max_bytes: u64, redis: Option<Arc<crate::redis_store::Redis>>) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .weigher(|_, v: &Arc<Answer>| u32::try_from(v.body.len()).unwrap_or(u32::MAX))
                .expire_after(ByTtl)
                .support_invalidation_closures()
                .build(),
            hasher: std::collections::hash_map::RandomState::new(),
            shared: redis.map(shared::RedisAnswers::new),
        }
    }

    /// The key of a request; `subject` is the caller on endpoints with `auth`.
    pub(crate) fn key(
        &self,
        endpoint: &str,
        target: &str,
        headers: &HeaderMap,
        subject: Option<&str>,
    ) -> Key {
        let get = |h: header::HeaderName| headers.get(h).map(HeaderValue::as_bytes);
        let material = (
            endpoint,
            target,
            get(header::ACCEPT),
            get(header::ACCEPT_LANGUAGE),
            subject,
        );
        let local = self.hasher.hash_one(material);
        let shared = if self.shared.is_some() {
            let text = format!("{material:?}");
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
            d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
        } else {
            String::new()
        };
        Key { local, shared }
    }

    /// The answer for `key`, composing it with `fill` on a miss; only a
    /// complete `200` is kept.
    pub(crate) async fn get_or_fill<F>(
        &self,
        key: Key,
        meta: (&str, &str, &[String], Option<Duration>, bool),
        fill: F,
    ) -> Response
    where
        F: Future<Output = Response>,
    {
        let (endpoint, target, tags, ttl, private) = meta;
        let hit = self.entries.get(&key.local).await;
        let fresh = hit.is_some();
        let answer = match hit {
            Some(a) => a,
            None => {
                self.entries
                    .get_with(key.local, async {
                        if let Some(answer) = self.shared_answer(&key, target, endpoint, tags).await
                        {
                            return answer;
                        }
                        let response = fill.await;
                        let parts = response
                            .extensions()
                            .get::<crate::cache::Freshness>()
                            .copied()
                            .unwrap_or_default();
                        // Without a ttl of its own, as fresh as its least
                        // fresh part. A part made for one caller keeps the
                        // whole out of this shared cache unless the endpoint
                        // has `auth` to key by, whatever the ttl.
                        let ttl = if private || !parts.private {
                            ttl.or_else(|| parts.lifetime())
                        } else {
                            None
                        };
                        // An answer that sets a cookie (an extension's) is
                        // the caller's own: never kept for others.
                        let keep = response.status() == StatusCode::OK
                            && !response.headers().contains_key(crate::headers::PARTIAL)
                            && !response.headers().contains_key(http::header::SET_COOKIE);
                        let ttl = ttl.filter(|_| keep).unwrap_or_default();
                        let (head, body) = response.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(http_body_util::Collected::to_bytes)
                            .unwrap_or_default();
                        if let Some(sh) = &self.shared
                            && ttl > Duration::ZERO
                        {
                            let stored = shared::Stored::new(
                                head.status,
                                &head.headers,
                                &body,
                                ttl,
                                private,
                            );
                            let mut index = shared::index_sets(Some(target), Some(endpoint), None);
                            for t in tags {
                                index.extend(shared::index_sets(None, None, Some(t)));
                            }
                            sh.put(&key.shared, &stored, &index).await;
                        }
                        Arc::new(Answer {
                            status: head.status,
                            headers: head.headers,
                            body,
                            stored: Instant::now(),
                            // With Redis, this process keeps nothing itself,
                            // so a purge anywhere reaches it.
                            ttl: if self.shared.is_some() {
                                Duration::ZERO
                            } else {
                                ttl
                            },
                            fresh_for: ttl,
                            private,
                            parts,
                            target: target.to_owned(),
                            endpoint: endpoint.to_owned(),
                            tags: tags.to_vec(),
                        })
                    })
                    .await
            }
        };
        if !fresh {
            // moka applies its bound lazily; a new entry must not leave
            // the cache over it until some later request.
            self.entries.run_pending_tasks().await;
        }
        metrics::counter!(
            "bff_cache_requests_total",
            "service" => "answers",
            "result" => if fresh { "hit" } else { "miss" }
        )
        .increment(1);
        answer.response()
    }

    async fn shared_answer(
        &self,
        key: &Key,
        target: &str,
        endpoint: &str,
        tags: &[String],
    ) -> Option<Arc<Answer>> {
        let stored = self.shared.as_ref()?.get(&key.shared).await?;
        let (status, headers, body, age, fresh_for, private) = stored.parts()?;
        metrics::counter!("bff_cache_requests_total", "service" => "answers-shared", "result" => "hit")
            .increment(1);
        Some(Arc::new(Answer {
            status,
            headers,
            body,
            stored: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
            ttl: Duration::ZERO,
            fresh_for,
            private,
            parts: crate::cache::Freshness::default(),
            target: target.to_owned(),
            endpoint: endpoint.to_owned(),
            tags: tags.to_vec(),
        }))
    }

    /// Drops every entry the purge names, here and (with Redis) for every replica.
    pub(crate) async fn purge(&self, what: &Purge) -> Result<(), PurgeError> {
        if what.key.is_none() && what.endpoint.is_none() && what.tag.is_none() {
            return Ok(());
        }
        if let Some(sh) = &self.shared {
            sh.purge(what).await?;
        }
        let what = what.clone();
        self.entries
            .invalidate_entries_if(move |_, a| {
                what.key.as_ref().is_some_and(|k| *k == a.target)
                    || what.endpoint.as_ref().is_some_and(|e| *e == a.endpoint)
                    || what.tag.as_ref().is_some_and(|t| a.tags.contains(t))
            })
            .map(|_| ())
            .map_err(PurgeError::Local)
    }
}

impl Answer {
    fn response(&self) -> Response {
        let mut r = Response::new(Body::from(self.body.clone()));
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r.extensions_mut().insert(self.parts);
        // An extension's own `no-store` (partner answers) stays as it is.
        let no_store = self
            .headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("no-store")));
        if self.fresh_for > Duration::ZERO && !no_store {
            let age = self.stored.elapsed();
            let left = self.fresh_for.saturating_sub(age).as_secs();
            let cc = if self.private {
                format!("private, max-age={left}")
            } else {
                format!("max-age={left}")
            };
            let h = r.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::try_from(cc).expect("ascii"),
            );
            h.insert(header::AGE, HeaderValue::from(age.as_secs()));
        }
        r
    }
}
