//! Inspection policies compiled: what is looked for, what a finding does,
//! and the parts left out, each parsed once when the folder loads.

use http::HeaderName;

use crate::config::{InspectConfig, InspectMode};
use crate::source::{Diagnostic, Loc};

/// A policy of `inspect:` in bff.yaml.
#[derive(Debug)]
pub struct InspectPolicy {
    /// Its name, the `policy` label of `bff_inspect_total`.
    pub name: String,
    /// Look for SQL injection.
    pub sqli: bool,
    /// Look for cross-site scripting.
    pub xss: bool,
    /// Refuse (`block`) rather than only log and count (`detect`).
    pub block: bool,
    /// Parts not inspected.
    pub exclude: Vec<Excluded>,
}

/// A part of the request left out of inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excluded {
    /// The path.
    Path,
    /// One query parameter.
    Query(String),
    /// One header.
    Header(HeaderName),
    /// A member of the JSON body and everything in it (`[]`: the whole body).
    Body(Vec<Segment>),
}

/// One step into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A member by name, or an item by its index.
    Named(String),
    /// Any member or item.
    Any,
}

impl InspectPolicy {
    /// Compiles a policy; each exclusion that means nothing is reported
    /// through `error`.
    pub(crate) fn compile(
        name: &str,
        config: &InspectConfig,
        mut error: impl FnMut(&Loc<String>, String) -> Diagnostic,
        diags: &mut crate::source::Diagnostics,
    ) -> Self {
        let mut exclude = Vec::new();
        for e in &config.exclude {
            match parse_exclusion(e) {
                Ok(x) => exclude.push(x),
                Err(why) => diags.push(error(e, why)),
            }
        }
        Self {
            name: name.to_owned(),
            sqli: config.sqli,
            xss: config.xss,
            block: config.mode == InspectMode::Block,
            exclude,
        }
    }

    /// Whether the path is inspected.
    pub fn inspects_path(&self) -> bool {
        !self.exclude.contains(&Excluded::Path)
    }

    /// Whether a query parameter is inspected.
    pub fn inspects_query(&self, name: &str) -> bool {
        !self
            .exclude
            .iter()
            .any(|x| matches!(x, Excluded::Query(q) if q == name))
    }

    /// Whether a header is inspected.
    pub fn inspects_header(&self, name: &HeaderName) -> bool {
        !self
            .exclude
            .iter()
            .any(|x| matches!(x, Excluded::Header(h) if h == name))
    }

    /// Whether the body member at `at` (names and indexes from the root) is
    /// inspected.
    pub fn inspects_body(&self, at: &[String]) -> bool {
        !self.exclude.iter().any(|x| match x {
            Excluded::Body(pattern) => {
                pattern.len() <= at.len()
                    && pattern.iter().zip(at).all(|(p, a)| match p {
                        Segment::Any => true,
                        Segment::Named(n) => n == a,
                    })
            }
            _ => false,
        })
    }
}

fn parse_exclusion(e: &str) -> Result<Excluded, String> {
    let (head, rest) = match e.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (e, None),
    };
    match (head, rest) {
        ("path", None) => Ok(Excluded::Path),
        ("query", Some(name)) if !name.is_empty() => Ok(Excluded::Query(name.to_owned())),
        ("headers", Some(name)) => HeaderName::try_from(name.to_ascii_lowercase())
            .map(Excluded::Header)
            .map_err(|_| format!("`{name}` is not a header name")),
        ("body", None) => Ok(Excluded::Body(Vec::new())),
        ("body", Some(path)) => path
            .split('.')
            .map(|s| match s {
                "" => Err("an empty member name".to_owned()),
                "*" => Ok(Segment::Any),
                s => Ok(Segment::Named(s.to_owned())),
            })
            .collect::<Result<_, _>>()
            .map(Excluded::Body)
            .map_err(|why| format!("`{e}`: {why}")),
        _ => Err(format!(
            "`{e}` is not a part of a request: write `path`, `query.<name>`, `headers.<name>`, `body` or `body.<member>…`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_name_parts_and_body_members_with_wildcards() {
        assert_eq!(parse_exclusion("path"), Ok(Excluded::Path));
        assert_eq!(
            parse_exclusion("headers.User-Agent"),
            Ok(Excluded::Header(HeaderName::from_static("user-agent")))
        );
        assert!(parse_exclusion("cookies.x").is_err());
        assert!(parse_exclusion("body..x").is_err());
        let policy = InspectPolicy {
            name: "p".into(),
            sqli: true,
            xss: true,
            block: true,
            exclude: vec![
                parse_exclusion("body.items.*.note").unwrap(),
                parse_exclusion("query.q").unwrap(),
            ],
        };
        let at = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(!policy.inspects_body(&at(&["items", "3", "note"])));
        assert!(!policy.inspects_body(&at(&["items", "0", "note", "x"])));
        assert!(policy.inspects_body(&at(&["items", "0", "sku"])));
        assert!(policy.inspects_body(&at(&["note"])));
        assert!(!policy.inspects_query("q") && policy.inspects_query("page"));
        assert!(policy.inspects_path());
    }
}
