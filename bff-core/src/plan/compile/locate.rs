//! Pointing at text inside a scalar: an error a template or jq expression
//! reports by its own line and column, or a name a call reads, becomes a
//! diagnostic at that place of the spec file.

use crate::plan::expr::ExprError;
use crate::plan::template::TemplateError;
use crate::source::{Diagnostic, Loc};
use crate::spec::{CallSpec, SpecFile};

/// A jq error, at the characters of the expression it is about.
pub(super) fn expr_diagnostic<T>(
    file: &SpecFile<T>,
    src: &Loc<String>,
    e: &ExprError,
) -> Diagnostic {
    let (line, column) = line_col(src, e.range.start);
    let width = src
        .get(e.range.clone())
        .and_then(|t| t.lines().next())
        .map_or(1, |l| l.chars().count());
    locate(file, src, line, column, width, format!("jq: {}", e.message))
}

/// A template error, at the characters of the template it is about.
pub(super) fn template_diagnostic<T>(
    file: &SpecFile<T>,
    src: &Loc<String>,
    e: &TemplateError,
) -> Diagnostic {
    locate(
        file,
        src,
        e.line,
        e.column,
        e.width,
        format!("template: {}", e.message),
    )
}

/// 1-based line and 0-based column of a byte offset in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
    (line, column)
}

/// Places an error found inside a scalar (template or expression) in its
/// file: the scalar's own line of text is searched for from where the
/// scalar starts, which works for plain, quoted and block scalars alike.
pub(super) fn locate<T>(
    file: &SpecFile<T>,
    src: &Loc<String>,
    line: usize,
    column: usize,
    width: usize,
    message: String,
) -> Diagnostic {
    let wanted = src.value.lines().nth(line.saturating_sub(1)).unwrap_or("");
    // Line `line` of the scalar cannot sit above the scalar's own line plus
    // `line - 1`; starting there keeps a repeated text from matching early.
    let start = src.line.saturating_sub(1) as usize + line.saturating_sub(1);
    let found = file
        .text
        .lines()
        .enumerate()
        .skip(start)
        .take(src.value.lines().count() + 2)
        .find_map(|(i, l)| {
            l.find(wanted)
                .filter(|_| !wanted.is_empty())
                .map(|at| (i, at))
        });
    match found {
        Some((i, at)) => {
            let col_chars = file
                .text
                .lines()
                .nth(i)
                .map_or(0, |l| l[..at].chars().count());
            Diagnostic::span(
                &file.path,
                &file.text,
                i as u32 + 1,
                (col_chars + column + 1) as u32,
                width as u32,
                message,
            )
        }
        None => file.error_at(src, message),
    }
}

/// Points at where a call reads `name`: the first template, expression or
/// `after` entry of the call that mentions it; the call itself otherwise.
pub(super) fn at_reference<T>(
    file: &SpecFile<T>,
    call: &Loc<CallSpec>,
    name: &str,
    message: String,
) -> Diagnostic {
    let width = name.chars().count();
    let templates = [&call.get, &call.post, &call.put, &call.patch, &call.delete]
        .into_iter()
        .flatten()
        .chain(call.query.values())
        .chain(call.headers.values());
    let expressions = [&call.when, &call.for_each, &call.body_jq]
        .into_iter()
        .flatten();
    let found = templates
        .filter_map(|src| Some((src, find_in_template(src, name)?)))
        .chain(expressions.filter_map(|src| Some((src, find_in_jq(src, name)?))))
        .next();
    if let Some((src, at)) = found {
        let (line, column) = line_col(src, at);
        return locate(file, src, line, column, width, message);
    }
    if let Some(after) = call.after.iter().find(|a| a.as_str() == name) {
        return file.error_at(after, message);
    }
    if let Some(body) = &call.body {
        let mut strings = Vec::new();
        json_strings(&body.value, &mut strings);
        for s in strings {
            if let Some(at) = find_in_template(s, name) {
                let src = Loc {
                    value: s.to_owned(),
                    line: body.line,
                    column: body.column,
                };
                let (line, column) = line_col(s, at);
                return locate(file, &src, line, column, width, message);
            }
        }
    }
    file.error_at(call, message)
}

/// Byte offset of `name` read as a variable inside a `{{ }}` or `{% %}` tag.
fn find_in_template(text: &str, name: &str) -> Option<usize> {
    text.match_indices(name).map(|(i, _)| i).find(|&i| {
        let before = &text[..i];
        let opened = before.rfind("{{").max(before.rfind("{%"));
        let closed = before.rfind("}}").max(before.rfind("%}"));
        let in_tag = match (opened, closed) {
            (Some(o), Some(c)) => o > c,
            (Some(_), None) => true,
            _ => false,
        };
        in_tag && is_whole_word(text, i, name.len(), |c| c == '.')
    })
}

/// Byte offset of `name` read as a top-level field (`.name`) in jq.
fn find_in_jq(text: &str, name: &str) -> Option<usize> {
    text.match_indices(name).map(|(i, _)| i).find(|&i| {
        let Some(path) = text[..i].strip_suffix('.') else {
            return false;
        };
        // `.a.name` or `.[0].name` reads a field of something else.
        let starts_path = !path
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ']' | ')' | '.' | '?'));
        starts_path && is_whole_word(text, i, name.len(), |_| false)
    })
}

/// Whether the word at `i..i + len` stands alone: no identifier character
/// (nor one `also_not_before` allows) right before it, none right after.
fn is_whole_word(text: &str, i: usize, len: usize, also_not_before: impl Fn(char) -> bool) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let before = text[..i].chars().next_back();
    let after = text[i + len..].chars().next();
    !before.is_some_and(|c| ident(c) || also_not_before(c)) && !after.is_some_and(ident)
}

/// Every string of a JSON value, depth first, where a body's templates are.
fn json_strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_where_they_are_read() {
        assert_eq!(
            find_in_template("/orders/{{ orders.id }}", "orders"),
            Some(11)
        );
        assert_eq!(
            find_in_template("{{ a.orders }}/{{ orders }}", "orders"),
            Some(18)
        );
        assert_eq!(
            find_in_jq(".a.orders, [.orders2, .orders]", "orders"),
            Some(23)
        );
        assert_eq!(find_in_jq("orders | .x", "orders"), None);
    }

    #[test]
    fn offsets_become_line_and_column() {
        assert_eq!(line_col("ab\ncd", 4), (2, 1));
        assert_eq!(line_col("abc", 1), (1, 1));
    }
}
