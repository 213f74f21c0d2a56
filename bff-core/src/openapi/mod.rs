//! The BFF's API description, OpenAPI 3.1, built from the loaded specs the
//! first time it is asked for (a reload starts anew): paths with their path and
//! query parameters, request bodies, security schemes from the auth
//! policies, the success answer in every format the endpoint offers and
//! the problem+json errors it can give. Served on the public listener as
//! `GET /openapi.json`, and rendered for people as `GET /docs`
//! ([`reference`]).

mod reference;
mod security;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use serde_json::{Map, Value, json};

use crate::plan::{Endpoint, Plan, ProxyPlan};

/// Where the description is served.
pub(crate) const JSON_PATH: &str = "/openapi.json";
/// Where the reference page is served.
pub(crate) const DOCS_PATH: &str = "/docs";

/// Statuses of errors, with what they mean to a client.
const ERRORS: [(u16, &str); 12] = [
    (
        400,
        "The path, query or body cannot be read, or a parameter breaks its schema",
    ),
    (401, "Credentials are missing or not accepted"),
    (403, "The caller lacks a scope, role or tier this needs"),
    (
        404,
        "Not found (forwarded from the service that owns the resource)",
    ),
    (413, "The request body is too large"),
    (415, "The request body is neither JSON nor XML"),
    (422, "The body breaks its schema; `errors` says where"),
    (
        429,
        "Rate limit or quota exceeded; see Retry-After and RateLimit",
    ),
    (500, "The BFF failed to build the answer"),
    (502, "A service the answer needs failed"),
    (
        503,
        "Overloaded, a circuit is open, or keys are loading; retry after Retry-After",
    ),
    (
        504,
        "The answer was not ready within the endpoint's deadline",
    ),
];

/// The description, built at most once per generation of specs.
pub(crate) struct ApiDescription {
    document: Value,
    json: bytes::Bytes,
    /// The base URL curl examples were written with, replaced by the
    /// request's own origin on the reference page.
    base: String,
}

impl ApiDescription {
    /// Describes the plan's endpoints, usage endpoints and pass-through
    /// routes, as the extension adjusts it.
    pub(crate) fn new(plan: &Plan, extension: &dyn crate::extension::Hooks) -> Self {
        let base = base_url(plan);
        let mut document = document(plan, &base);
        extension.describe(&mut document);
        let json = serde_json::to_vec_pretty(&document)
            .unwrap_or_default()
            .into();
        Self {
            document,
            json,
            base,
        }
    }

    /// The OpenAPI document.
    pub(crate) fn document(&self) -> &Value {
        &self.document
    }
}

/// The description of one generation's specs, built when it is first
/// asked for: most BFFs never serve it, and with thousands of endpoints it
/// is tens of megabytes.
struct OnFirstUse {
    cx: Arc<crate::pipeline::Context>,
    built: std::sync::OnceLock<ApiDescription>,
}

impl OnFirstUse {
    fn get(&self) -> &ApiDescription {
        self.built
            .get_or_init(|| ApiDescription::new(&self.cx.plan, &*self.cx.extension))
    }
}

/// Adds `/openapi.json` and `/docs` to the router, unless turned off or
/// the specs own those paths.
pub(crate) fn routes(router: Router, cx: &Arc<crate::pipeline::Context>) -> Router {
    let plan = &cx.plan;
    if !plan.config.openapi.serve {
        return router;
    }
    let description = Arc::new(OnFirstUse {
        cx: cx.clone(),
        built: std::sync::OnceLock::new(),
    });
    let mut router = router;
    if is_free(plan, JSON_PATH) {
        let d = description.clone();
        router = router.route(
            JSON_PATH,
            axum::routing::get(move |req: Request| async move {
                answered(&req, JSON_PATH);
                d.get().json_response()
            }),
        );
    }
    if is_free(plan, DOCS_PATH) {
        router = router.route(
            DOCS_PATH,
            axum::routing::get(move |req: Request| async move {
                answered(&req, DOCS_PATH);
                reference::page(description.get(), req.headers())
            }),
        );
    }
    router
}

/// Names the answer in metrics and the request log like an endpoint's.
fn answered(req: &Request, path: &str) {
    if let Some(a) = crate::observe::Answered::of(req) {
        a.set(&format!("GET {path}"), None);
    }
}

impl ApiDescription {
    fn json_response(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            self.json.clone(),
        )
            .into_response()
    }
}

/// Whether no endpoint, usage endpoint or pass-through route owns `path`.
fn is_free(plan: &Plan, path: &str) -> bool {
    let owned = plan.endpoints.iter().any(|e| e.path == path)
        || plan.usage.iter().any(|u| u.path == path)
        || plan
            .proxies
            .iter()
            .any(|r| path == r.prefix || path.starts_with(&format!("{}/", r.prefix)));
    if owned {
        tracing::info!(
            path,
            "not serving the API description here: the specs own this path"
        );
    }
    !owned
}

