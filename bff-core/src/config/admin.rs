//! `admin:` of bff.yaml: the admin listener (health, readiness, reload,
//! purge) and the token that guards it.

use schemars::JsonSchema;
use serde::Deserialize;

/// The admin listener.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address, e.g. `127.0.0.1:9082`; `${VAR}` allowed. Keep it off public networks.
    pub listen: String,
    /// Token of the admin listener, presented as `Authorization: Bearer` or
    /// as the password of HTTP Basic; use `${VAR}` to keep it out of the
    /// file. With it, every route but `/healthz` and `/readyz` needs it;
    /// without it, routes that change things (reload, cache purge) are
    /// refused and the others are open.
    #[serde(default)]
    pub token: Option<String>,
}
