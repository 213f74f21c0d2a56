//! stale-if-error for calls: the last good answer of each distinct upstream
//! request, kept for a while and served when the service fails. The key is
//! everything the request is made of (method, path and query, every header
//! including forwarded identity, body), so an answer only ever stands in
//! for the very same request.

use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

/// Last good answers of one service.
pub(crate) struct Stale {
    answers: moka::sync::Cache<u64, Bytes>,
    hasher: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stale")
            .field("entries", &self.answers.entry_count())
            .finish_non_exhaustive()
    }
}

impl Stale {
    /// Keeps answers for `max_age`, at most `max_bytes` of them.
    pub(crate) fn new(max_age: Duration, max_bytes: u64) -> Self {
        Self {
            answers: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|_, v: &Bytes| u32::try_from(v.len()).unwrap_or(u32::MAX))
                .time_to_live(max_age)
                .build(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The key of a request. Header order does not matter; values do,
    /// except those that name the request itself rather than what it asks.
    pub(crate) fn key(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: Option<&[u8]>,
    ) -> u64 {
        let mut h = self.hasher.build_hasher();
        method.as_str().hash(&mut h);
        path.hash(&mut h);
        let mut pairs: Vec<(&str, &[u8])> = headers
            .iter()
            .filter(|(k, _)| !crate::headers::PER_REQUEST.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        pairs.sort_unstable();
        pairs.hash(&mut h);
        body.hash(&mut h);
        h.finish()
    }

    /// Remembers a good answer.
    pub(crate) fn put(&self, key: u64, answer: Bytes) {
        self.answers.insert(key, answer);
    }

    /// The last good answer, if it is young enough.
    pub(crate) fn get(&self, key: u64) -> Option<Bytes> {
        self.answers.get(&key)
    }
}
