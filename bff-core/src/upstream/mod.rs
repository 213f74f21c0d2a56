//! One upstream call's machinery, end to end: the door every request to a
//! service passes ([`door`]: circuit, limit of requests in flight,
//! instance), the pooled HTTP clients ([`client`]), a service's instances
//! and the choice among them ([`pool`]), the circuit breaker, retries
//! within a budget, the last good answers for stale-if-error, discovery of
//! instances (DNS, etcd) and their active health checks.

pub(crate) mod breaker;
mod client;
pub(crate) mod discovery;
mod door;
mod limit;
mod pool;
pub(crate) mod retry;
pub(crate) mod stale;

pub(crate) use breaker::Breaker;
pub(crate) use client::BuildError;
pub(crate) use client::{Client, Error, Options, Protocol};
pub(crate) use door::{Closed, Pass, enter, open};
pub(crate) use limit::Limit;
pub(crate) use pool::*;
pub(crate) use retry::Retry;
