//! The bottom layer: where a value was written in a file, and problems
//! that point there (file, line, column and a caret under the text),
//! collected for a whole folder before failing. Every layer above reads
//! and reports through these; this one uses none of them.

mod diagnostic;
mod loc;

pub(crate) use diagnostic::key_column;
pub use diagnostic::{Diagnostic, Diagnostics};
pub(crate) use loc::Loc;
