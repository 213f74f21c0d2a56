//! Why a rate-limit policy or the per-address limit of bff.yaml does not
//! compile; told at load time, where the policy is written.

use super::rate::RateError;

/// Why a policy of `rate_limits:` does not compile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    /// A `header:` key part names no valid header.
    #[error("`{0}` is not a valid header name")]
    HeaderName(String),
    /// A key part that is none of the known ones.
    #[error("unknown key `{0}`: use ip, identity, api_key, endpoint or header:<name>")]
    UnknownKey(String),
    /// An empty key would count every caller together.
    #[error("`key` needs at least one part")]
    EmptyKey,
    /// The policy's own rate does not read.
    #[error(transparent)]
    Rate(#[from] RateError),
    /// A tier's rate does not read.
    #[error("tier `{tier}`: {source}")]
    Tier { tier: String, source: RateError },
    /// A shared store was asked for, and bff.yaml has none.
    #[error("`store: redis` needs `redis: {{ url }}` in bff.yaml")]
    NoRedis,
}

/// Why `limits.per_ip` cannot be applied.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PerIpError {
    /// The rate does not read.
    #[error(transparent)]
    Rate(#[from] RateError),
    /// A bucket of nothing would refuse every request.
    #[error("`burst` must be at least 1")]
    NoBurst,
    /// The limiter counts whole nanoseconds between requests.
    #[error("rate `{0}` is more than one request per nanosecond")]
    TooFast(String),
    /// The limiter refused the rate and burst.
    #[error("limits.per_ip: rate and burst must be above zero")]
    Refused,
}
