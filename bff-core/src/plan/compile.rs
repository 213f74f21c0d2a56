//! From parsed specs to plans, checking what only the whole folder can
//! tell: services and calls that exist, endpoints that do not clash,
//! templates and expressions that parse, graphs without cycles.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use http::{HeaderName, Method, StatusCode};
use indexmap::IndexMap;

use super::expr::{Expr, ExprBuilder, ExprError};
use super::graph;
use super::template::{Escape, Template, TemplateBuilder, TemplateError};
use super::{
    BodyPlan, BodyTemplate, Call, Endpoint, ForEach, Plan, ProxyPlan, REQUEST_ROOTS, Service,
    WebSocketPlan,
};
use crate::auth::Policy;
use crate::config::{BffConfig, expand_env};
use crate::spec::{
    CallSpec, Diagnostic, Diagnostics, EndpointSpec, Loc, SpecFile, SpecSet, read_dir,
};
use crate::value;

/// Default number of `for_each` requests in flight at once.
const DEFAULT_CONCURRENCY: usize = 8;

/// Reads, checks and compiles a spec folder, reporting every problem.
pub fn load(dir: &Path) -> Result<Plan, Diagnostics> {
    let mut diags = Diagnostics::default();
    let set = read_dir(dir, &mut diags);
    match set {
        Some(set) => {
            let plan = compile(&set, &mut diags);
            if diags.is_empty() {
                plan.ok_or(diags)
            } else {
                Err(diags)
            }
        }
        None => Err(diags),
    }
}

/// Compiles a parsed folder; problems go to `diags`.
pub fn compile(set: &SpecSet, diags: &mut Diagnostics) -> Option<Plan> {
    let config_file = &set.config;
    let call_cache = Arc::new(crate::cache::HttpCache::new(
        config_file.spec.cache.max_bytes,
    ));
    // gRPC needs HTTP/2, whatever else the service speaks.
    let grpc_services: HashSet<&str> = set
        .endpoints
        .iter()
        .flat_map(|f| f.spec.calls.values())
        .filter(|c| c.grpc.is_some())
        .map(|c| c.service.as_str())
        .collect();
    let services = compile_services(config_file, &set.dir, &call_cache, &grpc_services, diags);
    let protos = crate::proto::load(&set.dir, diags);
    let pages = crate::pages::Pages::load(&set.dir, diags);
    let listen = match &config_file.spec.listen {
        Some(l) => match expand_env(l) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.push(Diagnostic::file(&config_file.path, format!("listen: {e}")));
                None
            }
        },
        None => None,
    };
    let policies = compile_policies(config_file, &set.dir, diags);
    let tls = compile_tls(config_file, &set.dir, &policies, diags);
    let (rate_limits, usage, redis) = super::limits::compile(config_file, &policies, diags);
    let shared_answers = match config_file.spec.cache.store {
        crate::ratelimit::StoreKind::Local => None,
        crate::ratelimit::StoreKind::Redis if redis.is_some() => redis,
        crate::ratelimit::StoreKind::Redis => {
            diags.push(Diagnostic::file(
                &config_file.path,
                "cache.store: redis needs `redis: { url }` in bff.yaml",
            ));
            None
        }
    };
    let proxies = compile_proxies(config_file, &services, &policies, &rate_limits, diags);

    let mut b = Builders::default();
    let mut endpoints = Vec::new();
    let mut routes = matchit::Router::new();
    let mut seen: HashMap<(Method, String), &Path> = HashMap::new();
    for p in &proxies {
        let _ = routes.insert(format!("{}/{{*rest}}", p.prefix), ());
        let _ = routes.insert(format!("{}/", p.prefix), ());
        let _ = routes.insert(p.prefix.clone(), ());
    }
    for file in &set.endpoints {
        let folder = Folder {
            config: &config_file.spec,
            services: &services,
            policies: &policies,
            rate_limits: &rate_limits,
            protos: &protos,
            pages: &pages,
        };
        let Some(ep) = compile_endpoint(file, &folder, &mut b, diags) else {
            continue;
        };
        let key = (ep.method.clone(), ep.path.clone());
        if let Some(other) = seen.get(&key) {
            diags.push(file.error_at(
                &file.spec.endpoint,
                format!("`{}` is already defined in {}", ep.id(), other.display()),
            ));
            continue;
        }
        // The same path with another method is fine; another shape of path
        // at the same place (`/{id}` beside `/{name}`) is not.
        if let Err(e) = routes.insert(ep.path.clone(), ())
            && !matches!(&e, matchit::InsertError::Conflict { with } if *with == ep.path)
        {
            diags.push(file.error_at(
                &file.spec.endpoint,
                format!("path clashes with another route: {e}"),
            ));
            continue;
        }
        seen.insert(key, &file.path);
        endpoints.push(Arc::new(ep));
    }
    for u in &usage {
        if !u.path.starts_with('/') || routes.insert(u.path.clone(), ()).is_err() {
            diags.push(Diagnostic::file(
                &config_file.path,
                format!(
                    "rate limit `{}`: usage_path `{}` must be a path of its own, starting with `/`",
                    u.policy.name, u.path
                ),
            ));
        }
    }
    if let Err(errors) = b.exprs.finish() {
        for (i, e) in errors {
            let (file, src) = b.expr_sites[i];
            diags.push(expr_diagnostic(file, src, &e));
        }
        return None;
    }
    let templates = match b.templates.finish() {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::file(&set.dir, format!("templates: {e}")));
            return None;
        }
    };
    Some(Plan {
        dir: set.dir.clone(),
        config: config_file.spec.clone(),
        listen,
        endpoints,
        proxies,
        templates: Arc::new(templates),
        identity_headers: {
            let names = identity_headers(&policies);
            let _ = call_cache.identity.set(names.clone());
            names
        },
        policies,
        tls,
        upstream_cache: call_cache.clone(),
        answers: Arc::new(crate::answers::AnswerCache::new(
            config_file.spec.cache.max_bytes,
            shared_answers,
        )),
        services,
        rate_limits,
        usage,
        shed: config_file
            .spec
            .limits
            .max_concurrency
            .map(crate::ratelimit::shed::Limit::new),
        protos: protos.pool,
        pages: Arc::new(pages),
    })
}

