//! The gateway: one axum router holding every aggregated endpoint,
//! pass-through route and usage endpoint of a BFF, each a call into
//! [`crate::pipeline`] or [`crate::proxy`], behind the stages every request
//! passes, written in request order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, any};

use crate::error::Refusal;
use crate::extension::{Configure, Extension, Factory, NoExtension};
use crate::pipeline::Context;
use crate::plan::{self, Plan};
use crate::ratelimit::concurrency::Limit;
use crate::source::Diagnostics;

mod compression;

/// A BFF: its compiled specs, its upstream client and its extension.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Context>,
    /// Makes the extension's hooks for the next generation of specs.
    factory: Arc<dyn Configure>,
}

impl Gateway {
    /// Loads and compiles a spec folder.
    pub fn load(dir: &Path) -> Result<Self, Diagnostics> {
        Self::from_plan(plan::load(dir)?, NoExtension)
    }

    /// A gateway for a compiled plan with a client extension, whose
    /// settings are read from the plan's `bff.yaml` (`extensions:`); `Err`
    /// holds the located errors in them.
    pub fn from_plan<E: Extension>(plan: Plan, extension: E) -> Result<Self, Diagnostics> {
        let factory: Arc<dyn Configure> = Arc::new(Factory(Arc::new(extension)));
        Self::from_parts(plan, crate::upstream::Client::new(), factory)
    }

    fn from_parts(
        plan: Plan,
        client: crate::upstream::Client,
        factory: Arc<dyn Configure>,
    ) -> Result<Self, Diagnostics> {
        let extension = factory.configure(&plan)?;
        let running = crate::running::Running::start(&plan, client)?;
        Ok(Self {
            shared: Arc::new(Context {
                plan,
                running,
                extension,
            }),
            factory,
        })
    }

    /// A gateway for reloaded specs, keeping this one's upstream
    /// connections and extension; `Err` holds the located errors in the
    /// extension's settings.
    pub(crate) fn successor(&self, plan: Plan) -> Result<Self, Diagnostics> {
        Self::from_parts(
            plan,
            self.shared.running.client.clone(),
            self.factory.clone(),
        )
    }

    /// The compiled specs.
    pub fn plan(&self) -> &Plan {
        &self.shared.plan
    }

    /// The state of the specs running: services, caches, limits, TLS.
    pub(crate) fn running(&self) -> &crate::running::Running {
        &self.shared.running
    }

