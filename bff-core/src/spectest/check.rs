//! What a test expects, held against what happened: the answer's status,
//! headers and body (a difference per member, by JSON pointer), jq
//! assertions, the requests each call made, and the time it took.

use std::time::Duration;

use serde_json::Value;

use super::fake::Seen;
use crate::spec::test_file::{CallsExpect, Expect, RequestExpect};

/// The client's answer.
pub(super) struct Got {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
    pub took: Duration,
}

/// Every way the answer and the requests differ from `expect`.
pub(super) fn check(expect: &Expect, got: &Got, seen: &[Seen]) -> Vec<String> {
    let mut out = Vec::new();
    for s in seen.iter().filter(|s| s.unmatched) {
        out.push(format!(
            "`{}` sent {} {}{}, which no answer of the test matches",
            s.key,
            s.method,
            s.path,
            query_text(&s.query)
        ));
    }
    if let Some(want) = expect.status
        && want != got.status
    {
        out.push(format!(
            "status: expected {want}, got {}{}",
            got.status,
            problem_detail(&got.body)
        ));
    }
    for (name, want) in &expect.headers {
        let have = got.headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        match (want, have) {
            (Some(w), Some(h)) if w == h => {}
            (None, None) => {}
            (Some(w), Some(h)) => out.push(format!("header {name}: expected {w:?}, got {h:?}")),
            (Some(w), None) => out.push(format!("header {name}: expected {w:?}, absent")),
            (None, Some(h)) => out.push(format!("header {name}: expected none, got {h:?}")),
        }
    }
    let json: Option<Value> = serde_json::from_slice(&got.body).ok();
    if let Some(want) = &expect.body {
        match &json {
            Some(have) => diff("", want, have, &mut out),
            None => out.push(format!(
                "body: expected JSON, got {:?}",
                String::from_utf8_lossy(&got.body)
            )),
        }
    }
    for code in &expect.jq {
        let input = json
            .as_ref()
            .map_or(crate::value::Value::Null, crate::value::from_json);
        match crate::lang::expr::Expr::compile(code) {
            Ok(e) => match e.first(input) {
                Ok(crate::value::Value::Bool(true)) => {}
                Ok(v) => out.push(format!(
                    "jq `{code}` gave {}",
                    String::from_utf8_lossy(&crate::value::to_json(&v))
                )),
                Err(err) => out.push(format!("jq `{code}` failed: {err}")),
            },
            Err(errs) => out.push(format!(
                "jq `{code}` does not compile: {}",
                errs.first().map(|e| e.message.clone()).unwrap_or_default()
            )),
        }
    }
    for (call, want) in &expect.calls {
        let made: Vec<&Seen> = seen.iter().filter(|s| &s.key == call).collect();
        match want {
            CallsExpect::Count(n) if *n != made.len() => out.push(format!(
                "call `{call}`: expected {n} request(s), got {}{}",
                made.len(),
                listed(&made)
            )),
            CallsExpect::Count(_) => {}
            CallsExpect::Requests { requests } => requests_differ(call, requests, &made, &mut out),
        }
    }
    if let Some(within) = expect.within
        && got.took > within
    {
        out.push(format!(
            "took {} ms, expected within {} ms",
            got.took.as_millis(),
            within.as_millis()
        ));
    }
    out
}

/// Each expected request must be one of the call's, in any order (calls of
/// a `for_each` run at once).
fn requests_differ(call: &str, want: &[RequestExpect], made: &[&Seen], out: &mut Vec<String>) {
    if want.len() != made.len() {
        out.push(format!(
            "call `{call}`: expected {} request(s), got {}{}",
            want.len(),
            made.len(),
            listed(made)
        ));
    }
    let mut used = vec![false; made.len()];
    for w in want {
        let found = made.iter().enumerate().position(|(i, s)| {
            !used[i]
                && w.path.as_deref().is_none_or(|p| p == s.path)
                && w.query
                    .iter()
                    .all(|(k, v)| s.query.iter().any(|(qk, qv)| qk == k && qv == v))
                && w.body.as_ref().is_none_or(|b| {
                    serde_json::from_slice::<Value>(&s.body).is_ok_and(|have| same(b, &have))
                })
        });
        match found {
            Some(i) => used[i] = true,
            None => out.push(format!(
                "call `{call}`: no request had {}{}",
                serde_json::to_string(w_json(w).as_ref().unwrap_or(&Value::Null))
                    .unwrap_or_default(),
                listed(made)
            )),
        }
    }
}

fn w_json(w: &RequestExpect) -> Option<Value> {
    serde_json::to_value(w).ok()
}

fn listed(made: &[&Seen]) -> String {
    if made.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = made
        .iter()
        .map(|s| format!("{} {}{}", s.method, s.path, query_text(&s.query)))
        .collect();
    format!(" ({})", lines.join("; "))
}

fn query_text(query: &[(String, String)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    // For people to read: decoded, as the test file writes them.
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("?{}", pairs.join("&"))
}

/// A problem's detail, to say why an unexpected status came.
fn problem_detail(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}

/// Numbers compare by value (`1` and `1.0` are the same).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Where `have` differs from `want`, one line per member, by JSON pointer.
fn diff(at: &str, want: &Value, have: &Value, out: &mut Vec<String>) {
    let place = if at.is_empty() { "/" } else { at };
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, wv) in w {
                let p = format!("{at}/{k}");
                match h.get(k) {
                    Some(hv) => diff(&p, wv, hv, out),
                    None => out.push(format!("body {p}: expected {wv}, missing")),
                }
            }
            for (k, hv) in h {
                if !w.contains_key(k) {
                    out.push(format!("body {at}/{k}: not expected, got {hv}"));
                }
            }
        }
        (Value::Array(w), Value::Array(h)) => {
            if w.len() != h.len() {
                out.push(format!(
                    "body {place}: expected {} item(s), got {}",
                    w.len(),
                    h.len()
                ));
            }
            for (i, (wv, hv)) in w.iter().zip(h).enumerate() {
                diff(&format!("{at}/{i}"), wv, hv, out);
            }
        }
        _ if !same(want, have) => out.push(format!("body {place}: expected {want}, got {have}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_differences_are_listed_by_pointer() {
        let mut out = Vec::new();
        diff(
            "",
            &json!({"name": "Anna", "orders": [{"id": 1}, {"id": 2}], "n": 1}),
            &json!({"name": "Ann", "orders": [{"id": 1}], "n": 1.0, "extra": true}),
            &mut out,
        );
        assert_eq!(
            out,
            [
                r#"body /name: expected "Anna", got "Ann""#,
                "body /orders: expected 2 item(s), got 1",
                "body /extra: not expected, got true",
            ]
        );
    }
}
