//! A composed endpoint's way through, in request order: admit, then the
//! endpoint's answer cache (on a miss: compose), then the validators of
//! the answer and the rate-limit headers.

use axum::extract::Request;
use axum::response::Response;
use http::header;

use super::Context;
use super::admit::{Gate, admit};
use crate::plan::Endpoint;
use crate::value;

/// Answers one request of a composed endpoint.
pub(crate) async fn handle_endpoint(cx: &Context, endpoint: &Endpoint, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let id = endpoint.id();
    let gate = Gate {
        auth: endpoint.auth.as_ref(),
        require: endpoint.require.as_ref(),
        rate_limit: endpoint.rate_limit.as_ref(),
        inspect: endpoint.inspect.as_ref(),
        name: &id,
        hooks: &*cx.extension,
        running: &cx.running,
    };
    let mut admitted = match admit(gate, &parts).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let private = endpoint.auth.is_some();
    let subject = crate::auth::claim(&admitted.identity, ["sub"]).map(value::to_text);
    let method = parts.method.clone();
    let validators = parts.headers.get_all(header::IF_NONE_MATCH).iter().cloned();
    let validators: http::HeaderMap = validators.map(|v| (header::IF_NONE_MATCH, v)).collect();
    // GETs of an endpoint with `cache:` are answered from its kept answers.
    let cached = endpoint
        .cache
        .as_ref()
        .filter(|_| method == http::Method::GET)
        .map(|(ttl, tags)| {
            let target = format!("GET {}", super::input::sorted_target(&parts.uri));
            let key = cx
                .running
                .answers
                .key(&id, &target, &parts.headers, subject.as_deref());
            (key, target, *ttl, tags)
        });
    // The identity and its headers move on to the calls; the verdict stays
    // for the answer's rate-limit headers.
    let forward = std::mem::take(&mut admitted.forward);
    let identity = std::mem::replace(&mut admitted.identity, jaq_json::Val::Null);
    let compose = || super::compose::compose(cx, endpoint, parts, body, identity, forward);
    let mut response = match cached {
        Some((key, target, ttl, tags)) => {
            let meta = (id.as_str(), target.as_str(), tags.as_slice(), ttl, private);
            // Boxed: the cache's future holds the composing one, and inline
            // both would be in every request's future, cached or not.
            Box::pin(cx.running.answers.get_or_fill(key, meta, compose())).await
        }
        None => compose().await,
    };
    if response.status().is_success() {
        response = crate::conditional::finish(&method, &validators, response, private).await;
    }
    admitted.mark(&mut response);
    if cx.plan.config.telemetry.access_log
        && let Some(sub) = subject
    {
        response
            .extensions_mut()
            .insert(crate::access_log::Subject(sub));
    }
    response
}
