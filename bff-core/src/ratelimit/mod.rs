//! Rate limits, tiers and quotas: named policies in bff.yaml, chosen per
//! endpoint and route with `rate_limit:`, counted per client address,
//! identity, API key, endpoint or header, in this process or in Redis.
//! Every answer of a limited endpoint says where the caller stands
//! (`RateLimit`, `RateLimit-Policy`, `X-RateLimit-*`); a refusal is a `429`
//! problem with `Retry-After`.

pub(crate) mod concurrency;
mod error;
mod gcra;
mod headers;
mod rate;
pub(crate) mod store;
mod window;

use std::net::IpAddr;
use std::sync::Arc;

use indexmap::IndexMap;
use jaq_json::Val;

pub(crate) use headers::{apply, refusal, unavailable};
pub(crate) use rate::Rate;
pub(crate) use store::Outcome;

use crate::auth::claim;
use crate::config::{
    OnStoreError, PerIpConfig, QuotaConfig, QuotaWindow, RateLimitConfig, StoreKind,
};
use crate::value;
use error::{PerIpError, PolicyError};
use gcra::Gcra;
use store::{Allowance, Local, Redis};
pub(crate) use window::Clock;

/// What a key is counted by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyPart {
    Ip,
    Identity,
    ApiKey,
    Endpoint,
    Header(http::HeaderName),
}

/// A compiled rate-limit policy.
#[derive(Debug)]
pub struct Policy {
    /// Its name in bff.yaml, which is also its name in the headers.
    pub name: String,
    /// Its place among the plan's policies, where the gateway keeps its counters.
    pub(crate) index: usize,
    key: Vec<KeyPart>,
    default: Allowance,
    tiers: IndexMap<String, Allowance>,
    /// Counted in Redis (`store: redis`), not in this process.
    shared: bool,
    on_store_error: OnStoreError,
}

/// A policy's counters, running: in this process, and in Redis when the
/// policy is shared.
#[derive(Debug)]
pub(crate) struct Counters {
    local: Local,
    redis: Option<Arc<Redis>>,
}

/// Who is asking, as far as the key is concerned.
pub(crate) struct Caller<'a> {
    /// The client's address.
    pub ip: Option<IpAddr>,
    /// The verified identity, or null.
    pub identity: &'a Val,
    /// The endpoint or route, e.g. `GET /v1/home`.
    pub endpoint: &'a str,
    /// The request headers.
    pub headers: &'a http::HeaderMap,
}

/// A policy's verdict on one request, for the response headers.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// Policy name.
    pub policy: String,
    /// Bucket size and refill window.
    pub gcra: (u32, std::time::Duration),
    /// Quota limit and window, if any.
    pub quota: Option<(u64, QuotaWindow)>,
    /// What the store said; `None` when the store failed and the policy
    /// let the request through unmetered.
    pub outcome: Option<Outcome>,
    remaining: u32,
    /// Refused because the shared store was down and the policy is `closed`.
    pub store_down: bool,
}

impl Policy {
    /// Builds a policy; `has_redis` says whether bff.yaml has a shared store.
    pub(crate) fn compile(
        name: &str,
        config: &RateLimitConfig,
        has_redis: bool,
    ) -> Result<Self, PolicyError> {
        let key = config
            .key
            .iter()
            .map(|k| match k.as_str() {
                "ip" => Ok(KeyPart::Ip),
                "identity" => Ok(KeyPart::Identity),
                "api_key" => Ok(KeyPart::ApiKey),
                "endpoint" => Ok(KeyPart::Endpoint),
                other => match other.strip_prefix("header:") {
                    Some(h) => http::HeaderName::try_from(h.trim())
                        .map(KeyPart::Header)
                        .map_err(|_| PolicyError::HeaderName(other.to_owned())),
                    None => Err(PolicyError::UnknownKey(other.to_owned())),
                },
            })
            .collect::<Result<Vec<_>, _>>()?;
        if key.is_empty() {
            return Err(PolicyError::EmptyKey);
        }
        let allowance = |rate: &str, burst: Option<u32>, quota: Option<&QuotaConfig>| {
            let rate = Rate::parse(rate)?;
            Ok::<_, rate::RateError>(Allowance {
                gcra: Gcra::new(rate.interval(), burst.unwrap_or(rate.count)),
                quota: quota.map(|q| (q.limit, q.per)),
            })
        };
        let default = allowance(&config.rate, config.burst, config.quota.as_ref())?;
        let tiers = config
            .tiers
            .iter()
            .map(|(tier, t)| {
                allowance(&t.rate, t.burst, t.quota.as_ref().or(config.quota.as_ref()))
                    .map(|a| (tier.clone(), a))
                    .map_err(|source| PolicyError::Tier {
                        tier: tier.clone(),
                        source,
                    })
            })
            .collect::<Result<_, _>>()?;
        let shared = match config.store {
            StoreKind::Local => false,
            StoreKind::Redis if has_redis => true,
            StoreKind::Redis => return Err(PolicyError::NoRedis),
        };
        Ok(Self {
            name: name.to_owned(),
            index: 0,
            key,
            default,
            tiers,
            shared,
            on_store_error: config.on_store_error,
        })
    }

