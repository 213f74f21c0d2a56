//! Inspection of a request for SQL injection and cross-site scripting, by
//! the policy its endpoint or route names: the path, query parameters
//! (names and values) and header values when it is admitted, and every
//! string of a composed endpoint's body once it is read (of a pass-through
//! route's, when it is JSON of a declared length up to 64 KiB). A finding is
//! logged and counted; under `block` the request is refused with a `403`
//! that names the part and never repeats what was found there.

use std::panic::AssertUnwindSafe;

use jaq_json::Val;

use crate::error::Refusal;
use crate::plan::inspect::InspectPolicy;

/// Headers that carry credentials, checked by authentication instead.
const CREDENTIALS: [http::HeaderName; 2] = [
    http::header::AUTHORIZATION,
    http::header::PROXY_AUTHORIZATION,
];

/// What a value looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqli,
    Xss,
    /// The detector failed on the value; treated as a finding.
    Unreadable,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Sqli => "sqli",
            Self::Xss => "xss",
            Self::Unreadable => "unreadable",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Sqli => "an SQL injection",
            Self::Xss => "cross-site scripting",
            Self::Unreadable => "something the inspection could not read",
        }
    }
}

/// What the policy looks for in one value, if it finds it.
fn scan(policy: &InspectPolicy, text: &[u8]) -> Option<Kind> {
    if plain(text) {
        return None;
    }
    // The detector must not take the request down with it: a panic in it
    // is a finding, not a lost connection.
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        if policy.sqli && libinjectionrs::detect_sqli(text).is_injection() {
            Some(Kind::Sqli)
        } else if policy.xss && libinjectionrs::detect_xss(text).is_injection() {
            Some(Kind::Xss)
        } else {
            None
        }
    }))
    .unwrap_or(Some(Kind::Unreadable))
}

/// Whether a value is made only of letters, digits and `. _ / , : -`,
/// without `--`: no SQL injection or script can be written with those
/// alone (no quote, space, comment, bracket, operator or markup), and most
/// values of a request (paths, ids, hosts, dates, tokens) are such.
/// Skipping the detectors for them keeps inspection cheap where nothing
/// can be found.
fn plain(text: &[u8]) -> bool {
    text.iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b',' | b':' | b'-'))
        && !text.windows(2).any(|w| w == b"--")
}

/// Logs and counts a finding; under `block`, the refusal.
fn found(policy: &InspectPolicy, kind: Kind, part: &str) -> Result<(), Refusal> {
    let action = if policy.block { "block" } else { "detect" };
    metrics::counter!(
        "bff_inspect_total",
        "policy" => policy.name.clone(),
        "kind" => kind.label(),
        "action" => action,
    )
    .increment(1);
    tracing::warn!(policy = %policy.name, kind = kind.label(), part, action, "request inspection found an injection");
    if policy.block {
        return Err(Refusal::Forbidden(format!(
            "the request's {part} looks like {}",
            kind.what()
        )));
    }
    Ok(())
}

/// A client's name for a part, repeated only when it is a plain word.
fn named(name: &str) -> Option<&str> {
    (!name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
    .then_some(name)
}

/// Inspects the path, query and headers of an admitted request.
pub(crate) fn check_head(
    policy: &InspectPolicy,
    parts: &http::request::Parts,
) -> Result<(), Refusal> {
    if policy.inspects_path() {
        let path: Vec<u8> = percent_encoding::percent_decode_str(parts.uri.path()).collect();
        if let Some(kind) = scan(policy, &path) {
            found(policy, kind, "path")?;
        }
    }
    if let Some(q) = parts.uri.query() {
        for (name, value) in form_urlencoded::parse(q.as_bytes()) {
            if !policy.inspects_query(&name) {
                continue;
            }
            if let Some(kind) = scan(policy, name.as_bytes()) {
                found(policy, kind, "query parameter name")?;
            }
            if let Some(kind) = scan(policy, value.as_bytes()) {
                let part = match named(&name) {
                    Some(n) => format!("query parameter `{n}`"),
                    None => "query parameter".to_owned(),
                };
                found(policy, kind, &part)?;
            }
        }
    }
    for (name, value) in &parts.headers {
        if CREDENTIALS.contains(name) || !policy.inspects_header(name) {
            continue;
        }
        if let Some(kind) = scan(policy, value.as_bytes()) {
            found(policy, kind, &format!("header `{name}`"))?;
        }
    }
    Ok(())
}

/// Largest pass-through body read for inspection: a JSON body that
/// declares up to this length is read whole, inspected and sent on; others
/// stream on unread.
pub(crate) const PASSED_BODY: usize = 64 * 1024;

/// A pass-through request's JSON body, when it declares a length up to
/// [`PASSED_BODY`]: read, inspected, and put back for forwarding.
pub(crate) async fn check_passed_body(
    policy: &InspectPolicy,
    req: axum::extract::Request,
) -> Result<axum::extract::Request, Refusal> {
    let headers = req.headers();
    let json = super::input::is_json(&super::input::media_type(headers));
    let small = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > 0 && n <= PASSED_BODY);
    if !(json && small && policy.inspects_body(&[])) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, PASSED_BODY)
        .await
        .map_err(|_| Refusal::BadRequest("the request body could not be read".to_owned()))?;
    // A body that is not JSON is the service's to refuse.
    if let Ok(value) = crate::value::parse(&bytes) {
        check_body(policy, &value)?;
    }
    Ok(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
}

