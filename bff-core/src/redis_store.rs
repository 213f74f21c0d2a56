//! The Redis connection shared by what moves to Redis with several
//! replicas: rate limits and quotas (one Lua script per decision) and the
//! composed-answer cache. One lazily made, self-reconnecting connection
//! per BFF, every command bounded by `redis.timeout`.

use std::sync::OnceLock;
use std::time::Duration;

/// Redis did not answer, or not in time.
#[derive(Debug)]
pub(crate) struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// `redis.url` is not a URL the Redis client accepts.
#[derive(Debug, thiserror::Error)]
#[error("redis url `{url}`: {source}")]
pub(crate) struct UrlError {
    url: String,
    source: redis::RedisError,
}

/// Why `redis:` of bff.yaml gives no store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// A `${VAR}` of the URL did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// The URL is not one the Redis client accepts.
    #[error(transparent)]
    Url(#[from] UrlError),
}

/// A Redis server, shared by every replica.
pub(crate) struct Redis {
    client: redis::Client,
    timeout: Duration,
    conn: OnceLock<redis::aio::ConnectionManager>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A store for `url` (not connected until first used).
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, UrlError> {
        let client = redis::Client::open(url).map_err(|source| UrlError {
            url: url.to_owned(),
            source,
        })?;
        Ok(Self {
            client,
            timeout,
            conn: OnceLock::new(),
        })
    }

    /// The store `redis:` of bff.yaml names.
    pub(crate) fn from_config(config: &crate::config::RedisConfig) -> Result<Self, SetupError> {
        let url = crate::config::expand_env(&config.url)?;
        Ok(Self::new(&url, config.timeout)?)
    }

    /// Longest wait for one answer.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The connection, made on first use (inside the runtime); it
    /// reconnects by itself.
    pub(crate) fn connection(&self) -> Result<redis::aio::ConnectionManager, StoreError> {
        if let Some(c) = self.conn.get() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let c = redis::aio::ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(self.conn.get_or_init(|| c).clone())
    }
}
