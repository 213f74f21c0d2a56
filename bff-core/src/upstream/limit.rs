//! A limit of requests in flight, for one upstream service or for the
//! whole BFF: past it, requests are refused at once instead of queueing
//! until every one of them times out.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A concurrency limit; cloning shares it.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl Limit {
    /// At most `max` at once.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A permit held for as long as the work runs, or `None` when full.
    pub(crate) fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The limit.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}