fn compile_services(
    file: &SpecFile<BffConfig>,
    dir: &Path,
    call_cache: &Arc<crate::cache::HttpCache>,
    grpc_services: &HashSet<&str>,
    diags: &mut Diagnostics,
) -> IndexMap<String, Arc<Service>> {
    let mut out = IndexMap::new();
    for (name, svc) in &file.spec.services {
        let urls: Vec<(String, u32)> = match (&svc.url, svc.instances.is_empty(), &svc.discovery) {
            (Some(url), true, None) => vec![(url.value.clone(), 1)],
            (None, false, None) => svc
                .instances
                .iter()
                .map(|i| (i.url.clone(), i.weight))
                .collect(),
            (None, true, Some(d)) if d.dns.is_some() != d.etcd.is_some() => Vec::new(),
            (None, true, Some(_)) => {
                diags.push(file.error_at(
                    svc,
                    format!("service `{name}`: discovery needs exactly one of `dns` or `etcd`"),
                ));
                continue;
            }
            _ => {
                diags.push(file.error_at(
                    svc,
                    format!(
                        "service `{name}` needs exactly one of `url`, `instances` or `discovery`"
                    ),
                ));
                continue;
            }
        };
        let mut bases = Vec::new();
        for (url, weight) in urls {
            match service_url(name, &url) {
                Ok(u) => bases.push((u, weight)),
                Err(e) => diags.push(match &svc.url {
                    Some(u) => file.error_at(u, e),
                    None => file.error_at(svc, e),
                }),
            }
        }
        if bases.is_empty() && svc.discovery.is_none() {
            continue;
        }
        let hash_header = match svc.hash_key.as_deref().map(|k| {
            k.strip_prefix("header:")
                .and_then(|h| http::HeaderName::try_from(h.trim()).ok())
                .ok_or_else(|| format!("service `{name}`: hash_key must be `header:<name>`"))
        }) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                diags.push(file.error_at(svc, e));
                continue;
            }
            None => None,
        };
        let ca = match svc.ca.as_deref().map(expand_env).transpose() {
            Ok(ca) => ca.map(|c| dir.join(c)),
            Err(e) => {
                diags.push(file.error_at(svc, format!("service `{name}`: {e}")));
                continue;
            }
        };
        let options = crate::upstream::Options {
            protocol: if svc.http2 {
                crate::upstream::Protocol::Http2
            } else {
                crate::upstream::Protocol::Negotiated
            },
            ca,
            connect_timeout: svc.connect_timeout,
        };
        let own_client = |protocol: crate::upstream::Protocol| {
            let options = crate::upstream::Options {
                protocol,
                ..options.clone()
            };
            crate::upstream::Client::with(&options)
                .map_err(|e| file.error_at(svc, format!("service `{name}`: {e}")))
        };
        let needs_own = svc.http2 || options.ca.is_some() || svc.connect_timeout.is_some();
        let client = match needs_own.then(|| own_client(options.protocol)).transpose() {
            Ok(c) => c,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let needs_grpc = grpc_services.contains(name.as_str()) && !svc.http2;
        let grpc_client = match needs_grpc
            .then(|| own_client(crate::upstream::Protocol::Http2))
            .transpose()
        {
            Ok(c) => c,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let pool = Arc::new(
            crate::resilience::Pool::new(
                bases.clone(),
                svc.balance,
                hash_header,
                svc.outlier.clone(),
                svc.circuit_breaker
                    .clone()
                    .map(|c| crate::resilience::Breaker::new(c, name)),
                svc.retries.clone().map(crate::resilience::Retry::new),
            )
            .with_hedge(svc.hedge.clone())
            .named(name),
        );
        out.insert(
            name.clone(),
            Arc::new(Service {
                name: name.clone(),
                timeout: svc.timeout,
                limit: svc.max_concurrency.map(crate::ratelimit::shed::Limit::new),
                pool,
                discovery: svc.discovery.clone(),
                health_check: svc.health_check.clone(),
                max_response_bytes: svc.max_response_bytes,
                cache: svc.cache.as_ref().map(|c| (call_cache.clone(), c.ttl)),
                stale: svc
                    .stale_if_error
                    .as_ref()
                    .map(|s| crate::resilience::stale::Stale::new(s.max_age, s.max_bytes)),
                client,
                options,
                grpc_client,
            }),
        );
    }
    out
}

