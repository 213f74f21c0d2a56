//! One upstream call's machinery, end to end: a service's settings and the
//! service running ([`service`]), the door every request to it passes
//! ([`door`]: circuit, limit of requests in flight, instance), one request
//! to one instance ([`send`], the same for composed calls, pass-through
//! routes and renewals), a request with retries and hedging ([`tries`]),
//! the pooled HTTP clients ([`client`]), the
//! instances and the choice among them ([`pool`]), the circuit breaker,
//! retries within a budget, the last good answers for stale-if-error,
//! discovery of instances (DNS, etcd) and their active health checks.

pub(crate) mod breaker;
mod client;
pub(crate) mod discovery;
mod door;
mod limit;
mod pool;
pub(crate) mod retry;
mod send;
mod service;
pub(crate) mod stale;
pub(crate) mod tries;

pub(crate) use breaker::Breaker;
pub(crate) use client::BuildError;
pub(crate) use client::{Client, Error, Options, Protocol, is_idempotent};
pub(crate) use door::{Closed, Pass};
pub(crate) use limit::Limit;
pub(crate) use pool::*;
pub(crate) use retry::Retry;
pub(crate) use send::{Payload, SendError, Via};
pub(crate) use service::Settings;
pub(crate) use service::Upstream;
