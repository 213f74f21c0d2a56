//! Reading what answers and requests say about caching: `Cache-Control`
//! (RFC 9111 §5.2) with quoted strings respected, `Surrogate-Control`
//! directives aimed at this cache, `Age`, `Expires`, `Date`, `Pragma` and
//! `Vary`. Invalid values err towards not reusing: a `max-age` that is not
//! a number makes the answer stale, an `Age` that is not one number makes
//! it stale, an `Expires` that is not a date is in the past.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The largest delta-seconds value kept; larger ones are read as this
/// (RFC 9111 §1.2.2).
const MAX_DELTA: u64 = 2_147_483_648;

/// The token this cache answers to in `Surrogate-Control` targets, and
/// announces in `Surrogate-Capability`.
pub(crate) const SURROGATE_TOKEN: &str = "bff";

/// The `Surrogate-Capability` value sent to cached services.
pub(crate) const SURROGATE_CAPABILITY: &str = "bff=\"Surrogate/1.0\"";

/// One directive: its lowercased name and its value, unquoted.
#[derive(Debug, PartialEq)]
struct Directive {
    name: String,
    value: Option<String>,
}

/// The directives of every line of a list header, in order.
fn directives(headers: &HeaderMap, name: &HeaderName) -> Vec<Directive> {
    let mut out = Vec::new();
    for line in headers.get_all(name) {
        parse_list(line.as_bytes(), &mut out);
    }
    out
}

/// Splits `a, b=1, c="x, y"` into directives; commas inside quoted strings
/// do not split.
fn parse_list(line: &[u8], out: &mut Vec<Directive>) {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && (line[i] == b',' || line[i].is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < line.len() && !matches!(line[i], b',' | b'=') {
            i += 1;
        }
        let name = String::from_utf8_lossy(&line[start..i]).to_ascii_lowercase();
        let mut value = None;
        if i < line.len() && line[i] == b'=' {
            i += 1;
            if i < line.len() && line[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' && i + 1 < line.len() {
                        i += 1;
                    }
                    v.push(line[i]);
                    i += 1;
                }
                i += 1;
                // Anything between the closing quote and the next comma is junk.
                while i < line.len() && line[i] != b',' {
                    i += 1;
                }
                value = Some(String::from_utf8_lossy(&v).into_owned());
            } else {
                let vs = i;
                while i < line.len() && line[i] != b',' {
                    i += 1;
                }
                value = Some(String::from_utf8_lossy(&line[vs..i]).trim().to_owned());
            }
        }
        let name = name.trim().to_owned();
        if !name.is_empty() {
            out.push(Directive { name, value });
        }
    }
}

/// delta-seconds: one or more digits, nothing else; too large reads as
/// [`MAX_DELTA`]. `None` for anything else (negative, decimal, quoted with
/// other characters).
fn delta(v: &str) -> Option<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().map_or(MAX_DELTA, |n| n.min(MAX_DELTA)))
}

/// A delta-seconds directive's value: `Some(0)` when present but invalid,
/// so a malformed lifetime never makes an answer fresh.
fn seconds(d: &Directive) -> u64 {
    d.value.as_deref().and_then(delta).unwrap_or(0)
}

/// What an answer's `Cache-Control` says to a shared cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ResponseDirectives {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without field names: both mean revalidate).
    pub no_cache: bool,
    /// `private` (a shared cache keeps nothing).
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub must_revalidate: bool,
    /// `must-understand`: kept only with a status this cache knows.
    pub must_understand: bool,
    /// `max-age`.
    pub max_age: Option<u64>,
    /// `s-maxage` (also forbids serving stale, RFC 9111 §5.2.2.10).
    pub s_maxage: Option<u64>,
    /// `stale-while-revalidate` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861).
    pub stale_if_error: Option<u64>,
}