/// A service base URL, `${VAR}` expanded, without its trailing slash.
fn service_url(name: &str, raw: &str) -> Result<String, String> {
    let url = expand_env(raw)?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        Ok(_) => Err(format!(
            "service `{name}`: URL must be http or https without a query, got `{url}`"
        )),
        Err(e) => Err(format!("service `{name}`: invalid URL `{url}`: {e}")),
    }
}

type Policies = IndexMap<String, Arc<Policy>>;

fn compile_policies(file: &SpecFile<BffConfig>, dir: &Path, diags: &mut Diagnostics) -> Policies {
    let mut out = IndexMap::new();
    for (name, config) in &file.spec.auth {
        match Policy::compile(config, dir) {
            Ok(p) => {
                out.insert(name.clone(), Arc::new(p));
            }
            Err(e) => diags.push(file.error_at(config, format!("auth policy `{name}`: {e}"))),
        }
    }
    out
}

/// The listener's TLS configuration; an `mtls` policy needs `tls.client_ca`.
fn compile_tls(
    file: &SpecFile<BffConfig>,
    dir: &Path,
    policies: &Policies,
    diags: &mut Diagnostics,
) -> Option<Arc<rustls::ServerConfig>> {
    let verifies_clients = file
        .spec
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca.is_some());
    for (name, config) in &file.spec.auth {
        if policies.get(name).is_some_and(|p| p.needs_client_cert()) && !verifies_clients {
            diags.push(file.error_at(
                config,
                format!(
                    "auth policy `{name}` uses mtls, which needs `tls:` with `client_ca` \
                     so the listener verifies client certificates"
                ),
            ));
        }
    }
    let tls = file.spec.tls.as_ref()?;
    match crate::tls::server_config(tls, dir) {
        Ok(c) => Some(c),
        Err(e) => {
            diags.push(file.error_at(tls, format!("tls: {e}")));
            None
        }
    }
}

/// Every header name any policy fills with identity, once each.
fn identity_headers(policies: &Policies) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for name in policies.values().flat_map(|p| p.forward.names()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The policy an endpoint or route names, reported when unknown.
/// "unknown <kind> `x` (bff.yaml defines: a, b)".
pub(super) fn unknown_name<'k>(
    kind: &str,
    name: &str,
    known: impl Iterator<Item = &'k String>,
) -> String {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    format!("unknown {kind} `{name}` (bff.yaml defines: {known})")
}

fn lookup_policy<T>(
    file: &SpecFile<T>,
    name: Option<&Loc<String>>,
    policies: &Policies,
    diags: &mut Diagnostics,
) -> Option<Arc<Policy>> {
    let name = name?;
    let found = policies.get(name.as_str()).cloned();
    if found.is_none() {
        diags.push(file.error_at(name, unknown_name("auth policy", name, policies.keys())));
    }
    found
}

fn compile_proxies(
    file: &SpecFile<BffConfig>,
    services: &IndexMap<String, Arc<Service>>,
    policies: &Policies,
    rate_limits: &super::limits::RateLimits,
    diags: &mut Diagnostics,
) -> Vec<Arc<ProxyPlan>> {
    let mut out = Vec::new();
    for route in &file.spec.proxy {
        let Some(service) = lookup_service(file, &route.service, &file.spec, services, diags)
        else {
            continue;
        };
        if !route.prefix.starts_with('/') || route.prefix.contains(['{', '}', '*']) {
            diags.push(file.error_at(
                &route.prefix,
                "a proxy prefix is a literal path starting with `/`",
            ));
            continue;
        }
        let prefix = route.prefix.trim_end_matches('/').to_owned();
        let rewrite = route
            .rewrite
            .as_deref()
            .unwrap_or(&prefix)
            .trim_end_matches('/')
            .to_owned();
        let auth = lookup_policy(file, route.auth.as_ref(), policies, diags);
        if route.auth.is_some() && auth.is_none() {
            continue;
        }
        let require = match (&route.require, &auth) {
            (Some(r), None) => {
                diags.push(file.error_at(r, "`require` needs an `auth` policy"));
                continue;
            }
            (r, _) => r.as_ref().map(|r| crate::auth::Requirement::new(r)),
        };
        let rate_limit = super::limits::lookup(
            file,
            route.rate_limit.as_ref(),
            auth.is_some(),
            rate_limits,
            diags,
        );
        let websocket = match route.websocket.as_ref() {
            None => None,
            Some(ws) => match compile_websocket(ws, &service) {
                Ok(w) => Some(w),
                Err(e) => {
                    diags.push(file.error_at(ws, e));
                    continue;
                }
            },
        };
        if let Some(ws) = &websocket
            && ws.origins.is_empty()
            && auth.as_ref().is_some_and(|a| a.reads_cookie())
        {
            // Browsers send cookies with cross-site WebSocket handshakes, and
            // CORS does not apply to them: any page could connect as the user.
            tracing::warn!(
                prefix = %prefix,
                "WebSocket route authenticated by a cookie accepts any origin; set `websocket.origins`"
            );
        }
        out.push(Arc::new(ProxyPlan {
            auth,
            websocket,
            require,
            rate_limit,
            max_body: route.max_body,
            prefix,
            rewrite,
            timeout: route
                .timeout
                .or(service.timeout)
                .unwrap_or(file.spec.defaults.timeout),
            service,
        }));
    }
    out
}

