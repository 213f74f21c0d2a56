//! jq expressions (via jaq), compiled once when specs load and run per
//! request on the engine's values.

use std::sync::{Arc, OnceLock};

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

type JqFilter = jaq_core::Filter<data::JustLut<Val>>;

/// The global variable that selects which expression of a program runs.
const SELECTOR: &str = "$__bff_expr";

/// A compiled jq expression.
#[derive(Clone)]
pub struct Expr {
    id: usize,
    source: Arc<str>,
    program: Arc<OnceLock<JqFilter>>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// A compile error: what went wrong and at which byte range of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte range of the offending text in the expression.
    pub range: std::ops::Range<usize>,
    /// What is wrong.
    pub message: String,
}

/// A jq error raised while an expression ran on a request's data.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct EvalError(jaq_core::Error<Val>);

/// Expressions per compiled program: few enough that choosing one costs as
/// little with 10,000 endpoints as with 10, enough that jq's standard
/// library is compiled rarely. (With 512, 10,000 distinct expressions took
/// more memory, not less: compiling a larger program needs more at once.)
const PER_PROGRAM: usize = 128;

/// Collects the expressions of a BFF and compiles them in a few programs.
///
/// jq's standard library is itself jq: compiling each expression alone
/// would parse and compile it once per expression, which makes a folder of
/// thousands of endpoints slow to load and heavy in memory. Expressions
/// become definitions of a program instead, [`PER_PROGRAM`] to a program,
/// and a global variable selects the definition to run. An expression
/// written the same way in several places is compiled once and shared:
/// jq expressions are pure, so the same text always does the same.
#[derive(Default)]
pub struct ExprBuilder {
    sources: Vec<Arc<str>>,
    programs: Vec<Arc<OnceLock<JqFilter>>>,
    /// The number of each distinct source text, by text.
    known: std::collections::HashMap<Arc<str>, usize>,
    /// For each expression added, in order, the number of its text.
    added: Vec<usize>,
}

impl ExprBuilder {
    /// Checks an expression's syntax and queues it.
    pub fn add(&mut self, code: &str) -> Result<Expr, Vec<ExprError>> {
        if let Some(&n) = self.known.get(code) {
            self.added.push(n);
            return Ok(self.expr(n));
        }
        let arena = Arena::default();
        Loader::new([])
            .load(&arena, File { code, path: () })
            .map_err(|errs| load_errors(code, errs))?;
        let n = self.sources.len();
        if n.is_multiple_of(PER_PROGRAM) {
            self.programs.push(Arc::default());
        }
        let code: Arc<str> = code.into();
        self.sources.push(code.clone());
        self.known.insert(code, n);
        self.added.push(n);
        Ok(self.expr(n))
    }

    /// The expression of distinct text number `n`.
    fn expr(&self, n: usize) -> Expr {
        Expr {
            id: n % PER_PROGRAM,
            source: self.sources[n].clone(),
            program: self.programs[n / PER_PROGRAM].clone(),
        }
    }