impl ResponseDirectives {
    /// The `Cache-Control` of an answer; the first of repeated directives counts.
    pub(crate) fn read(headers: &HeaderMap) -> Self {
        let mut r = Self::default();
        for d in directives(headers, &header::CACHE_CONTROL) {
            match d.name.as_str() {
                "no-store" => r.no_store = true,
                "no-cache" => r.no_cache = true,
                "private" => r.private = true,
                "public" => r.public = true,
                "must-revalidate" | "proxy-revalidate" => r.must_revalidate = true,
                "must-understand" => r.must_understand = true,
                "max-age" if r.max_age.is_none() => r.max_age = Some(seconds(&d)),
                "s-maxage" if r.s_maxage.is_none() => r.s_maxage = Some(seconds(&d)),
                "stale-while-revalidate" if r.stale_while_revalidate.is_none() => {
                    r.stale_while_revalidate = d.value.as_deref().and_then(delta);
                }
                "stale-if-error" if r.stale_if_error.is_none() => {
                    r.stale_if_error = d.value.as_deref().and_then(delta);
                }
                _ => {}
            }
        }
        r
    }

    /// Whether the answer may be reused for requests carrying credentials
    /// other than the one it was made for (RFC 9111 §3.5).
    pub(crate) fn shareable(&self) -> bool {
        self.public || self.s_maxage.is_some() || self.must_revalidate
    }
}

/// `Surrogate-Control` directives for this cache: those without a target
/// or with target [`SURROGATE_TOKEN`]. They replace `Cache-Control` for
/// this cache's own keeping (and are not passed on).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct SurrogateDirectives {
    /// `no-store`.
    pub no_store: bool,
    /// `max-age`.
    pub max_age: Option<u64>,
}

impl SurrogateDirectives {
    /// `None` when the answer has no directive aimed at this cache.
    pub(crate) fn read(headers: &HeaderMap) -> Option<Self> {
        let name = HeaderName::from_static("surrogate-control");
        let mut r = Self::default();
        let mut any = false;
        for d in directives(headers, &name) {
            // `max-age=60;bff`: the target follows the directive.
            let (name, value) = match d.value.as_deref() {
                Some(v) => match v.split_once(';') {
                    Some((v, target)) => (d.name.clone(), Some((v.trim(), Some(target.trim())))),
                    None => (d.name.clone(), Some((v, None))),
                },
                None => match d.name.split_once(';') {
                    Some((n, target)) => (n.trim().to_owned(), Some(("", Some(target.trim())))),
                    None => (d.name.clone(), None),
                },
            };
            let (value, target) = value.map_or(("", None), |(v, t)| (v, t));
            if target.is_some_and(|t| !t.eq_ignore_ascii_case(SURROGATE_TOKEN)) {
                continue;
            }
            match name.as_str() {
                "no-store" => {
                    r.no_store = true;
                    any = true;
                }
                "max-age" if r.max_age.is_none() => {
                    r.max_age = Some(delta(value).unwrap_or(0));
                    any = true;
                }
                _ => {}
            }
        }
        any.then_some(r)
    }
}

/// How stale an answer a request's `max-stale` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` without a value: any.
    Any,
    /// `max-stale=N`: up to N seconds past fresh.
    Seconds(u64),
}

/// What a request's `Cache-Control` (or `Pragma: no-cache`) asks of the cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RequestDirectives {
    /// `no-cache`: use nothing stored without revalidating it.
    pub no_cache: bool,
    /// `no-store`: keep nothing of this exchange.
    pub no_store: bool,
    /// `max-age`: nothing older than this.
    pub max_age: Option<u64>,
    /// `max-stale`: stale answers accepted, up to how far past fresh.
    pub max_stale: Option<MaxStale>,
    /// `min-fresh`: only answers fresh for at least this much longer.
    pub min_fresh: Option<u64>,
    /// `only-if-cached`: `504` rather than a request upstream.
    pub only_if_cached: bool,
}

