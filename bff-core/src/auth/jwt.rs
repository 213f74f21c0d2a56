//! JWT bearer tokens. The algorithm is pinned by the key: a token is only
//! checked with keys whose algorithm equals its header's, so `alg: none`
//! and RS→HS key confusion never verify. Keys come from PEM files, shared
//! secrets, or a JWKS URL refreshed in the background.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jaq_json::Val;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use super::Rejection;
use super::jwks::Jwks;
use crate::config::{JwtConfig, JwtKeyConfig, expand_env};
use crate::value;

/// Why a jwt policy of bff.yaml does not compile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JwtError {
    /// Neither keys nor a key set to fetch them from.
    #[error("a jwt policy needs `keys` or a `jwks_url`")]
    NoKeys,
    /// A `${VAR}` did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// The key set's URL does not parse.
    #[error("jwks_url `{url}`: {source}")]
    JwksUrl {
        url: String,
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
    /// The key's `alg` is no algorithm jsonwebtoken knows.
    #[error("unknown algorithm `{0}`")]
    UnknownAlgorithm(String),
    /// The key's PEM file cannot be read.
    #[error("cannot read key {}: {source}", path.display())]
    ReadKey {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The key's PEM file holds no key of its algorithm's kind.
    #[error("key {}: {source}", path.display())]
    BadKey {
        path: PathBuf,
        source: jsonwebtoken::errors::Error,
    },
    /// An HMAC algorithm was given a PEM file.
    #[error("{0} takes a `secret`, not a `pem` key")]
    NeedsSecret(String),
    /// A public-key algorithm was given a shared secret.
    #[error("{0} takes a `pem` key, not a `secret`")]
    NeedsPem(String),
    /// Both or neither of `pem` and `secret`.
    #[error("a key needs exactly one of `pem` or `secret`")]
    KeyKinds,
}

/// A compiled JWT policy for one issuer.
pub(crate) struct JwtPolicy {
    issuer: Option<String>,
    keys: Vec<Arc<Key>>,
    /// The key set's URL and the checks its keys get, when keys are fetched.
    jwks: Option<(String, JwtConfig)>,
    /// Clock skew allowed for `exp` and `nbf`, in seconds.
    pub(super) leeway: u64,
}

/// The policy of the token's issuer. With one issuer it is used whatever
/// the token says (its checks then refuse a wrong `iss`); with several, the
/// unverified `iss` only chooses whose keys and checks apply.
pub(super) fn for_issuer<'a>(
    policies: &'a [JwtPolicy],
    token: &str,
) -> Result<(usize, &'a JwtPolicy), Rejection> {
    if let [only] = policies {
        return Ok((0, only));
    }
    let iss = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token)
        .ok()
        .and_then(|d| {
            d.claims
                .get("iss")
                .and_then(|i| i.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| Rejection::Invalid("malformed token".into()))?;
    policies
        .iter()
        .enumerate()
        .find(|(_, p)| p.issuer.as_deref() == Some(iss.as_str()))
        .ok_or_else(|| Rejection::Invalid("wrong issuer".into()))
}

/// A verification key with the checks that go with it.
pub(super) struct Key {
    pub(super) kid: Option<String>,
    pub(super) alg: Algorithm,
    pub(super) key: DecodingKey,
    pub(super) validation: Validation,
}

impl std::fmt::Debug for JwtPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{:?}/{}", k.alg, k.kid.as_deref().unwrap_or("-")))
            .collect();
        f.debug_struct("JwtPolicy")
            .field("keys", &keys)
            .field("jwks", &self.jwks.as_ref().map(|(url, _)| url))
            .finish()
    }
}

