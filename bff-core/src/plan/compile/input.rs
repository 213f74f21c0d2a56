//! `request:` of an endpoint compiled: each schema checked as JSON Schema
//! and compiled once, path parameters that the route has, and a body
//! schema read from its file when it names one.

use std::path::Path;

use crate::plan::input::{InputCheck, Kind, Param, Place};
use crate::source::{Diagnostics, Loc};
use crate::spec::{EndpointSpec, RequestSpec, SpecFile};

/// The checks of `request`; problems are reported where they are written.
pub(super) fn compile_input(
    file: &SpecFile<EndpointSpec>,
    spec: &RequestSpec,
    route: &str,
    dir: &Path,
    diags: &mut Diagnostics,
) -> InputCheck {
    let mut check = InputCheck::default();
    let route_params: Vec<&str> = route
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    for (place, params) in [(Place::Path, &spec.path), (Place::Query, &spec.query)] {
        for (name, schema) in params {
            if place == Place::Path && !route_params.contains(&name.as_str()) {
                diags.push(file.error_at_key(
                    name,
                    schema,
                    format!("`{name}` is not a parameter of the path `{route}`"),
                ));
                continue;
            }
            let mut schema_value = schema.value.clone();
            let required = match schema_value.as_object_mut().map(|o| o.remove("required")) {
                Some(Some(serde_json::Value::Bool(b))) if place == Place::Query => b,
                Some(Some(serde_json::Value::Bool(_))) => true,
                Some(Some(_)) => {
                    diags.push(
                        file.error_at(schema, "`required` of a parameter is `true` or `false`"),
                    );
                    false
                }
                _ => place == Place::Path,
            };
            let kind = match schema_value.get("type").and_then(|t| t.as_str()) {
                Some("integer") => Kind::Integer,
                Some("number") => Kind::Number,
                Some("boolean") => Kind::Boolean,
                _ => Kind::Text,
            };
            match jsonschema::validator_for(&schema_value) {
                Ok(validator) => check.params.push(Param {
                    place,
                    name: name.clone(),
                    kind,
                    required,
                    schema: schema_value,
                    validator,
                }),
                Err(e) => diags.push(file.error_at(
                    schema,
                    format!(
                        "the schema of {} parameter `{name}` is not valid JSON Schema: {e}",
                        place.as_str()
                    ),
                )),
            }
        }
    }
    if let Some(body) = &spec.body
        && let Some(schema) = body_schema(file, body, dir, diags)
    {
        match jsonschema::validator_for(&schema) {
            Ok(v) => check.body = Some((schema, v)),
            Err(e) => diags.push(file.error_at(
                body,
                format!("the body's schema is not valid JSON Schema: {e}"),
            )),
        }
    }
    check
}

/// The body's schema: inline, or read from the file a string names.
fn body_schema(
    file: &SpecFile<EndpointSpec>,
    body: &Loc<serde_json::Value>,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<serde_json::Value> {
    let serde_json::Value::String(name) = &body.value else {
        return Some(body.value.clone());
    };
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(file.error_at(
                body,
                format!("cannot read the schema `{}`: {e}", path.display()),
            ));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(file.error_at(
                body,
                format!("the schema `{}` is not JSON: {e}", path.display()),
            ));
            None
        }
    }
}
