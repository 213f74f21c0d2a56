//! `inspect:` of bff.yaml: named policies that check requests for SQL
//! injection and cross-site scripting before they go further.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::source::Loc;

/// A named inspection policy; endpoints and routes choose one with `inspect:`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectConfig {
    /// Look for SQL injection (libinjection's detector).
    #[serde(default = "super::yes")]
    pub sqli: bool,
    /// Look for cross-site scripting (libinjection's detector).
    #[serde(default = "super::yes")]
    pub xss: bool,
    /// `block` refuses a request with `403`; `detect` lets it through and
    /// only logs and counts what was found.
    #[serde(default)]
    pub mode: InspectMode,
    /// Parts left uninspected: `path`, `query.<name>`, `headers.<name>`,
    /// `body` or `body.<member>.<member>` (`*` for any member or item).
    #[serde(default)]
    pub exclude: Vec<Loc<String>>,
}

/// What a finding does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InspectMode {
    /// Refuse the request with `403`.
    #[default]
    Block,
    /// Let it through; log and count.
    Detect,
}
