//! Server-rendered HTML: the tera templates under a BFF's `templates/`
//! folder, parsed when specs load (and reloaded with them), rendered with
//! an endpoint's shaped result for clients that prefer `text/html`.

use std::path::Path;

use tera::{Context, Tera};

use crate::plan::template::{TemplateError, template_error};
use crate::spec::{Diagnostic, Diagnostics};

/// The folder of a BFF that holds its page templates.
pub const DIR: &str = "templates";

/// Every page template of a BFF, named by its path under `templates/`
/// (`product.html`, `partials/stars.html`), so `extends` and `include`
/// name them the same way.
#[derive(Default)]
pub struct Pages {
    tera: Tera,
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
    /// exist. Errors are reported at their template's line and column.
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
        let mut tera = Tera::default();
        // Values land in HTML: every template escapes them, whatever its name ends in.
        tera.autoescape_on(vec![""]);
        if let Err(e) = tera.add_raw_templates(named.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        {
            diags.push(located(&root, &named, &e));
            return Pages::default();
        }
        Pages { tera }
    }

    /// Whether a template of that name was loaded.
    pub fn contains(&self, name: &str) -> bool {
        self.tera.contains_template(name)
    }

    /// The names of the loaded templates.
    pub fn names(&self) -> Vec<String> {
        self.tera.get_template_names().map(str::to_owned).collect()
    }

    /// Renders a page with the shaped result: its members are top-level
    /// variables and the whole of it is `result`.
    pub fn render(&self, name: &str, result: &serde_json::Value) -> Result<String, String> {
        let mut ctx = Context::new();
        if let serde_json::Value::Object(members) = result {
            for (k, v) in members {
                ctx.insert(k.clone(), v);
            }
        }
        ctx.insert("result", result);
        self.tera
            .render(name, &ctx)
            .map_err(|e| template_error(&e, "").message)
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

/// The template an error is in, from the error or its rendered report.
fn error_file(e: &tera::Error) -> Option<String> {
    match e.kind() {
        tera::ErrorKind::SyntaxError(r) | tera::ErrorKind::RenderingError(r) => {
            Some(r.filename().to_owned())
        }
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
        assert!(!pages.contains("ok.html"));
    }
}
