//! One generation of specs running: what the gateway starts from a
//! [`Plan`] and owns beside it. The plan is the compiled specs, data only;
//! here is their state: each service running (pool, breaker, limit,
//! clients, last good answers), each authentication policy's key sets and
//! vouched-for tokens, each rate limit's counters, the Redis store, the
//! HTTP cache of upstream answers, the cache of composed answers, the
//! BFF's own limit of requests in flight, and the listener's TLS
//! configuration. A reload starts a new one, so a new generation starts
//! with empty caches, fresh counters and closed circuits.

use std::sync::Arc;

use crate::auth::PolicyState;
use crate::cache::HttpCache;
use crate::cache::answers::AnswerCache;
use crate::plan::{Plan, Service};
use crate::ratelimit::{Clock, Counters};
use crate::redis_store::Redis;
use crate::source::{Diagnostic, Diagnostics};
use crate::upstream::{Client, Limit, Upstream};

/// The state of one generation of specs.
pub(crate) struct Running {
    /// The gateway's client, kept from one generation to the next.
    pub client: Client,
    /// The services running, in the order of the plan's.
    services: Vec<Arc<Upstream>>,
    /// Kept upstream answers, of every service with `cache:`.
    pub call_cache: Arc<HttpCache>,
    /// Kept composed answers.
    pub answers: Arc<AnswerCache>,
    /// The whole BFF's limit of requests in flight.
    pub shed: Option<Limit>,
    /// TLS termination, when `tls:` is configured.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Each authentication policy running, in the plan's order.
    auth: Vec<PolicyState>,
    /// Each rate limit's counters, in the plan's order.
    counters: Vec<Counters>,
    /// GraphQL operations clients registered by their SHA-256 (automatic
    /// persisted queries), when the GraphQL endpoint lets them.
    pub graphql_registered: Option<moka::sync::Cache<String, Arc<crate::plan::graphql::Operation>>>,
    /// GraphQL operations seen lately, parsed and validated, by their
    /// text: a repeated operation is not parsed again.
    pub graphql_documents: moka::sync::Cache<String, Arc<crate::plan::graphql::Operation>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

/// How many parsed GraphQL operations are kept.
const PARSED_OPERATIONS: u64 = 512;

impl Running {
    /// Starts the state of `plan`; `client` is the gateway's. What the plan
    /// checked when it loaded (CA files, certificates) is read again here,
    /// so an error means a file changed in between.
    pub(crate) fn start(plan: &Plan, client: Client) -> Result<Self, Diagnostics> {
        let bff_yaml = plan.dir.join("bff.yaml");
        let fail = |message: String| Diagnostics(vec![Diagnostic::file(&bff_yaml, message)]);
        let mut services = Vec::with_capacity(plan.services.len());
        for (i, service) in plan.services.values().enumerate() {
            debug_assert_eq!(service.index, i);
            let websocket = plan
                .proxies
                .iter()
                .any(|p| p.websocket.is_some() && p.service.index == i);
            let up = Upstream::start(&service.name, &service.upstream, &client, websocket)
                .map_err(|e| fail(format!("service `{}`: {e}", service.name)))?;
            services.push(Arc::new(up));
        }
        let redis = match &plan.config.redis {
            Some(r) => Some(Arc::new(
                Redis::from_config(r).map_err(|e| fail(format!("redis: {e}")))?,
            )),
            None => None,
        };
        let clock = Clock::new();
        let counters = plan
            .rate_limits
            .values()
            .map(|p| p.start(redis.as_ref(), clock))
            .collect();
        let call_cache = HttpCache::new(plan.config.cache.max_bytes);
        let _ = call_cache.identity.set(plan.identity_headers.clone());
        let tls = match &plan.tls {
            Some(t) => Some(
                crate::tls::server_config(t, &plan.dir).map_err(|e| fail(format!("tls: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            client,
            services,
            call_cache: Arc::new(call_cache),
            answers: Arc::new(AnswerCache::new(
                plan.config.cache.max_bytes,
                redis.filter(|_| plan.shares_answers),
            )),
            shed: plan.max_concurrency.map(Limit::new),
            tls,
            auth: plan.policies.values().map(|p| p.start()).collect(),
            counters,
            graphql_registered: plan
                .graphql
                .as_ref()
                .filter(|g| g.persisted.register > 0)
                .map(|g| moka::sync::Cache::new(g.persisted.register as u64)),
            graphql_documents: moka::sync::Cache::new(PARSED_OPERATIONS),
        })
    }

    /// The services running, in the plan's order.
    pub(crate) fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.services
    }

    /// An authentication policy of the plan, running.
    pub(crate) fn auth(&self, policy: &crate::auth::Policy) -> &PolicyState {
        &self.auth[policy.index]
    }

    /// The key sets the gateway keeps fresh, of every policy.
    pub(crate) fn key_sets(&self) -> impl Iterator<Item = &Arc<crate::auth::Jwks>> {
        self.auth.iter().flat_map(PolicyState::key_sets)
    }

    /// A rate limit's counters.
    pub(crate) fn counters(&self, policy: &crate::ratelimit::Policy) -> &Counters {
        &self.counters[policy.index]
    }

    /// A service of the plan, running.
    pub(crate) fn upstream(&self, service: &Service) -> &Arc<Upstream> {
        &self.services[service.index]
    }
}
