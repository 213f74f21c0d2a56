//! One call per request: decide whether it runs, render its requests from
//! the results so far, send them (batched or one per item, bounded), and
//! decode what comes back.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt, stream};
use http::{HeaderMap, HeaderValue, header};
use http_body_util::BodyExt;
use jaq_json::Val;
use tokio::time::Instant;

use super::error::CallError;
use super::grpc;
use super::scope::Scope;
use crate::lang::template::{TemplateSet, URL_VALUE};
use crate::plan::{BodyPlan, BodyTemplate, Call};
use crate::resilience::Retry;
use crate::{upstream, value};

/// What upstreams see as the client.
const USER_AGENT: &str = concat!("bff/", env!("CARGO_PKG_VERSION"));

/// A rendered upstream request.
#[derive(Clone)]
pub(super) struct Rendered {
    /// Path and query, appended to the instance's base URL when sent.
    pub(super) path: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Option<bytes::Bytes>,
}

impl Rendered {
    /// It carries `Authorization` or `Cookie`.
    pub(super) fn has_credentials(&self) -> bool {
        self.headers.contains_key(header::AUTHORIZATION)
            || self.headers.contains_key(header::COOKIE)
    }
}

/// What a call will do, decided from the results so far.
pub(super) enum Prepared {
    /// `when` was false: the result is null.
    Skipped,
    /// One request.
    One(Rendered),
    /// `for_each` in batches: results are concatenated.
    Batches(Vec<Rendered>, usize),
    /// `for_each` per item: results in item order.
    Items(Vec<Rendered>, usize),
}

/// Renders a call's requests. Runs synchronously, between awaits.
pub(super) fn prepare(
    call: &Call,
    scope: &Scope,
    templates: &TemplateSet,
) -> Result<Prepared, CallError> {
    if let Some(when) = &call.when {
        let v = when.first(scope.jq_input()).map_err(CallError::Input)?;
        if !value::truthy(&v) {
            return Ok(Prepared::Skipped);
        }
    }
    let Some(fe) = &call.for_each else {
        return Ok(Prepared::One(render(call, scope, templates, None)?));
    };
    let items = unique_items(fe.items.run(scope.jq_input()).map_err(CallError::Input)?);
    match fe.batch {
        Some(size) => {
            let reqs = items
                .chunks(size)
                .map(|chunk| {
                    let batch: Val = chunk.iter().cloned().collect();
                    render(call, scope, templates, Some(("batch", batch)))
                })
                .collect::<Result<_, _>>()?;
            Ok(Prepared::Batches(reqs, fe.concurrency))
        }
        None => {
            let reqs = items
                .into_iter()
                .map(|item| render(call, scope, templates, Some(("item", item))))
                .collect::<Result<_, _>>()?;
            Ok(Prepared::Items(reqs, fe.concurrency))
        }
    }
}

/// The outputs of a `for_each` expression as a list without repeats, in
/// first-seen order; a single list output is taken as the list itself.
fn unique_items(outputs: Vec<Val>) -> Vec<Val> {
    let items: Vec<Val> = match outputs.as_slice() {
        [Val::Arr(a)] => a.iter().cloned().collect(),
        _ => outputs,
    };
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|v| !matches!(v, Val::Null) && seen.insert(v.clone()))
        .collect()
}

