//! The door every request to a service passes first, composed calls,
//! pass-through routes and background renewals alike: the service's
//! circuit closed, then a place under its limit of requests in flight,
//! then an instance. Written once so the three cannot drift apart.

use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use super::{Attempt, Limit, Pool};

/// Why a request may not go to a service now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Closed {
    /// The breaker is open; it lets a probe through after `retry_in`.
    #[error("the circuit is open")]
    CircuitOpen {
        /// When the breaker lets a probe through.
        retry_in: Duration,
    },
    /// The service is at its limit of requests in flight.
    #[error("at its limit of requests in flight")]
    Overloaded,
    /// No instance of the service is known yet (discovery has none).
    #[error("no instance is known yet")]
    NoInstance,
}

/// A request let through the door: its place under the service's limit,
/// held for as long as the value lives.
#[derive(Debug)]
pub(crate) struct Pass {
    _permit: Option<OwnedSemaphorePermit>,
}

/// The circuit and the limit: what every request asks before it picks an
/// instance (a call that retries picks one per try, under one pass).
pub(crate) fn enter(pool: &Pool, limit: Option<&Limit>) -> Result<Pass, Closed> {
    if let Some(breaker) = pool.breaker.as_ref().filter(|b| !b.allow()) {
        return Err(Closed::CircuitOpen {
            retry_in: breaker.retry_in(),
        });
    }
    let permit = match limit.map(Limit::try_admit) {
        Some(None) => {
            metrics::counter!("bff_shed_total", "scope" => "service").increment(1);
            return Err(Closed::Overloaded);
        }
        Some(permit) => permit,
        None => None,
    };
    Ok(Pass { _permit: permit })
}

/// The door and an instance, for a request sent once; `key` is the value
/// of the pool's `hash_header`, if any.
pub(crate) fn open<'a>(
    pool: &'a Pool,
    limit: Option<&Limit>,
    key: Option<&[u8]>,
) -> Result<(Pass, Attempt<'a>), Closed> {
    let pass = enter(pool, limit)?;
    let attempt = pool.start(key).ok_or(Closed::NoInstance)?;
    Ok((pass, attempt))
}
