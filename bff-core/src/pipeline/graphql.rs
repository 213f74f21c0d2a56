//! The GraphQL endpoint's way through, in request order: admit (the same
//! as every front), read the GraphQL-over-HTTP request (`POST` JSON body,
//! or `GET` parameters for queries), find the document (its text, or a
//! persisted operation by hash), validate it against the schema, check the
//! limits before any call, run it, and answer `application/graphql-
//! response+json` (or `application/json` to clients that do not ask for it).

use std::sync::Arc;

use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::OperationType;
use apollo_compiler::response::{GraphQLError, JsonMap};
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;

use super::Context;
use super::admit::{Gate, admit};
use crate::error::Refusal;
use crate::exec::graphql::{self, limits};
use crate::plan::graphql::{Graphql, Operation};
use crate::value;

/// The media type of GraphQL responses (GraphQL over HTTP).
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A GraphQL request's parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<serde_json_bytes::Value>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// Answers one request of the GraphQL endpoint.
pub(crate) async fn handle_graphql(cx: &Context, g: &Arc<Graphql>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let name = format!("{} {}", parts.method, g.path);
    let gate = Gate {
        auth: g.auth.as_ref(),
        require: g.require.as_ref(),
        rate_limit: g.rate_limit.as_ref(),
        inspect: None,
        name: &name,
        hooks: &*cx.extension,
        running: &cx.running,
    };
    // The explorer page holds no data: it is the browser's own requests
    // that are admitted.
    if g.explorer && super::explorer::wants_page(&parts) {
        return super::explorer::page(&g.path);
    }
    let mut admitted = match admit(gate, &parts).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let modern = accepts(&parts.headers, GRAPHQL_RESPONSE);
    let params = match read_params(g, &parts, body).await {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = match answer(cx, g, &parts, params, &mut admitted, modern).await {
        Ok(r) | Err(r) => r,
    };
    admitted.mark(&mut response);
    response
}

/// Whether the client's `Accept` names a media type.
fn accepts(headers: &http::HeaderMap, media: &str) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(media)
        })
}