/// A route's WebSocket settings: origins checked and normalised, and a
/// client that speaks HTTP/1.1 to the service whatever else it speaks.
fn compile_websocket(
    config: &crate::config::WebSocketConfig,
    service: &Service,
) -> Result<WebSocketPlan, String> {
    if config.idle_timeout.is_zero() {
        return Err("websocket: `idle_timeout` must be longer than 0".into());
    }
    let mut origins = Vec::new();
    for raw in &config.origins {
        for origin in expand_env(raw)?.split(',').map(str::trim) {
            if origin.is_empty() {
                continue;
            }
            let parsed = reqwest::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
                .filter(|u| u.query().is_none() && u.fragment().is_none());
            let Some(url) = parsed else {
                return Err(format!(
                    "websocket: `{origin}` is not an origin such as `https://shop.example`"
                ));
            };
            origins.push(url.origin().ascii_serialization());
        }
    }
    let options = crate::upstream::Options {
        protocol: crate::upstream::Protocol::Http1,
        ..service.options.clone()
    };
    let client = crate::upstream::Client::with(&options)
        .map_err(|e| format!("service `{}`: {e}", service.name))?;
    Ok(WebSocketPlan {
        idle_timeout: config.idle_timeout,
        origins,
        client,
    })
}

fn lookup_service<T>(
    file: &SpecFile<T>,
    name: &Loc<String>,
    config: &BffConfig,
    services: &IndexMap<String, Arc<Service>>,
    diags: &mut Diagnostics,
) -> Option<Arc<Service>> {
    match services.get(name.as_str()) {
        Some(s) => Some(s.clone()),
        // Declared but broken: its own error is reported in bff.yaml.
        None if config.services.contains_key(name.as_str()) => None,
        None => {
            let known: Vec<&str> = config.services.keys().map(String::as_str).collect();
            diags.push(file.error_at(
                name,
                format!(
                    "unknown service `{}` (bff.yaml defines: {})",
                    name.value,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
            None
        }
    }
}

/// What compiling collects across endpoints, to build once at the end.
#[derive(Default)]
struct Builders<'a> {
    templates: TemplateBuilder,
    exprs: ExprBuilder,
    /// Where each expression was written, by the order it was added in.
    expr_sites: Vec<(&'a SpecFile<EndpointSpec>, &'a Loc<String>)>,
}

impl<'a> Builders<'a> {
    /// Queues a jq expression; syntax errors are reported at once.
    fn expr(
        &mut self,
        file: &'a SpecFile<EndpointSpec>,
        src: &'a Loc<String>,
        diags: &mut Diagnostics,
    ) -> Option<Expr> {
        match self.exprs.add(src) {
            Ok(e) => {
                self.expr_sites.push((file, src));
                Some(e)
            }
            Err(errors) => {
                for e in errors {
                    diags.push(expr_diagnostic(file, src, &e));
                }
                None
            }
        }
    }
}

fn compile_endpoint<'a>(
    file: &'a SpecFile<EndpointSpec>,
    folder: &Folder<'_>,
    b: &mut Builders<'a>,
    diags: &mut Diagnostics,
) -> Option<Endpoint> {
    let Folder {
        config,
        services,
        policies,
        rate_limits,
        protos,
        ..
    } = *folder;
    let spec = &file.spec;
    let before = diags.0.len();
    let auth = lookup_policy(file, spec.auth.as_ref(), policies, diags);
    if let (Some(r), None) = (&spec.require, &spec.auth) {
        diags.push(file.error_at(r, "`require` needs an `auth` policy"));
    }
    let require = spec
        .require
        .as_ref()
        .map(|r| crate::auth::Requirement::new(r));
    let rate_limit = super::limits::lookup(
        file,
        spec.rate_limit.as_ref(),
        auth.is_some(),
        rate_limits,
        diags,
    );
    let (method, path) = match parse_endpoint(&spec.endpoint) {
        Ok(mp) => mp,
        Err(e) => {
            diags.push(file.error_at(&spec.endpoint, e));
            return None;
        }
    };
    let names: Vec<&str> = spec.calls.keys().map(String::as_str).collect();
    let mut calls = Vec::new();
    for (name, call) in &spec.calls {
        if let Some(c) = compile_call(file, name, call, &names, config, services, protos, b, diags)
        {
            calls.push(c);
        }
    }
    let respond = spec
        .respond
        .as_ref()
        .and_then(|r| r.jq.as_ref())
        .and_then(|jq| b.expr(file, jq, diags));
    let status = match spec.respond.as_ref().and_then(|r| r.status) {
        Some(s) => match StatusCode::from_u16(s) {
            Ok(s) => s,
            Err(_) => {
                diags.push(file.error_at(
                    &spec.endpoint,
                    format!("respond.status {s} is not an HTTP status"),
                ));
                StatusCode::OK
            }
        },
        None => StatusCode::OK,
    };
    let (message, page) = match &spec.respond {
        Some(r) => compile_formats(file, r, folder, diags),
        None => (None, None),
    };
    if let Some(example) = &spec.example {
        check_example(file, example, &path, diags);
    }
    // Dependencies are indexes into all calls: every one must have compiled.
    if diags.0.len() > before || calls.len() < spec.calls.len() {
        return None;
    }
    let deps: Vec<Vec<usize>> = calls.iter().map(|c: &Call| c.deps.clone()).collect();
    if let Err(cycle) = graph::check_acyclic(&deps) {
        let waits: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("`{}` waits for `{}`", calls[w[0]].name, calls[w[1]].name))
            .collect();
        diags.push(at_reference(
            file,
            &spec.calls[cycle[0]],
            &calls[cycle[1]].name,
            format!("dependency cycle: {}", waits.join(", ")),
        ));
        return None;
    }
    for i in 0..calls.len() {
        for d in calls[i].deps.clone() {
            calls[d].dependents.push(i);
        }
    }
    Some(Endpoint {
        method,
        path,
        file: file.path.clone(),
        description: spec.description.clone(),
        deadline: spec.deadline.unwrap_or(config.defaults.deadline),
        calls,
        respond,
        status,
        body_limit: config.defaults.body_limit,
        example: spec.example.as_ref().map(|e| e.value.clone()),
        auth,
        require,
        rate_limit,
        cache: spec.cache.as_ref().map(|c| (c.ttl, c.tags.clone())),
        message,
        page,
        query_params: super::reads::query_params(spec),
    })
}

