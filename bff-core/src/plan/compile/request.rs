//! The request a call sends, compiled: query parameters, headers, and a
//! body that is either a JSON structure whose strings are templates or a
//! jq expression.

use http::HeaderName;

use super::call::CallCx;
use crate::plan::template::{Escape, Template};
use crate::plan::{BodyPlan, BodyTemplate};
use crate::source::Loc;
use crate::value;

impl<F> CallCx<'_, '_, F> {
    /// Query parameters, each value a template.
    pub(super) fn query(&mut self) -> Vec<(String, Template)> {
        let spec = self.spec;
        spec.query
            .iter()
            .filter_map(|(k, v)| {
                let t = self.template(v, Escape::Verbatim)?;
                Some((k.clone(), t))
            })
            .collect()
    }

    /// Request headers, each value a template.
    pub(super) fn headers(&mut self) -> Vec<(HeaderName, Template)> {
        let spec = self.spec;
        let mut headers = Vec::new();
        for (k, v) in &spec.headers {
            match HeaderName::try_from(k.as_str()) {
                Ok(h) => {
                    if let Some(t) = self.template(v, Escape::Verbatim) {
                        headers.push((h, t));
                    }
                }
                Err(_) => self.diags.push(
                    self.file
                        .error_at(v, format!("`{k}` is not a valid header name")),
                ),
            }
        }
        headers
    }

    /// The body: `body` (templated JSON) or `body_jq`, never both.
    pub(super) fn body(&mut self) -> Option<BodyPlan> {
        let spec = self.spec;
        match (&spec.body, &spec.body_jq) {
            (Some(_), Some(jq)) => {
                self.diags.push(
                    self.file
                        .error_at(jq, "use either body or body_jq, not both"),
                );
                None
            }
            (Some(body), None) => self
                .body_template(&body.value, body)
                .map(BodyPlan::Template),
            (None, Some(jq)) => self.expr(Some(jq)).map(BodyPlan::Jq),
            (None, None) => None,
        }
    }

    /// A JSON value whose strings are templates, each placed at the body
    /// (`at`) for errors; the first string that fails stops the rest.
    fn body_template<T>(&mut self, v: &serde_json::Value, at: &Loc<T>) -> Option<BodyTemplate> {
        Some(match v {
            serde_json::Value::String(s) => {
                let loc = Loc {
                    value: s.to_owned(),
                    line: at.line,
                    column: at.column,
                };
                let t = self.template(&loc, Escape::Verbatim)?;
                if t.is_literal() {
                    BodyTemplate::Literal(value::string(s))
                } else {
                    BodyTemplate::Text(t)
                }
            }
            serde_json::Value::Array(a) => BodyTemplate::Array(
                a.iter()
                    .map(|x| self.body_template(x, at))
                    .collect::<Option<_>>()?,
            ),
            serde_json::Value::Object(o) => BodyTemplate::Object(
                o.iter()
                    .map(|(k, x)| Some((k.clone(), self.body_template(x, at)?)))
                    .collect::<Option<_>>()?,
            ),
            other => BodyTemplate::Literal(value::from_json(other)),
        })
    }
}