/// The request's parameters: the URL's for `GET`, the JSON body's for `POST`.
async fn read_params(
    g: &Graphql,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Params, Refusal> {
    if parts.method == Method::GET {
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            let bad = |what: &str, e: serde_json::Error| {
                Refusal::BadRequest(format!("the `{what}` parameter is not JSON: {e}"))
            };
            match &*k {
                "query" => p.query = Some(v.clone().into_owned()),
                "operationName" => p.operation_name = Some(v.clone().into_owned()),
                "variables" => {
                    p.variables = Some(serde_json::from_str(&v).map_err(|e| bad("variables", e))?);
                }
                "extensions" => {
                    p.extensions =
                        Some(serde_json::from_str(&v).map_err(|e| bad("extensions", e))?);
                }
                _ => {}
            }
        }
        return Ok(p);
    }
    if parts.method != Method::POST {
        return Err(Refusal::MethodNotAllowed {
            detail: "the GraphQL endpoint answers GET and POST".into(),
            allow: Some(HeaderValue::from_static("GET, POST")),
        });
    }
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != "application/json" {
        return Err(Refusal::UnsupportedMediaType(
            "a GraphQL request is a JSON body (Content-Type: application/json)".into(),
        ));
    }
    let bytes = axum::body::to_bytes(body, g.body_limit)
        .await
        .map_err(|_| {
            Refusal::TooLarge(format!("the request body exceeds {} bytes", g.body_limit))
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Refusal::BadRequest(format!("the body is not a GraphQL request in JSON: {e}")))
}

/// The GraphQL answer; `Err` for one that has no `data` (a request error).
async fn answer(
    cx: &Context,
    g: &Graphql,
    parts: &http::request::Parts,
    params: Params,
    admitted: &mut super::admit::Admitted,
    modern: bool,
) -> Result<Response, Response> {
    let refuse = |message: String, code: &str| {
        request_errors(&[graphql::request_error(message, code)], modern)
    };
    let operation = find_document(cx, g, &params).map_err(|e| request_errors(&e, modern))?;
    let document = &operation.document;
    let op = document
        .operations
        .get(params.operation_name.as_deref())
        .map_err(|e| request_errors(&[e.to_graphql_error(&document.sources)], modern))?;
    if parts.method == Method::GET && op.operation_type != OperationType::Query {
        let mut r = Refusal::MethodNotAllowed {
            detail: "only queries may be sent with GET; send mutations with POST".into(),
            allow: Some(HeaderValue::from_static("POST")),
        }
        .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(r);
    }
    if op.operation_type == OperationType::Subscription {
        return Err(refuse(
            "subscriptions are not served by this endpoint".into(),
            "OPERATION_NOT_SUPPORTED",
        ));
    }
    limits::check(g, document, op).map_err(|e| refuse(e.to_string(), e.code()))?;
    let raw = match params.variables {
        None | Some(serde_json_bytes::Value::Null) => JsonMap::new(),
        Some(serde_json_bytes::Value::Object(m)) => m,
        Some(_) => {
            return Err(refuse(
                "`variables` must be an object".into(),
                "BAD_USER_INPUT",
            ));
        }
    };
    let variables = apollo_compiler::request::coerce_variable_values(&g.schema, op, &raw)
        .map_err(|e| request_errors(&[e.to_graphql_error(&document.sources)], modern))?;
    let mut forward = std::mem::take(&mut admitted.forward);
    if let Some(id) = parts.headers.get(&crate::headers::REQUEST_ID) {
        forward.insert(crate::headers::REQUEST_ID, id.clone());
    }
    let request = crate::exec::RequestData {
        path: value::object([]),
        query: value::object([]),
        headers: super::input::request_headers(&parts.headers),
        body: jaq_json::Val::Null,
        auth: std::mem::replace(&mut admitted.identity, jaq_json::Val::Null),
        forward,
        hooks: Some(cx.extension.clone()),
    };
    let answer = graphql::run(
        g,
        &cx.plan.templates,
        &cx.running,
        request,
        document,
        op,
        &variables,
    )
    .await;
    // Errors first, as the spec suggests; `data` is written already.
    let mut body = Vec::with_capacity(answer.data.len() + 64);
    body.push(b'{');
    if !answer.errors.is_empty() {
        body.extend_from_slice(b"\"errors\":");
        let _ = serde_json::to_writer(&mut body, &answer.errors);
        body.push(b',');
    }
    body.extend_from_slice(b"\"data\":");
    body.extend_from_slice(&answer.data);
    if !answer.degraded.is_empty() {
        let extensions = Extensions {
            degraded: answer
                .degraded
                .iter()
                .map(|d| DegradedEntry {
                    resolver: &d.call,
                    reason: &d.reason,
                })
                .collect(),
        };
        body.extend_from_slice(b",\"extensions\":");
        let _ = serde_json::to_writer(&mut body, &extensions);
    }
    body.push(b'}');
    let mut r = bytes_response(StatusCode::OK, body, modern);
    report(cx, g, &answer, &mut r);
    if answer.partial {
        r.headers_mut()
            .insert(crate::headers::PARTIAL, HeaderValue::from_static("true"));
        let list: Vec<String> = answer
            .degraded
            .iter()
            .map(|d| format!("{};reason={}", d.call, d.reason))
            .collect();
        if !list.is_empty()
            && let Ok(v) = HeaderValue::try_from(list.join(", "))
        {
            r.headers_mut().insert(crate::headers::DEGRADED, v);
        }
    }
    Ok(r)
}

/// What an operation leaves for operators: each resolver's time and
/// failures in the metrics (by endpoint and resolver), in Server-Timing
/// and in the request log.
fn report(cx: &Context, g: &Graphql, answer: &graphql::Answer, r: &mut Response) {
    let id = format!("GraphQL {}", g.path);
    if crate::metrics::enabled() {
        for (name, took, outcome) in &answer.timings {
            metrics::histogram!("bff_call_duration_seconds", "endpoint" => id.clone(), "call" => name.clone())
                .record(took.as_secs_f64());
            if outcome != "ok" {
                metrics::counter!("bff_call_errors_total", "endpoint" => id.clone(), "call" => name.clone(), "outcome" => outcome.clone()).increment(1);
            }
        }
    }
    if cx.plan.config.telemetry.server_timing && !answer.timings.is_empty() {
        // One entry per resolver: the time of its runs added up.
        let mut total: Vec<(&str, f64)> = Vec::new();
        for (name, took, _) in &answer.timings {
            let ms = took.as_secs_f64() * 1000.0;
            match total.iter_mut().find(|(n, _)| n == name) {
                Some((_, t)) => *t += ms,
                None => total.push((name, ms)),
            }
        }
        let timing: Vec<String> = total
            .iter()
            .map(|(n, ms)| format!("{n};dur={ms:.1}"))
            .collect();
        if let Ok(v) = HeaderValue::try_from(timing.join(", ")) {
            r.headers_mut().insert("server-timing", v);
        }
    }
    if cx.plan.config.telemetry.access_log {
        let calls = answer
            .timings
            .iter()
            .map(|(name, took, outcome)| crate::access_log::CallLog {
                name: name.clone(),
                ms: crate::access_log::ms(*took),
                outcome: outcome.clone(),
            })
            .collect();
        r.extensions_mut()
            .insert(crate::access_log::CallReport(calls));
    }
}

/// The operation a request names: its text, or a persisted one by the
/// SHA-256 in `extensions.persistedQuery`; `Err` holds the errors.
fn find_document(
    cx: &Context,
    g: &Graphql,
    params: &Params,
) -> Result<Arc<Operation>, Vec<GraphQLError>> {
    let error = |m: &str, code: &str| vec![graphql::request_error(m, code)];
    let hash = params
        .extensions
        .as_ref()
        .and_then(|e| e.pointer("/persistedQuery/sha256Hash"))
        .and_then(|h| h.as_str())
        .map(str::to_ascii_lowercase);
    let registered = cx.running.graphql_registered.as_ref();
    match (&params.query, hash) {
        (None, Some(hash)) => g
            .persisted
            .by_hash
            .get(&hash)
            .cloned()
            .or_else(|| registered.and_then(|r| r.get(&hash)))
            .ok_or_else(|| error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")),
        (None, None) => Err(error("the request has no `query`", "BAD_REQUEST")),
        (Some(text), hash) => {
            // The hash is needed to check the one sent, to find the text
            // among persisted operations and to register it; not otherwise.
            let own = (hash.is_some() || !g.persisted.by_hash.is_empty())
                .then(|| crate::plan::graphql::sha256(text));
            if let (Some(h), Some(own)) = (&hash, &own)
                && h != own
            {
                return Err(error(
                    "provided sha does not match query",
                    "PERSISTED_QUERY_HASH_MISMATCH",
                ));
            }
            if let Some(op) = own.as_ref().and_then(|h| g.persisted.by_hash.get(h)) {
                return Ok(op.clone());
            }
            if g.persisted.require {
                return Err(error(
                    "only persisted operations are accepted here",
                    "PERSISTED_QUERY_REQUIRED",
                ));
            }
            let register = |op: &Arc<Operation>| {
                if let (Some(_), Some(own), Some(r)) = (&hash, &own, registered) {
                    r.insert(own.clone(), op.clone());
                }
            };
            if let Some(op) = cx.running.graphql_documents.get(text.as_str()) {
                register(&op);
                return Ok(op);
            }
            let document = ExecutableDocument::parse_and_validate(
                &g.schema,
                text.as_str(),
                "operation.graphql",
            )
            .map_err(|e| {
                e.errors
                    .iter()
                    .map(|d| {
                        let mut j = d.to_json();
                        j.extensions
                            .insert("code", "GRAPHQL_VALIDATION_FAILED".into());
                        j
                    })
                    .collect::<Vec<_>>()
            })?;
            let op = Arc::new(Operation {
                text: text.clone(),
                document,
            });
            cx.running
                .graphql_documents
                .insert(text.clone(), op.clone());
            register(&op);
            Ok(op)
        }
    }
}

/// A response with errors and no `data`: 400 for clients that take
/// GraphQL responses, 200 for those that only take JSON (as GraphQL over
/// HTTP says for each).
fn request_errors(errors: &[GraphQLError], modern: bool) -> Response {
    let body = serde_json::json!({ "errors": errors });
    let status = if modern {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    json(status, &body, modern)
}

#[derive(serde::Serialize)]
struct Extensions<'a> {
    degraded: Vec<DegradedEntry<'a>>,
}

#[derive(serde::Serialize)]
struct DegradedEntry<'a> {
    resolver: &'a str,
    reason: &'a str,
}

fn json(status: StatusCode, body: &impl serde::Serialize, modern: bool) -> Response {
    bytes_response(status, serde_json::to_vec(body).unwrap_or_default(), modern)
}

fn bytes_response(status: StatusCode, body: Vec<u8>, modern: bool) -> Response {
    let media = if modern {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    };
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    r
}