fn base_url(plan: &Plan) -> String {
    let scheme = if plan.tls.is_some() { "https" } else { "http" };
    let host = plan
        .listen
        .as_deref()
        .and_then(|l| crate::config::expand_env(l).ok())
        .map(|l| {
            l.replace("0.0.0.0", "localhost")
                .replace("[::]", "localhost")
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

fn document(plan: &Plan, base: &str) -> Value {
    let title = plan.config.openapi.title.clone().unwrap_or_else(|| {
        plan.dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .map_or_else(|| "BFF".to_owned(), |n| format!("{n} BFF"))
    });
    let mut paths = Map::new();
    for e in &plan.endpoints {
        // `{*rest}` captures like `{rest}`; OpenAPI knows only the latter.
        let item = paths
            .entry(e.path.replace("{*", "{"))
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path items are objects");
        item.insert(
            e.method.as_str().to_ascii_lowercase(),
            endpoint(plan, e, base),
        );
    }
    for u in &plan.usage {
        let mut op = json!({
            "operationId": operation_id(&Method::GET, &u.path),
            "summary": format!("Where the caller stands under the `{}` rate limit", u.policy.name),
            "description": "Counts nothing: the remaining requests and quota of the caller, also in the RateLimit headers.",
            "responses": { "200": { "description": "The caller's limits and what is left", "content": { "application/json": { "schema": { "type": "object" } } } } },
        });
        security::add_security(plan, &mut op, u.auth.as_ref(), None);
        paths.insert(u.path.clone(), json!({ "get": op }));
    }
    for r in &plan.proxies {
        paths.insert(format!("{}/{{path}}", r.prefix), route(plan, r));
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": plan.config.openapi.version.clone().unwrap_or_else(|| "1.0.0".to_owned()),
        },
        "servers": [{ "url": "/" }],
        "paths": paths,
        "components": security::components(plan),
    });
    if let Some(d) = &plan.config.openapi.description {
        doc["info"]["description"] = json!(d);
    }
    doc
}

fn add_error(op: &mut Value, status: u16) {
    op["responses"][status.to_string()] =
        json!({ "$ref": format!("#/components/responses/Problem{status}") });
}

fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_owned()
}

fn takes_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    )
}

fn endpoint(plan: &Plan, e: &Endpoint, base: &str) -> Value {
    // A parameter `request:` declares has its schema; others are text.
    let declared = |place: crate::plan::input::Place, name: &str| {
        e.input
            .as_ref()
            .and_then(|c| c.params.iter().find(|p| p.place == place && p.name == name))
    };
    let mut parameters: Vec<Value> = path_params(&e.path)
        .into_iter()
        .map(|p| {
            let schema = declared(crate::plan::input::Place::Path, &p)
                .map_or_else(|| json!({ "type": "string" }), |d| d.schema.clone());
            json!({ "name": p, "in": "path", "required": true, "schema": schema })
        })
        .collect();
    let mut query: Vec<String> = e.query_params.clone();
    if let Some(c) = &e.input {
        for p in c
            .params
            .iter()
            .filter(|p| p.place == crate::plan::input::Place::Query)
        {
            if !query.contains(&p.name) {
                query.push(p.name.clone());
            }
        }
    }
    parameters.extend(query.iter().map(|q| match declared(crate::plan::input::Place::Query, q) {
        Some(d) => json!({ "name": q, "in": "query", "required": d.required, "schema": d.schema }),
        None => json!({ "name": q, "in": "query", "required": false, "schema": { "type": "string" } }),
    }));
    let summary = e
        .description
        .as_deref()
        .and_then(|d| d.lines().next())
        .map_or_else(|| e.id(), str::to_owned);
    let mut op = json!({
        "operationId": operation_id(&e.method, &e.path),
        "summary": summary,
        "parameters": parameters,
        // A status computed by `respond.status` is one of a range only
        // its expression knows.
        "responses": {
            if e.status_expr.is_some() { "2XX".to_owned() } else { e.status.as_u16().to_string() }:
                success(e)
        },
    });
    if let Some(d) = &e.description {
        op["description"] = json!(d);
    }
    if takes_body(&e.method) {
        let body = e.input.as_ref().and_then(|c| c.body.as_ref());
        let schema = body.map_or_else(|| json!({}), |(s, _)| s.clone());
        op["requestBody"] = json!({
            "required": body.is_some(),
            "content": {
                "application/json": { "schema": schema },
                "application/xml": { "schema": schema },
            },
        });
        add_error(&mut op, 413);
        add_error(&mut op, 415);
        if body.is_some() {
            add_error(&mut op, 422);
        }
    }
    if e.method == Method::GET {
        op["responses"]["304"] =
            json!({ "description": "Not modified: `If-None-Match` matched the answer's ETag" });
    }
    add_error(&mut op, 400);
    security::add_security(plan, &mut op, e.auth.as_ref(), e.require.as_ref());
    let mut forwarded: Vec<u16> = e
        .calls
        .iter()
        .flat_map(|c| c.forward_status.iter().map(http::StatusCode::as_u16))
        .collect();
    forwarded.sort_unstable();
    forwarded.dedup();
    for status in forwarded {
        if ERRORS.iter().any(|(s, _)| *s == status) {
            add_error(&mut op, status);
        } else {
            op["responses"][status.to_string()] = json!({
                "description": "Forwarded from a service the answer needs",
                "content": { "application/json": { "schema": {} } },
            });
        }
    }
    if e.rate_limit.is_some() {
        add_error(&mut op, 429);
    }
    add_error(&mut op, 500);
    if e.calls.iter().any(|c| !c.is_optional()) {
        add_error(&mut op, 502);
    }
    if !e.calls.is_empty() || plan.max_concurrency.is_some() || e.auth.is_some() {
        add_error(&mut op, 503);
    }
    if !e.calls.is_empty() {
        add_error(&mut op, 504);
    }
    if let Some(curl) = e.curl(base) {
        op["x-codeSamples"] = json!([{ "lang": "Shell", "label": "curl", "source": curl }]);
    }
    op
}

