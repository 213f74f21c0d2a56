//! Server-rendered HTML: the tera templates under a BFF's `templates/`
//! folder, parsed when specs load (and reloaded with them), rendered with
//! an endpoint's shaped result for clients that prefer `text/html`.

use std::path::Path;

use tera::{Context, Tera};

use crate::lang::template::{TemplateError, template_error};
use crate::source::{Diagnostic, Diagnostics};

/// The folder of a BFF that holds its page templates.
pub(crate) const DIR: &str = "templates";

/// A page failed on an endpoint's result; told by tera's own message.
#[derive(Debug, thiserror::Error)]
#[error("{}", template_error(.0, "").message)]
pub(crate) struct RenderError(tera::Error);

/// Every page template of a BFF, named by its path under `templates/`
/// (`product.html`, `partials/stars.html`), so `extends` and `include`
/// name them the same way.
#[derive(Default)]
pub struct Pages {
    tera: Tera,
    /// Templates that exist but did not load, with their errors reported:
    /// their own, or that of a template they need.
    unloaded: Vec<String>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tera.get_template_names())
            .finish()
    }
}

impl Pages {
    /// Parses every file under `<specs>/templates`; none when it does not
    /// exist. Errors are reported at their template's line and column. A
    /// template with an error is left out, and so, without a further error,
    /// is one that extends, includes or calls a component of a template
    /// left out; the others load.
    pub fn load(specs: &Path, diags: &mut Diagnostics) -> Pages {
        let root = specs.join(DIR);
        let mut files = Vec::new();
        if root.is_dir() {
            crate::spec::collect_files(&root, &|_| true, &mut files, diags);
        }
        files.sort();
        let mut named = Vec::new();
        for path in files {
            let Ok(relative) = path.strip_prefix(&root) else {
                continue;
            };
            let name = relative.to_string_lossy().replace('\\', "/");
            match std::fs::read_to_string(&path) {
                Ok(text) => named.push((name, text)),
                Err(e) => diags.push(Diagnostic::file(
                    &path,
                    format!("cannot read template: {e}"),
                )),
            }
        }
        let mut found = Vec::new();
        let pages = Self::compile(&root, &named, &mut found);
        // Tera finds problems in its own order; they are reported in file order.
        found.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        for d in found {
            diags.push(d);
        }
        pages
    }

    /// Loads the named templates, leaving out those with errors.
    fn compile(root: &Path, named: &[(String, String)], diags: &mut Vec<Diagnostic>) -> Pages {
        // Alone first, so a syntax error is reported for its own template only.
        let mut unloaded = Vec::new();
        let mut left: Vec<&(String, String)> = Vec::new();
        for entry in named {
            let (name, text) = entry;
            match Tera::default().add_raw_template(name, text) {
                Err(e) if matches!(e.kind(), tera::ErrorKind::SyntaxError(_)) => {
                    diags.push(located(root, named, &e));
                    unloaded.push(name.clone());
                }
                _ => left.push(entry),
            }
        }
        // Together, for what templates take from each other; each error
        // leaves its template out and the rest is tried again.
        loop {
            let mut tera = Tera::default();
            // Values land in HTML: every template escapes them, whatever its name ends in.
            tera.autoescape_on(vec![""]);
            let Err(e) = tera.add_raw_templates(left.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            else {
                return Pages { tera, unloaded };
            };
            let at_fault = error_file(&e).and_then(|f| left.iter().position(|(n, _)| *n == f));
            let Some(i) = at_fault else {
                diags.push(located(root, named, &e));
                unloaded.extend(left.iter().map(|(n, _)| n.clone()));
                return Pages {
                    tera: Tera::default(),
                    unloaded,
                };
            };
            if !echoes_an_earlier_error(&e, &unloaded, named) {
                diags.push(located(root, named, &e));
            }
            unloaded.push(left.remove(i).0.clone());
        }
    }

    /// Whether a template of that name was loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.tera.contains_template(name)
    }

    /// Whether a template of that name exists but did not load, for an
    /// error reported already.
    pub fn lost_to_errors(&self, name: &str) -> bool {
        self.unloaded.iter().any(|n| n == name)
    }

    /// The names of the loaded templates.
    pub fn names(&self) -> Vec<String> {
        // Sorted: tera keeps them in a hash map, and error messages that
        // list them must read the same every time.
        let mut names: Vec<String> = self.tera.get_template_names().map(str::to_owned).collect();
        names.sort_unstable();
        names
    }

    /// Renders a page with the shaped result: its members are top-level
    /// variables and the whole of it is `result`.
    pub(crate) fn render(
        &self,
        name: &str,
        result: &serde_json::Value,
    ) -> Result<String, RenderError> {
        let mut ctx = Context::new();
        if let serde_json::Value::Object(members) = result {
            for (k, v) in members {
                ctx.insert(k.clone(), v);
            }
        }
        ctx.insert("result", result);
        self.tera.render(name, &ctx).map_err(RenderError)
    }
}

