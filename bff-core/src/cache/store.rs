//! Where entries live: least recently used first out once their bytes pass
//! the bound, with an index from each URL to its stored variants, so an
//! invalidation drops every variant of a URL at once.

use std::collections::HashMap;
use std::sync::Arc;

use super::entry::Entry;

/// Entries by id, in order of use, and the ids under each URL.
pub(super) struct Store {
    max_bytes: usize,
    bytes: usize,
    entries: lru::LruCache<u64, Arc<Entry>>,
    by_url: HashMap<u64, Vec<u64>>,
}

impl Store {
    pub(super) fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            bytes: 0,
            entries: lru::LruCache::unbounded(),
            by_url: HashMap::new(),
        }
    }

    /// Bytes held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entries of a URL, each marked as just used; dead ones are dropped.
    pub(super) fn variants(&mut self, url: u64) -> Vec<Arc<Entry>> {
        let Some(ids) = self.by_url.get(&url).cloned() else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.entries.get(&id) {
                Some(e) if e.is_dead() => {
                    self.remove(id);
                }
                Some(e) => out.push(e.clone()),
                None => {}
            }
        }
        out
    }

    /// Stores an entry in place of `replaces`; returns how many others had
    /// to go to keep the bound. An entry larger than the whole bound is not
    /// stored.
    pub(super) fn insert(&mut self, entry: Arc<Entry>, replaces: &[u64]) -> usize {
        for id in replaces {
            self.remove(*id);
        }
        let weight = entry.weight();
        if weight > self.max_bytes {
            return 0;
        }
        self.bytes += weight;
        self.by_url.entry(entry.url).or_default().push(entry.id);
        self.entries.put(entry.id, entry);
        let mut evicted = 0;
        while self.bytes > self.max_bytes {
            let Some((id, _)) = self.entries.peek_lru().map(|(k, v)| (*k, v.clone())) else {
                break;
            };
            self.remove(id);
            evicted += 1;
        }
        evicted
    }

    /// Drops one entry.
    pub(super) fn remove(&mut self, id: u64) -> bool {
        let Some(e) = self.entries.pop(&id) else {
            return false;
        };
        self.bytes -= e.weight();
        if let Some(ids) = self.by_url.get_mut(&e.url) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_url.remove(&e.url);
            }
        }
        true
    }

    /// Drops every variant of a URL; returns how many.
    pub(super) fn remove_url(&mut self, url: u64) -> usize {
        let ids = self.by_url.remove(&url).unwrap_or_default();
        let mut n = 0;
        for id in ids {
            if let Some(e) = self.entries.pop(&id) {
                self.bytes -= e.weight();
                n += 1;
            }
        }
        n
    }

    /// Drops every entry `drop` names; returns how many.
    pub(super) fn remove_where(&mut self, drop: impl Fn(&Entry) -> bool) -> usize {
        let ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| drop(e))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter(|id| self.remove(*id)).count()
    }
}
