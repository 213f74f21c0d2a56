//! One generation of specs running: what the gateway starts from a
//! [`Plan`] and owns beside it. The plan is the compiled specs, data only;
//! here is their state: each service running (pool, breaker, limit,
//! clients, last good answers), the HTTP cache of upstream answers, the
//! cache of composed answers, the BFF's own limit of requests in flight,
//! and the listener's TLS configuration. A reload starts a new one, so a
//! new generation starts with empty caches and closed circuits.

use std::sync::Arc;

use crate::cache::HttpCache;
use crate::cache::answers::AnswerCache;
use crate::plan::{Plan, Service};
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
}

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
                plan.answer_store.clone(),
            )),
            shed: plan.max_concurrency.map(Limit::new),
            tls,
        })
    }

    /// A service of the plan, running.
    pub(crate) fn upstream(&self, service: &Service) -> &Arc<Upstream> {
        &self.services[service.index]
    }
}