/// What the folder as a whole gives each endpoint.
#[derive(Clone, Copy)]
struct Folder<'a> {
    config: &'a BffConfig,
    services: &'a IndexMap<String, Arc<Service>>,
    policies: &'a Policies,
    rate_limits: &'a super::limits::RateLimits,
    /// Messages and services of `proto/`.
    protos: &'a crate::proto::Protos,
    /// Page templates of `templates/`.
    pages: &'a crate::pages::Pages,
}

/// The protobuf message and page template a `respond` names, checked
/// against what `proto/` and `templates/` hold.
fn compile_formats(
    file: &SpecFile<EndpointSpec>,
    respond: &crate::spec::RespondSpec,
    formats: &Folder<'_>,
    diags: &mut Diagnostics,
) -> (Option<prost_reflect::MessageDescriptor>, Option<String>) {
    let message = respond.message.as_ref().and_then(|name| {
        match crate::proto::message(&formats.protos.pool, name) {
            Ok(m) => {
                if let Some(jq) = &respond.jq {
                    for e in super::shape::check(jq, &m) {
                        let (line, column) = line_col(jq, e.range.start);
                        let width = jq[e.range.clone()].chars().count().max(1);
                        diags.push(locate(file, jq, line, column, width, e.message));
                    }
                }
                Some(m)
            }
            // A message a broken file may hold is not called missing: that file's error says why.
            Err(_) if formats.protos.lost_to_errors(name) => None,
            Err(e) => {
                diags.push(file.error_at(name, e));
                None
            }
        }
    });
    let page = respond.html.as_ref().and_then(|name| {
        if formats.pages.contains(name) {
            Some(name.value.clone())
        } else if formats.pages.lost_to_errors(name) {
            // The template's error, or that of a template it needs, says why.
            None
        } else {
            let known = formats.pages.names();
            diags.push(file.error_at(
                name,
                if known.is_empty() {
                    format!(
                        "no page template `{}`: the `{}/` folder has none",
                        name.value,
                        crate::pages::DIR
                    )
                } else {
                    format!(
                        "no page template `{}`; known: {}",
                        name.value,
                        known.join(", ")
                    )
                },
            ));
            None
        }
    });
    (message, page)
}

/// An example must be a request the endpoint actually answers.
fn check_example(
    file: &SpecFile<EndpointSpec>,
    example: &Loc<crate::spec::ExampleSpec>,
    route: &str,
    diags: &mut Diagnostics,
) {
    let mut router = matchit::Router::new();
    if router.insert(route, ()).is_err() {
        return;
    }
    let path = example.path.split('?').next().unwrap_or("");
    if router.at(path).is_err() {
        diags.push(file.error_at(
            example,
            format!("example path `{}` does not match `{route}`", example.path),
        ));
    }
}

/// Splits `GET /v1/x/{id}` into method and route path.
fn parse_endpoint(text: &str) -> Result<(Method, String), String> {
    let mut parts = text.split_whitespace();
    let (Some(m), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("expected `METHOD /path`, got `{text}`"));
    };
    let method = match m {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => {
            return Err(format!(
                "unsupported method `{other}` (GET, POST, PUT, PATCH, DELETE)"
            ));
        }
    };
    if !path.starts_with('/') {
        return Err(format!("the path must start with `/`, got `{path}`"));
    }
    for segment in path.split('/') {
        if segment.contains(['{', '}']) {
            let name = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|n| is_identifier(n));
            if name.is_none() {
                return Err(format!(
                    "path parameter `{segment}` must be a whole segment like `{{id}}`"
                ));
            }
        }
    }
    Ok((method, path.to_owned()))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[allow(clippy::too_many_arguments)]
