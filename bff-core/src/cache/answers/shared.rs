//! Kept composed answers in Redis, shared by every replica: one replica's
//! answer serves the others, and a purge through any replica's admin
//! listener reaches all of them. Redis being down only means no caching.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Purge, PurgeError};
use crate::redis_store::Redis;

/// An answer as stored in Redis.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Stored {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Unix milliseconds when it was stored.
    stored_ms: u64,
    ttl_ms: u64,
    private: bool,
}

impl Stored {
    pub(super) fn new(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        ttl: Duration,
        private: bool,
    ) -> Self {
        Self {
            status: status.as_u16(),
            headers: headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: B64.encode(body),
            stored_ms: now_ms(),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            private,
        }
    }

    /// Status, headers, body, age and time left.
    pub(super) fn parts(&self) -> Option<(StatusCode, HeaderMap, Bytes, Duration, Duration, bool)> {
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers {
            headers.append(
                HeaderName::try_from(k).ok()?,
                HeaderValue::try_from(v).ok()?,
            );
        }
        let age = Duration::from_millis(now_ms().saturating_sub(self.stored_ms));
        let ttl = Duration::from_millis(self.ttl_ms);
        Some((
            StatusCode::from_u16(self.status).ok()?,
            headers,
            B64.decode(&self.body).ok()?.into(),
            age,
            ttl,
            self.private,
        ))
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Drops every member of the named index sets, and the sets.
const PURGE: &str = r"
local n = 0
for _, set in ipairs(KEYS) do
  for _, k in ipairs(redis.call('SMEMBERS', set)) do
    n = n + redis.call('DEL', k)
  end
  redis.call('DEL', set)
end
return n
";

/// The Redis side of the answer cache.
#[derive(Debug)]
pub(super) struct RedisAnswers {
    redis: Arc<Redis>,
}

impl RedisAnswers {
    /// Answers kept in this Redis.
    pub(super) fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }

    pub(super) async fn get(&self, key: &str) -> Option<Stored> {
        let mut conn = self.redis.connection().ok()?;
        let raw: Option<Vec<u8>> = tokio::time::timeout(
            self.redis.timeout(),
            redis::cmd("GET")
                .arg(format!("bff:a:{key}"))
                .query_async(&mut conn),
        )
        .await
        .ok()?
        .ok()?;
        serde_json::from_slice(&raw?).ok()
    }

    pub(super) async fn put(&self, key: &str, stored: &Stored, index: &[String]) {
        let Ok(mut conn) = self.redis.connection() else {
            return;
        };
        let Ok(json) = serde_json::to_vec(stored) else {
            return;
        };
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(format!("bff:a:{key}"))
            .arg(json)
            .arg("PX")
            .arg(stored.ttl_ms.max(1))
            .ignore();
        for set in index {
            pipe.cmd("SADD")
                .arg(set)
                .arg(format!("bff:a:{key}"))
                .ignore();
            pipe.cmd("PEXPIRE")
                .arg(set)
                .arg(stored.ttl_ms.max(1) * 2)
                .ignore();
        }
        let done: Result<Result<(), _>, _> =
            tokio::time::timeout(self.redis.timeout(), pipe.query_async(&mut conn)).await;
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!("answer not stored in Redis");
        }
    }

    pub(super) async fn purge(&self, what: &Purge) -> Result<(), PurgeError> {
        let mut conn = self.redis.connection().map_err(PurgeError::Connect)?;
        let script = redis::Script::new(PURGE);
        let mut call = script.prepare_invoke();
        for set in index_sets(
            what.key.as_deref(),
            what.endpoint.as_deref(),
            what.tag.as_deref(),
        ) {
            call.key(set);
        }
        let done: Result<Result<i64, _>, _> =
            tokio::time::timeout(self.redis.timeout(), call.invoke_async(&mut conn)).await;
        match done {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(PurgeError::Redis(e)),
            Err(_) => Err(PurgeError::Timeout),
        }
    }
}

/// The index sets an answer is listed in (and a purge reads).
pub(super) fn index_sets(
    target: Option<&str>,
    endpoint: Option<&str>,
    tag: Option<&str>,
) -> Vec<String> {
    let mut sets = Vec::new();
    if let Some(t) = target {
        sets.push(format!("bff:ak:{t}"));
    }
    if let Some(e) = endpoint {
        sets.push(format!("bff:ae:{e}"));
    }
    if let Some(t) = tag {
        sets.push(format!("bff:at:{t}"));
    }
    sets
}
