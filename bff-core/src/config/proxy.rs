//! `proxy:` of bff.yaml: pass-through routes and their WebSocket settings.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

use super::RequireConfig;
use crate::source::Loc;

/// A pass-through route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyRoute {
    /// Path prefix owned by the route, e.g. `/api/users`.
    pub prefix: Loc<String>,
    /// Service the requests go to.
    pub service: Loc<String>,
    /// What replaces `prefix` upstream, e.g. `/users`; by default the path is kept.
    #[serde(default)]
    pub rewrite: Option<String>,
    /// Authentication policy of bff.yaml every request of the route must pass.
    #[serde(default)]
    pub auth: Option<Loc<String>>,
    /// Largest request body, in bytes, the route passes on; larger gets `413`.
    #[serde(default)]
    pub max_body: Option<u64>,
    /// What the identity must hold to use the route (needs `auth`).
    #[serde(default)]
    pub require: Option<Loc<RequireConfig>>,
    /// Rate-limit policy of bff.yaml counting the route's requests.
    #[serde(default)]
    pub rate_limit: Option<Loc<String>>,
    /// Inspection policy of bff.yaml checking the route's path, query and
    /// headers for injections.
    #[serde(default)]
    pub inspect: Option<Loc<String>>,
    /// Time the upstream may take to answer (its response headers) once the request body is sent.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// Carry WebSocket upgrades to the service and relay the connection
    /// (`websocket: {}` for the defaults). Without it, `Upgrade` is dropped
    /// and the request goes on as a plain one.
    #[serde(default)]
    pub websocket: Option<Loc<WebSocketConfig>>,
}

/// WebSocket connections on a pass-through route.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebSocketConfig {
    /// A connection over which no byte has moved, in either direction, for
    /// this long is closed. Pings count as traffic.
    #[serde(default = "default_websocket_idle", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub idle_timeout: Duration,
    /// Browser origins allowed to open a connection (`Origin` header), e.g.
    /// `https://shop.example`; `${VAR}` allowed, several in one value
    /// separated by commas. Any origin when empty.
    #[serde(default)]
    pub origins: Vec<String>,
}

fn default_websocket_idle() -> Duration {
    Duration::from_secs(60)
}
