//! The gateway: one axum router holding every aggregated endpoint and
//! pass-through route of a BFF, and the request pipeline of a composed
//! endpoint written once, in order.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any};
use http::{HeaderValue, StatusCode, header};
use jaq_json::Val;

use crate::error::Problem;
use crate::exec::{self, Outcome, RequestData};
use crate::extension::{Extension, NoExtension};
use crate::plan::{self, Endpoint, Plan};
use crate::source::Diagnostics;
use crate::value;

/// Header set on a response some optional calls of which fell back.
pub const PARTIAL_HEADER: &str = "bff-partial";
/// Header listing the calls that fell back and why.
pub const DEGRADED_HEADER: &str = "bff-degraded";

/// A BFF: its compiled specs, its upstream client and its extension.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

struct Shared {
    plan: Plan,
    client: crate::upstream::Client,
    extension: Arc<dyn Extension>,
}

impl Gateway {
    /// Loads and compiles a spec folder.
    pub fn load(dir: &Path) -> Result<Self, Diagnostics> {
        Ok(Self::from_plan(plan::load(dir)?, NoExtension))
    }

    /// A gateway for a compiled plan with a client extension.
    pub fn from_plan(plan: Plan, extension: impl Extension) -> Self {
        Self::from_parts(plan, crate::upstream::Client::new(), Arc::new(extension))
    }