    /// The router with every endpoint and route, wrapped by the extension.
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.service())
    }

    /// What [`Gateway::router`] routes to: the edge stage in front of the
    /// extension's router, as a plain service for the listener to call.
    pub(crate) fn service(&self) -> crate::edge::Edge<Router> {
        let mut by_path: BTreeMap<&str, MethodRouter> = BTreeMap::new();
        for (i, ep) in self.shared.plan.endpoints.iter().enumerate() {
            let shared = self.shared.clone();
            let filter = MethodFilter::try_from(ep.method.clone())
                .expect("endpoint methods are checked when specs load");
            let handler = move |req: Request| {
                let shared = shared.clone();
                async move {
                    let endpoint = &shared.plan.endpoints[i];
                    let seen = Traced::new(&req);
                    let id = endpoint.id();
                    // Boxed once here: the future is kilobytes large, and
                    // each future it would be moved into copies it whole.
                    let work = Box::pin(crate::pipeline::handle_endpoint(&shared, endpoint, req));
                    let (response, cx) = match seen.span(&id, &endpoint.path) {
                        Some(cx) => (crate::telemetry::within(cx.clone(), work).await, Some(cx)),
                        None => (work.await, None),
                    };
                    seen.finish(&id, &response, cx.as_ref());
                    response
                }
            };
            let entry = by_path.remove(ep.path.as_str()).unwrap_or_default();
            by_path.insert(ep.path.as_str(), entry.on(filter, handler));
        }
        let mut router = Router::new();
        for (path, methods) in by_path {
            router = router.route(path, methods.fallback(method_not_allowed));
        }
        for (i, route) in self.shared.plan.proxies.iter().enumerate() {
            let shared = self.shared.clone();
            let handler = move |req: Request| {
                let shared = shared.clone();
                async move {
                    let route = &shared.plan.proxies[i];
                    let seen = Traced::new(&req);
                    // Boxed once here, like an endpoint's work.
                    let forward = Box::pin(crate::pipeline::handle_proxy(&shared, route, req));
                    let (response, cx) = match seen.span(route.label(), route.label()) {
                        Some(cx) => (
                            crate::telemetry::within(cx.clone(), forward).await,
                            Some(cx),
                        ),
                        None => (forward.await, None),
                    };
                    seen.finish(route.label(), &response, cx.as_ref());
                    response
                }
            };
            // The prefix itself, with a slash, and everything below; a
            // prefix of `/` is empty once its slash is trimmed.
            router = router
                .route(&format!("{}/{{*rest}}", route.prefix), any(handler.clone()))
                .route(&format!("{}/", route.prefix), any(handler.clone()));
            if !route.prefix.is_empty() {
                router = router.route(&route.prefix, any(handler));
            }
        }
        if let Some(g) = &self.shared.plan.graphql {
            let shared = self.shared.clone();
            let g = g.clone();
            let path = g.path.clone();
            let g_explorer = g.explorer;
            let handler = move |req: Request| {
                let shared = shared.clone();
                let g = g.clone();
                async move {
                    let seen = Traced::new(&req);
                    let label = format!("{} {}", req.method(), g.path);
                    let work = Box::pin(crate::pipeline::handle_graphql(&shared, &g, req));
                    let (response, cx) = match seen.span(&label, &g.path) {
                        Some(cx) => (crate::telemetry::within(cx.clone(), work).await, Some(cx)),
                        None => (work.await, None),
                    };
                    seen.finish(&label, &response, cx.as_ref());
                    response
                }
            };
            router = router.route(&path, any(handler));
            if g_explorer {
                router = router.route(
                    &format!("{path}/explorer/{{file}}"),
                    axum::routing::get(
                        |axum::extract::Path(file): axum::extract::Path<String>| async move {
                            crate::pipeline::explorer_file(&file)
                        },
                    ),
                );
            }
        }
        for (i, _) in self.shared.plan.usage.iter().enumerate() {
            let shared = self.shared.clone();
            let handler = move |req: Request| {
                let shared = shared.clone();
                async move {
                    let seen = Traced::new(&req);
                    let response = crate::pipeline::handle_usage(&shared, i, req).await;
                    seen.finish(
                        &format!("GET {}", shared.plan.usage[i].path),
                        &response,
                        None,
                    );
                    response
                }
            };
            let path = self.shared.plan.usage[i].path.clone();
            router = router.route(&path, axum::routing::get(handler));
        }
        let router =
            crate::openapi::routes(router, &self.shared).fallback(|| async { Refusal::NotFound });
        // The stages every routed request passes, in request order (the
        // first layer of a ServiceBuilder is the outermost): the limit per
        // client address, the BFF's concurrency limit, compression of the
        // answer, and the removal of identity headers (and look-alikes such
        // as `X_User_Id`, which CGI- and WSGI-style services read as the
        // same) that no client may send, whatever its authentication.
        let plan = &self.shared.plan;
        let per_ip = plan.config.limits.per_ip.as_deref().map(|p| {
            crate::ratelimit::per_ip_layer(p)
                .unwrap_or_else(|e| unreachable!("limits.per_ip was checked at load time: {e}"))
        });
        let shed = self.shared.running.shed.clone().map(|limit| {
            axum::middleware::from_fn_with_state::<_, _, (State<Limit>, Request)>(
                limit,
                crate::ratelimit::concurrency::middleware,
            )
        });
        let names = plan.identity_headers.clone();
        let strip = (!names.is_empty()).then(|| {
            tower::util::MapRequestLayer::new(move |mut req: Request| {
                strip_identity_look_alikes(req.headers_mut(), &names);
                req
            })
        });
        let stages = tower::ServiceBuilder::new()
            .option_layer(per_ip)
            .option_layer(shed)
            .option_layer(strip);
        // Compression only changes answers, so it sits innermost.
        let router = match compression::layer(&plan.config.compression) {
            Some(layer) => router.layer(layer),
            None => router,
        };
        // Handlers become routes now, once, rather than for every request
        // (as `axum::serve` would do; the listener calls the router itself).
        let router = router.layer(stages).with_state(());
        // The path is normalised (or refused) before routing, inside the
        // extension's layers: a refusal, like a limit's 429 or 503, is an
        // answer like any other, with the CORS headers a page needs to read it.
        let router = Router::new().fallback_service(crate::edge::NormalPath(router));
        let router = self.shared.extension.router(router).with_state(());
        // The edge stage (request id, security headers) sees every request
        // first.
        let edge = crate::edge::EdgeConfig {
            access_log: self.shared.plan.config.telemetry.access_log,
        };
        crate::edge::Edge::new(router, edge)
    }

    /// Starts what keeps the gateway's state fresh (JWKS refreshes,
    /// discovery, health checks) and returns their handles. Called by
    /// [`Gateway::serve`]; call it yourself when serving the router
    /// another way. Needs a Tokio runtime.
    pub fn start_background(&self) -> Vec<tokio::task::AbortHandle> {
        let mut tasks = Vec::new();
        for jwks in self.key_sets() {
            tasks.push(tokio::spawn(jwks.clone().keep_fresh()).abort_handle());
        }
        use crate::upstream::discovery;
        for (name, service) in &self.shared.plan.services {
            let pool = &self.shared.running.upstream(service).pool;
            if let Some(d) = &service.discovery {
                let (pool, d, name) = (pool.clone(), d.clone(), name.clone());
                let task = if d.etcd.is_some() {
                    tokio::spawn(discovery::etcd(pool, d, name))
                } else {
                    tokio::spawn(discovery::dns(pool, d, name))
                };
                tasks.push(task.abort_handle());
            }
            if let Some(h) = &service.health_check {
                let (pool, h, name) = (pool.clone(), h.clone(), name.clone());
                tasks.push(tokio::spawn(discovery::health(pool, h, name)).abort_handle());
            }
        }
        tasks
    }

    /// Whether the gateway can serve every endpoint: all key sets loaded.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    /// Why the gateway is not ready, one line per reason; empty when it is.
    pub fn not_ready(&self) -> Vec<String> {
        self.key_sets()
            .filter(|j| !j.is_loaded())
            .map(|j| format!("JWKS {} not loaded yet", j.url()))
            .collect()
    }

    fn key_sets(&self) -> impl Iterator<Item = &Arc<crate::auth::Jwks>> {
        self.shared.running.key_sets()
    }
}