impl JwtPolicy {
    /// Reads the keys and fixes the checks, once. A JWKS is not fetched
    /// here; [`JwtPolicy::start_jwks`] makes the key set the gateway keeps
    /// fresh.
    pub(crate) fn compile(config: &JwtConfig, dir: &Path) -> Result<Self, JwtError> {
        if config.keys.is_empty() && config.jwks_url.is_none() {
            return Err(JwtError::NoKeys);
        }
        let keys = config
            .keys
            .iter()
            .map(|k| compile_key(k, config, dir).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let jwks = match &config.jwks_url {
            Some(url) => {
                let url = expand_env(url).map_err(JwtError::Env)?;
                if let Err(source) = reqwest::Url::parse(&url) {
                    return Err(JwtError::JwksUrl { url, source });
                }
                Some((url, config.clone()))
            }
            None => None,
        };
        Ok(Self {
            issuer: config.issuer.clone(),
            keys,
            jwks,
            leeway: config.leeway.as_secs(),
        })
    }

    /// A new, empty key set for this policy, if it fetches one.
    pub(crate) fn start_jwks(&self) -> Option<Arc<Jwks>> {
        let (url, config) = self.jwks.as_ref()?;
        Some(Arc::new(Jwks::new(url.clone(), config.clone())))
    }

    /// The token's claims, once its signature and claims check out; `jwks`
    /// is the policy's key set, running. A key id no key has yet makes the
    /// JWKS refetch once (shared, rate-limited).
    pub(crate) async fn verify(&self, jwks: Option<&Jwks>, token: &str) -> Result<Val, Rejection> {
        let header =
            decode_header(token).map_err(|_| Rejection::Invalid("malformed token".into()))?;
        if let Some(result) = self.try_keys(jwks, &header, token) {
            return result;
        }
        if let Some(jwks) = jwks {
            if !jwks.is_loaded() {
                return Err(Rejection::Unavailable);
            }
            if let Some(kid) = &header.kid
                && jwks.refetch_for_unknown(kid).await
                && let Some(result) = self.try_keys(Some(jwks), &header, token)
            {
                return result;
            }
        }
        Err(Rejection::Invalid(
            "no key matches the token's algorithm and key id".into(),
        ))
    }

    /// `None` when no key could even be tried.
    fn try_keys(
        &self,
        jwks: Option<&Jwks>,
        header: &jsonwebtoken::Header,
        token: &str,
    ) -> Option<Result<Val, Rejection>> {
        let fetched = jwks.map(Jwks::keys);
        let all = self
            .keys
            .iter()
            .chain(fetched.iter().flat_map(|k| k.iter()));
        let mut last = None;
        for key in all.filter(|k| matches(k, header)) {
            match decode::<serde_json::Value>(token, &key.key, &key.validation) {
                Ok(data) => return Some(Ok(value::from_json(&data.claims))),
                Err(e) => last = Some(Err(Rejection::Invalid(reason(e.kind()).into()))),
            }
        }
        last
    }
}

fn matches(k: &Key, header: &jsonwebtoken::Header) -> bool {
    k.alg == header.alg
        && match (&header.kid, &k.kid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// The checks every key of a policy applies, for one algorithm.
pub(super) fn validation(alg: Algorithm, config: &JwtConfig) -> Validation {
    let mut validation = Validation::new(alg);
    validation.leeway = config.leeway.as_secs();
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    match &config.issuer {
        Some(iss) => validation.set_issuer(&[iss]),
        None => validation.iss = None,
    }
    match &config.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    validation
}

fn compile_key(k: &JwtKeyConfig, config: &JwtConfig, dir: &Path) -> Result<Key, JwtError> {
    let alg: Algorithm = k
        .alg
        .parse()
        .map_err(|_| JwtError::UnknownAlgorithm(k.alg.clone()))?;
    let key = match (&k.pem, &k.secret) {
        (Some(pem), None) => {
            let path = dir.join(pem);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(source) => return Err(JwtError::ReadKey { path, source }),
            };
            let key = match alg {
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512 => DecodingKey::from_rsa_pem(&bytes),
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&bytes),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(&bytes),
                _ => return Err(JwtError::NeedsSecret(k.alg.clone())),
            };
            key.map_err(|source| JwtError::BadKey { path, source })?
        }
        (None, Some(secret)) => match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let secret = expand_env(secret).map_err(JwtError::Env)?;
                DecodingKey::from_secret(secret.as_bytes())
            }
            _ => return Err(JwtError::NeedsPem(k.alg.clone())),
        },
        _ => return Err(JwtError::KeyKinds),
    };
    Ok(Key {
        kid: k.kid.clone(),
        alg,
        key,
        validation: validation(alg, config),
    })
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "token expired",
        ErrorKind::ImmatureSignature => "token not valid yet",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        _ => "malformed token",
    }
}
