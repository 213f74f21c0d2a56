//! Usage endpoints of rate-limit policies: the caller's standing, counting
//! nothing.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header;

use super::Context;

/// A usage endpoint: the caller's standing under a policy, counting nothing.
pub(crate) async fn handle_usage(cx: &Context, index: usize, req: Request) -> Response {
    let route = &cx.plan.usage[index];
    let (parts, _) = req.into_parts();
    let gate = super::Gate {
        auth: route.auth.as_ref(),
        require: None,
        rate_limit: None,
        inspect: None,
        name: &route.path,
        hooks: &*cx.extension,
        running: &cx.running,
    };
    let identity = match super::admit(gate, &parts).await {
        Ok(a) => a.identity,
        Err(refused) => return refused,
    };
    let caller = crate::ratelimit::Caller {
        ip: crate::ratelimit::peer_ip(&parts.extensions),
        identity: &identity,
        endpoint: &format!("GET {}", route.path),
        headers: &parts.headers,
    };
    let verdict = route
        .policy
        .peek(cx.running.counters(&route.policy), &caller)
        .await;
    let body = crate::ratelimit::usage_body(&verdict, &identity);
    let mut r = ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response();
    crate::ratelimit::apply(&verdict, r.headers_mut());
    r
}
