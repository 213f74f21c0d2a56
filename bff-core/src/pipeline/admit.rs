//! Admission, the same for every front (composed endpoints, pass-through
//! routes, usage endpoints): authenticate the caller with the policy the
//! endpoint or route names (`401` otherwise), check what it requires
//! (`403`), count the request against its rate limit (`429`), and inspect
//! its path, query and headers for injections (`403`). What a
//! request is admitted with — the identity, the headers that carry it
//! upstream, the rate-limit verdict — comes back for the stages after.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use jaq_json::Val;

use crate::error::Refusal;

/// What an endpoint or route asks of a request before it runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate<'a> {
    /// The authentication policy, if any.
    pub auth: Option<&'a Arc<crate::auth::Policy>>,
    /// What the identity must hold.
    pub require: Option<&'a crate::auth::Requirement>,
    /// The rate-limit policy, if any.
    pub rate_limit: Option<&'a Arc<crate::ratelimit::Policy>>,
    /// The inspection policy, if any: path, query and headers are checked
    /// once the request is counted.
    pub inspect: Option<&'a Arc<crate::plan::inspect::InspectPolicy>>,
    /// What the rate limit counts by as `endpoint`.
    pub name: &'a str,
    /// The extension, which sees the verified identity.
    pub hooks: &'a dyn crate::extension::Hooks,
    /// The policies' state: key sets, counters.
    pub running: &'a crate::running::Running,
}

/// A request let through, and what it was let through with.
#[derive(Debug)]
pub(crate) struct Admitted {
    /// The verified identity's claims (`null` without `auth`).
    pub identity: Val,
    /// The headers that carry the identity upstream.
    pub forward: HeaderMap,
    /// Whether the client's `Authorization` may go upstream (pass-through).
    pub keep_authorization: bool,
    /// The rate-limit verdict, whose headers go on the answer.
    pub verdict: Option<crate::ratelimit::Verdict>,
}

impl Admitted {
    /// Adds the rate-limit headers to the answer.
    pub(crate) fn mark(&self, response: &mut Response) {
        if let Some(v) = &self.verdict {
            crate::ratelimit::apply(v, response.headers_mut());
        }
    }
}

/// Authenticates, authorizes and rate-limits a request; `Err` is the answer
/// that refuses it.
pub(crate) async fn admit(
    gate: Gate<'_>,
    parts: &http::request::Parts,
) -> Result<Admitted, Response> {
    let mut admitted = Admitted {
        identity: Val::Null,
        forward: HeaderMap::new(),
        keep_authorization: true,
        verdict: None,
    };
    if let Some(policy) = gate.auth {
        let state = gate.running.auth(policy);
        let mut identity = policy
            .authenticate(state, &parts.headers, &parts.extensions)
            .await
            .map_err(|rejection| policy.reject(rejection))?;
        gate.hooks
            .identity(parts, &mut identity)
            .map_err(IntoResponse::into_response)?;
        if let Some(Err(why)) = gate.require.map(|r| r.check(&identity)) {
            return Err(Refusal::Forbidden(why.to_string()).into_response());
        }
        policy.forward.apply(&identity, &mut admitted.forward);
        admitted.keep_authorization = policy.forward_authorization;
        admitted.identity = identity;
    }
    if let Some(policy) = gate.rate_limit {
        let caller = crate::ratelimit::Caller {
            ip: crate::ratelimit::peer_ip(&parts.extensions),
            identity: &admitted.identity,
            endpoint: gate.name,
            headers: &parts.headers,
        };
        let counters = gate.running.counters(policy);
        admitted.verdict = Some(crate::ratelimit::admit(policy, counters, &caller).await?);
    }
    if let Some(policy) = gate.inspect {
        super::inspect::check_head(policy, parts).map_err(IntoResponse::into_response)?;
    }
    Ok(admitted)
}
