//! One call per request: decide whether it runs, render its requests from
//! the results so far, send them (batched or one per item, bounded), and
//! decode what comes back.

use std::collections::HashSet;

use futures::{StreamExt, stream};
use http::{HeaderMap, HeaderValue, header};
use jaq_json::Val;
use tokio::time::Instant;

use super::cached::Fetched;
use super::error::CallError;
use super::grpc;
use super::scope::Scope;
pub(super) use super::tries::{Capture, decode, fetch};
use crate::cache::Freshness;
use crate::lang::template::{TemplateSet, URL_VALUE};
use crate::plan::{BodyPlan, BodyTemplate, Call};
use crate::running::Running;
use crate::value;

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
        let v = when
            .first(scope.jq_input())
            .map_err(|e| CallError::Input(e.to_string()))?;
        if !value::truthy(&v) {
            return Ok(Prepared::Skipped);
        }
    }
    let Some(fe) = &call.for_each else {
        return Ok(Prepared::One(render(call, scope, templates, None)?));
    };
    let items = unique_items(
        fe.items
            .run(scope.jq_input())
            .map_err(|e| CallError::Input(e.to_string()))?,
    );
    prepare_items(call, scope, templates, items)
}

/// Renders a `for_each` call's requests for items already known (a
/// GraphQL resolver's keys, gathered from every parent of a level).
pub(super) fn prepare_items(
    call: &Call,
    scope: &Scope,
    templates: &TemplateSet,
    items: Vec<Val>,
) -> Result<Prepared, CallError> {
    let Some(fe) = &call.for_each else {
        return Ok(Prepared::One(render(call, scope, templates, None)?));
    };
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
pub(super) fn unique_items(outputs: Vec<Val>) -> Vec<Val> {
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
    let r = |t| {
        templates
            .render(t, &ctx)
            .map_err(|e| CallError::Input(e.to_string()))
    };
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
    if let Some(hooks) = &scope.hooks {
        let request = crate::extension::CallRequest {
            service: &call.service.name,
            call: Some(&call.name),
            method: &call.method,
            path: &url,
            identity: scope.auth(),
        };
        hooks.call(&request, &mut headers);
    }
    if let Some(soap) = &call.soap {
        let header = soap.header.as_ref().map(r).transpose()?;
        let body = r(&soap.body)?;
        super::soap::request_headers(soap, &mut headers);
        return Ok(Rendered {
            path: url,
            headers,
            body: Some(super::soap::envelope(soap, header.as_deref(), &body).into()),
        });
    }
    let body = match &call.body {
        None => None,
        Some(BodyPlan::Jq(e)) => {
            let mut input = scope.jq_input();
            if let Some((k, v)) = extra {
                input = with_key(input, k, v);
            }
            Some(value::to_json(
                &e.first(input)
                    .map_err(|err| CallError::Input(err.to_string()))?,
            ))
        }
        Some(BodyPlan::Template(t)) => Some(value::to_json(&render_body(t, templates, &ctx)?)),
    };
    if let Some(g) = &call.grpc {
        // No body is the request message with every field at its default.
        let json = body.as_deref().unwrap_or(b"{}");
        let message = crate::proto::encode_json(&g.input, json)
            .map_err(|e| CallError::Input(e.to_string()))?;
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
        BodyTemplate::Text(t) => value::string(
            &templates
                .render(t, ctx)
                .map_err(|e| CallError::Input(e.to_string()))?,
        ),
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

/// Sends what `prepare` rendered and combines the results, with what
/// their answers say about the composed answer's freshness.
pub(super) async fn send(
    call: &Call,
    prepared: Prepared,
    running: &Running,
    deadline: Instant,
) -> (Result<Val, CallError>, Freshness, Option<HeaderMap>) {
    let mut freshness = Freshness::default();
    let mut exposed = None;
    let result = match prepared {
        Prepared::Skipped => Ok(Val::Null),
        Prepared::One(r) if !call.expose.is_empty() => {
            let ((result, part), headers) =
                super::cached::uncached_seen(call, r, running, deadline).await;
            freshness.add(part);
            exposed = headers;
            result
        }
        Prepared::One(r) => match &running.upstream(&call.service).stale {
            None => {
                let (result, part) = fetch_one(call, r, running, deadline).await;
                freshness.add(part);
                result
            }
            Some(stale) => {
                let key = stale.key(&call.method, &r.path, &r.headers, r.body.as_deref());
                let (result, part) = fetch_one(call, r, running, deadline).await;
                freshness.add(part);
                match result {
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
            let results = fetch_all(call, reqs, concurrency, running, deadline, &mut freshness);
            results.await.map(|results| {
                let mut all = Vec::new();
                for v in results {
                    match v {
                        Val::Arr(a) => all.extend(a.iter().cloned()),
                        Val::Null => {}
                        other => all.push(other),
                    }
                }
                all.into_iter().collect()
            })
        }
        Prepared::Items(reqs, concurrency) => {
            let results = fetch_all(call, reqs, concurrency, running, deadline, &mut freshness);
            results.await.map(|results| results.into_iter().collect())
        }
    };
    (result, freshness, exposed)
}

/// Sends requests with at most `concurrency` in flight; results keep the
/// requests' order, and the first failure ends the call at once.
async fn fetch_all(
    call: &Call,
    reqs: Vec<Rendered>,
    concurrency: usize,
    running: &Running,
    deadline: Instant,
    freshness: &mut Freshness,
) -> Result<Vec<Val>, CallError> {
    let mut answers = stream::iter(reqs)
        .map(|r| fetch_one(call, r, running, deadline))
        .buffered(concurrency);
    let mut out = Vec::new();
    while let Some((result, part)) = answers.next().await {
        freshness.add(part);
        out.push(result?);
    }
    Ok(out)
}

/// One request, through the service's cache when it has one.
async fn fetch_one(call: &Call, r: Rendered, running: &Running, deadline: Instant) -> Fetched {
    match &call.service.cache {
        Some(c) if call.method == http::Method::GET && call.grpc.is_none() => {
            super::cached::fetch_cached(call, r, running, deadline, c.ttl).await
        }
        _ => super::cached::uncached(call, r, running, deadline).await,
    }
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