    /// Compiles every queued expression; errors name the expression (by the
    /// order it was added in, once for each place its text was added) and a
    /// range of its own text.
    pub fn finish(self) -> Result<(), Vec<(usize, ExprError)>> {
        let mut errors = Vec::new();
        for (n, (sources, program)) in self
            .sources
            .chunks(PER_PROGRAM)
            .zip(&self.programs)
            .enumerate()
        {
            match compile_program(sources) {
                Ok(filter) => {
                    let _ = program.set(filter);
                }
                Err(errs) => errors.extend(errs.into_iter().map(|(i, e)| (n * PER_PROGRAM + i, e))),
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        let mut located = Vec::new();
        for (text, e) in errors {
            for (order, _) in self.added.iter().enumerate().filter(|(_, t)| **t == text) {
                located.push((order, e.clone()));
            }
        }
        Err(located)
    }
}

/// One program holding `sources` as definitions; errors name the index in
/// `sources` and a range of that expression's own text.
fn compile_program(sources: &[Arc<str>]) -> Result<JqFilter, Vec<(usize, ExprError)>> {
    let mut code = String::new();
    let mut starts = Vec::with_capacity(sources.len());
    for (i, src) in sources.iter().enumerate() {
        code.push_str(&format!("def __bff_e{i}: (\n"));
        starts.push(code.len());
        code.push_str(src);
        code.push_str("\n);\n");
    }
    dispatch(&mut code, 0, sources.len());
    let locate = |range: std::ops::Range<usize>| {
        let i = starts
            .partition_point(|&s| s <= range.start)
            .saturating_sub(1);
        let at = range.start - starts[i];
        (i, at..at + range.len())
    };
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let file = File {
        code: code.as_str(),
        path: (),
    };
    let modules = Loader::new(defs).load(&arena, file).map_err(|errs| {
        load_errors(&code, errs)
            .into_iter()
            .map(|e| {
                let (i, range) = locate(e.range);
                (
                    i,
                    ExprError {
                        range,
                        message: e.message,
                    },
                )
            })
            .collect::<Vec<_>>()
    })?;
    Compiler::default()
        .with_funs(funs)
        .with_global_vars([SELECTOR])
        .compile(modules)
        .map_err(|errs| {
            errs.into_iter()
                .flat_map(|(_, undefined)| undefined)
                .map(|(name, what)| {
                    let (i, range) = locate(jaq_core::load::span(&code, name));
                    let message = format!("undefined {} `{name}`", what.as_str());
                    (i, ExprError { range, message })
                })
                .collect::<Vec<_>>()
        })
}

/// Appends a binary search over the expression number, so selecting one of
/// n expressions costs log2(n) comparisons.
fn dispatch(code: &mut String, lo: usize, hi: usize) {
    if hi - lo == 1 {
        code.push_str(&format!("__bff_e{lo}"));
        return;
    }
    let mid = lo + (hi - lo) / 2;
    code.push_str(&format!("if {SELECTOR} < {mid} then "));
    dispatch(code, lo, mid);
    code.push_str(" else ");
    dispatch(code, mid, hi);
    code.push_str(" end");
}

impl Expr {
    /// Parses and compiles one expression on its own.
    pub fn compile(code: &str) -> Result<Self, Vec<ExprError>> {
        let mut b = ExprBuilder::default();
        let e = b.add(code)?;
        b.finish()
            .map_err(|errs| errs.into_iter().map(|(_, e)| e).collect::<Vec<_>>())?;
        Ok(e)
    }

    fn filter(&self) -> &JqFilter {
        self.program
            .get()
            .expect("expressions are compiled before any runs")
    }

    fn vars(&self) -> Vars<Val> {
        Vars::new([Val::from(self.id as isize)])
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every output of the expression for `input`.
    pub(crate) fn run(&self, input: Val) -> Result<Vec<Val>, EvalError> {
        let filter = self.filter();
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, self.vars());
        filter
            .id
            .run((ctx, input))
            .map(unwrap_valr)
            .map(|r| r.map_err(EvalError))
            .collect()
    }

    /// The first output of the expression, or `null` when it yields nothing.
    pub(crate) fn first(&self, input: Val) -> Result<Val, EvalError> {
        let filter = self.filter();
        let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, self.vars());
        match filter.id.run((ctx, input)).map(unwrap_valr).next() {
            Some(r) => r.map_err(EvalError),
            None => Ok(Val::Null),
        }
    }

    /// Names the expression reads from its input's top level (`.name`,
    /// `.name.x`, `.name[]`): the calls it may depend on. A name after a
    /// pipe (`… | .name`) counts too, which may add an ordering edge but
    /// never drops a needed one.
    pub fn top_level_names(code: &str) -> Vec<&str> {
        let bytes = code.as_bytes();
        let mut names = Vec::new();
        let mut i = 0;
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'#' => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                b'.' => {
                    let prev = i.checked_sub(1).map(|p| bytes[p]);
                    let starts_path = !matches!(prev, Some(b) if ident(b) || matches!(b, b']' | b')' | b'.' | b'?'));
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && ident(bytes[end]) {
                        end += 1;
                    }
                    if starts_path && end > start && !bytes[start].is_ascii_digit() {
                        names.push(&code[start..end]);
                    }
                    i = end.max(i + 1);
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

fn load_errors(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> Vec<ExprError> {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, err) in errs {
        match err {
            Error::Io(items) => out.extend(items.into_iter().map(|(s, msg)| ExprError {
                range: jaq_core::load::span(code, s),
                message: msg,
            })),
            // The lexer hands over the rest of the input from where it
            // stopped: the error is at its first character.
            Error::Lex(items) => out.extend(items.into_iter().map(|(expect, found)| {
                let start = jaq_core::load::span(code, found).start;
                let first = found.chars().next().map_or(0, char::len_utf8);
                ExprError {
                    range: start..start + first,
                    message: format!("expected {}", expect.as_str()),
                }
            })),
            Error::Parse(items) => out.extend(items.into_iter().map(|(expect, found)| {
                // Just after the last character, not on a trailing newline.
                let end = code.trim_end().len();
                let range = if found.is_empty() {
                    end..end
                } else {
                    jaq_core::load::span(code, found)
                };
                let found = if found.is_empty() {
                    "end of input".to_owned()
                } else {
                    format!("`{found}`")
                };
                ExprError {
                    range,
                    message: format!("expected {}, found {found}", expect.as_str()),
                }
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value;

    #[test]
    fn many_expressions_share_programs_and_keep_their_own_errors() {
        let mut b = ExprBuilder::default();
        let exprs: Vec<Expr> = (0..40)
            .map(|i| b.add(&format!(". + {i}")).unwrap())
            .collect();
        b.finish().unwrap();
        for (i, e) in exprs.iter().enumerate() {
            let out = e.first(Val::from(1000isize)).unwrap();
            assert_eq!(value::to_json(&out), (1000 + i).to_string().as_bytes());
        }
        let mut b = ExprBuilder::default();
        for i in 0..40 {
            let code = if i == 35 {
                ".a | nosuch".to_owned()
            } else {
                format!(".x{i}")
            };
            b.add(&code).unwrap();
        }
        let errors = b.finish().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 35);
        assert_eq!(errors[0].1.range, 5..11);
    }

    #[test]
    fn expressions_past_one_program_each_run_their_own_code() {
        let mut b = ExprBuilder::default();
        let n = 2 * PER_PROGRAM + 3;
        let exprs: Vec<Expr> = (0..n)
            .map(|i| b.add(&format!(". * 2 + {i}")).unwrap())
            .collect();
        b.finish().unwrap();
        for (i, e) in exprs.iter().enumerate() {
            let out = e.first(Val::from(10isize)).unwrap();
            assert_eq!(value::to_json(&out), (20 + i).to_string().as_bytes(), "{i}");
        }
    }

    #[test]
    fn the_same_text_is_compiled_once_and_its_errors_reported_at_every_place() {
        let mut b = ExprBuilder::default();
        let first = b.add("{a: .a}").unwrap();
        let other = b.add(".b").unwrap();
        let again = b.add("{a: .a}").unwrap();
        assert!(Arc::ptr_eq(&first.program, &again.program) && first.id == again.id);
        assert_eq!(b.sources.len(), 2);
        b.finish().unwrap();
        let input = value::parse(br#"{"a":1,"b":2}"#).unwrap();
        assert_eq!(
            value::to_json(&again.first(input.clone()).unwrap()),
            br#"{"a":1}"#
        );
        assert_eq!(value::to_json(&other.first(input).unwrap()), b"2");

        let mut b = ExprBuilder::default();
        for code in [".a | nosuch", ".b", ".a | nosuch"] {
            b.add(code).unwrap();
        }
        let errors = b.finish().unwrap_err();
        let places: Vec<usize> = errors.iter().map(|(i, _)| *i).collect();
        assert_eq!(places, vec![0, 2]);
        assert!(errors.iter().all(|(_, e)| e.range == (5..11)), "{errors:?}");
    }

    #[test]
    fn compiled_once_runs_many_times() {
        let e = Expr::compile("{name: .profile.name, n: (.orders | length)}").unwrap();
        for i in 0..3 {
            let input = value::parse(
                format!(r#"{{"profile":{{"name":"A{i}"}},"orders":[1,2]}}"#).as_bytes(),
            )
            .unwrap();
            let out = e.first(input).unwrap();
            assert_eq!(
                value::to_json(&out),
                format!(r#"{{"name":"A{i}","n":2}}"#).as_bytes()
            );
        }
    }

    #[test]
    fn syntax_errors_point_into_the_source() {
        let errs = Expr::compile(".a | {x: }").unwrap_err();
        assert!(!errs.is_empty());
        let errs = Expr::compile(".a | nosuchfn(1)").unwrap_err();
        assert_eq!(errs[0].range, 5..13);
        assert!(errs[0].message.contains("nosuchfn"), "{:?}", errs);
    }

    #[test]
    fn lexer_errors_point_at_one_character_and_ends_at_the_last() {
        let errs = Expr::compile("{a: [.x) }").unwrap_err();
        assert!(errs.iter().all(|e| e.range.len() <= 1), "{errs:?}");
        let errs = Expr::compile(".a |\n").unwrap_err();
        assert_eq!(errs[0].range, 4..4, "{errs:?}");
    }

    #[test]
    fn top_level_names_are_found() {
        let names = Expr::top_level_names(
            r#"{a: .profile.name, b: [.orders[].items[] | .product_id], c: ."x.y", d: 1.5}"#,
        );
        assert_eq!(names, vec!["orders", "product_id", "profile"]);
    }
}
