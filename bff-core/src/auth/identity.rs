//! The verified identity on its way to upstreams: configured headers filled
//! from claims. The same header names are stripped from every client
//! request first, so no client can pose as someone else.

use http::{HeaderMap, HeaderName, HeaderValue};
use indexmap::IndexMap;
use jaq_json::Val;

use crate::value;

/// A `forward` entry names no valid header.
#[derive(Debug, thiserror::Error)]
#[error("forward: `{0}` is not a header name")]
pub(crate) struct ForwardError(String);

/// Header name → claim path (`sub`, `scope`, `org.id`).
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders(Vec<(HeaderName, Vec<String>)>);

impl IdentityHeaders {
    /// Checks header names once.
    pub(crate) fn compile(config: &IndexMap<String, String>) -> Result<Self, ForwardError> {
        config
            .iter()
            .map(|(h, claim)| {
                let name = HeaderName::try_from(h.as_str()).map_err(|_| ForwardError(h.clone()))?;
                Ok((name, claim.split('.').map(str::to_owned).collect()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The header names, for stripping from client requests.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        self.0.iter().map(|(h, _)| h)
    }

    /// Sets the headers from the claims; a claim that is absent sets none.
    pub fn apply(&self, claims: &Val, headers: &mut HeaderMap) {
        for (name, path) in &self.0 {
            let Some(v) = claim(claims, path.iter().map(String::as_str)) else {
                continue;
            };
            let text = match v {
                Val::Arr(items) => items
                    .iter()
                    .map(value::to_text)
                    .collect::<Vec<_>>()
                    .join(" "),
                other => value::to_text(other),
            };
            if let Ok(v) = HeaderValue::try_from(text) {
                headers.insert(name.clone(), v);
            }
        }
    }
}

/// The value at a path of object keys, if every step exists and is not null.
pub(crate) fn claim<'a, 'p>(
    claims: &'a Val,
    path: impl IntoIterator<Item = &'p str>,
) -> Option<&'a Val> {
    let mut v = claims;
    for key in path {
        match v {
            Val::Obj(o) => v = o.get(&value::string(key))?,
            _ => return None,
        }
    }
    (!matches!(v, Val::Null)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_headers() {
        let claims =
            value::parse(br#"{"sub":"u-1","scope":"a b","roles":["x","y"],"org":{"id":7}}"#)
                .unwrap();
        let config: IndexMap<String, String> = [
            ("x-user-id", "sub"),
            ("x-user-roles", "roles"),
            ("x-org", "org.id"),
            ("x-missing", "nope"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let mut h = HeaderMap::new();
        IdentityHeaders::compile(&config)
            .unwrap()
            .apply(&claims, &mut h);
        assert_eq!(h["x-user-id"], "u-1");
        assert_eq!(h["x-user-roles"], "x y");
        assert_eq!(h["x-org"], "7");
        assert!(!h.contains_key("x-missing"));
    }
}
