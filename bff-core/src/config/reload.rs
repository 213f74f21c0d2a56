//! `reload:` of bff.yaml: whether and how soon the BFF reloads its spec
//! folder when files change.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Hot reload of the spec folder. A reload also happens on `SIGHUP` and on
/// `POST /reload` of the admin listener, whatever `watch` says.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReloadConfig {
    /// Reload when a file under the spec folder changes (default `true`).
    #[serde(default = "super::yes")]
    pub watch: bool,
    /// Quiet time after the last change before reloading, so an editor's
    /// or a `kubectl apply`'s several writes make one reload (default `250ms`).
    #[serde(default = "default_debounce", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub debounce: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch: true,
            debounce: default_debounce(),
        }
    }
}

fn default_debounce() -> Duration {
    Duration::from_millis(250)
}
