//! Load shedding: past a concurrency limit, for the whole BFF or for one
//! upstream service, requests are refused at once with `503` and
//! `Retry-After`, instead of queueing until every one of them times out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A concurrency limit; cloning shares it.
#[derive(Debug, Clone)]
pub struct Limit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl Limit {
    /// At most `max` at once.
    pub fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A permit held for as long as the work runs, or `None` when full.
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Middleware: the whole BFF's limit, held until the response head is ready.
pub(crate) async fn middleware(State(limit): State<Limit>, req: Request, next: Next) -> Response {
    let Some(_permit) = limit.try_admit() else {
        metrics::counter!("bff_shed_total", "scope" => "bff").increment(1);
        return super::unavailable(&format!(
            "the BFF is at its limit of {} requests in progress; retry shortly",
            limit.max()
        ));
    };
    next.run(req).await
}
