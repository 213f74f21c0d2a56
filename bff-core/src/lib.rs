//! bff-core: the composition engine and edge machinery shared by every
//! Backends-for-Frontends binary.
//!
//! A BFF is a folder of composition specs (`bff.yaml` plus one file per
//! endpoint). [`spec`] loads and checks them, [`plan`] compiles each endpoint
//! into a call graph with its templates and expressions compiled once,
//! [`exec`] runs a graph per request, and [`server`] puts it all behind one
//! axum router together with the pass-through [`proxy`] routes.

pub mod access_log;
pub mod admin;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod conditional;
pub mod config;
pub mod dashboard_counts;
pub mod edge;
pub mod error;
pub mod exec;
pub mod extension;
pub mod formats;
pub mod headers;
pub mod healthcheck;
pub mod lang;
mod layers;
pub mod listener;
pub mod metrics;
pub mod negotiate;
pub mod observe;
pub mod openapi;
pub mod pages;
pub mod pipeline;
pub mod plan;
pub mod proto;
pub mod proxy;
pub mod ratelimit;
pub mod redis_store;
pub mod reload;
pub mod runtime;
pub mod schema;
pub mod server;
pub mod source;
pub mod spec;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod value;
pub mod xml_body;

pub use error::Problem;
pub use extension::{CallRequest, Extension, NoConfig, NoExtension};
pub use server::Gateway;
pub use source::{Diagnostic, Diagnostics};