impl RequestDirectives {
    /// The directives of a request.
    pub fn read(headers: &HeaderMap) -> Self {
        let mut r = Self::default();
        if !headers.contains_key(header::CACHE_CONTROL) {
            r.no_cache = directives(headers, &header::PRAGMA)
                .iter()
                .any(|d| d.name == "no-cache");
            return r;
        }
        for d in directives(headers, &header::CACHE_CONTROL) {
            match d.name.as_str() {
                "no-cache" => r.no_cache = true,
                "no-store" => r.no_store = true,
                "only-if-cached" => r.only_if_cached = true,
                "max-age" => r.max_age = Some(seconds(&d)),
                "min-fresh" => r.min_fresh = Some(seconds(&d)),
                "max-stale" => {
                    r.max_stale = Some(match d.value.as_deref().and_then(delta) {
                        Some(s) => MaxStale::Seconds(s),
                        None => MaxStale::Any,
                    });
                }
                _ => {}
            }
        }
        r
    }
}

/// The `Age` of an answer: zero when absent; `None` (stale at once) for
/// anything but one field line holding a non-negative integer. Of a
/// compact list (`0,7200`, no spaces) the first member counts, as RFC 9111
/// §5.1 says; a list with spaces, a second line or a member that is not
/// an integer (`7200.0`, `-1`, `7200;x=1`) means something upstream went
/// wrong, and the answer is not trusted to be fresh.
pub(crate) fn age(headers: &HeaderMap) -> Option<u64> {
    let mut lines = headers.get_all(header::AGE).iter();
    let Some(first) = lines.next() else {
        return Some(0);
    };
    if lines.next().is_some() {
        return None;
    }
    let v = first.to_str().ok()?.trim();
    if v.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    delta(v.split(',').next().unwrap_or(v))
}

/// An HTTP date header.
pub(crate) fn date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    let mut lines = headers.get_all(name).iter();
    let v = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(v.to_str().ok()?.trim()).ok()
}

/// How long an answer stays fresh by `Expires − Date`: zero for an
/// `Expires` that is not a valid date (RFC 9111 §5.3: already expired).
pub(crate) fn expires_lifetime(headers: &HeaderMap, received: SystemTime) -> Option<Duration> {
    headers.get(header::EXPIRES)?;
    let Some(expires) = date(headers, &header::EXPIRES) else {
        return Some(Duration::ZERO);
    };
    let date = date(headers, &header::DATE).unwrap_or(received);
    Some(expires.duration_since(date).unwrap_or_default())
}

/// What an answer's `Vary` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Vary {
    /// These request headers (lowercased, without repeats).
    Headers(Vec<HeaderName>),
    /// `*`: varies on things no header shows; never reused.
    Anything,
}

