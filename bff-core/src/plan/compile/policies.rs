//! The authentication policies of bff.yaml compiled, the lookup by which
//! endpoints and routes name one, and the identity headers they fill.

use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use indexmap::IndexMap;

use super::{Policies, unknown_name};
use crate::auth::Policy;
use crate::config::BffConfig;
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
