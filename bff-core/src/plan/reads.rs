//! The query parameters an endpoint reads, found where its templates and
//! expressions name `query.<name>`: what an API description lists as the
//! endpoint's parameters. Tera only reports top-level names, so the spec's
//! text is scanned once at load.

use crate::spec::EndpointSpec;

/// Query parameter names the endpoint's templates and expressions read, sorted.
pub(super) fn query_params(spec: &EndpointSpec) -> Vec<String> {
    let mut texts: Vec<&str> = Vec::new();
    for call in spec.calls.values() {
        let c = &call.value;
        for p in [
            &c.get,
            &c.post,
            &c.put,
            &c.patch,
            &c.delete,
            &c.body_jq,
            &c.when,
            &c.for_each,
        ]
        .into_iter()
        .flatten()
        {
            texts.push(&p.value);
        }
        texts.extend(c.query.values().map(|v| v.value.as_str()));
        texts.extend(c.headers.values().map(|v| v.value.as_str()));
        if let Some(body) = &c.body {
            strings(&body.value, &mut texts);
        }
    }
    if let Some(r) = &spec.respond {
        if let Some(jq) = &r.jq {
            texts.push(&jq.value);
        }
        if let Some(status) = &r.status
            && let crate::spec::StatusSpec::Jq(jq) = &status.value
        {
            texts.push(jq);
        }
        texts.extend(r.headers.values().map(|v| v.value.as_str()));
    }
    let mut names: Vec<String> = texts.into_iter().flat_map(scan).collect();
    names.sort();
    names.dedup();
    names
}

fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Names after `query.` or inside `query["…"]`, where `query` is a root
/// (`{{ query.x }}`, `.query.x`), not a member of something else (`.a.query.x`).
fn scan(text: &str) -> Vec<String> {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("query").map(|i| i + from) {
        from = at + 5;
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let member = match before {
            Some(b) if ident(b) => true,
            Some(b'.') => at
                .checked_sub(2)
                .map(|i| bytes[i])
                .is_some_and(|b| ident(b) || matches!(b, b']' | b')' | b'?')),
            _ => false,
        };
        if member {
            continue;
        }
        let rest = &text[from..];
        let name: String = if let Some(r) = rest.strip_prefix('.') {
            r.bytes()
                .take_while(|b| ident(*b))
                .map(char::from)
                .collect()
        } else if let Some(r) = rest.strip_prefix("[\"").or_else(|| rest.strip_prefix("['")) {
            r.chars().take_while(|c| !matches!(c, '"' | '\'')).collect()
        } else {
            continue;
        };
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::scan;

    #[test]
    fn finds_query_members_in_templates_and_jq_only_at_the_root() {
        assert_eq!(
            scan("/p?lang={{ query.lang | default(value='en') }}"),
            ["lang"]
        );
        assert_eq!(
            scan("{ page: (.query.page // 1), s: .query[\"sort\"] }"),
            ["page", "sort"]
        );
        assert_eq!(scan("{{ query['per-page'] }}"), ["per-page"]);
        assert!(scan(".orders.query.x, subquery.y, {{ query }}").is_empty());
    }
}
