//! End-to-end tests of composition semantics: a real gateway on loopback in
//! front of real axum upstreams on loopback (port 0 everywhere), checking
//! what a client of the BFF would notice — timing of the call graph,
//! templated requests as the upstream received them, list enrichment,
//! conditional calls, the error contract, deadlines, writes, shaping,
//! routing and Server-Timing. One test binary; one module per topic, over
//! the shared harness in `harness.rs`.

mod harness;

mod concurrency;
mod conditions;
mod deadline;
mod errors;
mod for_each;
mod graphql;
mod input;
mod inspect;
mod observability;
mod routing;
mod shaping;
mod soap;
mod templates;
mod writes;
