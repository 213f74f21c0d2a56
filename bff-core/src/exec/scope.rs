//! What templates and expressions of one request can see: the request's
//! parts and the results of the calls that have finished.

use std::sync::Arc;

use jaq_json::Val;

use crate::plan::REQUEST_ROOTS;
use crate::value::{self, Json};

/// The parts of the client's request a spec can read.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestData {
    /// Path parameters by name.
    pub path: Val,
    /// Query parameters (first value of each) by name.
    pub query: Val,
    /// Headers by lower-case name.
    pub headers: Val,
    /// The JSON body, or null.
    pub body: Val,
    /// The caller's identity, or null.
    pub auth: Val,
    /// Identity headers every upstream call carries.
    pub forward: http::HeaderMap,
    /// The extension, which sees each call's headers.
    pub(crate) hooks: Option<Arc<dyn crate::extension::Hooks>>,
}

/// Request data and results by call name.
pub(super) struct Scope {
    request: [Val; 5],
    pub(super) forward: http::HeaderMap,
    pub(super) hooks: Option<Arc<dyn crate::extension::Hooks>>,
    names: Vec<Arc<str>>,
    pub(super) results: Vec<Option<Val>>,
    /// The headers calls exposed (`expose_headers`), by call name, for `respond`.
    pub(super) upstream: Vec<(Arc<str>, Val)>,
}

impl Scope {
    pub(super) fn new(request: RequestData, names: Vec<Arc<str>>) -> Self {
        let results = vec![None; names.len()];
        Self {
            request: [
                request.path,
                request.query,
                request.headers,
                request.body,
                request.auth,
            ],
            forward: request.forward,
            hooks: request.hooks,
            names,
            results,
            upstream: Vec::new(),
        }
    }

    /// What `respond` reads: the input of jq, and the exposed headers as
    /// `upstream.<call>.headers`.
    pub(super) fn respond_input(&self) -> Val {
        let input = self.jq_input();
        if self.upstream.is_empty() {
            return input;
        }
        match input {
            Val::Obj(o) => {
                let mut map = (*o).clone();
                map.insert(value::string("upstream"), self.upstream_value());
                Val::obj(map)
            }
            other => other,
        }
    }

    fn upstream_value(&self) -> Val {
        value::object(
            self.upstream
                .iter()
                .map(|(name, headers)| (&**name, value::object([("headers", headers.clone())]))),
        )
    }

    /// The caller's verified identity (`null` without `auth`).
    pub(super) fn auth(&self) -> &Val {
        &self.request[4]
    }

    /// The input of jq: one object with request parts and finished results.
    pub(super) fn jq_input(&self) -> Val {
        let request = REQUEST_ROOTS.iter().zip(self.request.iter().cloned());
        let results = self
            .names
            .iter()
            .zip(&self.results)
            .filter_map(|(n, r)| Some((&**n, r.clone()?)));
        value::object(request.map(|(k, v)| (*k, v)).chain(results))
    }

    /// A tera context holding only the names a template reads.
    pub(super) fn tera_context(
        &self,
        roots: &[String],
        extra: Option<&(&'static str, Val)>,
    ) -> tera::Context {
        let mut ctx = tera::Context::new();
        for root in roots {
            if let Some(i) = REQUEST_ROOTS.iter().position(|r| r == root) {
                ctx.insert(root.clone(), &Json(&self.request[i]));
            } else if let Some(Some(v)) = self
                .names
                .iter()
                .position(|n| **n == **root)
                .map(|i| &self.results[i])
            {
                ctx.insert(root.clone(), &Json(v));
            }
        }
        if let Some((k, v)) = extra {
            ctx.insert(*k, &Json(v));
        }
        if roots.iter().any(|r| r == "upstream") {
            ctx.insert("upstream", &Json(&self.upstream_value()));
        }
        ctx
    }
}