    fn from_parts(
        plan: Plan,
        client: crate::upstream::Client,
        extension: Arc<dyn Extension>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                plan,
                client,
                extension,
            }),
        }
    }

    /// A gateway for reloaded specs, keeping this one's upstream connections.
    pub(crate) fn successor(&self, plan: Plan, extension: Arc<dyn Extension>) -> Self {
        Self::from_parts(plan, self.shared.client.clone(), extension)
    }

    /// The client extension.
    pub(crate) fn extension(&self) -> Arc<dyn Extension> {
        self.shared.extension.clone()
    }

    /// Replaces the extension.
    pub fn with_extension(self, extension: impl Extension) -> Self {
        let shared = Arc::try_unwrap(self.shared).unwrap_or_else(|_| {
            panic!("with_extension is called while building, before the gateway is shared")
        });
        Self::from_plan(shared.plan, extension)
    }

    /// The compiled specs.
    pub fn plan(&self) -> &Plan {
        &self.shared.plan
    }

    /// The router with every endpoint and route, wrapped by the extension.
    pub fn router(&self) -> Router {
        let mut by_path: BTreeMap<&str, MethodRouter> = BTreeMap::new();
        for (i, ep) in self.shared.plan.endpoints.iter().enumerate() {
            let shared = self.shared.clone();
            let filter = MethodFilter::try_from(ep.method.clone())
                .expect("endpoint methods are checked when specs load");
            let handler = move |req: Request| {
                let shared = shared.clone();
                async move { shared.compose(i, req).await }
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
                    let seen = Seen::new(&req, &shared.plan);
                    let forward = crate::proxy::forward(route, &shared.client, req);
                    let (response, cx) = match seen.span(&route.prefix, &route.prefix) {
                        Some(cx) => (
                            crate::telemetry::within(cx.clone(), forward).await,
                            Some(cx),
                        ),
                        None => (forward.await, None),
                    };
                    seen.finish(&route.prefix, &response, cx.as_ref());
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
        for (i, _) in self.shared.plan.usage.iter().enumerate() {
            let shared = self.shared.clone();
            let handler = move |req: Request| {
                let shared = shared.clone();
                async move { shared.usage(i, req).await }
            };
            let path = self.shared.plan.usage[i].path.clone();
            router = router.route(&path, axum::routing::get(handler));
        }
        let router = crate::openapi::routes(router, &self.shared.plan, &*self.shared.extension)
            .fallback(|| async { Problem::not_found() });
        // Before anything else: no client may send the headers that carry
        // verified identities upstream, whatever its authentication, nor
        // look-alikes (`X_User_Id`) that CGI- and WSGI-style services read
        // as the same header.
        let names = self.shared.plan.identity_headers.clone();
        let router = if names.is_empty() {
            router
        } else {
            router.layer(tower::util::MapRequestLayer::new(
                move |mut req: Request| {
                    strip_identity_look_alikes(req.headers_mut(), &names);
                    req
                },
            ))
        };
        // Compressed for clients that accept it, above a size; images,
        // gRPC, event streams and answers already encoded are left alone.
        let compression = &self.shared.plan.config.compression;
        let router = if compression.enabled {
            use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
            let when = SizeAbove::new(compression.min_bytes)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE)
                .and(NotForContentType::const_new("application/x-protobuf"))
                .and(NotForContentType::const_new("application/zip"));
            router.layer(tower_http::compression::CompressionLayer::new().compress_when(when))
        } else {
            router
        };
        let router = match &self.shared.plan.shed {
            Some(limit) => router.layer(axum::middleware::from_fn_with_state(
                limit.clone(),
                crate::ratelimit::shed::middleware,
            )),
            None => router,
        };
        let per_ip = self.shared.plan.config.limits.per_ip.as_deref();
        let router = match per_ip.map(crate::ratelimit::per_ip_layer) {
            Some(Ok(layer)) => router.layer(layer),
            // Refused when the specs were loaded (`check_per_ip`).
            Some(Err(e)) => unreachable!("limits.per_ip was checked at load time: {e}"),
            None => router,
        };
        // The path is normalised (or refused) before routing, inside the
        // extension's layers: a refusal, like a limit's 429 or 503, is an
        // answer like any other, with the CORS headers a page needs to read it.
        let router = Router::new()
            .fallback_service(router)
            .layer(axum::middleware::from_fn(crate::edge::normal_path));
        let router = self.shared.extension.router(router);
        // The edge stage (request id, security headers) sees every request
        // first, so it wraps a router whose only route is the real one.
        Router::new()
            .fallback_service(router)
            .layer(axum::middleware::from_fn(crate::edge::edge))
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
        use crate::resilience::discovery;
        for (name, service) in &self.shared.plan.services {
            if let Some(d) = &service.discovery {
                let (pool, d, name) = (service.pool.clone(), d.clone(), name.clone());
                let task = if d.etcd.is_some() {
                    tokio::spawn(discovery::etcd(pool, d, name))
                } else {
                    tokio::spawn(discovery::dns(pool, d, name))
                };
                tasks.push(task.abort_handle());
            }
            if let Some(h) = &service.health_check {
                let (pool, h, name) = (service.pool.clone(), h.clone(), name.clone());
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
        let plan = &self.shared.plan;
        let mut seen: Vec<*const crate::auth::Jwks> = Vec::new();
        plan.policies
            .values()
            .flat_map(|p| p.jwks())
            .filter(move |j| {
                let ptr = Arc::as_ptr(j);
                let new = !seen.contains(&ptr);
                seen.push(ptr);
                new
            })
    }

    /// Serves until Ctrl-C or SIGTERM, then drains in-flight requests.
    /// Reloads the specs when they change (see [`crate::reload`]). With
    /// `admin.listen` set, the admin listener runs beside it.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        if self.shared.plan.config.admin.is_some() {
            crate::metrics::install();
            crate::traffic::enable();
        }
        let telemetry = &self.shared.plan.config.telemetry;
        let endpoint = telemetry
            .otlp_endpoint
            .as_deref()
            .map(crate::config::expand_env)
            .transpose()
            .map_err(std::io::Error::other)?;
        crate::telemetry::init(endpoint.as_deref(), &process_name());
        let live = crate::reload::Live::new(self.clone());
        live.watch();
        if let Some(admin) = &self.shared.plan.config.admin {
            let addr = crate::config::expand_env(&admin.listen).map_err(std::io::Error::other)?;
            let admin = tokio::net::TcpListener::bind(&addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("admin listener on {addr}: {e}"))
            })?;
            tracing::info!(listen = %admin.local_addr()?, "admin listener");
            let router = crate::admin::router(live.clone());
            tokio::spawn(async move { axum::serve(admin, router).await });
        }
        let limits = &self.shared.plan.config.limits;
        let tls = self.shared.plan.tls.clone();
        let router = live.router();
        let shutdown = async move {
            shutdown_signal().await;
            live.start_draining();
        };
        let served = crate::listener::serve(listener, router, limits, tls, shutdown).await;
        crate::telemetry::flush();
        served
    }
}

