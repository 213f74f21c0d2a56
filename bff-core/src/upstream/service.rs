//! A service as bff.yaml declares it ([`Settings`], pure data the plan
//! holds) and the same service running ([`Upstream`]: its pool of
//! instances with breaker, retries and hedging, its limit of requests in
//! flight, its clients, its last good answers). The gateway starts one
//! `Upstream` per service from the settings with every generation of
//! specs, so a reload starts with fresh state and the plan stays data.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::door::{Closed, Pass};
use super::{Attempt, Breaker, BuildError, Client, Limit, Options, Pool, Protocol, Retry};
use crate::config::{BalanceKind, BreakerConfig, HedgeConfig, OutlierConfig, RetryConfig};

/// How a service is reached, balanced and protected: what its `Upstream`
/// is started from.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Base URLs and weights of the instances declared in bff.yaml (empty
    /// when discovery finds them).
    pub instances: Vec<(String, u32)>,
    /// How a try picks an instance.
    pub balance: BalanceKind,
    /// The request header `hash` balancing reads.
    pub hash_header: Option<HeaderName>,
    /// Passive ejection of failing instances.
    pub outlier: OutlierConfig,
    /// The circuit breaker, if any.
    pub circuit_breaker: Option<BreakerConfig>,
    /// Retries, if any.
    pub retries: Option<RetryConfig>,
    /// Hedging, if any.
    pub hedge: Option<HedgeConfig>,
    /// Most requests in flight at once.
    pub max_concurrency: Option<usize>,
    /// stale-if-error: how long, and how many bytes of, last good answers are kept.
    pub stale_if_error: Option<(Duration, u64)>,
    /// How connections are made.
    pub options: Options,
    /// Whether the service needs a client of its own (HTTP/2, its own CA,
    /// its own connect timeout) rather than the gateway's.
    pub own_client: bool,
    /// Whether its gRPC calls need an HTTP/2 client besides its own.
    pub grpc_client: bool,
}

impl Settings {
    /// Reads what the settings need from files (the CA), so a mistake is
    /// reported where the service is declared rather than when it starts;
    /// the clients themselves are built once, when it starts.
    pub(crate) fn check(&self) -> Result<(), BuildError> {
        match &self.options.ca {
            Some(ca) => super::client::check_ca(ca),
            None => Ok(()),
        }
    }
}

/// A service running.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// Its name in bff.yaml.
    pub name: String,
    /// Instances, balancing, breaker, retries, hedging.
    pub pool: Arc<Pool>,
    /// Its limit of requests in flight.
    pub limit: Option<Limit>,
    /// Last good answers, for stale-if-error.
    pub stale: Option<super::stale::Stale>,
    /// The client its HTTP requests go through.
    pub client: Client,
    /// The client its gRPC calls go through (HTTP/2).
    pub grpc_client: Client,
    /// A client of HTTP/1.1 only, for WebSocket upgrades (HTTP/2 carries
    /// them differently), when a route relays them.
    pub http1_client: Option<Client>,
}

impl Upstream {
    /// Starts a service from its settings; `shared` is the gateway's client,
    /// used unless the service needs its own. `websocket` asks for an
    /// HTTP/1.1 client as well.
    pub(crate) fn start(
        name: &str,
        s: &Settings,
        shared: &Client,
        websocket: bool,
    ) -> Result<Self, BuildError> {
        let with = |protocol: Protocol| {
            Client::with(&Options {
                protocol,
                ..s.options.clone()
            })
        };
        let client = match s.own_client {
            true => with(s.options.protocol)?,
            false => shared.clone(),
        };
        let grpc_client = match s.grpc_client {
            true => with(Protocol::Http2)?,
            false => client.clone(),
        };
        let pool = Pool::new(
            s.instances.clone(),
            s.balance,
            s.hash_header.clone(),
            s.outlier.clone(),
            s.circuit_breaker.clone().map(|c| Breaker::new(c, name)),
            s.retries.clone().map(Retry::new),
        )
        .with_hedge(s.hedge.clone())
        .named(name);
        Ok(Self {
            name: name.to_owned(),
            pool: Arc::new(pool),
            limit: s.max_concurrency.map(Limit::new),
            stale: s
                .stale_if_error
                .map(|(age, bytes)| super::stale::Stale::new(age, bytes)),
            client,
            grpc_client,
            http1_client: websocket.then(|| with(Protocol::Http1)).transpose()?,
        })
    }

    /// The circuit and the limit: what every request asks before it picks
    /// an instance (a call that retries picks one per try, under one pass).
    pub(crate) fn enter(&self) -> Result<Pass, Closed> {
        super::door::enter(&self.pool, self.limit.as_ref())
    }

    /// The door and an instance, for a request sent once; `key` is the
    /// value of the pool's `hash_header`, if any.
    pub(crate) fn open(&self, key: Option<&[u8]>) -> Result<(Pass, Attempt<'_>), Closed> {
        super::door::open(&self.pool, self.limit.as_ref(), key)
    }
}
