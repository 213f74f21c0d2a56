//! JWT bearer tokens. The algorithm is pinned by the key: a token is only
//! checked with keys whose algorithm equals its header's, so `alg: none`
//! and RS→HS key confusion never verify.

use std::path::Path;

use jaq_json::Val;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

use super::Rejection;
use crate::config::{JwtConfig, JwtKeyConfig, expand_env};
use crate::value;

/// A compiled JWT policy.
pub struct JwtPolicy {
    keys: Vec<Key>,
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("{:?}/{}", k.alg, k.kid.as_deref().unwrap_or("-")))
            .collect();
        f.debug_struct("JwtPolicy").field("keys", &keys).finish()
    }
}

impl JwtPolicy {
    /// Reads the keys and fixes the checks, once.
    pub fn compile(config: &JwtConfig, dir: &Path) -> Result<Self, String> {
        if config.keys.is_empty() {
            return Err("a jwt policy needs at least one key".into());
        }
        let keys = config
            .keys
            .iter()
            .map(|k| compile_key(k, config, dir))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The token's claims, once its signature and claims check out.
    pub fn verify(&self, token: &str) -> Result<Val, Rejection> {
        let header =
            decode_header(token).map_err(|_| Rejection::Invalid("malformed token".into()))?;
        let mut candidates = self.keys.iter().filter(|k| {
            k.alg == header.alg
                && match (&header.kid, &k.kid) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        });
        let mut last = Rejection::Invalid("no key matches the token's algorithm and key id".into());
        for key in &mut candidates {
            match decode::<serde_json::Value>(token, &key.key, &key.validation) {
                Ok(data) => return Ok(value::from_json(&data.claims)),
                Err(e) => last = Rejection::Invalid(reason(e.kind()).into()),
            }
        }
        Err(last)
    }
}

fn compile_key(k: &JwtKeyConfig, config: &JwtConfig, dir: &Path) -> Result<Key, String> {
    let alg: Algorithm = k
        .alg
        .parse()
        .map_err(|_| format!("unknown algorithm `{}`", k.alg))?;
    let key = match (&k.pem, &k.secret) {
        (Some(pem), None) => {
            let path = dir.join(pem);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("cannot read key {}: {e}", path.display()))?;
            let key = match alg {
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512 => DecodingKey::from_rsa_pem(&bytes),
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&bytes),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(&bytes),
                _ => return Err(format!("{} takes a `secret`, not a `pem` key", k.alg)),
            };
            key.map_err(|e| format!("key {}: {e}", path.display()))?
        }
        (None, Some(secret)) => match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                DecodingKey::from_secret(expand_env(secret)?.as_bytes())
            }
            _ => return Err(format!("{} takes a `pem` key, not a `secret`", k.alg)),
        },
        _ => return Err("a key needs exactly one of `pem` or `secret`".into()),
    };
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
    Ok(Key {
        kid: k.kid.clone(),
        alg,
        key,
        validation,
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
