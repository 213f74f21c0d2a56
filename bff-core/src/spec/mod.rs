//! Reading a BFF folder: `bff.yaml` and every file under `endpoints/`,
//! parsed into typed specs with unknown keys rejected. Problems are
//! collected across all files, never just the first.

mod graphql;
mod model;
pub(crate) mod test_file;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub(crate) use graphql::{GraphqlLimits, GraphqlSpec};
pub(crate) use model::{
    CallSpec, EndpointSpec, ExampleSpec, RequestSpec, RespondSpec, SoapSpec, SoapVersionSpec,
    StatusSpec,
};

use crate::config::BffConfig;
use crate::source::{Diagnostic, Diagnostics, Loc, key_column};

/// A parsed file, with its text kept for pointing at errors found later.
#[derive(Debug, Clone)]
pub struct SpecFile<T> {
    /// Where the file is, as the user named it.
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    /// What it says.
    pub spec: T,
}

impl<T> SpecFile<T> {
    /// A problem at a located value of this file.
    pub fn error_at<V>(&self, at: &Loc<V>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.path, &self.text, at.line, at.column, message)
    }

    /// A problem with the key of a mapping entry, given the entry's value:
    /// the key is on the value's line before it (`name: { … }`) or on the
    /// nearest line above that is not a comment (`name:` over a block).
    pub fn error_at_key<V>(
        &self,
        key: &str,
        value: &Loc<V>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let lines: Vec<&str> = self.text.lines().collect();
        let last = (value.line as usize).min(lines.len());
        let found = (1..=last).rev().find_map(|n| {
            let line = lines[n - 1];
            if line.trim_start().starts_with('#') {
                return None;
            }
            let before: String = if n == value.line as usize {
                let column = value.column.saturating_sub(1) as usize;
                line.chars().take(column).collect()
            } else {
                line.to_owned()
            };
            key_column(&before, key).map(|c| (n, c))
        });
        match found {
            Some((line, column)) => Diagnostic::span(
                &self.path,
                &self.text,
                line as u32,
                column as u32 + 1,
                key.chars().count() as u32,
                message,
            ),
            None => self.error_at(value, message),
        }
    }
}

/// Everything a BFF folder holds, parsed but not yet checked as a whole.
#[derive(Debug, Clone)]
pub struct SpecSet {
    /// The folder.
    pub dir: PathBuf,
    /// `bff.yaml`.
    pub config: SpecFile<BffConfig>,
    /// The endpoint files, sorted by path.
    pub endpoints: Vec<SpecFile<EndpointSpec>>,
    /// `graphql.yaml`, when the folder has one.
    pub graphql: Option<SpecFile<GraphqlSpec>>,
}

/// Reads and parses a folder. Files that fail to parse are reported and left
/// out; the caller decides whether anything reported is fatal.
pub(crate) fn read_dir(dir: &Path, diags: &mut Diagnostics) -> Option<SpecSet> {
    let config_path = dir.join("bff.yaml");
    let config = read_file::<BffConfig>(&config_path, diags);
    let endpoints_dir = dir.join("endpoints");
    let mut files = Vec::new();
    if endpoints_dir.is_dir() {
        collect_yaml(&endpoints_dir, &mut files, diags);
    }
    files.sort();
    let endpoints = files
        .iter()
        .filter_map(|p| read_file::<EndpointSpec>(p, diags))
        .collect();
    let graphql_path = dir.join("graphql.yaml");
    let graphql = if graphql_path.is_file() {
        read_file::<GraphqlSpec>(&graphql_path, diags)
    } else {
        None
    };
    Some(SpecSet {
        dir: dir.to_owned(),
        config: config?,
        endpoints,
        graphql,
    })
}

/// Parses one spec file, reporting a syntax or shape error at its location.
pub(crate) fn read_file<T: DeserializeOwned>(
    path: &Path,
    diags: &mut Diagnostics,
) -> Option<SpecFile<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(Diagnostic::file(path, format!("cannot read file: {e}")));
            return None;
        }
    };
    match parse_text::<T>(path, &text) {
        Ok(spec) => Some(SpecFile {
            path: path.to_owned(),
            text,
            spec,
        }),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// Parses YAML text into a spec type.
pub(crate) fn parse_text<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, Diagnostic> {
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let message = e.render_with_options(serde_saphyr::render_options! {
            snippets: serde_saphyr::SnippetMode::Off,
        });
        let message = strip_location_suffix(&message);
        match e.location() {
            Some(l) if l.line() > 0 => {
                // The parser knows what it stopped at (a key, a token); a
                // caret under that beats one under the rest of the line.
                // (in characters, as the span counts them), kept on its line.
                let (line, column) = (l.line() as u32, l.column() as u32);
                let left_on_line = text.lines().nth(line as usize - 1).map_or(0, |t| {
                    t.chars()
                        .count()
                        .saturating_sub((column as usize).saturating_sub(1))
                });
                match l.span().len().min(left_on_line as u64) {
                    0 => Diagnostic::at(path, text, line, column, message),
                    w => Diagnostic::span(path, text, line, column, w as u32, message),
                }
            }
            _ => Diagnostic::file(path, message),
        }
    })
}

/// The plain message of a YAML error, without the location it repeats.
fn strip_location_suffix(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message);
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>, diags: &mut Diagnostics) {
    let yaml = |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    collect_files(dir, &yaml, out, diags);
}

/// Every file under `dir`, at any depth, that `keep` accepts. Hidden
/// entries (editors' swap files, a Kubernetes volume's `..data`) are
/// skipped; a folder that cannot be read is reported.
pub(crate) fn collect_files(
    dir: &Path,
    keep: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
    diags: &mut Diagnostics,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::file(dir, format!("cannot read folder: {e}")));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, keep, out, diags);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_reported_where_it_is() {
        let text = "endpoint: GET /a\ncalls:\n  x:\n    service: s\n    gett: /a\n";
        let d = parse_text::<EndpointSpec>(Path::new("a.yaml"), text).unwrap_err();
        println!("{d}");
        assert_eq!((d.line, d.column), (5, 5));
        assert!(d.message.contains("gett"), "{}", d.message);
    }

    #[test]
    fn a_key_is_found_above_its_block_or_before_its_flow_mapping() {
        let text = "endpoint: GET /a\ncalls:\n  path:  # path: reserved\n    # path: still\n    service: s\n  \"body\": { service: s }\n";
        let file = SpecFile {
            path: "a.yaml".into(),
            text: text.to_owned(),
            spec: parse_text::<EndpointSpec>(Path::new("a.yaml"), text).unwrap(),
        };
        let at = |key: &str| {
            let d = file.error_at_key(key, &file.spec.calls[key], "reserved");
            (d.line, d.column, d.width)
        };
        assert_eq!(at("path"), (3, 3, 4));
        assert_eq!(at("body"), (6, 4, 4));
    }

    #[test]
    fn syntax_error_is_located() {
        let text = "endpoint: GET /a\ncalls: [\n";
        let d = parse_text::<EndpointSpec>(Path::new("a.yaml"), text).unwrap_err();
        println!("{d}");
        assert!(d.line >= 2);
    }
}
