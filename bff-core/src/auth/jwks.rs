//! A JSON Web Key Set fetched from a URL and kept fresh in the background.
//! A failed refresh keeps the last good keys; a token with a key id no key
//! has triggers one refetch, shared by all requests waiting for it and at
//! most one per [`REFETCH_INTERVAL`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::jwt::{Key, validation};
use crate::config::JwtConfig;

/// Least time between two refetches caused by unknown key ids.
pub(super) const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Time one fetch of the key set may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key set and where it comes from.
pub(crate) struct Jwks {
    url: String,
    config: JwtConfig,
    keys: ArcSwap<Vec<Arc<Key>>>,
    loaded: AtomicBool,
    /// When an unknown key id last caused a fetch; scheduled refreshes
    /// do not count.
    last_refetch: Mutex<Option<Instant>>,
    client: reqwest::Client,
    /// The digest of the set last fetched, and how often it changed: a
    /// token verified under another version is verified again.
    fingerprint: std::sync::Mutex<[u8; 32]>,
    version: AtomicU64,
}

impl Jwks {
    pub(super) fn new(url: String, config: JwtConfig) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            url,
            config,
            keys: ArcSwap::from_pointee(Vec::new()),
            loaded: AtomicBool::new(false),
            last_refetch: Mutex::new(None),
            client,
            fingerprint: std::sync::Mutex::new([0; 32]),
            version: AtomicU64::new(0),
        }
    }

    /// How often the fetched keys changed.
    pub(super) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Where the keys come from.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Whether a fetch has ever succeeded.
    pub(crate) fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub(super) fn keys(&self) -> Arc<Vec<Arc<Key>>> {
        self.keys.load_full()
    }

    /// Fetches now; keeps the current keys on failure.
    pub(crate) async fn refresh(&self) -> Result<usize, reqwest::Error> {
        self.fetch().await
    }

    async fn fetch(&self) -> Result<usize, reqwest::Error> {
        let set: JwkSet = async {
            self.client
                .get(&self.url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e| {
            tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; keeping the last good keys");
            e
        })?;
        let keys: Vec<Arc<Key>> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let alg = jwk_algorithm(jwk)?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some(Arc::new(Key {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                    validation: validation(alg, &self.config),
                }))
            })
            .collect();
        let n = keys.len();
        // Tokens verified with the old keys are verified again (a key may
        // have been withdrawn); an unchanged set keeps them.
        let fingerprint: [u8; 32] = serde_json::to_vec(&set)
            .ok()
            .and_then(|b| {
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &b)
                    .as_ref()
                    .try_into()
                    .ok()
            })
            .unwrap_or_default();
        let mut last = self
            .fingerprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *last != fingerprint {
            *last = fingerprint;
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        drop(last);
        self.keys.store(Arc::new(keys));
        self.loaded.store(true, Ordering::Release);
        tracing::info!(url = %self.url, keys = n, "JWKS loaded");
        Ok(n)
    }

    /// Refetches because a token names an unknown key id; returns whether
    /// the keys may have changed. Concurrent callers share one fetch, and
    /// fetches are at least [`REFETCH_INTERVAL`] apart.
    pub(super) async fn refetch_for_unknown(&self, kid: &str) -> bool {
        let mut last = self.last_refetch.lock().await;
        if self.keys().iter().any(|k| k.kid.as_deref() == Some(kid)) {
            // Another request's refetch brought it while this one waited.
            return true;
        }
        if last.is_some_and(|t| t.elapsed() < REFETCH_INTERVAL) {
            return false;
        }
        *last = Some(Instant::now());
        // The lock is held across the fetch so that requests arriving
        // meanwhile wait for its keys instead of failing or fetching again.
        self.fetch().await.is_ok()
    }

    /// Keeps the keys fresh until the process ends: retries every few
    /// seconds until the first load, then every `refresh`.
    pub(crate) async fn keep_fresh(self: Arc<Self>) {
        loop {
            let ok = self.refresh().await.is_ok();
            let wait = if ok || self.is_loaded() {
                self.config.jwks_refresh
            } else {
                Duration::from_secs(2)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// The algorithm a JWK is for: its `alg`, or what its key type implies.
fn jwk_algorithm(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return Algorithm::try_from(alg).ok();
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(Algorithm::ES256),
            EllipticCurve::P384 => Some(Algorithm::ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
        _ => None,
    }
}
