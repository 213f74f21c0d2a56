//! JWTs verified before: a token seen again is not checked again with its
//! key (a signature check costs tens of microseconds), only against the
//! clock. Entries are keyed by the token's SHA-256, hold its claims and its
//! `exp`/`nbf`, which are checked on every use with the policy's leeway,
//! as the signature check would. A token of an issuer whose fetched key
//! set changed since is verified again, so a withdrawn key stops working
//! at the next refresh. Bounded in count; a reload starts empty.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{SHA256, digest};
use jaq_json::Val;

/// Most tokens kept.
const CAPACITY: u64 = 10_000;

/// A verified token's claims, and what its use depends on.
#[derive(Clone)]
struct Seen {
    claims: Val,
    /// `exp`, in seconds since the epoch (JWTs without it are refused).
    exp: u64,
    /// `nbf`, if the token has one.
    nbf: Option<u64>,
    /// Which issuer of the policy verified it, and the version of its key
    /// set then (0 for keys of bff.yaml, which never change).
    issuer: usize,
    keys: u64,
    /// The issuer's allowed clock skew, in seconds.
    leeway: u64,
}

/// A token's key in the cache.
pub(super) type Digest = [u8; 32];

/// The verified tokens of one policy.
pub(super) struct Verified {
    seen: moka::sync::Cache<Digest, Seen>,
}

impl Verified {
    /// An empty cache.
    pub(super) fn new() -> Self {
        Self {
            seen: moka::sync::Cache::builder().max_capacity(CAPACITY).build(),
        }
    }

    /// The token's key.
    pub(super) fn digest(token: &str) -> Digest {
        digest(&SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .unwrap_or([0; 32])
    }

    /// The claims of a token verified before, while it is still within its
    /// times and its issuer's keys are the same; `keys` gives the version
    /// of an issuer's key set.
    pub(super) fn get(&self, token: &Digest, keys: impl Fn(usize) -> u64) -> Option<Val> {
        let seen = self.seen.get(token)?;
        let now = now();
        let timely = seen.exp.saturating_add(seen.leeway) >= now
            && seen
                .nbf
                .is_none_or(|nbf| nbf <= now.saturating_add(seen.leeway));
        if timely && keys(seen.issuer) == seen.keys {
            return Some(seen.claims);
        }
        self.seen.invalidate(token);
        None
    }

    /// Keeps a token just verified by `issuer` (whose clock skew is
    /// `leeway` seconds) under key set version `keys`.
    pub(super) fn put(&self, token: Digest, claims: &Val, issuer: usize, keys: u64, leeway: u64) {
        let number = |name: &str| match super::claim(claims, [name]) {
            Some(Val::Num(n)) => n.as_isize().and_then(|n| u64::try_from(n).ok()),
            _ => None,
        };
        let Some(exp) = number("exp") else {
            return;
        };
        let seen = Seen {
            claims: claims.clone(),
            exp,
            nbf: number("nbf"),
            issuer,
            keys,
            leeway,
        };
        self.seen.insert(token, seen);
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
