//! Demo sign-in: the session cookie a shop's login would set, signed with
//! the shared secret of a BFF's cookie-reading JWT policy, so the demo can
//! show routes that need a signed-in user without a login service.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bff_core::config::{BffConfig, expand_env};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

/// The user the demo signs in.
pub const DEMO_USER: &str = "u-1001";
/// A delivered order of [`DEMO_USER`]: its live feed plays the whole journey.
pub const DEMO_ORDER: &str = "o-50043";

/// How long a demo session lasts.
const LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// `name=token` for user `sub`, from the first JWT policy of `config` that
/// reads a cookie and has a shared (`HS*`) secret; `None` without one.
pub fn session_cookie(config: &BffConfig, sub: &str) -> Option<String> {
    let (jwt, key) = config
        .auth
        .values()
        .filter_map(|policy| policy.jwt.as_ref())
        .flat_map(|jwt| jwt.as_slice())
        .filter(|jwt| jwt.cookie.is_some())
        .find_map(|jwt| {
            let key = jwt
                .keys
                .iter()
                .find(|k| k.alg.starts_with("HS") && k.secret.is_some())?;
            Some((jwt, key))
        })?;
    let alg: Algorithm = key.alg.parse().ok()?;
    let secret = expand_env(key.secret.as_deref()?).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let mut claims = json!({ "sub": sub, "iat": now, "exp": now + LIFETIME.as_secs() });
    if let Some(iss) = &jwt.issuer {
        claims["iss"] = json!(iss);
    }
    if let Some(aud) = &jwt.audience {
        claims["aud"] = json!(aud);
    }
    let token = encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .ok()?;
    Some(format!("{}={token}", jwt.cookie.as_deref()?))
}