    /// Starts the policy's counters on `clock`; `redis` is the gateway's
    /// shared store, used when the policy is shared.
    pub(crate) fn start(&self, redis: Option<&Arc<Redis>>, clock: Clock) -> Counters {
        Counters {
            local: Local::new(clock),
            redis: redis.filter(|_| self.shared).cloned(),
        }
    }

    /// Whether the key needs a verified identity.
    pub fn needs_identity(&self) -> bool {
        self.key
            .iter()
            .any(|k| matches!(k, KeyPart::Identity | KeyPart::ApiKey))
    }

    /// Counts the request; the verdict says whether it passes.
    pub(crate) async fn check(&self, counters: &Counters, caller: &Caller<'_>) -> Verdict {
        self.decide(counters, caller, false).await
    }

    /// The caller's standing without counting anything (usage endpoints).
    pub(crate) async fn peek(&self, counters: &Counters, caller: &Caller<'_>) -> Verdict {
        self.decide(counters, caller, true).await
    }

    async fn decide(&self, counters: &Counters, caller: &Caller<'_>, dry_run: bool) -> Verdict {
        let tier = claim(caller.identity, ["tier"]).map(value::to_text);
        let allowance = tier
            .as_deref()
            .and_then(|t| self.tiers.get(t))
            .unwrap_or(&self.default);
        let key = self.key_of(caller, tier.as_deref());
        let outcome = match &counters.redis {
            None => Some(counters.local.decide(&key, allowance, dry_run)),
            Some(redis) => match redis.decide(&key, allowance, dry_run).await {
                Ok(o) => Some(o),
                Err(e) => {
                    metrics::counter!("bff_ratelimit_store_errors_total", "policy" => self.name.clone())
                        .increment(1);
                    tracing::warn!(policy = %self.name, error = %e.0, mode = ?self.on_store_error,
                        "rate-limit store unavailable");
                    match self.on_store_error {
                        OnStoreError::Open => None,
                        OnStoreError::Local => {
                            Some(counters.local.decide(&key, allowance, dry_run))
                        }
                        OnStoreError::Closed => {
                            return Verdict {
                                policy: self.name.clone(),
                                gcra: (allowance.gcra.burst, allowance.gcra.window()),
                                quota: allowance.quota,
                                outcome: Some(Outcome {
                                    allowed: false,
                                    by_quota: false,
                                    reset_us: 0,
                                    retry_after_us: 1_000_000,
                                    quota_used: 0,
                                    quota_reset_us: 0,
                                }),
                                remaining: 0,
                                store_down: true,
                            };
                        }
                    }
                }
            },
        };
        Verdict {
            policy: self.name.clone(),
            gcra: (allowance.gcra.burst, allowance.gcra.window()),
            quota: allowance.quota,
            remaining: outcome.map_or(allowance.gcra.burst, |o| {
                if o.allowed || o.by_quota {
                    allowance.gcra.remaining(o.reset_us)
                } else {
                    0
                }
            }),
            outcome,
            store_down: false,
        }
    }

    /// The counting key: the policy, the tier (so a tier change starts a
    /// fresh bucket of the right size) and each configured part. Parts are
    /// length-prefixed (`3:a|b`, `-` when absent), so no two different
    /// callers share a bucket whatever their values hold (`|`, `:`); keys
    /// past [`MAX_KEY_BYTES`] are replaced by a digest of the same text, so
    /// a client's long header cannot make long keys.
    fn key_of(&self, caller: &Caller<'_>, tier: Option<&str>) -> String {
        let mut parts = String::new();
        let mut push = |v: Option<&str>| {
            match v {
                Some(v) => {
                    parts.push_str(&v.len().to_string());
                    parts.push(':');
                    parts.push_str(v);
                }
                None => parts.push('-'),
            }
            parts.push('|');
        };
        for part in &self.key {
            match part {
                KeyPart::Ip => push(caller.ip.map(|i| i.to_string()).as_deref()),
                KeyPart::Identity => {
                    push(
                        claim(caller.identity, ["sub"])
                            .map(value::to_text)
                            .as_deref(),
                    );
                }
                KeyPart::ApiKey => {
                    push(
                        claim(caller.identity, ["key_id"])
                            .map(value::to_text)
                            .as_deref(),
                    );
                }
                KeyPart::Endpoint => push(Some(caller.endpoint)),
                KeyPart::Header(h) => {
                    let values: Vec<&str> = caller
                        .headers
                        .get_all(h)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .collect();
                    push((!values.is_empty()).then(|| values.join(", ")).as_deref());
                }
            }
        }
        if parts.len() > MAX_KEY_BYTES {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parts.as_bytes());
            parts = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        }
        format!("{}|{}|{parts}", self.name, tier.unwrap_or("-"))
    }
}