/// A template error pointed at its file, line and column.
fn located(root: &Path, named: &[(String, String)], e: &tera::Error) -> Diagnostic {
    let file = error_file(e);
    let Some((name, text)) = file.and_then(|f| named.iter().find(|(n, _)| *n == f)) else {
        return Diagnostic::file(root, format!("templates: {}", one_line(e)));
    };
    let TemplateError {
        line,
        column,
        width,
        message,
    } = template_error(e, text);
    Diagnostic::span(
        &root.join(name),
        text,
        line as u32,
        column as u32 + 1,
        width as u32,
        message,
    )
}

/// Whether an error only echoes one reported before: the template extends,
/// includes, or calls a component of a template that did not load.
fn echoes_an_earlier_error(
    e: &tera::Error,
    unloaded: &[String],
    named: &[(String, String)],
) -> bool {
    let is_unloaded = |name: &str| unloaded.iter().any(|n| n == name);
    if let tera::ErrorKind::MissingParent { parent, .. } = e.kind() {
        return is_unloaded(parent);
    }
    let message = template_error(e, "").message;
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix('`')?.strip_suffix('`'))
            .map(str::to_owned)
    };
    if let Some(template) = quoted("Unknown template ") {
        return is_unloaded(&template);
    }
    if let Some(component) = quoted("Unknown component ") {
        let defines = format!("component {component}");
        return named
            .iter()
            .any(|(n, text)| is_unloaded(n) && text.contains(&defines));
    }
    false
}

/// The template an error is in, from the error or its rendered report.
fn error_file(e: &tera::Error) -> Option<String> {
    match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
            Some(r.filename().to_owned())
        }
        tera::ErrorKind::MissingParent { current: tpl, .. }
        | tera::ErrorKind::CircularExtend { tpl, .. }
        | tera::ErrorKind::CircularInclude { tpl, .. } => Some(tpl.clone()),
        tera::ErrorKind::Msg(report) => {
            let locus = report.lines().nth(1)?.trim_start().strip_prefix("--> ")?;
            let mut parts = locus.rsplitn(3, ':');
            parts.next()?;
            parts.next()?;
            parts.next().map(str::to_owned)
        }
        _ => None,
    }
}

fn one_line(e: &tera::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Diagnostics, Pages) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(DIR).join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let mut diags = Diagnostics::default();
        let pages = Pages::load(dir.path(), &mut diags);
        (dir, diags, pages)
    }

    #[test]
    fn pages_extend_include_and_escape() {
        let (_d, diags, pages) = load(&[
            ("base.html", "<main>{% block body %}{% endblock %}</main>"),
            ("parts/name.html", "<b>{{ product.name }}</b>"),
            (
                "product.html",
                "{% extends \"base.html\" %}{% block body %}{% include \"parts/name.html\" %} {{ result.product.price }}{% endblock %}",
            ),
        ]);
        assert!(diags.is_empty(), "{diags}");
        let html = pages
            .render(
                "product.html",
                &serde_json::json!({"product": {"name": "<Tea & Co>", "price": 4.5}}),
            )
            .unwrap();
        assert_eq!(html, "<main><b>&lt;Tea &amp; Co&gt;</b> 4.5</main>");
    }

    #[test]
    fn template_errors_name_file_and_line() {
        let (_d, diags, pages) = load(&[
            ("ok.html", "fine"),
            ("broken.html", "<p>\n{{ product.name </p>\n"),
        ]);
        let d = diags.0.first().expect("an error");
        assert!(d.file.ends_with("templates/broken.html"), "{d}");
        assert_eq!(d.line, 2, "{d}");
        assert!(pages.contains("ok.html"));
    }

    #[test]
    fn a_broken_template_keeps_out_only_what_needs_it() {
        let (_d, diags, pages) = load(&[
            ("base.html", "<main>{% block body %}{% endblock %}</main>"),
            (
                "ok.html",
                "{% extends \"base.html\" %}{% block body %}ok{% endblock %}",
            ),
            ("broken.html", "<p>\n{{ product.name </p>\n"),
            ("child.html", "{% extends \"broken.html\" %}"),
            ("uses.html", "{% include \"child.html\" %}"),
            (
                "parts.html",
                "{% component card() %}<b>{% endcomponent %}{{ oops",
            ),
            ("card.html", "{% <card> %}x{% </card> %}"),
            ("filter.html", "{{ x | nosuchfilter }}"),
            ("parent.html", "{% extends \"nowhere.html\" %}"),
        ]);
        let errors: Vec<(String, u32)> = diags
            .0
            .iter()
            .map(|d| {
                (
                    d.file.file_name().unwrap().to_string_lossy().into_owned(),
                    d.line,
                )
            })
            .collect();
        assert_eq!(
            errors,
            [
                ("broken.html".to_owned(), 2),
                ("filter.html".to_owned(), 1),
                ("parent.html".to_owned(), 1),
                ("parts.html".to_owned(), 1),
            ],
            "{diags}"
        );
        assert!(pages.contains("ok.html") && pages.contains("base.html"));
        for lost in [
            "broken.html",
            "child.html",
            "uses.html",
            "filter.html",
            "card.html",
        ] {
            assert!(
                !pages.contains(lost) && pages.lost_to_errors(lost),
                "{lost}"
            );
        }
        assert!(!pages.lost_to_errors("nope.html"));
        assert_eq!(
            pages.render("ok.html", &serde_json::json!({})).unwrap(),
            "<main>ok</main>"
        );
    }
}
