//! Load errors that point at the text: file, line, column and a caret under
//! the offending characters, collected for the whole folder before failing.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found while loading a spec folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// File the problem is in.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// How many characters the caret underlines.
    pub width: u32,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The line of text the caret points into.
    pub source_line: String,
}

impl Diagnostic {
    /// A problem at `line:column` of `text`, underlining the value that starts there.
    pub fn at(file: &Path, text: &str, line: u32, column: u32, message: impl Into<String>) -> Self {
        let source_line = nth_line(text, line);
        let width = value_width(&source_line, column);
        Self {
            file: file.to_owned(),
            line,
            column,
            width,
            message: message.into(),
            source_line,
        }
    }

    /// A problem at an exact span on one line.
    pub fn span(
        file: &Path,
        text: &str,
        line: u32,
        column: u32,
        width: u32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            width: width.max(1),
            ..Self::at(file, text, line, column, message)
        }
    }

    /// A problem with the file as a whole (unreadable, missing).
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: 0,
            column: 0,
            width: 0,
            message: message.into(),
            source_line: String::new(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", self.message)?;
        if self.line == 0 {
            return write!(f, "  --> {}", self.file.display());
        }
        let gutter = self.line.to_string();
        let pad = " ".repeat(gutter.len());
        writeln!(
            f,
            "{pad}--> {}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        )?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{gutter} | {}", self.source_line)?;
        let indent: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1) as usize)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "{pad} | {indent}{}",
            "^".repeat(self.width.max(1) as usize)
        )
    }
}

/// Every problem of a folder, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}\n")?;
        }
        let n = self.0.len();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

impl std::error::Error for Diagnostics {}

fn nth_line(text: &str, line: u32) -> String {
    text.lines()
        .nth(line.saturating_sub(1) as usize)
        .unwrap_or("")
        .to_owned()
}

/// Width of the YAML scalar starting at `column`: a quoted string to its
/// closing quote, a plain one to the end of the line or a comment, or
/// inside a flow collection (`{ a: b, c: d }`) to the next `,`, `}` or `]`.
fn value_width(line: &str, column: u32) -> u32 {
    let before: String = line
        .chars()
        .take(column.saturating_sub(1) as usize)
        .collect();
    let rest: String = line
        .chars()
        .skip(column.saturating_sub(1) as usize)
        .collect();
    let len = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].find(q).map_or(rest.len(), |end| end + 2),
        Some(_) => {
            let comment = rest.find(" #").unwrap_or(rest.len());
            let flow_end = in_flow(&before)
                .then(|| rest.find([',', '}', ']']))
                .flatten()
                .unwrap_or(rest.len());
            comment.min(flow_end)
        }
        None => 1,
    };
    rest[..len.min(rest.len())]
        .trim_end()
        .chars()
        .count()
        .max(1) as u32
}

/// The 0-based character column of `key` used as a YAML key on `line`
/// (`key:`, `"key":`, `{ key: …`), not as a word inside a value.
pub(crate) fn key_column(line: &str, key: &str) -> Option<usize> {
    line.match_indices(key).map(|(i, _)| i).find_map(|i| {
        let before = line[..i].chars().next_back();
        let rest = &line[i + key.len()..];
        let rest = rest.strip_prefix(['"', '\'']).unwrap_or(rest);
        let starts = before.is_none_or(|c| matches!(c, ' ' | '{' | ',' | '"' | '\'' | '-'));
        (starts && rest.starts_with(':')).then(|| line[..i].chars().count())
    })
}

/// Whether the text before a value leaves a flow collection open, where a
/// plain scalar ends at the next flow indicator.
fn in_flow(before: &str) -> bool {
    let mut depth = 0i32;
    let mut quote = None;
    for c in before.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '{' | '[') => depth += 1,
            (None, '}' | ']') => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_underlines_the_value() {
        let text = "calls:\n  a:\n    service: catalogue  # typo\n";
        let d = Diagnostic::at(
            Path::new("e.yaml"),
            text,
            3,
            14,
            "unknown service `catalogue`",
        );
        assert_eq!(
            d.to_string(),
            "error: unknown service `catalogue`\n --> e.yaml:3:14\n  |\n3 |     service: catalogue  # typo\n  |              ^^^^^^^^^"
        );
    }

    #[test]
    fn keys_are_found_as_keys_only() {
        assert_eq!(key_column("  body: { id: x, qty: 2 }", "qty"), Some(17));
        assert_eq!(key_column("    \"qty\": 2", "qty"), Some(5));
        assert_eq!(key_column("  note: qty is low, qty: 1", "qty"), Some(20));
        assert_eq!(key_column("  quantity: 1", "qty"), None);
    }

    #[test]
    fn quoted_values_include_quotes() {
        assert_eq!(value_width(r#"  get: "/a/{{ x }}" # c"#, 8), 12);
    }

    #[test]
    fn plain_values_in_flow_mappings_end_at_a_flow_indicator() {
        let line = "  list: { service: orders, get: /p?ids=1,2 }";
        assert_eq!(value_width(line, 20), 6);
        assert_eq!(value_width("  get: /p?ids=1,2 # c", 8), 10);
        assert_eq!(value_width("  after: [a, b]", 14), 1);
    }
}
