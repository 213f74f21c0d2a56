//! Tera templates for paths, query values, headers and bodies, parsed once
//! when specs load. Values that land in a URL are percent-encoded by the
//! escaping of the URL template set, values that land in XML (SOAP
//! envelopes) are XML-escaped by the XML set; everything else renders
//! verbatim.

use std::sync::Arc;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tera::{Context, ErrorKind, Tera};

/// Everything but RFC 3986 unreserved characters is encoded.
pub(crate) const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where a template's output goes, which decides how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Into a URL path or query: values are percent-encoded.
    Url,
    /// Into a header, a query value encoded later, or a body: verbatim.
    Verbatim,
    /// Into XML text or an attribute value: `&`, `<`, `>`, `"` and `'`
    /// become entities, so a value cannot add markup.
    Xml,
}

/// A template compiled into a [`TemplateSet`].
#[derive(Debug, Clone)]
pub struct Template {
    name: Arc<str>,
    escape: Escape,
    /// Text without any tag renders as itself, with no engine involved.
    literal: Option<Arc<str>>,
    /// Top-level variables the template reads.
    pub roots: Vec<String>,
    /// The template as written, for the admin listener and API descriptions.
    pub source: Arc<str>,
}

/// A template error, located in the template's own text.
#[derive(Debug, Clone)]
pub struct TemplateError {
    /// 1-based line within the template.
    pub line: usize,
    /// 0-based column within that line.
    pub column: usize,
    /// Characters the error spans on its line.
    pub width: usize,
    /// What is wrong.
    pub message: String,
}

/// Why the template sets could not be built, or a template not rendered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TemplateSetError {
    /// Templates that each checked alone did not build into a set.
    #[error(transparent)]
    Build(tera::Error),
    /// A template failed on this request's values; told in one line.
    #[error("{}", render_message(.0))]
    Render(tera::Error),
}

/// Collects templates while specs are compiled.
#[derive(Default)]
pub struct TemplateBuilder {
    url: Vec<(String, String)>,
    verbatim: Vec<(String, String)>,
    xml: Vec<(String, String)>,
    scratch: Tera,
    next: usize,
}

/// All templates of a BFF, ready to render.
pub struct TemplateSet {
    url: Tera,
    verbatim: Tera,
    xml: Tera,
}

impl TemplateBuilder {
    /// Checks a template and queues it; the error points into `source`.
    pub fn add(&mut self, source: &str, escape: Escape) -> Result<Template, TemplateError> {
        self.next += 1;
        let name = format!(
            "t{}{}",
            self.next,
            match escape {
                Escape::Url => ".url",
                Escape::Xml => ".xml",
                Escape::Verbatim => "",
            }
        );
        if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
            return Ok(Template {
                name: name.into(),
                escape,
                literal: Some(source.into()),
                roots: Vec::new(),
                source: source.into(),
            });
        }
        // One scratch template name is reused so checking stays linear in
        // the number of templates; the real sets are built once in `finish`.
        self.scratch
            .add_raw_template("check", source)
            .map_err(|e| template_error(&e, source))?;
        let mut roots: Vec<String> = self
            .scratch
            .get_template_variables("check")
            .map(|vars| vars.into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        roots.sort();
        let queue = match escape {
            Escape::Url => &mut self.url,
            Escape::Verbatim => &mut self.verbatim,
            Escape::Xml => &mut self.xml,
        };
        queue.push((name.clone(), source.to_owned()));
        Ok(Template {
            name: name.into(),
            escape,
            literal: None,
            roots,
            source: source.into(),
        })
    }

    /// Builds the template sets.
    pub(crate) fn finish(self) -> Result<TemplateSet, TemplateSetError> {
        let mut url = Tera::default();
        url.set_escape_fn(escape_url);
        url.autoescape_on(vec![".url"]);
        url.add_raw_templates(self.url)
            .map_err(TemplateSetError::Build)?;
        let mut verbatim = Tera::default();
        verbatim.autoescape_on(Vec::<&str>::new());
        verbatim
            .add_raw_templates(self.verbatim)
            .map_err(TemplateSetError::Build)?;
        let mut xml = Tera::default();
        xml.set_escape_fn(escape_xml);
        xml.autoescape_on(vec![".xml"]);
        xml.add_raw_templates(self.xml)
            .map_err(TemplateSetError::Build)?;
        Ok(TemplateSet { url, verbatim, xml })
    }
}

impl TemplateSet {
    /// Renders a template with the variables in `ctx`.
    pub(crate) fn render(&self, t: &Template, ctx: &Context) -> Result<String, TemplateSetError> {
        if let Some(literal) = &t.literal {
            return Ok(literal.to_string());
        }
        let tera = match t.escape {
            Escape::Url => &self.url,
            Escape::Verbatim => &self.verbatim,
            Escape::Xml => &self.xml,
        };
        tera.render(&t.name, ctx).map_err(TemplateSetError::Render)
    }
}