/// The success answer in each format the endpoint offers.
fn success(e: &Endpoint) -> Value {
    let mut content = json!({ "application/json": { "schema": {} } });
    if let Some(m) = &e.message {
        content["application/x-protobuf"] = json!({
            "schema": { "description": format!("Protobuf message `{}`", m.full_name()) },
            "x-protobuf-message": m.full_name(),
        });
    }
    if e.page.is_some() {
        content["text/html"] = json!({ "schema": { "type": "string" } });
    }
    let mut headers = Map::new();
    for (name, t) in &e.headers {
        headers.insert(
            name.as_str().to_owned(),
            json!({
                "description": format!("`{}`", t.source),
                "schema": { "type": "string" },
            }),
        );
    }
    if e.calls
        .iter()
        .any(|c| c.expose.contains(&http::header::SET_COOKIE))
    {
        headers.insert(
            "Set-Cookie".into(),
            json!({ "description": "Cookies the services set, passed on", "schema": { "type": "string" } }),
        );
    }
    if e.calls.iter().any(crate::plan::Call::is_optional) {
        headers.insert(
            "Bff-Partial".into(),
            json!({
                "description": "`true` when optional calls fell back; `Bff-Degraded` lists them",
                "schema": { "type": "string" },
            }),
        );
    }
    if e.rate_limit.is_some() {
        headers.insert(
            "RateLimit".into(),
            json!({ "description": "What is left of the caller's limit", "schema": { "type": "string" } }),
        );
    }
    let mut r = json!({ "description": "The composed answer", "content": content });
    if !headers.is_empty() {
        r["headers"] = Value::Object(headers);
    }
    r
}

fn route(plan: &Plan, r: &ProxyPlan) -> Value {
    let mut item = Map::new();
    item.insert(
        "parameters".into(),
        json!([{
            "name": "path", "in": "path", "required": true,
            "description": "The rest of the path (slashes included), passed on with the query",
            "schema": { "type": "string" },
        }]),
    );
    // Every method OpenAPI can name that the route forwards; extension
    // methods pass too, which OpenAPI 3.1 has no way to say but in words.
    let methods = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ];
    for method in methods.into_iter().filter(crate::proxy::forwards) {
        let path = format!("{}/{{path}}", r.prefix);
        let mut op = json!({
            "operationId": operation_id(&method, &path),
            "summary": format!("Passed through to the `{}` service", r.service.name),
            "description": "Passed on unchanged but for the prefix; so are extension methods (`PROPFIND`, `M-SEARCH`). `TRACE` and `CONNECT` get `405`.",
            "responses": { "default": { "description": "What the service answers" } },
            "x-bff-pass-through": { "service": r.service.name, "rewrite": r.rewrite },
        });
        if takes_body(&method) {
            op["requestBody"] =
                json!({ "required": false, "content": { "*/*": { "schema": {} } } });
            if r.max_body.is_some() {
                add_error(&mut op, 413);
            }
        }
        security::add_security(plan, &mut op, r.auth.as_ref(), r.require.as_ref());
        if r.rate_limit.is_some() {
            add_error(&mut op, 429);
        }
        for status in [502, 503, 504] {
            add_error(&mut op, status);
        }
        item.insert(method.as_str().to_ascii_lowercase(), op);
    }
    Value::Object(item)
}

/// `{name}` segments of a route path (`{*rest}` as `rest`).
fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.trim_start_matches('*').to_owned())
        .collect()
}

#[cfg(test)]
mod tests;
