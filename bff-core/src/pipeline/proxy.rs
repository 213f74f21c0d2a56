//! A pass-through request's whole way: refused at once for a method no
//! route forwards or a WebSocket page of another origin, admitted like any
//! request (authenticate, authorize, rate-limit), shown to the
//! extension's call hook, then forwarded by [`crate::proxy`], and the
//! rate-limit headers put on the answer.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};

use super::Context;
use super::admit::{Gate, admit};
use crate::plan::ProxyPlan;

/// Answers one request of a pass-through route.
pub(crate) async fn handle_proxy(cx: &Context, route: &ProxyPlan, req: Request) -> Response {
    let upgrade = match crate::proxy::refuse(route, &req) {
        Ok(upgrade) => upgrade,
        Err(refused) => return *refused,
    };
    let (parts, body) = req.into_parts();
    let gate = Gate {
        auth: route.auth.as_ref(),
        require: route.require.as_ref(),
        rate_limit: route.rate_limit.as_ref(),
        inspect: route.inspect.as_ref(),
        name: &route.prefix,
        hooks: &*cx.extension,
        running: &cx.running,
    };
    let mut admitted = match admit(gate, &parts).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let mut req = Request::from_parts(parts, body);
    if let Some(policy) = &route.inspect {
        match super::inspect::check_passed_body(policy, req).await {
            Ok(r) => req = r,
            Err(refused) => return refused.into_response(),
        }
    }
    let mut identity = std::mem::take(&mut admitted.forward);
    let target = route.upstream_path(req.uri().path_and_query().map_or("/", |pq| pq.as_str()));
    let call = crate::extension::CallRequest {
        service: &route.service.name,
        call: None,
        method: req.method(),
        path: &target,
        identity: &admitted.identity,
    };
    cx.extension.call(&call, &mut identity);
    let keep = admitted.keep_authorization;
    let mut response =
        crate::proxy::forward(route, &cx.running, req, upgrade, target, identity, keep).await;
    admitted.mark(&mut response);
    response
}
