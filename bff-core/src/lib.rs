//! bff-core: the composition engine and edge machinery shared by every
//! Backends-for-Frontends binary.
//!
//! A BFF is a folder of composition specs (`bff.yaml` plus one file per
//! endpoint). [`plan::load`] reads, checks and compiles one into a
//! [`plan::Plan`]; a [`Gateway`] serves it with a client [`Extension`]
//! (typed settings from `extensions:` in `bff.yaml`, hooks on routing,
//! encoding, the API description, identities and upstream calls);
//! [`cli::main`] is the whole command line of a BFF binary. Errors a
//! client sees are [`Problem`]s; errors in specs are located
//! [`Diagnostics`]. docs/architecture.md describes the modules behind this
//! API.

mod access_log;
mod admin;
mod auth;
mod cache;
pub mod cli;
mod conditional;
pub mod config;
mod dashboard_counts;
mod edge;
mod error;
mod exec;
mod extension;
pub mod formats;
pub mod headers;
pub mod healthcheck;
mod lang;
mod layers;
mod listener;
mod metrics;
mod negotiate;
mod observe;
mod openapi;
mod pages;
mod pipeline;
pub mod plan;
mod proto;
mod proxy;
mod ratelimit;
mod redis_store;
mod reload;
mod running;
mod runtime;
pub mod schema;
mod server;
mod source;
mod spec;
mod spectest;
mod takeover;
mod telemetry;
mod tls;
mod upstream;
pub mod value;
mod wsdl;
mod xml_body;

pub use error::{PROBLEM_JSON, Problem};
pub use extension::{CallRequest, Extension, NoConfig, NoExtension};
pub use server::Gateway;
pub use source::{Diagnostic, Diagnostics};

/// Internals the workspace's own tests and tools reach; not part of the
/// API, and free to change with any release.
#[doc(hidden)]
pub mod testing {
    pub use crate::auth::api_key::{generate, parse};
    pub use crate::cache::{HttpCache, Lookup};
    pub use crate::listener::serve;
    pub use crate::proto::{ProtoError, decode_json, message};
    pub use crate::tls::{TlsError, server_config};

    /// The HTTP cache of upstream answers of a gateway's specs.
    pub fn call_cache(gateway: &crate::Gateway) -> &HttpCache {
        &gateway.running().call_cache
    }
}
