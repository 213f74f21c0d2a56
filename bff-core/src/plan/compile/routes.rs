//! Every route of the folder has a place of its own: endpoints do not
//! clash with each other nor with pass-through prefixes, and the usage
//! paths of rate-limit policies take no one else's.

use std::collections::HashMap;
use std::path::Path;

use http::Method;

use crate::config::BffConfig;
use crate::plan::Endpoint;
use crate::plan::rate_limits::UsageRoute;
use crate::source::{Diagnostic, Diagnostics};
use crate::spec::{EndpointSpec, SpecFile};

/// The routes placed so far, to refuse one that clashes with them.
pub(super) struct Routes<'a> {
    router: matchit::Router<()>,
    /// Where each endpoint was defined, by method and path.
    defined: HashMap<(Method, String), &'a Path>,
}

impl Default for Routes<'_> {
    fn default() -> Self {
        Self {
            router: matchit::Router::new(),
            defined: HashMap::new(),
        }
    }
}

impl<'a> Routes<'a> {
    /// Takes a pass-through prefix: the prefix, its slash and all under it.
    pub(super) fn proxy(&mut self, prefix: &str) {
        let _ = self.router.insert(format!("{prefix}/{{*rest}}"), ());
        let _ = self.router.insert(format!("{prefix}/"), ());
        let _ = self.router.insert(prefix.to_owned(), ());
    }

    /// Places an endpoint, or reports why it has no place; `true` if placed.
    pub(super) fn endpoint(
        &mut self,
        file: &'a SpecFile<EndpointSpec>,
        ep: &Endpoint,
        diags: &mut Diagnostics,
    ) -> bool {
        let key = (ep.method.clone(), ep.path.clone());
        if let Some(other) = self.defined.get(&key) {
            diags.push(file.error_at(
                &file.spec.endpoint,
                format!("`{}` is already defined in {}", ep.id(), other.display()),
            ));
            return false;
        }
        // The same path with another method is fine; another shape of path
        // at the same place (`/{id}` beside `/{name}`) is not.
        if let Err(e) = self.router.insert(ep.path.clone(), ())
            && !matches!(&e, matchit::InsertError::Conflict { with } if *with == ep.path)
        {
            diags.push(file.error_at(
                &file.spec.endpoint,
                format!("path clashes with another route: {e}"),
            ));
            return false;
        }
        self.defined.insert(key, &file.path);
        true
    }

    /// Places the GraphQL endpoint's path (and its explorer's files), which
    /// must be routes of their own.
    pub(super) fn graphql<T>(
        &mut self,
        file: &SpecFile<T>,
        at: Option<&crate::source::Loc<String>>,
        path: &str,
        explorer: bool,
        diags: &mut Diagnostics,
    ) -> bool {
        let placed = path.starts_with('/')
            && !path.contains(['{', '}', '*'])
            && self.router.insert(path.to_owned(), ()).is_ok()
            && (!explorer
                || self
                    .router
                    .insert(format!("{path}/explorer/{{file}}"), ())
                    .is_ok());
        if !placed {
            let message = format!(
                "the GraphQL path `{path}` must be a literal path of its own, starting with `/`"
            );
            diags.push(match at {
                Some(at) => file.error_at(at, message),
                None => Diagnostic::file(&file.path, message),
            });
        }
        placed
    }

    /// Places a policy's usage path, which must be a route of its own.
    pub(super) fn usage(
        &mut self,
        config: &SpecFile<BffConfig>,
        u: &UsageRoute,
        diags: &mut Diagnostics,
    ) {
        if !u.path.starts_with('/') || self.router.insert(u.path.clone(), ()).is_err() {
            diags.push(Diagnostic::file(
                &config.path,
                format!(
                    "rate limit `{}`: usage_path `{}` must be a path of its own, starting with `/`",
                    u.policy.name, u.path
                ),
            ));
        }
    }
}
