//! What a call waits for: the calls its templates and expressions read,
//! plus those its `after` names. A name that is neither a call nor part of
//! the request is reported where it is read.

use super::call::CallCx;
use super::locate::at_reference;
use crate::plan::REQUEST_ROOTS;
use crate::plan::expr::Expr;

impl<T> CallCx<'_, '_, T> {
    /// Indexes of the calls this call needs, sorted, each once.
    pub(super) fn deps(&mut self) -> Vec<usize> {
        let (spec, name, names) = (self.spec, self.name, self.names);
        let allowed_in_templates: Vec<&str> = match &spec.for_each {
            Some(_) if spec.batch.is_some() => vec!["batch"],
            Some(_) => vec!["item"],
            None => vec![],
        };
        let mut deps = Vec::new();
        for root in &self.roots {
            if let Some(i) = names.iter().position(|n| n == root) {
                deps.push(i);
            } else if !REQUEST_ROOTS.contains(&root.as_str())
                && !allowed_in_templates.contains(&root.as_str())
            {
                let message = if self.resolver {
                    format!(
                        "resolver `{name}` reads `{root}`, which is not one of args, parent, auth, headers, query{}",
                        hint_for(&allowed_in_templates, root)
                    )
                } else {
                    format!(
                        "call `{name}` reads `{root}`, which is not a call of this endpoint nor one of path, query, headers, body, auth{}",
                        hint_for(&allowed_in_templates, root)
                    )
                };
                self.diags
                    .push(at_reference(self.file, spec, root, message));
            }
        }
        for src in [&spec.when, &spec.for_each, &spec.body_jq]
            .into_iter()
            .flatten()
        {
            for n in Expr::top_level_names(src) {
                if let Some(i) = names.iter().position(|c| *c == n) {
                    deps.push(i);
                }
            }
        }
        for after in &spec.after {
            match names.iter().position(|n| *n == after.as_str()) {
                Some(i) => deps.push(i),
                None => self.diags.push(
                    self.file
                        .error_at(after, format!("unknown call `{}` in after", after.value)),
                ),
            }
        }
        deps.sort_unstable();
        deps.dedup();
        deps
    }
}

/// Why `batch` or `item` cannot be read here, when that is what was read.
fn hint_for(allowed: &[&str], root: &str) -> String {
    match root {
        "upstream" => " (`upstream`, the headers calls expose, is read in respond only)".into(),
        "batch" if !allowed.contains(&"batch") => " (`batch` needs for_each with batch)".into(),
        "item" if !allowed.contains(&"item") => " (`item` needs for_each without batch)".into(),
        _ => String::new(),
    }
}