fn compile_call<'a>(
    file: &'a SpecFile<EndpointSpec>,
    name: &str,
    spec: &'a Loc<CallSpec>,
    names: &[&str],
    config: &BffConfig,
    services: &IndexMap<String, Arc<Service>>,
    protos: &crate::proto::Protos,
    b: &mut Builders<'a>,
    diags: &mut Diagnostics,
) -> Option<Call> {
    let before = diags.0.len();
    if REQUEST_ROOTS.contains(&name) || matches!(name, "batch" | "item") || !is_identifier(name) {
        diags.push(file.error_at_key(
            name,
            spec,
            format!("`{name}` cannot name a call: use letters, digits and `_`, and none of path, query, headers, body, auth, batch, item"),
        ));
    }
    let service = lookup_service(file, &spec.service, config, services, diags);
    let methods = [
        (Method::GET, &spec.get),
        (Method::POST, &spec.post),
        (Method::PUT, &spec.put),
        (Method::PATCH, &spec.patch),
        (Method::DELETE, &spec.delete),
        (Method::POST, &spec.grpc),
    ];
    let given: Vec<(Method, &Loc<String>)> = methods
        .iter()
        .filter_map(|(m, p)| p.as_ref().map(|p| (m.clone(), p)))
        .collect();
    let (method, path_src) = match given.as_slice() {
        [one] => one.clone(),
        [] => {
            diags.push(file.error_at(
                &spec.service,
                format!("call `{name}` needs one of get, post, put, patch, delete, grpc"),
            ));
            return None;
        }
        [_, second, ..] => {
            diags.push(file.error_at(second.1, format!("call `{name}` has more than one method")));
            return None;
        }
    };
    let mut roots: Vec<String> = Vec::new();
    let template = |templates: &mut TemplateBuilder,
                    src: &Loc<String>,
                    escape: Escape,
                    roots: &mut Vec<String>,
                    diags: &mut Diagnostics| {
        match templates.add(src, escape) {
            Ok(t) => {
                roots.extend(t.roots.iter().cloned());
                Some(t)
            }
            Err(e) => {
                diags.push(template_diagnostic(file, src, &e));
                None
            }
        }
    };
    let grpc = spec
        .grpc
        .as_ref()
        .and_then(|g| super::grpc::compile(file, spec, g, protos, diags));
    let path = match (&spec.grpc, &grpc) {
        (None, _) => template(&mut b.templates, path_src, Escape::Url, &mut roots, diags),
        (Some(_), Some(g)) => {
            let path = Loc {
                value: format!("/{}", g.name),
                line: path_src.line,
                column: path_src.column,
            };
            template(&mut b.templates, &path, Escape::Url, &mut roots, diags)
        }
        (Some(_), None) => None,
    };
    let query: Vec<(String, Template)> = spec
        .query
        .iter()
        .filter_map(|(k, v)| {
            let t = template(&mut b.templates, v, Escape::Verbatim, &mut roots, diags)?;
            Some((k.clone(), t))
        })
        .collect();
    let mut headers = Vec::new();
    for (k, v) in &spec.headers {
        match HeaderName::try_from(k.as_str()) {
            Ok(h) => {
                if let Some(t) = template(&mut b.templates, v, Escape::Verbatim, &mut roots, diags)
                {
                    headers.push((h, t));
                }
            }
            Err(_) => diags.push(file.error_at(v, format!("`{k}` is not a valid header name"))),
        }
    }
    let body = match (&spec.body, &spec.body_jq) {
        (Some(_), Some(jq)) => {
            diags.push(file.error_at(jq, "use either body or body_jq, not both"));
            None
        }
        (Some(body), None) => {
            let templates = &mut b.templates;
            let mut tmpl = |s: &str, roots: &mut Vec<String>| {
                let loc = Loc {
                    value: s.to_owned(),
                    line: body.line,
                    column: body.column,
                };
                template(templates, &loc, Escape::Verbatim, roots, diags)
            };
            body_template(&body.value, &mut tmpl, &mut roots).map(BodyPlan::Template)
        }
        (None, Some(jq)) => b.expr(file, jq, diags).map(BodyPlan::Jq),
        (None, None) => None,
    };
    let when = spec.when.as_ref().and_then(|w| b.expr(file, w, diags));
    let for_each = match &spec.for_each {
        Some(fe) => b.expr(file, fe, diags).map(|items| ForEach {
            items,
            batch: spec.batch.as_ref().map(|b| b.value.max(1)),
            concurrency: spec
                .concurrency
                .as_ref()
                .map_or(DEFAULT_CONCURRENCY, |c| c.value.max(1)),
        }),
        None => {
            if let Some(b) = &spec.batch {
                diags.push(file.error_at(b, "`batch` needs `for_each`"));
            }
            if let Some(c) = &spec.concurrency {
                diags.push(file.error_at(c, "`concurrency` needs `for_each`"));
            }
            None
        }
    };
    if let (Some(b), Some(_), Some(fe)) = (&spec.batch, &spec.concurrency, &spec.for_each)
        && b.value == 0
    {
        diags.push(file.error_at(fe, "`batch` must be at least 1"));
    }

    // Dependencies: what templates and expressions read, plus `after`.
    let allowed_in_templates: Vec<&str> = match &spec.for_each {
        Some(_) if spec.batch.is_some() => vec!["batch"],
        Some(_) => vec!["item"],
        None => vec![],
    };
    let mut deps = Vec::new();
    for root in &roots {
        if let Some(i) = names.iter().position(|n| n == root) {
            deps.push(i);
        } else if !REQUEST_ROOTS.contains(&root.as_str())
            && !allowed_in_templates.contains(&root.as_str())
        {
            diags.push(at_reference(
                file,
                spec,
                root,
                format!("call `{name}` reads `{root}`, which is not a call of this endpoint nor one of path, query, headers, body, auth{}", hint_for(&allowed_in_templates, root)),
            ));
        }
    }
    for src in [&spec.when, &spec.for_each, &spec.body_jq]
        .into_iter()
        .flatten()
    {
        for n in Expr::top_level_names(src) {
            if let Some(i) = names.iter().position(|c| *c == n) {
                deps.push(i);
            }
        }
    }
    for after in &spec.after {
        match names.iter().position(|n| *n == after.as_str()) {
            Some(i) => deps.push(i),
            None => {
                diags.push(file.error_at(after, format!("unknown call `{}` in after", after.value)))
            }
        }
    }
    deps.sort_unstable();
    deps.dedup();

    let (fallback, forward_status) = match &spec.on_error {
        Some(on_error) => {
            let mut statuses = Vec::new();
            for s in &on_error.forward_status {
                match StatusCode::from_u16(*s) {
                    Ok(code) if code.is_client_error() || code.is_server_error() => {
                        statuses.push(code)
                    }
                    _ => diags.push(file.error_at(
                        spec,
                        format!("forward_status: {s} is not a 4xx or 5xx status"),
                    )),
                }
            }
            (on_error.default.as_ref().map(value::from_json), statuses)
        }
        None => (None, Vec::new()),
    };
    if diags.0.len() > before {
        return None;
    }
    let service = service?;
    let timeout = spec
        .timeout
        .or(service.timeout)
        .unwrap_or(config.defaults.timeout);
    roots.sort();
    roots.dedup();
    Some(Call {
        name: name.into(),
        method,
        path: path?,
        grpc,
        query,
        headers,
        body,
        timeout,
        when,
        for_each,
        deps,
        dependents: Vec::new(),
        fallback,
        forward_status,
        template_roots: roots,
        service,
    })
}

