//! `soap:` of a call compiled: the version, the envelope's start tag with
//! its namespaces, the `Body` template and the `Header` template read from
//! its file, all XML-escaping their values, and the request's content type
//! and action, built once here.

use http::HeaderValue;

use super::call::CallCx;
use crate::plan::template::{Escape, Template};
use crate::plan::{SoapCall, SoapVersion};
use crate::source::{Diagnostic, Loc};
use crate::spec::SoapVersionSpec;
use crate::xml_body::escape;

/// The prefix of the envelope's own elements.
const ENVELOPE_PREFIX: &str = "soap";

impl<T> CallCx<'_, '_, T> {
    /// The SOAP operation of the call, when it names one; the call's other
    /// keys must leave the request to it.
    pub(super) fn soap(&mut self) -> Option<SoapCall> {
        let spec = self.spec;
        let soap = spec.soap.as_ref()?;
        let before = self.diags.0.len();
        let conflicts = [
            ("get", spot(spec.get.as_ref())),
            ("put", spot(spec.put.as_ref())),
            ("patch", spot(spec.patch.as_ref())),
            ("delete", spot(spec.delete.as_ref())),
            ("grpc", spot(spec.grpc.as_ref())),
            ("body", spot(spec.body.as_ref())),
            ("body_jq", spot(spec.body_jq.as_ref())),
        ];
        for (key, at) in conflicts {
            if let Some(at) = at {
                self.diags.push(self.file.error_at(
                    &at,
                    format!(
                        "a SOAP call is POSTed with the envelope `soap` builds: drop `{key}`, and give the path in `post`"
                    ),
                ));
            }
        }
        let version = self.soap_version(soap.version.as_ref());
        let action = soap.action.as_ref().map_or("", |a| a.value.as_str());
        if let Some(a) = &soap.action
            && (a.contains('"') || HeaderValue::try_from(a.as_str()).is_err())
        {
            self.diags.push(self.file.error_at(
                a,
                "the action must be a URI without quotes or control characters",
            ));
        }
        let open = self.envelope_open(soap, version);
        let body = self.template(&soap.body, Escape::Xml);
        let header = soap.header.as_ref().and_then(|h| self.header_file(h));
        let mut lists = Vec::new();
        for l in &soap.lists {
            if l.is_empty() || l.contains(':') {
                self.diags.push(self.file.error_at(
                    l,
                    "a list is named by its element's local name, without prefix",
                ));
            }
            lists.push(l.value.clone());
        }
        if self.diags.0.len() > before {
            return None;
        }
        let expects = self.check_wsdl(soap, version, action);
        let (content_type, soap_action) = match version {
            SoapVersion::V1_1 => (
                HeaderValue::from_static("text/xml; charset=utf-8"),
                HeaderValue::try_from(format!("\"{action}\"")).ok(),
            ),
            SoapVersion::V1_2 if action.is_empty() => (
                HeaderValue::from_static("application/soap+xml; charset=utf-8"),
                None,
            ),
            SoapVersion::V1_2 => (
                HeaderValue::try_from(format!(
                    "application/soap+xml; charset=utf-8; action=\"{action}\""
                ))
                .ok()?,
                None,
            ),
        };
        Some(SoapCall {
            version,
            action: action.to_owned(),
            open,
            header,
            body: body?,
            content_type,
            soap_action,
            lists,
            idempotent: soap.idempotent,
            expects,
        })
    }

