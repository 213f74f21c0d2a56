//! `openapi:` of bff.yaml: the API description the BFF serves of itself.

use schemars::JsonSchema;
use serde::Deserialize;

/// The OpenAPI 3.1 description of the BFF's endpoints and routes, built from
/// the specs (and rebuilt when they reload): `GET /openapi.json`, and
/// `GET /docs`, the same rendered as a reference page. A path that an
/// endpoint or route of the specs owns stays theirs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenApiConfig {
    /// Serve `/openapi.json` and `/docs` (default `true`).
    #[serde(default = "super::yes")]
    pub serve: bool,
    /// Title of the API; defaults to the spec folder's name.
    #[serde(default)]
    pub title: Option<String>,
    /// Version of the API (default `1.0.0`).
    #[serde(default)]
    pub version: Option<String>,
    /// What the API is for; Markdown.
    #[serde(default)]
    pub description: Option<String>,
}

impl Default for OpenApiConfig {
    fn default() -> Self {
        Self {
            serve: true,
            title: None,
            version: None,
            description: None,
        }
    }
}