fn hint_for(allowed: &[&str], root: &str) -> String {
    match root {
        "batch" if !allowed.contains(&"batch") => " (`batch` needs for_each with batch)".into(),
        "item" if !allowed.contains(&"item") => " (`item` needs for_each without batch)".into(),
        _ => String::new(),
    }
}

fn body_template(
    v: &serde_json::Value,
    tmpl: &mut impl FnMut(&str, &mut Vec<String>) -> Option<Template>,
    roots: &mut Vec<String>,
) -> Option<BodyTemplate> {
    Some(match v {
        serde_json::Value::String(s) => {
            let t = tmpl(s, roots)?;
            if t.is_literal() {
                BodyTemplate::Literal(value::string(s))
            } else {
                BodyTemplate::Text(t)
            }
        }
        serde_json::Value::Array(a) => BodyTemplate::Array(
            a.iter()
                .map(|x| body_template(x, tmpl, roots))
                .collect::<Option<_>>()?,
        ),
        serde_json::Value::Object(o) => BodyTemplate::Object(
            o.iter()
                .map(|(k, x)| Some((k.clone(), body_template(x, tmpl, roots)?)))
                .collect::<Option<_>>()?,
        ),
        other => BodyTemplate::Literal(value::from_json(other)),
    })
}

fn expr_diagnostic(file: &SpecFile<EndpointSpec>, src: &Loc<String>, e: &ExprError) -> Diagnostic {
    let (line, column) = line_col(src, e.range.start);
    let width = src
        .get(e.range.clone())
        .and_then(|t| t.lines().next())
        .map_or(1, |l| l.chars().count());
    locate(file, src, line, column, width, format!("jq: {}", e.message))
}

fn template_diagnostic(
    file: &SpecFile<EndpointSpec>,
    src: &Loc<String>,
    e: &TemplateError,
) -> Diagnostic {
    locate(
        file,
        src,
        e.line,
        e.column,
        e.width,
        format!("template: {}", e.message),
    )
}

/// 1-based line and 0-based column of a byte offset in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
    (line, column)
}

