//! API keys for partners. A key reads `bff_<id>_<secret><check>`: the id
//! finds the key's record, the secret is 32 random base62 characters, and
//! the 6-character CRC32 checksum lets secret scanners (and the gateway)
//! tell a real key from a look-alike without a lookup. Only a SHA-256 of
//! each key is stored, in a YAML file beside the specs, and it is compared
//! in constant time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use http::{HeaderMap, HeaderName};
use jaq_json::Val;
use serde::{Deserialize, Serialize};

use super::Rejection;
use crate::config::ApiKeyConfig;
use crate::value;

/// Prefix of every key, for secret scanners.
pub(crate) const PREFIX: &str = "bff_";
const ID_LEN: usize = 8;
const SECRET_LEN: usize = 32;
const CHECK_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why an API-key policy or its key file is not usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiKeyError {
    /// The policy's `header` is no header name.
    #[error("`{0}` is not a header name")]
    Header(String),
    /// A stored hash lacks its algorithm.
    #[error("{}: key `{id}`: hash must start with `sha256:`", path.display())]
    HashPrefix { path: PathBuf, id: String },
    /// A stored hash is not a SHA-256 in hex.
    #[error("{}: key `{id}`: hash is not 64 hex digits", path.display())]
    HashDigits { path: PathBuf, id: String },
    /// The key file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The key file is not a list of key records.
    #[error("{}: {source}", path.display())]
    Parse {
        path: PathBuf,
        // Boxed: the parser's error is many times the size of the others.
        source: Box<serde_saphyr::Error>,
    },
    /// The records do not serialize.
    #[error(transparent)]
    Serialize(#[from] serde_saphyr::SerializeError),
    /// The key file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No record has the id.
    #[error("no key `{id}` in {}", path.display())]
    UnknownId { path: PathBuf, id: String },
}

/// One stored key: never the key itself, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// The public id part of the key.
    pub id: String,
    /// `sha256:` and the hex SHA-256 of the whole key.
    pub hash: String,
    /// Who the key belongs to; becomes `auth.sub`.
    pub owner: String,
    /// Rate-limit tier; becomes `auth.tier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Scopes; become `auth.scope` (space-separated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// A revoked key is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// A compiled API-key policy.
#[derive(Debug)]
pub(crate) struct ApiKeyPolicy {
    header: HeaderName,
    keys: HashMap<String, (Vec<u8>, KeyRecord)>,
}

impl ApiKeyPolicy {
    /// Reads the key file (relative to the spec folder).
    pub(crate) fn compile(config: &ApiKeyConfig, dir: &Path) -> Result<Self, ApiKeyError> {
        let header = HeaderName::try_from(config.header.as_str())
            .map_err(|_| ApiKeyError::Header(config.header.clone()))?;
        let path = dir.join(&config.keys);
        let records = read_records(&path)?;
        let mut keys = HashMap::new();
        for r in records {
            let hex = r
                .hash
                .strip_prefix("sha256:")
                .ok_or_else(|| ApiKeyError::HashPrefix {
                    path: path.clone(),
                    id: r.id.clone(),
                })?;
            let hash = decode_hex(hex).filter(|h| h.len() == 32).ok_or_else(|| {
                ApiKeyError::HashDigits {
                    path: path.clone(),
                    id: r.id.clone(),
                }
            })?;
            keys.insert(r.id.clone(), (hash, r));
        }
        Ok(Self { header, keys })
    }

    /// The header the key is read from.
    pub(crate) fn header(&self) -> &str {
        self.header.as_str()
    }

    /// The key's identity: `{sub, key_id, tier, scope}`.
    pub(crate) fn verify(&self, headers: &HeaderMap) -> Result<Val, Rejection> {
        let presented = headers
            .get(&self.header)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(Rejection::Missing)?;
        let invalid = || Rejection::Invalid("unknown or revoked API key".into());
        let id = parse(presented).ok_or_else(|| Rejection::Invalid("malformed API key".into()))?;
        let (hash, record) = self.keys.get(id).ok_or_else(invalid)?;
        let actual = digest(&SHA256, presented.as_bytes());
        if verify_slices_are_equal(actual.as_ref(), hash).is_err() || record.revoked {
            return Err(invalid());
        }
        let mut pairs = vec![
            ("sub", value::string(&record.owner)),
            ("key_id", value::string(&record.id)),
            ("scope", value::string(&record.scopes.join(" "))),
        ];
        if let Some(t) = &record.tier {
            pairs.push(("tier", value::string(t)));
        }
        Ok(value::object(pairs))
    }
}

/// The id of a well-formed key whose checksum matches.
pub fn parse(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, tail) = rest.split_once('_')?;
    if id.len() != ID_LEN || tail.len() != SECRET_LEN + CHECK_LEN {
        return None;
    }
    let (body, check) = key.split_at(key.len() - CHECK_LEN);
    (check == checksum(body)).then_some(id)
}

/// A new key and the record to store for it.
pub fn generate(owner: &str, tier: Option<String>, scopes: Vec<String>) -> (String, KeyRecord) {
    let rng = SystemRandom::new();
    let id = random_base62(&rng, ID_LEN);
    let secret = random_base62(&rng, SECRET_LEN);
    let body = format!("{PREFIX}{id}_{secret}");
    let key = format!("{body}{}", checksum(&body));
    let record = KeyRecord {
        id,
        hash: format!("sha256:{}", hex(digest(&SHA256, key.as_bytes()).as_ref())),
        owner: owner.to_owned(),
        tier,
        scopes,
        revoked: false,
    };
    (key, record)
}

/// Reads a key file; a missing file is an empty one.
pub(crate) fn read_records(path: &Path) -> Result<Vec<KeyRecord>, ApiKeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(Vec::new()),
        Ok(text) => serde_saphyr::from_str(&text).map_err(|source| ApiKeyError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ApiKeyError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a key file.
pub(crate) fn write_records(path: &Path, records: &[KeyRecord]) -> Result<(), ApiKeyError> {
    let text = serde_saphyr::to_string(&records)?;
    let header = "# API keys: only hashes are stored. Create keys with `<bff> apikey create`.\n";
    let newline = if text.ends_with('\n') { "" } else { "\n" };
    std::fs::write(path, format!("{header}{text}{newline}")).map_err(|source| ApiKeyError::Write {
        path: path.to_owned(),
        source,
    })
}

fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = vec![b'0'; CHECK_LEN];
    for c in out.iter_mut().rev() {
        *c = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn random_base62(rng: &SystemRandom, len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut buf = [0u8; 32];
        if rng.fill(&mut buf).is_err() {
            continue;
        }
        // 248 = 4 × 62: rejecting larger bytes keeps the characters uniform.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| BASE62[(*b % 62) as usize] as char),
        );
    }
    out.truncate(len);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_typos_do_not() {
        let (key, record) = generate("acme", Some("gold".into()), vec!["catalog:read".into()]);
        assert!(key.starts_with("bff_"));
        assert_eq!(parse(&key), Some(record.id.as_str()));
        let mut typo = key.clone().into_bytes();
        typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
        assert_eq!(parse(std::str::from_utf8(&typo).unwrap()), None);
        assert_eq!(parse("bff_short_x"), None);
        assert!(record.hash.starts_with("sha256:") && record.hash.len() == 7 + 64);
        assert!(!record.hash.contains(&key));
    }
}
