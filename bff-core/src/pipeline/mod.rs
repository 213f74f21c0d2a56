//! The request pipeline, written once in request order: [`admit`] (the
//! same for every front), then for a composed endpoint
//! [`handle_endpoint`]: the input read and checked, the endpoint's answer
//! cache, the call graph run, the result shaped and encoded, the headers
//! that describe it; for a pass-through route [`handle_proxy`], which
//! forwards through [`crate::proxy`]. Pass-through routes and usage
//! endpoints share the admission.

mod admit;
mod compose;
mod endpoint;
mod explorer;
mod graphql;
mod input;
mod inspect;
mod proxy;
mod report;
mod usage;

use std::sync::Arc;

pub(crate) use admit::{Gate, admit};
pub(crate) use endpoint::handle_endpoint;
pub(crate) use explorer::file as explorer_file;
pub(crate) use graphql::handle_graphql;
pub(crate) use proxy::handle_proxy;
pub(crate) use usage::handle_usage;

use crate::extension::Hooks;
use crate::plan::Plan;

/// What every stage of the pipeline reads: the compiled specs, their
/// running state and the client extension of one generation of specs.
pub(crate) struct Context {
    /// The compiled specs.
    pub plan: Plan,
    /// The state of the specs running: services, caches, limits.
    pub running: crate::running::Running,
    /// The BFF binary's client extension, with this generation's settings.
    pub extension: Arc<dyn Hooks>,
}