    /// Checks the call against the operations of `wsdl/` files whose
    /// target namespace it declares: its action must be one of theirs for
    /// its SOAP version, and its body must start with the element that
    /// operation takes. Gives that operation's body as the schema sketches it.
    fn check_wsdl(
        &mut self,
        soap: &Loc<crate::spec::SoapSpec>,
        version: SoapVersion,
        action: &str,
    ) -> Option<String> {
        let described: Vec<(&str, &crate::wsdl::WsdlFile)> = soap
            .namespaces
            .iter()
            .flat_map(|(prefix, uri)| {
                self.folder
                    .wsdls
                    .files
                    .iter()
                    .filter(move |f| f.target_ns == uri.value)
                    .map(move |f| (prefix.as_str(), f))
            })
            .collect();
        let &(_, first) = described.first()?;
        let root = body_root(&soap.body);
        let found = described.iter().find_map(|&(prefix, f)| {
            f.operations
                .iter()
                .filter(|o| o.version == version.as_str())
                .find(|o| {
                    if action.is_empty() {
                        o.input.is_some() && o.input.as_deref() == root
                    } else {
                        o.action == action
                    }
                })
                .map(|o| (prefix, o))
        });
        let Some((prefix, op)) = found else {
            let known: Vec<String> = described
                .iter()
                .flat_map(|(_, f)| &f.operations)
                .filter(|o| o.version == version.as_str())
                .map(|o| format!("{} ({})", o.name, o.action))
                .collect();
            let what = if action.is_empty() {
                format!(
                    "no SOAP {} operation takes `<{}>`",
                    version.as_str(),
                    root.unwrap_or("?")
                )
            } else {
                format!(
                    "`{action}` is not the action of a SOAP {} operation",
                    version.as_str()
                )
            };
            let message = format!(
                "{what} in {}; it has: {}",
                first.path.display(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
            match &soap.action {
                Some(a) => self.diags.push(self.file.error_at(a, message)),
                None => self.diags.push(self.file.error_at(&soap.body, message)),
            }
            return None;
        };
        if let Some(input) = &op.input
            && root != Some(input.as_str())
        {
            self.diags.push(self.file.error_at(
                &soap.body,
                format!(
                    "operation `{}` takes `<{prefix}:{input}>`, but the body starts with `<{}>`",
                    op.name,
                    root.unwrap_or("?")
                ),
            ));
            return None;
        }
        op.expected_body(prefix)
    }

    fn soap_version(&mut self, v: Option<&Loc<SoapVersionSpec>>) -> SoapVersion {
        let Some(v) = v else {
            return SoapVersion::V1_1;
        };
        match &v.value {
            SoapVersionSpec::Text(t) if t == "1.1" => SoapVersion::V1_1,
            SoapVersionSpec::Text(t) if t == "1.2" => SoapVersion::V1_2,
            SoapVersionSpec::Number(n) if (n - 1.1).abs() < 1e-9 => SoapVersion::V1_1,
            SoapVersionSpec::Number(n) if (n - 1.2).abs() < 1e-9 => SoapVersion::V1_2,
            _ => {
                self.diags.push(
                    self.file
                        .error_at(v, "the SOAP version is \"1.1\" or \"1.2\""),
                );
                SoapVersion::V1_1
            }
        }
    }

    /// `<soap:Envelope xmlns:soap="…" xmlns:p="…">`, its prefixes checked.
    fn envelope_open(&mut self, soap: &Loc<crate::spec::SoapSpec>, v: SoapVersion) -> String {
        let mut open = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><{ENVELOPE_PREFIX}:Envelope xmlns:{ENVELOPE_PREFIX}=\"{}\"",
            v.envelope_ns()
        );
        for (prefix, uri) in &soap.namespaces {
            if !is_ncname(prefix)
                || prefix == ENVELOPE_PREFIX
                || prefix.to_ascii_lowercase().starts_with("xml")
            {
                self.diags.push(self.file.error_at_key(
                    prefix,
                    uri,
                    format!(
                        "`{prefix}` cannot be a namespace prefix here: use letters, digits, `-`, `_` and `.`, not starting with a digit, and not `{ENVELOPE_PREFIX}` (the envelope's) or `xml…`"
                    ),
                ));
            }
            if uri.trim().is_empty() {
                self.diags
                    .push(self.file.error_at(uri, "a namespace needs its URI"));
            }
            open.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape(uri)));
        }
        open.push('>');
        open
    }

    /// The `Header` template, read from its file in the spec folder; its
    /// errors point into that file.
    fn header_file(&mut self, h: &Loc<String>) -> Option<Template> {
        let path = self.folder.dir.join(&h.value);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(self.file.error_at(
                    h,
                    format!(
                        "cannot read the SOAP header template `{}`: {e}",
                        path.display()
                    ),
                ));
                return None;
            }
        };
        // Secrets (a WS-Security password) come from the environment, as
        // XML text: escaped, and never read as template syntax.
        let text = match crate::config::expand_env_placed(&text, env_value) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(Diagnostic::file(
                    &path,
                    format!("SOAP header template: {e}"),
                ));
                return None;
            }
        };
        match self.b.templates.add(&text, Escape::Xml) {
            Ok(t) => {
                self.roots.extend(t.roots.iter().cloned());
                Some(t)
            }
            Err(e) => {
                self.diags.push(Diagnostic::at(
                    &path,
                    &text,
                    u32::try_from(e.line).unwrap_or(u32::MAX),
                    u32::try_from(e.column + 1).unwrap_or(u32::MAX),
                    format!("template: {}", e.message),
                ));
                None
            }
        }
    }
}

/// The local name of the body's first element, as written in its template.
fn body_root(body: &str) -> Option<&str> {
    let mut rest = body;
    loop {
        let at = rest.find('<')?;
        rest = &rest[at + 1..];
        if !rest.starts_with(['?', '!', '/']) {
            break;
        }
    }
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, '>' | '/'))
        .unwrap_or(rest.len());
    let name = &rest[..end];
    Some(name.rsplit(':').next().unwrap_or(name))
}

/// An environment value as XML text that a template renders as itself:
/// escaped, and its braces written as entities so tera sees no tags.
fn env_value(v: &str) -> String {
    escape(v).replace('{', "&#123;").replace('}', "&#125;")
}

/// Where a key's value is written, whatever its type.
fn spot<V>(at: Option<&Loc<V>>) -> Option<Loc<()>> {
    at.map(|l| Loc {
        value: (),
        line: l.line,
        column: l.column,
    })
}

/// An XML name without a colon: what a namespace prefix may be.
fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