impl Shared {
    /// The pipeline of a composed endpoint: read the request, run the call
    /// graph, shape, encode, mark partial results.
    async fn compose(&self, index: usize, req: Request) -> Response {
        let endpoint = &self.plan.endpoints[index];
        let seen = Seen::new(&req, &self.plan);
        let id = endpoint.id();
        let (response, cx) = match seen.span(&id, &endpoint.path) {
            Some(cx) => {
                let work = self.compose_inner(endpoint, req);
                (crate::telemetry::within(cx.clone(), work).await, Some(cx))
            }
            None => (self.compose_inner(endpoint, req).await, None),
        };
        seen.finish(&id, &response, cx.as_ref());
        response
    }

    async fn compose_inner(&self, endpoint: &Endpoint, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        let mut forward = http::HeaderMap::new();
        let auth = match &endpoint.auth {
            Some(policy) => match policy.authenticate(&parts.headers, &parts.extensions).await {
                Ok(identity) => {
                    if let Some(Err(why)) = endpoint.require.as_ref().map(|r| r.check(&identity)) {
                        return forbidden(why).into_response();
                    }
                    policy.forward.apply(&identity, &mut forward);
                    identity
                }
                Err(rejection) => return policy.reject(rejection),
            },
            None => Val::Null,
        };
        let verdict = match &endpoint.rate_limit {
            None => None,
            Some(policy) => {
                let caller = crate::ratelimit::Caller {
                    ip: crate::ratelimit::peer_ip(&parts.extensions),
                    identity: &auth,
                    endpoint: &endpoint.id(),
                    headers: &parts.headers,
                };
                match crate::ratelimit::admit(policy, &caller).await {
                    Ok(v) => Some(v),
                    Err(refused) => return refused,
                }
            }
        };
        let private = endpoint.auth.is_some();
        let subject = crate::auth::claim(&auth, ["sub"]).map(value::to_text);
        let method = parts.method.clone();
        let mut validators = http::HeaderMap::new();
        for v in parts.headers.get_all(header::IF_NONE_MATCH) {
            validators.append(header::IF_NONE_MATCH, v.clone());
        }
        let cached = endpoint
            .cache
            .as_ref()
            .filter(|_| method == http::Method::GET)
            .map(|(ttl, tags)| {
                let target = format!("GET {}", sorted_target(&parts.uri));
                let id = endpoint.id();
                let key = self
                    .plan
                    .answers
                    .key(&id, &target, &parts.headers, subject.as_deref());
                (key, id, target, *ttl, tags)
            });
        let produce = self.produce(endpoint, parts, body, auth, forward);
        let mut response = match cached {
            Some((key, id, target, ttl, tags)) => {
                let meta = (id.as_str(), target.as_str(), tags.as_slice(), ttl, private);
                self.plan.answers.get_or_fill(key, meta, produce).await
            }
            None => produce.await,
        };
        if response.status().is_success() {
            response = crate::conditional::finish(&method, &validators, response, private).await;
        }
        if let Some(v) = &verdict {
            crate::ratelimit::apply(v, response.headers_mut());
        }
        if self.plan.config.telemetry.access_log
            && let Some(sub) = subject
        {
            response
                .extensions_mut()
                .insert(crate::access_log::Subject(sub));
        }
        response
    }

