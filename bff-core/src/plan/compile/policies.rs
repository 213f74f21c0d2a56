//! The authentication policies of bff.yaml compiled, the lookup by which
//! endpoints and routes name one, and the identity headers they fill.

use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use indexmap::IndexMap;

use super::{Policies, unknown_name};
use crate::auth::Policy;
use crate::config::BffConfig;
use crate::plan::inspect::InspectPolicy;
use crate::source::{Diagnostics, Loc};
use crate::spec::SpecFile;

/// Every policy of bff.yaml that compiles, by name; the others are reported.
pub(super) fn compile_policies(
    file: &SpecFile<BffConfig>,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Policies {
    let mut out = IndexMap::new();
    for (name, config) in &file.spec.auth {
        match Policy::compile(config, dir) {
            Ok(mut p) => {
                p.index = out.len();
                out.insert(name.clone(), Arc::new(p));
            }
            Err(e) => diags.push(file.error_at(config, format!("auth policy `{name}`: {e}"))),
        }
    }
    out
}

/// Inspection policies by name.
pub(super) type Inspections = IndexMap<String, Arc<InspectPolicy>>;

/// Every inspection policy of bff.yaml; exclusions that name nothing are
/// reported where they are written.
pub(super) fn compile_inspections(
    file: &SpecFile<BffConfig>,
    diags: &mut Diagnostics,
) -> Inspections {
    file.spec
        .inspect
        .iter()
        .map(|(name, config)| {
            let policy = InspectPolicy::compile(
                name,
                config,
                |at, why| file.error_at(at, format!("inspect policy `{name}`: {why}")),
                diags,
            );
            (name.clone(), Arc::new(policy))
        })
        .collect()
}

/// The inspection policy an endpoint or route names, reported when unknown.
pub(super) fn lookup_inspection<T>(
    file: &SpecFile<T>,
    name: Option<&Loc<String>>,
    inspections: &Inspections,
    diags: &mut Diagnostics,
) -> Option<Arc<InspectPolicy>> {
    let name = name?;
    let found = inspections.get(name.as_str()).cloned();
    if found.is_none() {
        diags.push(file.error_at(
            name,
            unknown_name("inspect policy", name, inspections.keys()),
        ));
    }
    found
}

/// Every header name any policy fills with identity, once each.
pub(super) fn identity_headers(policies: &Policies) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for name in policies.values().flat_map(|p| p.forward.names()) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// The policy an endpoint or route names, reported when unknown.
pub(super) fn lookup_policy<T>(
    file: &SpecFile<T>,
    name: Option<&Loc<String>>,
    policies: &Policies,
    diags: &mut Diagnostics,
) -> Option<Arc<Policy>> {
    let name = name?;
    let found = policies.get(name.as_str()).cloned();
    if found.is_none() {
        diags.push(file.error_at(name, unknown_name("auth policy", name, policies.keys())));
    }
    found
}