/// Inspects every string of a body (members' names too), with its place.
pub(crate) fn check_body(policy: &InspectPolicy, body: &Val) -> Result<(), Refusal> {
    let mut at = Vec::new();
    walk(policy, body, &mut at)
}

fn walk(policy: &InspectPolicy, v: &Val, at: &mut Vec<String>) -> Result<(), Refusal> {
    if !policy.inspects_body(at) {
        return Ok(());
    }
    match v {
        Val::TStr(b) | Val::BStr(b) => {
            if let Some(kind) = scan(policy, b) {
                found(policy, kind, &body_part(at))?;
            }
        }
        Val::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(i.to_string());
                let r = walk(policy, item, at);
                at.pop();
                r?;
            }
        }
        Val::Obj(members) => {
            for (k, item) in members.iter() {
                let key = crate::value::to_text(k);
                at.push(key);
                if !policy.inspects_body(at) {
                    at.pop();
                    continue;
                }
                if let Some(kind) = scan(policy, at.last().map_or(&[][..], |k| k.as_bytes())) {
                    at.pop();
                    return found(policy, kind, &format!("{} member name", body_part(at)));
                }
                let r = walk(policy, item, at);
                at.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `body member `/items/0/note``, or `body` when a name is not plain.
fn body_part(at: &[String]) -> String {
    if at.is_empty() {
        return "body".to_owned();
    }
    let mut pointer = String::new();
    for s in at {
        match named(s) {
            Some(n) => {
                pointer.push('/');
                pointer.push_str(n);
            }
            None => return "body".to_owned(),
        }
    }
    format!("body member `{pointer}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(block: bool) -> InspectPolicy {
        InspectPolicy {
            name: "p".into(),
            sqli: true,
            xss: true,
            block,
            exclude: Vec::new(),
        }
    }

    #[test]
    fn only_values_that_cannot_hold_an_injection_skip_the_detectors() {
        for v in [
            "/v1/products/p-2001",
            "127.0.0.1:8080",
            "2026-12-08",
            "a,b,c",
        ] {
            assert!(plain(v.as_bytes()), "{v}");
        }
        for v in ["1--", "1 OR 1", "a'b", "<b>", "x=1", "a(1)"] {
            assert!(!plain(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn findings_name_the_part_without_repeating_it() {
        let p = policy(true);
        let req = http::Request::get("/search?q=1%27%20OR%20%271%27%3D%271&page=2")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let Err(Refusal::Forbidden(detail)) = check_head(&p, &parts) else {
            panic!("refused")
        };
        assert_eq!(
            detail,
            "the request's query parameter `q` looks like an SQL injection"
        );
        let body =
            crate::value::parse(br#"{"items":[{"note":"<script>alert(1)</script>"}]}"#).unwrap();
        assert!(check_body(&p, &body).is_err());
        assert_eq!(
            body_part(&["items".into(), "0".into(), "note".into()]),
            "body member `/items/0/note`"
        );
        assert_eq!(body_part(&["<x>".into()]), "body");
        let fine = crate::value::parse(br#"{"name":"O'Brien","note":"it's a gift"}"#).unwrap();
        assert!(check_body(&p, &fine).is_ok());
        // Detect mode lets the request through.
        assert!(check_head(&policy(false), &parts).is_ok());
    }
}
