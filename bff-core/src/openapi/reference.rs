//! `GET /docs`: the API description as a page for the people who integrate
//! — every endpoint with its parameters, authentication, answers and
//! errors, and a curl command to try it — rendered on the server from the
//! same document as `/openapi.json`, so it reads without script and never
//! disagrees with it.

use std::sync::OnceLock;

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderMap, header};
use serde_json::{Value, json};

use super::ApiDescription;

const TEMPLATE: &str = include_str!("reference.html");

pub(super) fn page(description: &ApiDescription, headers: &HeaderMap) -> Response {
    let context = context(
        description.document(),
        &description.base,
        &origin(headers, &description.base),
    );
    let rendered = tera::Context::from_serialize(&context)
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            templates()
                .render("reference.html", &ctx)
                .map_err(|e| e.to_string())
        });
    match rendered {
        Ok(html) => ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "API reference not rendered");
            crate::error::Refusal::Internal.into_response()
        }
    }
}

fn templates() -> &'static tera::Tera {
    static TERA: OnceLock<tera::Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut t = tera::Tera::default();
        t.autoescape_on(vec![".html"]);
        t.add_raw_template("reference.html", TEMPLATE)
            .expect("the embedded reference template parses");
        t
    })
}

/// The origin the reader reached the BFF at, for curl commands that work
/// as pasted; the configured address when the request does not say.
fn origin(headers: &HeaderMap, base: &str) -> String {
    let scheme = base.split("://").next().unwrap_or("http");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()));
    match host {
        Some(h) => format!("{scheme}://{h}"),
        None => base.to_owned(),
    }
}

fn context(doc: &Value, base: &str, origin: &str) -> Value {
    let schemes = &doc["components"]["securitySchemes"];
    let responses = &doc["components"]["responses"];
    let mut operations = Vec::new();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            if method == "parameters" {
                continue;
            }
            let auth = auth(op, schemes);
            if let Some(pass) = op.get("x-bff-pass-through") {
                if method == "get" {
                    routes.push(json!({
                        "prefix": path.trim_end_matches("/{path}"),
                        "service": pass["service"],
                        "auth": auth,
                    }));
                }
                continue;
            }
            let mut answers: Vec<Value> = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| {
                    let r = match r["$ref"].as_str() {
                        Some(at) => &responses[at.rsplit('/').next().unwrap_or("")],
                        None => r,
                    };
                    let types: Vec<&String> = r["content"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(t, _)| t)
                        .collect();
                    json!({ "status": status, "description": r["description"], "types": types })
                })
                .collect();
            answers.sort_by(|a, b| a["status"].as_str().cmp(&b["status"].as_str()));
            let curl = op["x-codeSamples"][0]["source"]
                .as_str()
                .map(|c| c.replace(base, origin));
            let parameters: Vec<Value> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| json!({ "name": p["name"], "location": p["in"], "required": p["required"] }))
                .collect();
            operations.push(json!({
                "id": op["operationId"],
                "method": method.to_ascii_uppercase(),
                "path": path,
                "summary": op["summary"],
                "description": op["description"],
                "parameters": parameters,
                "body": op.get("requestBody").is_some(),
                "auth": auth,
                "answers": answers,
                "curl": curl,
            }));
        }
    }
    json!({
        "title": doc["info"]["title"],
        "version": doc["info"]["version"],
        "description": doc["info"]["description"],
        "origin": origin,
        "operations": operations,
        "routes": routes,
    })
}

/// How to authenticate, in words: "API key in the `x-api-key` header".
fn auth(op: &Value, schemes: &Value) -> Option<String> {
    let requirement = op["security"][0].as_object()?;
    let (name, needs) = requirement.iter().next()?;
    let s = &schemes[name];
    let mut text = match s["type"].as_str() {
        Some("apiKey") => format!(
            "API key in the `{}` header",
            s["name"].as_str().unwrap_or("")
        ),
        Some("mutualTLS") => "TLS client certificate".to_owned(),
        _ if s["bearerFormat"] == "JWT" => "Bearer token (JWT) in `Authorization`".to_owned(),
        _ => "Bearer token in `Authorization`".to_owned(),
    };
    if let Some(d) = s["description"].as_str() {
        text = format!("{text}. {d}");
    }
    let needs: Vec<&str> = needs.as_array()?.iter().filter_map(Value::as_str).collect();
    if !needs.is_empty() {
        text = format!("{text}; needs {}", needs.join(", "));
    }
    Some(text)
}