impl Template {
    /// Whether rendering needs no variables at all.
    pub fn is_literal(&self) -> bool {
        self.literal.is_some()
    }
}

fn escape_url(input: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for part in utf8_percent_encode(input, URL_VALUE) {
        out.write_all(part.as_bytes())?;
    }
    Ok(())
}

fn escape_xml(input: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    out.write_all(crate::xml_body::escape(input).as_bytes())
}

pub(crate) fn template_error(e: &tera::Error, source: &str) -> TemplateError {
    match e.kind() {
        ErrorKind::SyntaxError(report) | ErrorKind::RenderingError(report) => {
            let span = report.span();
            let width = if span.end_line == span.start_line {
                span.end_col.saturating_sub(span.start_col)
            } else {
                source
                    .lines()
                    .nth(span.start_line.saturating_sub(1))
                    .map_or(1, |l| l.len().saturating_sub(span.start_col))
            };
            TemplateError {
                line: span.start_line.max(1),
                column: span.start_col,
                width: width.max(1),
                message: report.message().to_owned(),
            }
        }
        ErrorKind::Msg(report) if let Some(e) = reported_error(report) => e,
        other => TemplateError {
            line: 1,
            column: 0,
            width: source.lines().next().map_or(1, str::len),
            message: other.to_string(),
        },
    }
}

/// Tera reports unknown filters, tests and functions as already rendered
/// text (`error: …`, ` --> name:line:col`, ` |`, the line, the carets);
/// this reads the first report back so the error points into the spec file.
fn reported_error(report: &str) -> Option<TemplateError> {
    let mut lines = report.lines();
    let message = lines.next()?.strip_prefix("error: ")?;
    let locus = lines.next()?.trim_start().strip_prefix("--> ")?;
    let mut parts = locus.rsplitn(3, ':');
    let column: usize = parts.next()?.parse().ok()?;
    let line: usize = parts.next()?.parse().ok()?;
    let carets = lines.nth(2)?.matches('^').count();
    Some(TemplateError {
        line,
        column: column.checked_sub(1)?,
        width: carets.max(1),
        message: message.to_owned(),
    })
}

/// A rendering failure in one line: tera's report spans several lines with
/// a source excerpt, which belongs in logs, not in a problem body.
fn render_message(e: &tera::Error) -> String {
    match e.kind() {
        ErrorKind::RenderingError(report) | ErrorKind::SyntaxError(report) => {
            report.message().to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str, escape: Escape, ctx: &serde_json::Value) -> String {
        let mut b = TemplateBuilder::default();
        let t = b.add(source, escape).unwrap();
        let set = b.finish().unwrap();
        set.render(&t, &Context::from_serialize(ctx).unwrap())
            .unwrap()
    }

    #[test]
    fn url_values_are_percent_encoded() {
        let ctx = serde_json::json!({"path": {"id": "a b/c?d"}, "batch": ["x", "y z"]});
        assert_eq!(
            render("/users/{{ path.id }}", Escape::Url, &ctx),
            "/users/a%20b%2Fc%3Fd"
        );
        assert_eq!(
            render("/p?ids={{ batch | join(sep=',') }}", Escape::Url, &ctx),
            "/p?ids=x%2Cy%20z"
        );
        assert_eq!(render("{{ path.id }}", Escape::Verbatim, &ctx), "a b/c?d");
    }

    #[test]
    fn xml_values_cannot_add_markup() {
        let ctx = serde_json::json!({"query": {"q": "</s><evil a='1'>&amp;\""}});
        assert_eq!(
            render("<s>{{ query.q }}</s>", Escape::Xml, &ctx),
            "<s>&lt;/s&gt;&lt;evil a=&apos;1&apos;&gt;&amp;amp;&quot;</s>"
        );
        // `safe` is the spec's own way out, for markup it builds itself.
        assert_eq!(
            render("{{ query.q | safe }}", Escape::Xml, &ctx),
            "</s><evil a='1'>&amp;\""
        );
    }

    #[test]
    fn roots_are_reported_and_literals_skip_the_engine() {
        let mut b = TemplateBuilder::default();
        let t = b
            .add("/o/{{ orders.id }}?u={{ path.user }}", Escape::Url)
            .unwrap();
        assert_eq!(t.roots, vec!["orders", "path"]);
        assert!(b.add("/static", Escape::Url).unwrap().is_literal());
    }

    #[test]
    fn unknown_filter_is_located() {
        let mut b = TemplateBuilder::default();
        let e = b
            .add(
                "/u/{{ path.id | nosuch }}/{{ path.id | other }}",
                Escape::Url,
            )
            .unwrap_err();
        assert_eq!((e.line, e.column, e.width), (1, 16, 6), "{e:?}");
        assert_eq!(e.message, "Unknown filter `nosuch`");
    }

    #[test]
    fn syntax_error_is_located() {
        let mut b = TemplateBuilder::default();
        let e = b.add("/users/{{ path.id ", Escape::Url).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.column > 0, "{e:?}");
    }
}