fn render(
    call: &Call,
    scope: &Scope,
    templates: &TemplateSet,
    extra: Option<(&'static str, Val)>,
) -> Result<Rendered, CallError> {
    let ctx = scope.tera_context(&call.template_roots, extra.as_ref());
    let r = |t| templates.render(t, &ctx).map_err(CallError::Input);
    let path = r(&call.path)?;
    if has_dot_segment(&path) {
        return Err(CallError::Input(format!(
            "path `{path}` has a `.` or `..` segment, which would leave the intended path"
        )));
    }
    let mut url = path;
    for (i, (name, t)) in call.query.iter().enumerate() {
        let v = r(t)?;
        let sep = if i == 0 && !url.contains('?') {
            '?'
        } else {
            '&'
        };
        url.push(sep);
        url.extend(percent_encoding::utf8_percent_encode(name, URL_VALUE));
        url.push('=');
        url.extend(percent_encoding::utf8_percent_encode(&v, URL_VALUE));
    }
    let mut headers = HeaderMap::new();
    for (name, t) in &call.headers {
        let v = HeaderValue::try_from(r(t)?)
            .map_err(|_| CallError::Input(format!("header `{name}` is not a valid value")))?;
        headers.insert(name.clone(), v);
    }
    for (name, v) in &scope.forward {
        headers.insert(name.clone(), v.clone());
    }
    let body = match &call.body {
        None => None,
        Some(BodyPlan::Jq(e)) => {
            let mut input = scope.jq_input();
            if let Some((k, v)) = extra {
                input = with_key(input, k, v);
            }
            Some(value::to_json(&e.first(input).map_err(CallError::Input)?))
        }
        Some(BodyPlan::Template(t)) => Some(value::to_json(&render_body(t, templates, &ctx)?)),
    };
    if let Some(g) = &call.grpc {
        // No body is the request message with every field at its default.
        let json = body.as_deref().unwrap_or(b"{}");
        let message = crate::proto::encode_json(&g.input, json).map_err(CallError::Input)?;
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(grpc::CONTENT_TYPE),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        return Ok(Rendered {
            path: url,
            headers,
            body: Some(grpc::frame(&message)?.into()),
        });
    }
    if body.is_some() && !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    Ok(Rendered {
        path: url,
        headers,
        body: body.map(bytes::Bytes::from),
    })
}

/// Whether a rendered path has a `.` or `..` segment, percent-encoded or
/// not. URL parsing resolves those (WHATWG counts `%2e` as a dot), so a
/// value such as `..` would send the request to another upstream path;
/// encoding cannot prevent that, so such a request is refused.
fn has_dot_segment(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/').any(|segment| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

fn with_key(input: Val, key: &str, v: Val) -> Val {
    match input {
        Val::Obj(o) => {
            let mut map = (*o).clone();
            map.insert(value::string(key), v);
            Val::obj(map)
        }
        other => other,
    }
}

fn render_body(
    t: &BodyTemplate,
    templates: &TemplateSet,
    ctx: &tera::Context,
) -> Result<Val, CallError> {
    Ok(match t {
        BodyTemplate::Literal(v) => v.clone(),
        BodyTemplate::Text(t) => {
            value::string(&templates.render(t, ctx).map_err(CallError::Input)?)
        }
        BodyTemplate::Array(a) => a
            .iter()
            .map(|x| render_body(x, templates, ctx))
            .collect::<Result<Val, _>>()?,
        BodyTemplate::Object(o) => {
            let mut pairs = Vec::with_capacity(o.len());
            for (k, x) in o {
                pairs.push((k.as_str(), render_body(x, templates, ctx)?));
            }
            value::object(pairs)
        }
    })
}

/// Sends what `prepare` rendered and combines the results.
pub(super) async fn send(
    call: &Call,
    prepared: Prepared,
    client: &upstream::Client,
    deadline: Instant,
) -> Result<Val, CallError> {
    match prepared {
        Prepared::Skipped => Ok(Val::Null),
        Prepared::One(r) => match &call.service.stale {
            None => fetch_one(call, r, client, deadline).await,
            Some(stale) => {
                let key = stale.key(&call.method, &r.path, &r.headers, r.body.as_deref());
                match fetch_one(call, r, client, deadline).await {
                    Ok(v) => {
                        stale.put(key, value::to_json(&v).into());
                        Ok(v)
                    }
                    Err(e) if e.is_upstream_failure() => match stale.get(key) {
                        Some(old) => {
                            tracing::info!(call = %call.name, error = %e.reason(), "serving the last good answer");
                            value::parse(&old).map(CallError::Stale).map_or(Err(e), Err)
                        }
                        None => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
        },
        Prepared::Batches(reqs, concurrency) => {
            let mut all = Vec::new();
            for v in fetch_all(call, reqs, concurrency, client, deadline).await? {
                match v {
                    Val::Arr(a) => all.extend(a.iter().cloned()),
                    Val::Null => {}
                    other => all.push(other),
                }
            }
            Ok(all.into_iter().collect())
        }
        Prepared::Items(reqs, concurrency) => {
            let results = fetch_all(call, reqs, concurrency, client, deadline).await?;
            Ok(results.into_iter().collect())
        }
    }
}

/// Sends requests with at most `concurrency` in flight; results keep the
/// requests' order, and the first failure ends the call at once.
async fn fetch_all(
    call: &Call,
    reqs: Vec<Rendered>,
    concurrency: usize,
    client: &upstream::Client,
    deadline: Instant,
) -> Result<Vec<Val>, CallError> {
    stream::iter(reqs)
        .map(|r| fetch_one(call, r, client, deadline))
        .buffered(concurrency)
        .try_collect()
        .await
}

/// The status, headers and body of a successful answer (or the headers
/// of a `304`), for the cache.
#[derive(Default)]
pub(super) struct Capture(std::sync::Mutex<Option<(http::StatusCode, HeaderMap, bytes::Bytes)>>);

impl Capture {
    fn put(&self, status: http::StatusCode, headers: HeaderMap, body: bytes::Bytes) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((status, headers, body));
    }

    /// What was captured.
    pub(super) fn take(self) -> Option<(http::StatusCode, HeaderMap, bytes::Bytes)> {
        self.0
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One request, through the service's cache when it has one.
async fn fetch_one(
    call: &Call,
    r: Rendered,
    client: &upstream::Client,
    deadline: Instant,
) -> Result<Val, CallError> {
    match &call.service.cache {
        Some((cache, ttl)) if call.method == http::Method::GET && call.grpc.is_none() => {
            super::cached::fetch_cached(call, r, client, deadline, cache, *ttl).await
        }
        _ => super::cached::uncached(call, r, client, deadline).await,
    }
}

/// An upstream body as a value: JSON, or null when there is nothing but
/// whitespace.
pub(super) fn decode(body: &[u8]) -> Result<Val, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Val::Null)
    } else {
        value::parse(body)
    }
}

pub(super) async fn fetch(
    call: &Call,
    r: &Rendered,
    client: &upstream::Client,
    deadline: Instant,
    capture: Option<&Capture>,
) -> Result<Val, CallError> {
    let pool = &call.service.pool;
    if pool.breaker.as_ref().is_some_and(|b| !b.allow()) {
        return Err(CallError::CircuitOpen(call.service.name.clone()));
    }
    let _permit = match call.service.limit.as_ref().map(|l| l.try_admit()) {
        Some(None) => {
            metrics::counter!("bff_shed_total", "scope" => "service").increment(1);
            return Err(CallError::Overloaded);
        }
        Some(permit) => permit,
        None => None,
    };
    // Only requests that may be sent twice are retried or hedged; for gRPC,
    // methods whose contract declares them free of side effects or idempotent.
    let safe = match &call.grpc {
        Some(g) => g.idempotent,
        None => Retry::is_safe(&call.method, &r.headers),
    };
    let retry = pool.retry.as_ref().filter(|_| safe);
    if let Some(retry) = retry {
        retry.record_call();
    }
    let key = pool
        .hash_header
        .as_ref()
        .and_then(|h| r.headers.get(h))
        .map(HeaderValue::as_bytes);
    let body = r.body.clone();
    let mut tries = 0;
    // Instances tried so far: a retry goes to another one when there is one.
    let mut tried: Vec<String> = Vec::new();
    loop {
        let avoid: Vec<&str> = tried.iter().map(String::as_str).collect();
        let Some(attempt) = pool.start_avoiding(key, &avoid) else {
            tracing::warn!(call = %call.name, "no instance of the service is known yet");
            return Err(CallError::Unreachable);
        };
        let this = attempt.instance().base_url.clone();
        let hedge = pool.hedge_delay().filter(|_| safe);
        let try_on = |attempt| {
            let outgoing = Outgoing {
                path: &r.path,
                headers: &r.headers,
                body: body.clone(),
            };
            try_once(call, outgoing, client, attempt, deadline, capture)
        };
        let first = try_on(attempt);
        let (result, retry_after) = match hedge {
            None => first.await,
            Some(delay) => {
                // Boxed, as hedging is rare: a second try inline would double
                // the size of every call's future, moved on every call.
                let second = Box::pin(async {
                    tokio::time::sleep(delay).await;
                    // To another instance than the slow one, when there is one.
                    let attempt = pool.start_avoiding(key, &[this.as_str()])?;
                    tracing::debug!(call = %call.name, ?delay, "hedging a slow call");
                    Some(try_on(attempt).await)
                });
                first_success(first, second).await
            }
        };
        let Err(error) = result else {
            return result;
        };
        tried.push(this);
        let Some(retry) = retry.filter(|r| tries < r.attempts() && error.is_retryable()) else {
            return Err(error);
        };
        let Some(wait) = retry.backoff(tries, retry_after) else {
            return Err(error);
        };
        // A retry that could not finish before the deadline is not worth a
        // request, nor a share of the budget.
        if Instant::now() + wait >= deadline || !retry.take() {
            return Err(error);
        }
        tracing::info!(call = %call.name, error = %error.reason(), ?wait, "retrying");
        metrics::counter!("bff_retries_total", "service" => call.service.name.clone()).increment(1);
        tokio::time::sleep(wait).await;
        tries += 1;
    }
}

type Tried = (Result<Val, CallError>, Option<std::time::Duration>);

/// The first successful answer of a try and its hedge; a failure only when
/// both failed (or there was no hedge). The slower one is dropped, which
/// cancels its request.
async fn first_success(
    first: impl Future<Output = Tried>,
    second: impl Future<Output = Option<Tried>>,
) -> Tried {
    tokio::pin!(first);
    tokio::pin!(second);
    tokio::select! {
        a = &mut first => {
            if a.0.is_ok() {
                return a;
            }
            match second.await {
                Some(b) if b.0.is_ok() => b,
                _ => a,
            }
        }
        b = &mut second => match b {
            Some(b) if b.0.is_ok() => b,
            _ => first.await,
        },
    }
}

/// One request to one instance, bounded by the call's timeout (counted
/// from when it starts) and the deadline; the upstream's `Retry-After`
/// comes back with a failure.
/// What one try sends.
struct Outgoing<'a> {
    path: &'a str,
    headers: &'a HeaderMap,
    body: Option<bytes::Bytes>,
}

async fn try_once(
    call: &Call,
    Outgoing {
        path,
        headers,
        body,
    }: Outgoing<'_>,
    client: &upstream::Client,
    attempt: crate::resilience::Attempt<'_>,
    deadline: Instant,
    capture: Option<&Capture>,
) -> (Result<Val, CallError>, Option<std::time::Duration>) {
    let until = deadline.min(Instant::now() + call.timeout);
    let Ok(uri) = attempt.instance().uri(path) else {
        return (
            Err(CallError::Input(format!("`{path}` is not a valid path"))),
            None,
        );
    };
    let mut req = http::Request::new(());
    *req.method_mut() = call.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers.clone();
    let headers = req.headers_mut();
    headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    let client = match &call.grpc {
        Some(_) => {
            let left = until.saturating_duration_since(Instant::now());
            headers.insert("grpc-timeout", grpc::timeout_header(left));
            call.service.grpc_client(client)
        }
        None => {
            headers
                .entry(header::ACCEPT)
                .or_insert(HeaderValue::from_static("application/json"));
            call.service.client(client)
        }
    };
    let limit = call.service.max_response_bytes;
    let mut retry_after = None;
    let exchange = async {
        let (head, ()) = req.into_parts();
        let resp = client.send_replayable(head, body).await.map_err(|e| {
            tracing::warn!(call = %call.name, error = %e, "upstream request failed");
            CallError::Unreachable
        })?;
        if let Some(g) = &call.grpc {
            // Boxed: kept inline, its state would grow every HTTP call's future.
            return Box::pin(grpc::read(&call.name, g, resp, limit)).await;
        }
        let status = resp.status();
        if status == http::StatusCode::NOT_MODIFIED
            && let Some(c) = capture
        {
            c.put(status, resp.headers().clone(), bytes::Bytes::new());
        }
        if !status.is_success() {
            retry_after = crate::resilience::retry::retry_after(resp.headers());
            tracing::info!(call = %call.name, status = status.as_u16(), "upstream answered an error");
            return Err(CallError::Status(status));
        }
        let (head, body) = resp.into_parts();
        let bytes = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    tracing::warn!(call = %call.name, limit, "upstream body too large");
                    CallError::TooLarge
                } else {
                    tracing::warn!(call = %call.name, error = %e, "upstream body failed");
                    CallError::Unreachable
                }
            })?
            .to_bytes();
        if let Some(c) = capture {
            c.put(status, head.headers, bytes.clone());
        }
        decode(&bytes).map_err(|e| {
            tracing::warn!(call = %call.name, error = %e, "upstream body is not JSON");
            CallError::Malformed
        })
    };
    let result = match tokio::time::timeout_at(until, exchange).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(call = %call.name, "upstream call timed out");
            Err(CallError::Timeout)
        }
    };
    let healthy = match &result {
        Err(CallError::Unreachable | CallError::Timeout) => false,
        Err(CallError::Status(s)) => !s.is_server_error(),
        Err(CallError::Grpc(s)) => !s.code.is_server_failure(),
        _ => true,
    };
    attempt.finish(healthy);
    (result, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_in_the_path_only() {
        for p in ["/a/..", "/a/../b", "/./b", "/a/%2E%2e/b", "/a/.%2E?x=1"] {
            assert!(has_dot_segment(p), "{p}");
        }
        for p in ["/a/.../b", "/a/..b", "/a/b.", "/a?x=..", "/a/%2E%2E%2F"] {
            assert!(!has_dot_segment(p), "{p}");
        }
    }

    #[test]
    fn for_each_items_are_deduplicated_in_order() {
        let v = value::parse(br#"["b","a","b",null,"c","a"]"#).unwrap();
        let items = unique_items(vec![v]);
        assert_eq!(
            value::to_json(&items.into_iter().collect()),
            br#"["b","a","c"]"#
        );
        let stream = vec![value::string("x"), value::string("x")];
        assert_eq!(unique_items(stream).len(), 1);
    }
}
