//! One upstream call's machinery, end to end: the pooled HTTP clients
//! ([`client`]), a service's instances and the choice among them
//! ([`pool`]), the circuit breaker, retries within a budget, the last good
//! answers for stale-if-error, discovery of instances (DNS, etcd) and
//! their active health checks.

pub mod breaker;
mod client;
pub mod discovery;
mod pool;
pub mod retry;
pub mod stale;

pub use breaker::Breaker;
pub(crate) use client::BuildError;
pub use client::{Client, Error, Options, Protocol};
pub use pool::*;
pub use retry::Retry;
