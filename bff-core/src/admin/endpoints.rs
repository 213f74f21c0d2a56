//! `GET /endpoints`: what the generation serving now owns — each endpoint
//! with its policies and call graph (stages as `explain` computes them),
//! each pass-through route — so an operator sees what a reload changed.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use crate::plan::{Call, Endpoint, Plan, ProxyPlan, graph};
use crate::reload::Live;

pub(super) async fn list(State(live): State<Live>) -> Response {
    let current = live.current();
    let plan = current.gateway.plan();
    super::fresh_json(&json!({
        "generation": current.number,
        "dir": plan.dir.display().to_string(),
        "endpoints": plan.endpoints.iter().map(|e| endpoint(plan, e)).collect::<Vec<_>>(),
        "routes": plan.proxies.iter().map(|r| route(plan, r)).collect::<Vec<_>>(),
        "graphql": plan.graphql.as_ref().map(|g| graphql(plan, g)),
    }))
}

/// The name an endpoint's or route's authentication policy has in bff.yaml.
pub(super) fn policy_name(plan: &Plan, policy: Option<&Arc<crate::auth::Policy>>) -> Value {
    policy
        .and_then(|p| plan.policies.iter().find(|(_, q)| Arc::ptr_eq(p, q)))
        .map_or(Value::Null, |(name, _)| json!(name))
}

fn endpoint(plan: &Plan, e: &Endpoint) -> Value {
    let deps: Vec<Vec<usize>> = e.calls.iter().map(|c| c.deps.clone()).collect();
    let stages = graph::stages(&deps);
    let mut by_stage: Vec<Vec<&str>> = Vec::new();
    for (c, s) in e.calls.iter().zip(&stages) {
        if by_stage.len() <= *s {
            by_stage.resize(s + 1, Vec::new());
        }
        by_stage[*s].push(&c.name);
    }
    json!({
        "endpoint": e.id(),
        "method": e.method.as_str(),
        "path": e.path,
        "file": e.file.display().to_string(),
        "description": e.description,
        "auth": policy_name(plan, e.auth.as_ref()),
        "require": e.require,
        "rate_limit": e.rate_limit.as_ref().map(|p| &p.name),
        "deadline": humantime::format_duration(e.deadline).to_string(),
        "cache": e.cache.as_ref().map(|(ttl, tags)| json!({
            "ttl": ttl.map(|t| humantime::format_duration(t).to_string()),
            "tags": tags,
        })),
        "status": e.status.as_u16(),
        "protobuf": e.message.as_ref().map(|m| m.full_name().to_owned()),
        "html": e.page,
        "query": e.query_params,
        "calls": e.calls.iter().zip(&stages).map(|(c, s)| call(e, c, *s)).collect::<Vec<_>>(),
        "stages": by_stage.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "respond": if e.respond.is_some() { "jq" } else { "results by call name" },
    })
}

/// The GraphQL endpoint: its settings and a resolver per field.
fn graphql(plan: &Plan, g: &crate::plan::graphql::Graphql) -> Value {
    let mut resolvers: Vec<&crate::plan::graphql::Resolver> = g
        .resolvers
        .values()
        .flat_map(|by_field| by_field.values())
        .collect();
    resolvers.sort_by(|a, b| a.name.cmp(&b.name));
    json!({
        "path": g.path,
        "file": g.file.display().to_string(),
        "auth": policy_name(plan, g.auth.as_ref()),
        "rate_limit": g.rate_limit.as_ref().map(|p| &p.name),
        "deadline": humantime::format_duration(g.deadline).to_string(),
        "introspection": g.introspection,
        "explorer": g.explorer,
        "limits": g.limits,
        "persisted": g.persisted.by_hash.len(),
        "resolvers": resolvers.iter().map(|r| {
            let c = &r.call;
            json!({
                "field": &*r.name,
                "service": c.service.name,
                "method": c.method.as_str(),
                "path": &*c.path.source,
                "grpc": c.grpc.as_ref().map(|m| &m.name),
                "batch": c.for_each.as_ref().and_then(|f| f.batch),
                "for_each": c.for_each.as_ref().map(|f| f.items.source()),
                "optional": c.is_optional(),
            })
        }).collect::<Vec<_>>(),
    })
}

fn call(e: &Endpoint, c: &Call, stage: usize) -> Value {
    json!({
        "name": &*c.name,
        "service": c.service.name,
        "method": c.method.as_str(),
        "path": &*c.path.source,
        "query": c.query.iter().map(|(k, t)| (k.clone(), json!(&*t.source))).collect::<serde_json::Map<_, _>>(),
        "deps": c.deps.iter().map(|&d| &*e.calls[d].name).collect::<Vec<_>>(),
        "stage": stage + 1,
        "timeout": humantime::format_duration(c.timeout).to_string(),
        "optional": c.is_optional(),
        "conditional": c.when.as_ref().map(crate::lang::expr::Expr::source),
        "for_each": c.for_each.as_ref().map(|f| json!({
            "items": f.items.source(),
            "batch": f.batch,
            "concurrency": f.concurrency,
        })),
        "forward_status": c.forward_status.iter().map(http::StatusCode::as_u16).collect::<Vec<_>>(),
    })
}

fn route(plan: &Plan, r: &ProxyPlan) -> Value {
    json!({
        "prefix": r.prefix,
        "service": r.service.name,
        "rewrite": r.rewrite,
        "timeout": humantime::format_duration(r.timeout).to_string(),
        "max_body": r.max_body,
        "auth": policy_name(plan, r.auth.as_ref()),
        "require": r.require,
        "rate_limit": r.rate_limit.as_ref().map(|p| &p.name),
    })
}