/// The `Vary` of an answer. Headers that name one request rather than
/// what it asks (request ids, trace context) are left out, or nothing
/// calling with them could ever be reused.
pub(crate) fn vary(headers: &HeaderMap) -> Vary {
    let mut names: Vec<HeaderName> = Vec::new();
    for line in headers.get_all(header::VARY) {
        let Ok(line) = line.to_str() else {
            return Vary::Anything;
        };
        for n in line.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if n == "*" {
                return Vary::Anything;
            }
            let Ok(name) = HeaderName::try_from(n) else {
                return Vary::Anything;
            };
            if !crate::headers::PER_REQUEST.contains(&name.as_str()) && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Vary::Headers(names)
}

/// A request header's value as the cache compares it for `Vary`: every
/// line, list members trimmed and joined by `,`; language and encoding
/// lists also lowercased, as their case never matters. `None` when absent.
pub(crate) fn normalized(headers: &HeaderMap, name: &HeaderName) -> Option<Box<[u8]>> {
    let mut out: Vec<u8> = Vec::new();
    let mut any = false;
    let fold = name == header::ACCEPT_LANGUAGE || name == header::ACCEPT_ENCODING;
    for line in headers.get_all(name) {
        any = true;
        for member in line.as_bytes().split(|b| *b == b',') {
            let member: Vec<u8> = member
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .map(|b| if fold { b.to_ascii_lowercase() } else { b })
                .collect();
            if member.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend(member);
        }
    }
    any.then(|| out.into_boxed_slice())
}

/// The entity tags of an `If-None-Match`; `["*"]` for any.
pub(crate) fn entity_tags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Weak comparison of entity tags (RFC 9110 §8.8.3.2): `W/"x"` matches `"x"`.
pub(crate) fn weak_match(a: &str, b: &HeaderValue) -> bool {
    let Ok(b) = b.to_str() else { return false };
    a.trim().trim_start_matches("W/") == b.trim().trim_start_matches("W/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(HeaderName::try_from(*k).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn quoted_strings_hide_what_they_contain() {
        let r =
            ResponseDirectives::read(&h(&[("cache-control", "foo=\"max-age=3600\", max-age=0")]));
        assert_eq!(r.max_age, Some(0));
        let r = ResponseDirectives::read(&h(&[(
            "cache-control",
            "max-age=0, foo=\"max-age=3600, x\"",
        )]));
        assert_eq!(r.max_age, Some(0));
        let r = ResponseDirectives::read(&h(&[("cache-control", "MaX-AgE=003600, Public")]));
        assert_eq!(r.max_age, Some(3600));
        assert!(r.public && r.shareable());
    }

    #[test]
    fn invalid_lifetimes_are_zero_and_huge_ones_are_capped() {
        for bad in ["-1", "'3600'", "3600.0", "100a", ""] {
            let r = ResponseDirectives::read(&h(&[("cache-control", &format!("max-age={bad}"))]));
            assert_eq!(r.max_age, Some(0), "{bad}");
        }
        let r = ResponseDirectives::read(&h(&[("cache-control", "max-age=99999999999")]));
        assert_eq!(r.max_age, Some(MAX_DELTA));
    }

    #[test]
    fn age_must_be_one_integer() {
        assert_eq!(age(&h(&[])), Some(0));
        assert_eq!(age(&h(&[("age", "30")])), Some(30));
        assert_eq!(age(&h(&[("age", "0,7200")])), Some(0));
        for bad in [
            "abc",
            "-7200",
            "7200.0",
            "0, 0",
            "3600, 3600",
            "7200;foo=bar",
        ] {
            assert_eq!(age(&h(&[("age", bad)])), None, "{bad}");
        }
        assert_eq!(age(&h(&[("age", "0"), ("age", "0")])), None);
    }

    #[test]
    fn surrogate_directives_for_another_target_are_ignored() {
        let mine = SurrogateDirectives::read(&h(&[("surrogate-control", "max-age=60;bff")]));
        assert_eq!(mine.unwrap().max_age, Some(60));
        assert_eq!(
            SurrogateDirectives::read(&h(&[("surrogate-control", "max-age=60;other")])),
            None
        );
        let all = SurrogateDirectives::read(&h(&[("surrogate-control", "foobar, no-store")]));
        assert!(all.unwrap().no_store);
    }

    #[test]
    fn request_directives_and_pragma() {
        let r = RequestDirectives::read(&h(&[("pragma", "no-cache")]));
        assert!(r.no_cache);
        let r = RequestDirectives::read(&h(&[("cache-control", "max-stale, min-fresh=5")]));
        assert_eq!(r.max_stale, Some(MaxStale::Any));
        assert_eq!(r.min_fresh, Some(5));
    }

    #[test]
    fn vary_star_anywhere_means_anything() {
        assert_eq!(vary(&h(&[("vary", ", *")])), Vary::Anything);
        assert_eq!(vary(&h(&[("vary", "Foo"), ("vary", "*")])), Vary::Anything);
        assert_eq!(
            vary(&h(&[("vary", "Accept-Language, x-request-id")])),
            Vary::Headers(vec![header::ACCEPT_LANGUAGE])
        );
    }

    #[test]
    fn selecting_values_are_normalized() {
        let a = normalized(&h(&[("foo", "a, b")]), &HeaderName::from_static("foo"));
        let b = normalized(
            &h(&[("foo", "a"), ("foo", " b")]),
            &HeaderName::from_static("foo"),
        );
        assert_eq!(a, b);
        assert_eq!(normalized(&h(&[]), &HeaderName::from_static("foo")), None);
    }
}
