//! Collapsing concurrent misses: the first request for a key goes to the
//! service, the others wait for it and then look in the cache again. A
//! waiter never takes the first request's answer as its own: only what
//! was stored, and matches its own request, is reused; otherwise it asks
//! the service itself. So coalescing can never hand one caller's answer to
//! another, whatever the answer said.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// Requests to services under way, by key.
#[derive(Default)]
pub(super) struct Flights {
    under_way: Mutex<HashMap<u64, watch::Receiver<()>>>,
}

/// The first request's part: while it lives, others wait.
pub struct Lead<'a> {
    flights: &'a Flights,
    key: u64,
    _done: watch::Sender<()>,
}

/// What a request for a key that missed does.
pub enum Turn<'a> {
    /// Ask the service; others wait until this is dropped.
    Lead(Lead<'a>),
    /// Another request is asking; wait for it, then look again.
    Wait(watch::Receiver<()>),
}

impl Flights {
    pub(super) fn turn(&self, key: u64) -> Turn<'_> {
        let mut map = self
            .under_way
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rx) = map.get(&key)
            && rx.has_changed().is_ok()
        {
            return Turn::Wait(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(key, rx);
        Turn::Lead(Lead {
            flights: self,
            key,
            _done: tx,
        })
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut map = self
            .flights
            .under_way
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self._done.subscribe()))
        {
            map.remove(&self.key);
        }
    }
}

/// Waits until the leading request is done, or `limit` passes.
pub(crate) async fn wait(mut rx: watch::Receiver<()>, limit: Duration) {
    let _ = tokio::time::timeout(limit, async { while rx.changed().await.is_ok() {} }).await;
}
