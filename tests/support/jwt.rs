//! Tokens for the tests, signed by jsonwebtoken (an implementation
//! independent of the BFF's checks) with a shared secret or one of the
//! fixture keys in `tests/fixtures/keys`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// Unix seconds ten minutes from now: an `exp` that has not passed.
pub fn in_ten_minutes() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600
}

/// The claims with an `exp` ten minutes ahead, unless they have one.
fn expiring(mut claims: Value) -> Value {
    if claims.get("exp").is_none() {
        claims["exp"] = json!(in_ten_minutes());
    }
    claims
}

/// An HS256 token for the claims.
pub fn hs256(secret: &str, claims: Value) -> String {
    encode(
        &Header::default(),
        &expiring(claims),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The private key in a fixture file, for the algorithm.
pub fn fixture_key(alg: Algorithm, file: &str) -> EncodingKey {
    let pem = std::fs::read(
        super::workspace_root()
            .join("tests/fixtures/keys")
            .join(file),
    )
    .unwrap();
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem).unwrap(),
        _ => EncodingKey::from_secret(&pem),
    }
}

/// A token signed with a fixture key; `kid` goes in the header when given.
/// The claims are taken as they are (no `exp` added).
pub fn signed(alg: Algorithm, file: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &fixture_key(alg, file)).unwrap()
}

/// An RS256 token signed with `rs256.key.pem`, expiring in ten minutes.
pub fn rs256(claims: Value) -> String {
    signed(Algorithm::RS256, "rs256.key.pem", None, &expiring(claims))
}