/// Places an error found inside a scalar (template or expression) in its
/// file: the scalar's own line of text is searched for from where the
/// scalar starts, which works for plain, quoted and block scalars alike.
fn locate(
    file: &SpecFile<EndpointSpec>,
    src: &Loc<String>,
    line: usize,
    column: usize,
    width: usize,
    message: String,
) -> Diagnostic {
    let wanted = src.value.lines().nth(line.saturating_sub(1)).unwrap_or("");
    // Line `line` of the scalar cannot sit above the scalar's own line plus
    // `line - 1`; starting there keeps a repeated text from matching early.
    let start = src.line.saturating_sub(1) as usize + line.saturating_sub(1);
    let found = file
        .text
        .lines()
        .enumerate()
        .skip(start)
        .take(src.value.lines().count() + 2)
        .find_map(|(i, l)| {
            l.find(wanted)
                .filter(|_| !wanted.is_empty())
                .map(|at| (i, at))
        });
    match found {
        Some((i, at)) => {
            let col_chars = file
                .text
                .lines()
                .nth(i)
                .map_or(0, |l| l[..at].chars().count());
            Diagnostic::span(
                &file.path,
                &file.text,
                i as u32 + 1,
                (col_chars + column + 1) as u32,
                width as u32,
                message,
            )
        }
        None => file.error_at(src, message),
    }
}

/// Points at where a call reads `name`: the first template, expression or
/// `after` entry of the call that mentions it; the call itself otherwise.
fn at_reference(
    file: &SpecFile<EndpointSpec>,
    call: &Loc<CallSpec>,
    name: &str,
    message: String,
) -> Diagnostic {
    let width = name.chars().count();
    let templates = [&call.get, &call.post, &call.put, &call.patch, &call.delete]
        .into_iter()
        .flatten()
        .chain(call.query.values())
        .chain(call.headers.values());
    let expressions = [&call.when, &call.for_each, &call.body_jq]
        .into_iter()
        .flatten();
    let found = templates
        .filter_map(|src| Some((src, find_in_template(src, name)?)))
        .chain(expressions.filter_map(|src| Some((src, find_in_jq(src, name)?))))
        .next();
    if let Some((src, at)) = found {
        let (line, column) = line_col(src, at);
        return locate(file, src, line, column, width, message);
    }
    if let Some(after) = call.after.iter().find(|a| a.as_str() == name) {
        return file.error_at(after, message);
    }
    if let Some(body) = &call.body {
        let mut strings = Vec::new();
        json_strings(&body.value, &mut strings);
        for s in strings {
            if let Some(at) = find_in_template(s, name) {
                let src = Loc {
                    value: s.to_owned(),
                    line: body.line,
                    column: body.column,
                };
                let (line, column) = line_col(s, at);
                return locate(file, &src, line, column, width, message);
            }
        }
    }
    file.error_at(call, message)
}

/// Byte offset of `name` read as a variable inside a `{{ }}` or `{% %}` tag.
fn find_in_template(text: &str, name: &str) -> Option<usize> {
    text.match_indices(name).map(|(i, _)| i).find(|&i| {
        let before = &text[..i];
        let opened = before.rfind("{{").max(before.rfind("{%"));
        let closed = before.rfind("}}").max(before.rfind("%}"));
        let in_tag = match (opened, closed) {
            (Some(o), Some(c)) => o > c,
            (Some(_), None) => true,
            _ => false,
        };
        in_tag && is_whole_word(text, i, name.len(), |c| c == '.')
    })
}

/// Byte offset of `name` read as a top-level field (`.name`) in jq.
fn find_in_jq(text: &str, name: &str) -> Option<usize> {
    text.match_indices(name).map(|(i, _)| i).find(|&i| {
        let Some(path) = text[..i].strip_suffix('.') else {
            return false;
        };
        // `.a.name` or `.[0].name` reads a field of something else.
        let starts_path = !path
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ']' | ')' | '.' | '?'));
        starts_path && is_whole_word(text, i, name.len(), |_| false)
    })
}

/// Whether the word at `i..i + len` stands alone: no identifier character
/// (nor one `also_not_before` allows) right before it, none right after.
fn is_whole_word(text: &str, i: usize, len: usize, also_not_before: impl Fn(char) -> bool) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let before = text[..i].chars().next_back();
    let after = text[i + len..].chars().next();
    !before.is_some_and(|c| ident(c) || also_not_before(c)) && !after.is_some_and(ident)
}

fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_lines_parse() {
        assert_eq!(
            parse_endpoint("GET /v1/x/{id}").unwrap(),
            (Method::GET, "/v1/x/{id}".into())
        );
        assert!(parse_endpoint("FETCH /x").is_err());
        assert!(parse_endpoint("GET x").is_err());
        assert!(parse_endpoint("GET /x/a{id}").is_err());
        assert!(parse_endpoint("GET /x extra").is_err());
    }

    #[test]
    fn references_are_found_where_they_are_read() {
        assert_eq!(
            find_in_template("/orders/{{ orders.id }}", "orders"),
            Some(11)
        );
        assert_eq!(
            find_in_template("{{ a.orders }}/{{ orders }}", "orders"),
            Some(18)
        );
        assert_eq!(
            find_in_jq(".a.orders, [.orders2, .orders]", "orders"),
            Some(23)
        );
        assert_eq!(find_in_jq("orders | .x", "orders"), None);
    }

    #[test]
    fn offsets_become_line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 1));
        assert_eq!(line_col("abc", 1), (1, 1));
    }
}