    /// Reads the request, runs the call graph and shapes the answer.
    async fn produce(
        &self,
        endpoint: &Endpoint,
        mut parts: http::request::Parts,
        body: Body,
        auth: Val,
        mut forward: http::HeaderMap,
    ) -> Response {
        let mut request = match read_request(endpoint, &mut parts, body).await {
            Ok(r) => r,
            Err(problem) => return problem.into_response(),
        };
        if let Some(id) = parts.headers.get(&crate::edge::REQUEST_ID) {
            forward.insert(crate::edge::REQUEST_ID, id.clone());
        }
        request.auth = auth;
        request.forward = forward;
        match exec::run(endpoint, &self.plan.templates, &self.client, request).await {
            Ok(outcome) => {
                if crate::metrics::enabled() {
                    record_calls(endpoint, &outcome);
                }
                let mut r = self.respond(endpoint, &parts, &outcome);
                if self.plan.config.telemetry.access_log {
                    r.extensions_mut().insert(call_report(&outcome));
                }
                // As fresh as its least fresh part, private if any part is.
                if let Some(left) = outcome.freshness.lifetime()
                    && outcome.degraded.is_empty()
                {
                    let private = outcome.freshness.private || endpoint.auth.is_some();
                    let cc = format!(
                        "{}max-age={}",
                        if private { "private, " } else { "" },
                        left.as_secs()
                    );
                    // An extension's own policy (partners: no-store) wins.
                    if let Ok(v) = HeaderValue::try_from(cc) {
                        r.headers_mut().entry(header::CACHE_CONTROL).or_insert(v);
                    }
                }
                r.extensions_mut().insert(outcome.freshness);
                r
            }
            Err(failure) => {
                tracing::info!(endpoint = %endpoint.id(), error = ?failure.error, "endpoint failed");
                if crate::metrics::enabled() {
                    record_failed_calls(endpoint, &failure);
                }
                let mut r = failure.error.problem().into_response();
                r.extensions_mut().insert(failed_calls(&failure));
                if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                    // An open circuit says when it lets a probe through;
                    // other refusals (overload) may be retried shortly.
                    let secs = match &failure.error {
                        exec::ExecError::Call {
                            error: exec::CallError::CircuitOpen(service),
                            ..
                        } => self
                            .plan
                            .services
                            .get(service)
                            .and_then(|s| s.pool.breaker.as_ref())
                            .map_or(1, |b| b.retry_in().as_secs_f64().ceil().max(1.0) as u64),
                        _ => 1,
                    };
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                r
            }
        }
    }

    /// A usage endpoint: the caller's standing under a policy, counting nothing.
    async fn usage(&self, index: usize, req: Request) -> Response {
        let route = &self.plan.usage[index];
        let (parts, _) = req.into_parts();
        let identity = match &route.auth {
            Some(policy) => match policy.authenticate(&parts.headers, &parts.extensions).await {
                Ok(identity) => identity,
                Err(rejection) => return policy.reject(rejection),
            },
            None => Val::Null,
        };
        let caller = crate::ratelimit::Caller {
            ip: crate::ratelimit::peer_ip(&parts.extensions),
            identity: &identity,
            endpoint: &format!("GET {}", route.path),
            headers: &parts.headers,
        };
        let verdict = route.policy.peek(&caller).await;
        let body = crate::ratelimit::usage_body(&verdict, &identity);
        let mut r = ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
        crate::ratelimit::apply(&verdict, r.headers_mut());
        r
    }

    fn respond(
        &self,
        endpoint: &Endpoint,
        parts: &http::request::Parts,
        outcome: &Outcome,
    ) -> Response {
        let mut encoded = crate::formats::encode(endpoint, &self.plan.pages, parts, &outcome.value);
        if let Some(failed) = encoded.take_if(|r| r.status().is_server_error()) {
            return failed;
        }
        let mut response = encoded
            .or_else(|| self.extension.encode(endpoint, parts, &outcome.value))
            .unwrap_or_else(|| json_response(&outcome.value));
        *response.status_mut() = endpoint.status;
        let headers = response.headers_mut();
        if crate::formats::negotiated(endpoint) {
            headers.insert(header::VARY, HeaderValue::from_static("accept"));
        }
        if !outcome.degraded.is_empty() {
            headers.insert(PARTIAL_HEADER, HeaderValue::from_static("true"));
            let list: Vec<String> = outcome
                .degraded
                .iter()
                .map(|d| format!("{};reason={}", d.call, d.reason))
                .collect();
            if let Ok(v) = HeaderValue::try_from(list.join(", ")) {
                headers.insert(DEGRADED_HEADER, v);
            }
        }
        if self.plan.config.telemetry.server_timing {
            let timing: Vec<String> = outcome
                .timings
                .iter()
                .map(|(name, d)| format!("{name};dur={:.1}", d.as_secs_f64() * 1000.0))
                .collect();
            if let Ok(v) = HeaderValue::try_from(timing.join(", ")) {
                headers.insert("server-timing", v);
            }
        }
        response
    }
}

