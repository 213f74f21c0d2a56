//! The input of a composed endpoint: path parameters, query parameters
//! (typed as the spec declares), the headers specs may read, and the body
//! (JSON or, where declared, XML), each refused with a precise `400`/`413`/
//! `415`/`422` problem when it does not fit.

use axum::body::Body;
use axum::extract::RawPathParams;
use http::header;
use jaq_json::Val;

use crate::error::Refusal;
use crate::exec::RequestData;
use crate::plan::Endpoint;
use crate::plan::input::{Kind, Place};
use crate::value;

/// The path with its query parameters in sorted order: `?b=2&a=1` and
/// `?a=1&b=2` ask the same.
pub(super) fn sorted_target(uri: &http::Uri) -> String {
    match uri.query() {
        None | Some("") => uri.path().to_owned(),
        Some(q) => {
            let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_unstable();
            format!("{}?{}", uri.path(), pairs.join("&"))
        }
    }
}

/// Gathers what specs may read from the client's request.
pub(super) async fn read_request(
    endpoint: &Endpoint,
    parts: &mut http::request::Parts,
    body: Body,
) -> Result<RequestData, Refusal> {
    use axum::extract::FromRequestParts;
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| Refusal::BadRequest("the path parameters are not valid UTF-8".to_owned()))?;
    let mut path_pairs: Vec<(String, Val)> = params
        .iter()
        .map(|(k, v)| (k.to_owned(), value::string(v)))
        .collect();
    let mut query_pairs: Vec<(String, String)> = Vec::new();
    if let Some(q) = parts.uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if !query_pairs.iter().any(|(seen, _)| *seen == k) {
                query_pairs.push((k.into_owned(), v.into_owned()));
            }
        }
    }
    let mut query_typed: Vec<(String, Val)> = query_pairs
        .iter()
        .map(|(k, v)| (k.clone(), value::string(v)))
        .collect();
    let mut violations = Vec::new();
    if let Some(check) = &endpoint.input {
        for p in &check.params {
            let (pairs, texts): (&mut Pairs, Vec<(&str, &str)>) = match p.place {
                Place::Path => (&mut path_pairs, params.iter().collect()),
                Place::Query => (
                    &mut query_typed,
                    query_pairs
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                ),
            };
            let pointer = format!("/{}/{}", p.place.as_str(), p.name);
            let Some((_, text)) = texts.iter().find(|(k, _)| *k == p.name) else {
                if p.required {
                    violations.push((pointer, "is required".to_owned()));
                }
                continue;
            };
            match typed(p.kind, text) {
                Some(json) => {
                    for e in p.validator.iter_errors(&json) {
                        violations.push((
                            format!("{pointer}{}", e.instance_path().as_str()),
                            e.to_string(),
                        ));
                    }
                    if let Some(slot) = pairs.iter_mut().find(|(k, _)| *k == p.name) {
                        slot.1 = value::from_json(&json);
                    }
                }
                None => violations.push((pointer, format!("must be {}", kind_name(p.kind)))),
            }
        }
    }
    if !violations.is_empty() {
        return Err(Refusal::Invalid {
            status: http::StatusCode::BAD_REQUEST,
            violations,
        });
    }
    let path = value::object(path_pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let query = value::object(query_typed.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let headers = request_headers(&parts.headers);
    let body = read_body(endpoint, parts, body).await?;
    if let Some(policy) = &endpoint.inspect {
        super::inspect::check_body(policy, &body)?;
    }
    if let Some((_, validator)) = endpoint.input.as_ref().and_then(|c| c.body.as_ref()) {
        let json: serde_json::Value =
            serde_json::from_slice(&value::to_json(&body)).unwrap_or(serde_json::Value::Null);
        let violations: Vec<(String, String)> = validator
            .iter_errors(&json)
            .map(|e| {
                (
                    format!("/body{}", e.instance_path().as_str()),
                    e.to_string(),
                )
            })
            .collect();
        if !violations.is_empty() {
            return Err(Refusal::Invalid {
                status: http::StatusCode::UNPROCESSABLE_ENTITY,
                violations,
            });
        }
    }
    Ok(RequestData {
        path,
        query,
        headers,
        body,
        auth: Val::Null,
        forward: http::HeaderMap::new(),
        hooks: None,
    })
}

async fn read_body(
    endpoint: &Endpoint,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Val, Refusal> {
    let bytes = axum::body::to_bytes(body, endpoint.body_limit)
        .await
        .map_err(|_| {
            Refusal::TooLarge(format!(
                "the request body exceeds {} bytes",
                endpoint.body_limit
            ))
        })?;
    if bytes.is_empty() {
        return Ok(Val::Null);
    }
    let media = media_type(&parts.headers);
    let is_json = is_json(&media);
    let is_xml =
        matches!(media.as_str(), "application/xml" | "text/xml") || media.ends_with("+xml");
    if is_xml {
        return crate::xml_body::to_json(&bytes)
            .map(|v| value::from_json(&v))
            .map_err(|e| Refusal::BadRequest(format!("the request body is not valid XML: {e}")));
    }
    if !is_json {
        return Err(
            Refusal::UnsupportedMediaType(
                "the request body must be JSON (Content-Type: application/json) or XML (application/xml)".to_owned(),
            ),
        );
    }
    value::parse(&bytes)
        .map_err(|e| Refusal::BadRequest(format!("the request body is not valid JSON: {e}")))
}

/// The body's media type, lower case, without parameters (`""` without one).
pub(super) fn media_type(headers: &http::HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// Whether a media type is JSON (`application/json`, `…+json`).
pub(super) fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Parameters by name, as templates and jq will see them.
type Pairs = Vec<(String, Val)>;

/// A parameter's text as the JSON value its schema's type says.
fn typed(kind: Kind, text: &str) -> Option<serde_json::Value> {
    match kind {
        Kind::Text => Some(serde_json::Value::String(text.to_owned())),
        Kind::Integer => text.parse::<i64>().ok().map(Into::into),
        Kind::Number => text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number),
        Kind::Boolean => match text {
            "true" => Some(true.into()),
            "false" => Some(false.into()),
            _ => None,
        },
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Integer => "an integer",
        Kind::Number => "a number",
        Kind::Boolean => "`true` or `false`",
    }
}

/// The request's headers as specs read them: by lower-case name, those
/// whose value is text.
pub(super) fn request_headers(headers: &http::HeaderMap) -> Val {
    value::object(
        headers
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), value::string(v)))),
    )
}
