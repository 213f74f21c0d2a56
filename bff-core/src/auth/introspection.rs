//! OAuth 2.0 token introspection (RFC 7662): opaque tokens are checked by
//! asking the authorization server, and its answer is cached no longer than
//! the token lives (nor than the configured cache time).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use jaq_json::Val;
use tokio::time::Instant;

use super::Rejection;
use crate::config::{IntrospectionConfig, expand_env};
use crate::value;

/// Why an introspection policy of bff.yaml does not compile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IntrospectionError {
    /// A `${VAR}` did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// The authorization server's URL does not parse.
    #[error("introspection url `{url}`: {source}")]
    Url {
        url: String,
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
    /// The HTTP client to ask it with cannot be built.
    #[error(transparent)]
    Client(reqwest::Error),
}

/// Most cached answers; past it, expired ones are dropped, then all.
const CACHE_CAPACITY: usize = 10_000;

/// A compiled introspection policy.
pub(super) struct IntrospectionPolicy {
    url: String,
    client_id: String,
    client_secret: String,
    cache_for: Duration,
    timeout: Duration,
}

/// An introspection policy running: its client, and the answers it keeps.
pub(super) struct Introspected {
    client: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], (Val, Instant)>>,
}

impl std::fmt::Debug for IntrospectionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionPolicy")
            .field("url", &self.url)
            .finish()
    }
}

impl IntrospectionPolicy {
    /// Reads the settings; secrets may come from the environment.
    pub(super) fn compile(config: &IntrospectionConfig) -> Result<Self, IntrospectionError> {
        let env = |text: &str| expand_env(text).map_err(IntrospectionError::Env);
        let url = env(&config.url)?;
        if let Err(source) = reqwest::Url::parse(&url) {
            return Err(IntrospectionError::Url { url, source });
        }
        client(config.timeout).map_err(IntrospectionError::Client)?;
        Ok(Self {
            url,
            client_id: env(&config.client_id)?,
            client_secret: env(&config.client_secret)?,
            cache_for: config.cache,
            timeout: config.timeout,
        })
    }

    /// Starts the policy: a client, an empty cache.
    pub(super) fn start(&self) -> Introspected {
        Introspected {
            client: client(self.timeout)
                .expect("the same client was built when the policy compiled"),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The token's claims as the authorization server reports them.
    pub(super) async fn verify(&self, state: &Introspected, token: &str) -> Result<Val, Rejection> {
        let key: [u8; 32] = digest(&SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or([0; 32]);
        if let Some(claims) = state.cached(&key) {
            return Ok(claims);
        }
        let answer: serde_json::Value = async {
            state
                .client
                .post(&self.url)
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(&[("token", token), ("token_type_hint", "access_token")])
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e| {
            tracing::warn!(url = %self.url, error = %e, "token introspection failed");
            Rejection::Unavailable
        })?;
        if answer.get("active") != Some(&serde_json::Value::Bool(true)) {
            return Err(Rejection::Invalid("token is not active".into()));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let lives = match answer.get("exp").and_then(serde_json::Value::as_u64) {
            Some(exp) if exp <= now => return Err(Rejection::Invalid("token expired".into())),
            Some(exp) => Duration::from_secs(exp - now).min(self.cache_for),
            None => self.cache_for,
        };
        let claims = value::from_json(&answer);
        state.store(key, claims.clone(), Instant::now() + lives);
        Ok(claims)
    }
}

/// The client the authorization server is asked with.
fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
}

impl Introspected {
    fn cached(&self, key: &[u8; 32]) -> Option<Val> {
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(claims, _)| claims.clone())
    }

    fn store(&self, key: [u8; 32], claims: Val, until: Instant) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_CAPACITY {
            let now = Instant::now();
            cache.retain(|_, (_, u)| *u > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(key, (claims, until));
    }
}