/// The path with its query parameters in sorted order: `?b=2&a=1` and
/// `?a=1&b=2` ask the same.
fn sorted_target(uri: &http::Uri) -> String {
    match uri.query() {
        None | Some("") => uri.path().to_owned(),
        Some(q) => {
            let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_unstable();
            format!("{}?{}", uri.path(), pairs.join("&"))
        }
    }
}

/// What is noted of a request when it arrives, for its span, metrics and log line.
struct Seen {
    started: std::time::Instant,
    method: http::Method,
    /// Only when the access log is on: it costs allocations.
    logged: Option<Logged>,
    traced: bool,
    headers: Option<http::HeaderMap>,
}

struct Logged {
    path: String,
    request_id: String,
    client: Option<String>,
}

impl Seen {
    fn new(req: &Request, plan: &Plan) -> Self {
        let traced = crate::telemetry::wanted(req.headers());
        let logged = plan.config.telemetry.access_log.then(|| Logged {
            path: req.uri().path().to_owned(),
            request_id: req
                .headers()
                .get(&crate::edge::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            client: crate::ratelimit::peer_ip(req.extensions()).map(|ip| ip.to_string()),
        });
        Self {
            started: std::time::Instant::now(),
            method: req.method().clone(),
            logged,
            traced,
            headers: traced.then(|| req.headers().clone()),
        }
    }

    /// The request's span, when it is traced.
    fn span(&self, name: &str, route: &str) -> Option<opentelemetry::Context> {
        let headers = self.headers.as_ref().filter(|_| self.traced)?;
        let attributes = vec![
            opentelemetry::KeyValue::new("http.request.method", self.method.to_string()),
            opentelemetry::KeyValue::new("http.route", route.to_owned()),
        ];
        Some(crate::telemetry::server(
            name.to_owned(),
            headers,
            attributes,
        ))
    }

    /// Ends the span, counts the request and writes its log line.
    fn finish(self, what: &str, response: &Response, cx: Option<&opentelemetry::Context>) {
        let status = response.status();
        if let Some(cx) = cx {
            let error = status.is_server_error().then(|| status.as_str().to_owned());
            crate::telemetry::finish(cx, Some(status.as_u16()), error.as_deref());
        }
        if crate::traffic::enabled() {
            record_request(what, self.method.as_str(), response, self.started);
        }
        let Some(logged) = &self.logged else { return };
        let report = response.extensions().get::<crate::access_log::CallReport>();
        let sub = response.extensions().get::<crate::access_log::Subject>();
        crate::access_log::write(&crate::access_log::Entry {
            ts: crate::access_log::now(),
            request_id: &logged.request_id,
            trace_id: cx.and_then(crate::telemetry::trace_id),
            client: logged.client.clone(),
            method: self.method.as_str(),
            path: &logged.path,
            endpoint: what,
            status: status.as_u16(),
            duration_ms: crate::access_log::ms(self.started.elapsed()),
            sub: sub.map(|s| s.0.as_str()),
            partial: response.headers().contains_key(PARTIAL_HEADER),
            calls: report.map_or(&[], |r| r.0.as_slice()),
        });
    }
}

/// Each call's latency, and its failures, by endpoint and call.
fn record_calls(endpoint: &Endpoint, outcome: &Outcome) {
    let id = endpoint.id();
    for (name, took) in &outcome.timings {
        metrics::histogram!("bff_call_duration_seconds", "endpoint" => id.clone(), "call" => name.clone())
            .record(took.as_secs_f64());
    }
    for d in &outcome.degraded {
        metrics::counter!("bff_call_errors_total", "endpoint" => id.clone(), "call" => d.call.clone(), "outcome" => d.reason.clone()).increment(1);
    }
}

/// Each call's time and outcome, for the log line.
fn call_report(outcome: &Outcome) -> crate::access_log::CallReport {
    let calls = outcome
        .timings
        .iter()
        .map(|(name, took)| crate::access_log::CallLog {
            name: name.clone(),
            ms: crate::access_log::ms(*took),
            outcome: outcome
                .degraded
                .iter()
                .find(|d| &d.call == name)
                .map_or_else(|| "ok".to_owned(), |d| d.reason.clone()),
        })
        .collect();
    crate::access_log::CallReport(calls)
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

/// Every call of a failed request with its real time and outcome, for the
/// log line.
fn failed_calls(failure: &exec::Failure) -> crate::access_log::CallReport {
    crate::access_log::CallReport(
        failure
            .calls
            .iter()
            .map(|(name, took, outcome)| crate::access_log::CallLog {
                name: name.clone(),
                ms: crate::access_log::ms(*took),
                outcome: outcome.clone(),
            })
            .collect(),
    )
}

/// The calls of a failed request in the metrics: each one's time, and an
/// error for each that failed (not for those cancelled once the answer was
/// decided).
fn record_failed_calls(endpoint: &Endpoint, failure: &exec::Failure) {
    let id = endpoint.id();
    for (name, took, outcome) in &failure.calls {
        metrics::histogram!("bff_call_duration_seconds", "endpoint" => id.clone(), "call" => name.clone())
            .record(took.as_secs_f64());
        if outcome != "ok" && outcome != "cancelled" {
            metrics::counter!("bff_call_errors_total", "endpoint" => id.clone(), "call" => name.clone(), "outcome" => outcome.clone()).increment(1);
        }
    }
}

/// Counts an answered request for the dashboard and, with a recorder, Prometheus.
fn record_request(what: &str, method: &str, response: &Response, started: std::time::Instant) {
    let took = started.elapsed();
    crate::traffic::record(what, response.status(), took);
    if !crate::metrics::enabled() {
        return;
    }
    let labels = [
        ("endpoint", what.to_owned()),
        ("method", method.to_owned()),
        ("status", response.status().as_str().to_owned()),
    ];
    metrics::counter!("bff_requests_total", &labels).increment(1);
    metrics::histogram!("bff_request_duration_seconds", "endpoint" => what.to_owned())
        .record(took.as_secs_f64());
}

/// The executable's name (`bff-web`), the default service name of traces.
fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bff".to_owned())
}

/// The default encoding: compact JSON.
pub fn json_response(v: &Val) -> Response {
    let mut r = Response::new(Body::from(value::to_json(v)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// 403 for an identity that lacks what the endpoint or route requires.
pub fn forbidden(why: String) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "about:blank").detail(why)
}

async fn method_not_allowed() -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "about:blank")
        .detail("this endpoint does not accept this method")
}