/// What an endpoint or route notes of a request when it arrives, for its
/// span and for the edge, which counts and logs the request.
struct Traced {
    method: http::Method,
    traced: bool,
    headers: Option<http::HeaderMap>,
    answered: Option<Arc<crate::observe::Answered>>,
}

impl Traced {
    fn new(req: &Request) -> Self {
        let traced = crate::telemetry::wanted(req.headers());
        Self {
            method: req.method().clone(),
            traced,
            headers: traced.then(|| req.headers().clone()),
            answered: crate::observe::Answered::of(req),
        }
    }

    /// The request's span, when it is traced.
    fn span(&self, name: &str, route: &str) -> Option<opentelemetry::Context> {
        let headers = self.headers.as_ref().filter(|_| self.traced)?;
        // OpenTelemetry's conventions: methods it does not know are
        // `_OTHER`, with the one sent beside.
        let method = match crate::observe::method_label(&self.method) {
            "other" => "_OTHER",
            known => known,
        };
        let mut attributes = vec![
            opentelemetry::KeyValue::new("http.request.method", method),
            opentelemetry::KeyValue::new("http.route", route.to_owned()),
        ];
        if method == "_OTHER" {
            attributes.push(opentelemetry::KeyValue::new(
                "http.request.method_original",
                self.method.to_string(),
            ));
        }
        Some(crate::telemetry::server(
            name.to_owned(),
            headers,
            attributes,
        ))
    }

    /// Ends the span and tells the edge what answered.
    fn finish(self, what: &str, response: &Response, cx: Option<&opentelemetry::Context>) {
        let status = response.status();
        if let Some(cx) = cx {
            let error = status.is_server_error().then(|| status.as_str().to_owned());
            crate::telemetry::finish(cx, Some(status.as_u16()), error.as_deref());
        }
        if let Some(answered) = &self.answered {
            answered.set(what, cx.and_then(crate::telemetry::trace_id));
        }
    }
}

/// Removes every header that is, or reads like, an identity header: the
/// same name with `_` for `-` (names are lower case already).
fn strip_identity_look_alikes(headers: &mut http::HeaderMap, names: &[http::HeaderName]) {
    let look_alikes: Vec<http::HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().contains('_'))
        .filter(|k| {
            let normal = k.as_str().replace('_', "-");
            names.iter().any(|n| n.as_str() == normal)
        })
        .cloned()
        .collect();
    for name in names.iter().chain(&look_alikes) {
        headers.remove(name);
    }
}

async fn method_not_allowed() -> Refusal {
    Refusal::MethodNotAllowed {
        detail: "this endpoint does not accept this method".to_owned(),
        allow: None,
    }
}