/// Longest counting key kept as it is; longer ones become a digest.
const MAX_KEY_BYTES: usize = 256;

/// Counts a request against an endpoint's or route's policy: `Err` is the
/// refusal to send, `Ok` the verdict whose headers go on the answer.
pub(crate) async fn admit(
    policy: &Policy,
    counters: &Counters,
    caller: &Caller<'_>,
) -> Result<Verdict, axum::response::Response> {
    let verdict = policy.check(counters, caller).await;
    if crate::metrics::enabled() {
        let result = match verdict.outcome {
            _ if verdict.store_down => "store_down",
            None => "unmetered",
            Some(o) if o.allowed => "allowed",
            Some(o) if o.by_quota => "quota",
            Some(_) => "limited",
        };
        metrics::counter!(
            "bff_ratelimit_decisions_total",
            "policy" => policy.name.clone(),
            "result" => result
        )
        .increment(1);
    }
    if verdict.allowed() {
        Ok(verdict)
    } else {
        Err(refusal(&verdict))
    }
}

/// The client's address, as the listener recorded it.
pub(crate) fn peer_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether a per-address limit can be applied: a valid rate whose
/// interval is not below a nanosecond, and a bucket of at least one.
pub(crate) fn check_per_ip(config: &PerIpConfig) -> Result<Rate, PerIpError> {
    let rate = Rate::parse(&config.rate)?;
    if config.burst == 0 {
        return Err(PerIpError::NoBurst);
    }
    if rate.interval().is_zero() {
        return Err(PerIpError::TooFast(config.rate.clone()));
    }
    Ok(rate)
}

/// The whole-BFF limit per client address (`limits.per_ip`), as a
/// `tower_governor` layer answering refusals like every other 429 here.
pub(crate) fn per_ip_layer(
    config: &PerIpConfig,
) -> Result<
    tower_governor::GovernorLayer<
        tower_governor::key_extractor::PeerIpKeyExtractor,
        governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
        axum::body::Body,
    >,
    PerIpError,
> {
    let rate = check_per_ip(config)?;
    let conf = tower_governor::governor::GovernorConfigBuilder::default()
        .period(rate.interval())
        .burst_size(config.burst)
        .finish()
        .ok_or(PerIpError::Refused)?;
    let conf = Arc::new(conf);
    let limiter = conf.limiter().clone();
    // Addresses whose bucket has refilled hold nothing; drop them now and then.
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
    }
    Ok(tower_governor::GovernorLayer::new(conf).error_handler(|e| {
        use axum::response::IntoResponse;
        match e {
            tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                crate::error::Refusal::TooManyRequests {
                    detail: format!(
                        "too many requests from this address; retry in {} s",
                        wait_time.max(1)
                    ),
                    retry_after: wait_time.max(1),
                }
                .into_response()
            }
            _ => crate::error::Refusal::Internal.into_response(),
        }
    }))
}

/// The body of a usage endpoint: where the caller stands under a policy.
pub(crate) fn usage_body(verdict: &Verdict, identity: &Val) -> serde_json::Value {
    let o = verdict.outcome.unwrap_or(Outcome {
        allowed: true,
        by_quota: false,
        reset_us: 0,
        retry_after_us: 0,
        quota_used: 0,
        quota_reset_us: 0,
    });
    let secs = |us: u64| us.div_ceil(1_000_000);
    let quota = verdict.quota.map(|(limit, per)| {
        serde_json::json!({
            "limit": limit,
            "used": o.quota_used,
            "remaining": limit.saturating_sub(o.quota_used),
            "period": match per {
                QuotaWindow::Hour => "hour",
                QuotaWindow::Day => "day",
                QuotaWindow::Month => "month",
            },
            "reset": secs(o.quota_reset_us),
        })
    });
    serde_json::json!({
        "policy": verdict.policy,
        "subject": claim(identity, ["sub"]).map(value::to_text),
        "tier": claim(identity, ["tier"]).map(value::to_text),
        "rate": {
            "limit": verdict.gcra.0,
            "remaining": verdict.remaining(),
            "window": verdict.gcra.1.as_secs_f64(),
            "reset": secs(o.reset_us),
        },
        "quota": quota,
    })
}

impl Verdict {
    /// Whether the request passes.
    pub(crate) fn allowed(&self) -> bool {
        self.outcome.is_none_or(|o| o.allowed)
    }

    /// Requests that could pass now.
    pub(crate) fn remaining(&self) -> u32 {
        self.remaining
    }
}