/// Gathers what specs may read from the client's request.
async fn read_request(
    endpoint: &Endpoint,
    parts: &mut http::request::Parts,
    body: Body,
) -> Result<RequestData, Problem> {
    use axum::extract::FromRequestParts;
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| Problem::bad_request("the path parameters are not valid UTF-8"))?;
    let path = value::object(params.iter().map(|(k, v)| (k, value::string(v))));
    let mut query_pairs: Vec<(String, String)> = Vec::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if !query_pairs.iter().any(|(seen, _)| *seen == k) {
                query_pairs.push((k.into_owned(), v.into_owned()));
            }
        }
    }
    let query = value::object(
        query_pairs
            .iter()
            .map(|(k, v)| (k.as_str(), value::string(v))),
    );
    let headers = value::object(
        parts
            .headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), value::string(v)))),
    );
    let body = read_body(endpoint, parts, body).await?;
    Ok(RequestData {
        path,
        query,
        headers,
        body,
        auth: Val::Null,
        forward: http::HeaderMap::new(),
    })
}

async fn read_body(
    endpoint: &Endpoint,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Val, Problem> {
    let bytes = axum::body::to_bytes(body, endpoint.body_limit)
        .await
        .map_err(|_| {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "about:blank").detail(format!(
                "the request body exceeds {} bytes",
                endpoint.body_limit
            ))
        })?;
    if bytes.is_empty() {
        return Ok(Val::Null);
    }
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_json = media == "application/json" || media.ends_with("+json");
    let is_xml =
        matches!(media.as_str(), "application/xml" | "text/xml") || media.ends_with("+xml");
    if is_xml {
        return crate::xml_body::to_json(&bytes)
            .map(|v| value::from_json(&v))
            .map_err(|e| Problem::bad_request(format!("the request body is not valid XML: {e}")));
    }
    if !is_json {
        return Err(
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "about:blank").detail(
                "the request body must be JSON (Content-Type: application/json) or XML (application/xml)",
            ),
        );
    }
    value::parse(&bytes)
        .map_err(|e| Problem::bad_request(format!("the request body is not valid JSON: {e}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
