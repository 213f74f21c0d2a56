//! Rate-limit policies of bff.yaml, and which endpoints and routes use them.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::auth::Policy as AuthPolicy;
use crate::config::BffConfig;
use crate::ratelimit::Policy;
use crate::source::{Diagnostics, Loc};
use crate::spec::SpecFile;

/// Rate-limit policies by name.
pub type RateLimits = IndexMap<String, Arc<Policy>>;

/// An endpoint answering a caller's own usage under a policy.
#[derive(Debug)]
pub struct UsageRoute {
    /// Its path, e.g. `/v1/usage`.
    pub path: String,
    /// The policy it reports on.
    pub policy: Arc<Policy>,
    /// Who may ask.
    pub auth: Option<Arc<AuthPolicy>>,
}

pub(super) fn compile(
    file: &SpecFile<BffConfig>,
    auth: &IndexMap<String, Arc<AuthPolicy>>,
    diags: &mut Diagnostics,
) -> (RateLimits, Vec<UsageRoute>, bool) {
    // Checked here; the gateway opens the store (connecting when first used).
    let redis =
        file.spec
            .redis
            .as_ref()
            .is_some_and(|r| match crate::redis_store::Redis::from_config(r) {
                Ok(_) => true,
                Err(e) => {
                    diags.push(file.error_at(r, format!("redis: {e}")));
                    false
                }
            });
    if let Some(per_ip) = &file.spec.limits.per_ip
        && let Err(e) = crate::ratelimit::check_per_ip(per_ip)
    {
        diags.push(file.error_at(per_ip, format!("limits.per_ip: {e}")));
    }
    let mut policies = IndexMap::new();
    let mut usage = Vec::new();
    for (name, config) in &file.spec.rate_limits {
        let policy = match Policy::compile(name, config, redis) {
            Ok(mut p) => {
                p.index = policies.len();
                Arc::new(p)
            }
            Err(e) => {
                diags.push(file.error_at(config, format!("rate limit `{name}`: {e}")));
                continue;
            }
        };
        if let Some(path) = &config.usage_path {
            let auth = match &config.usage_auth {
                Some(a) => match auth.get(a) {
                    Some(p) => Some(p.clone()),
                    None => {
                        diags.push(file.error_at(
                            config,
                            format!("rate limit `{name}`: unknown usage_auth policy `{a}`"),
                        ));
                        continue;
                    }
                },
                None => None,
            };
            if policy.needs_identity() && auth.is_none() {
                diags.push(file.error_at(
                    config,
                    format!("rate limit `{name}` counts per identity: its usage endpoint needs `usage_auth`"),
                ));
            }
            usage.push(UsageRoute {
                path: path.clone(),
                policy: policy.clone(),
                auth,
            });
        }
        policies.insert(name.clone(), policy);
    }
    (policies, usage, redis)
}

/// The policy an endpoint or route names; it must be able to build its key.
pub(super) fn lookup<T>(
    file: &SpecFile<T>,
    name: Option<&Loc<String>>,
    has_auth: bool,
    limits: &RateLimits,
    diags: &mut Diagnostics,
) -> Option<Arc<Policy>> {
    let name = name?;
    let Some(found) = limits.get(name.as_str()) else {
        let message = super::compile::unknown_name("rate limit", name, limits.keys());
        diags.push(file.error_at(name, message));
        return None;
    };
    if found.needs_identity() && !has_auth {
        diags.push(file.error_at(
            name,
            format!(
                "rate limit `{}` counts per identity or API key: it needs an `auth` policy here",
                name.value
            ),
        ));
        return None;
    }
    Some(found.clone())
}
