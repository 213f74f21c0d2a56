//! The security of the API description: a scheme per authentication
//! policy, and on each operation the schemes it accepts, the scopes its
//! `require` names, and the 401 and 403 answers it can give.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{ERRORS, add_error};
use crate::plan::Plan;

/// The document's components: security schemes, problem answers, the
/// problem schema.
pub(super) fn components(plan: &Plan) -> Value {
    let mut schemes = Map::new();
    for (name, policy) in &plan.policies {
        schemes.insert(name.clone(), security_scheme(&policy.scheme()));
    }
    let mut responses = Map::new();
    for (status, description) in ERRORS {
        responses.insert(
            format!("Problem{status}"),
            json!({
                "description": description,
                "content": { crate::error::PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } },
            }),
        );
    }
    json!({
        "securitySchemes": schemes,
        "responses": responses,
        "schemas": {
            "Problem": {
                "description": "An RFC 9457 problem detail",
                "type": "object",
                "required": ["type", "title", "status"],
                "properties": {
                    "type": { "type": "string", "format": "uri-reference" },
                    "title": { "type": "string" },
                    "status": { "type": "integer" },
                    "detail": { "type": "string" },
                    "call": { "type": "string", "description": "The call of the composition that failed" },
                    "errors": {
                        "type": "array",
                        "description": "Each error; for a request that breaks its schemas, where (a JSON pointer into path, query and body) and what",
                        "items": {
                            "oneOf": [
                                { "type": "string" },
                                {
                                    "type": "object",
                                    "required": ["detail", "pointer"],
                                    "properties": { "detail": { "type": "string" }, "pointer": { "type": "string" } },
                                },
                            ],
                        },
                    },
                },
            },
        },
    })
}

fn security_scheme(scheme: &crate::auth::Scheme) -> Value {
    use crate::auth::Scheme;
    match scheme {
        Scheme::Bearer { jwt, cookie } => {
            let mut s = json!({ "type": "http", "scheme": "bearer" });
            if *jwt {
                s["bearerFormat"] = json!("JWT");
            }
            if let Some(c) = cookie {
                s["description"] = json!(format!("The token may also come in the `{c}` cookie."));
            }
            s
        }
        Scheme::ApiKey { header } => json!({ "type": "apiKey", "in": "header", "name": header }),
        Scheme::MutualTls => json!({
            "type": "mutualTLS",
            "description": "A client certificate, verified during the TLS handshake",
        }),
    }
}

/// Sets `security` (with the scopes and roles required, which 3.1 allows
/// for every scheme type) and the 401/403 answers.
pub(super) fn add_security(
    plan: &Plan,
    op: &mut Value,
    policy: Option<&Arc<crate::auth::Policy>>,
    require: Option<&crate::auth::Requirement>,
) {
    let Some(policy) = policy else {
        return;
    };
    let Some(name) = plan
        .policies
        .iter()
        .find(|(_, p)| Arc::ptr_eq(p, policy))
        .map(|(n, _)| n)
    else {
        return;
    };
    let required = require
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or(Value::Null);
    let mut needs: Vec<Value> = Vec::new();
    for key in ["scopes", "roles"] {
        if let Some(list) = required[key].as_array() {
            needs.extend(list.iter().cloned());
        }
    }
    op["security"] = json!([{ name.as_str(): needs }]);
    add_error(op, 401);
    let tiers = required["tiers"].as_array().is_some_and(|t| !t.is_empty());
    if !needs.is_empty() || tiers {
        add_error(op, 403);
    }
    if tiers {
        op["x-bff-tiers"] = required["tiers"].clone();
    }
}
