//! From parsed specs to plans, checking what only the whole folder can
//! tell: services and calls that exist, endpoints that do not clash,
//! templates and expressions that parse, graphs without cycles.
//!
//! This file runs the stages in order and holds what they share: the
//! folder's compiled parts ([`FolderParts`]) and the templates and expressions
//! collected across endpoints ([`LangBuilders`]). Each stage has its own file.

mod call;
mod deps;
mod endpoint;
mod formats;
mod graphql;
mod input;
mod locate;
mod policies;
mod proxies;
mod request;
mod respond;
mod routes;
mod services;
mod soap;
mod tls;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use super::expr::{Expr, ExprBuilder};
use super::template::{TemplateBuilder, TemplateSet};
use super::{Plan, Service};
use crate::auth::Policy;
use crate::config::{BffConfig, expand_env};
use crate::source::{Diagnostic, Diagnostics, Loc};
use crate::spec::{SpecFile, SpecSet, read_dir};

/// Reads, checks and compiles a spec folder, reporting every problem.
pub fn load(dir: &Path) -> Result<Plan, Diagnostics> {
    let mut diags = Diagnostics::default();
    let set = read_dir(dir, &mut diags);
    match set {
        Some(set) => {
            let plan = compile(&set, &mut diags);
            if diags.is_empty() {
                plan.ok_or(diags)
            } else {
                Err(diags)
            }
        }
        None => Err(diags),
    }
}

/// Compiles a parsed folder; problems go to `diags`.
pub fn compile(set: &SpecSet, diags: &mut Diagnostics) -> Option<Plan> {
    let config_file = &set.config;
    // gRPC needs HTTP/2, whatever else the service speaks.
    let grpc_services: HashSet<&str> = set
        .endpoints
        .iter()
        .flat_map(|f| f.spec.calls.values())
        .chain(set.graphql.iter().flat_map(|f| f.spec.resolvers.values()))
        .filter(|c| c.grpc.is_some())
        .map(|c| c.service.as_str())
        .collect();
    let services = services::compile_services(config_file, &set.dir, &grpc_services, diags);
    let protos = crate::proto::load(&set.dir, diags);
    let pages = crate::pages::Pages::load(&set.dir, diags);
    let wsdls = crate::wsdl::load(&set.dir, diags);
    let listen = match &config_file.spec.listen {
        Some(l) => match expand_env(l) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.push(Diagnostic::file(&config_file.path, format!("listen: {e}")));
                None
            }
        },
        None => None,
    };
    let policies = policies::compile_policies(config_file, &set.dir, diags);
    let tls = tls::compile_tls(config_file, &set.dir, &policies, diags);
    let (rate_limits, usage, redis) = super::rate_limits::compile(config_file, &policies, diags);
    let shared_answers = match config_file.spec.cache.store {
        crate::config::StoreKind::Local => false,
        crate::config::StoreKind::Redis if redis => true,
        crate::config::StoreKind::Redis => {
            diags.push(Diagnostic::file(
                &config_file.path,
                "cache.store: redis needs `redis: { url }` in bff.yaml",
            ));
            false
        }
    };
    let inspections = policies::compile_inspections(config_file, diags);
    let proxies = proxies::compile_proxies(
        config_file,
        &services,
        &policies,
        &rate_limits,
        &inspections,
        diags,
    );

    let mut b = LangBuilders::default();
    let mut endpoints = Vec::new();
    let mut routes = routes::Routes::default();
    for p in &proxies {
        routes.proxy(&p.prefix);
    }
    let folder = FolderParts {
        config: &config_file.spec,
        services: &services,
        policies: &policies,
        rate_limits: &rate_limits,
        inspections: &inspections,
        protos: &protos,
        pages: &pages,
        wsdls: &wsdls,
        dir: &set.dir,
    };
    for file in &set.endpoints {
        let Some(ep) = endpoint::compile_endpoint(file, folder, &mut b, diags) else {
            continue;
        };
        if routes.endpoint(file, &ep, diags) {
            endpoints.push(Arc::new(ep));
        }
    }
    let graphql = set.graphql.as_ref().and_then(|file| {
        let g = graphql::compile_graphql(file, &set.dir, folder, &mut b, diags)?;
        routes
            .graphql(file, file.spec.path.as_ref(), &g.path, g.explorer, diags)
            .then(|| Arc::new(g))
    });
    for u in &usage {
        routes.usage(config_file, u, diags);
    }
    let templates = b.finish(&set.dir, diags)?;
    Some(Plan {
        dir: set.dir.clone(),
        config: config_file.spec.clone(),
        config_text: config_file.text.clone(),
        listen,
        endpoints,
        graphql,
        proxies,
        templates: Arc::new(templates),
        identity_headers: policies::identity_headers(&policies),
        policies,
        tls,
        shares_answers: shared_answers,
        services,
        rate_limits,
        usage,
        max_concurrency: config_file.spec.limits.max_concurrency,
        protos: protos.pool,
        pages: Arc::new(pages),
    })
}

/// Reports an error of one expression at the place it was written.
type ExprSite<'a> = Box<dyn Fn(&super::expr::ExprError) -> Diagnostic + 'a>;

/// Authentication policies by name.
type Policies = IndexMap<String, Arc<Policy>>;

/// What the folder as a whole gives each endpoint.
#[derive(Clone, Copy)]
struct FolderParts<'a> {
    config: &'a BffConfig,
    services: &'a IndexMap<String, Arc<Service>>,
    policies: &'a Policies,
    rate_limits: &'a super::rate_limits::RateLimits,
    /// Inspection policies by name.
    inspections: &'a policies::Inspections,
    /// Messages and services of `proto/`.
    protos: &'a crate::proto::Protos,
    /// Page templates of `templates/`.
    pages: &'a crate::pages::Pages,
    /// SOAP operations of `wsdl/`.
    wsdls: &'a crate::wsdl::Wsdls,
    /// The spec folder.
    dir: &'a Path,
}

/// What compiling collects across endpoints, to build once at the end.
#[derive(Default)]
struct LangBuilders<'a> {
    templates: TemplateBuilder,
    exprs: ExprBuilder,
    /// How to report an error of each expression where it was written, by
    /// the order it was added in.
    expr_sites: Vec<ExprSite<'a>>,
}

impl<'a> LangBuilders<'a> {
    /// Queues a jq expression; syntax errors are reported at once.
    fn expr<T>(
        &mut self,
        file: &'a SpecFile<T>,
        src: &'a Loc<String>,
        diags: &mut Diagnostics,
    ) -> Option<Expr> {
        match self.exprs.add(src) {
            Ok(e) => {
                self.expr_sites
                    .push(Box::new(move |e| locate::expr_diagnostic(file, src, e)));
                Some(e)
            }
            Err(errors) => {
                for e in errors {
                    diags.push(locate::expr_diagnostic(file, src, &e));
                }
                None
            }
        }
    }

    /// Queues a jq expression whose source was not a plain string of the
    /// file (it came out of a value that may also be a number).
    fn expr_owned<T>(
        &mut self,
        file: &'a SpecFile<T>,
        src: Loc<String>,
        diags: &mut Diagnostics,
    ) -> Option<Expr> {
        match self.exprs.add(&src) {
            Ok(e) => {
                self.expr_sites
                    .push(Box::new(move |e| locate::expr_diagnostic(file, &src, e)));
                Some(e)
            }
            Err(errors) => {
                for e in errors {
                    diags.push(locate::expr_diagnostic(file, &src, &e));
                }
                None
            }
        }
    }

    /// Builds every queued expression and template at once; errors found
    /// only then are reported where their source was written.
    fn finish(self, dir: &Path, diags: &mut Diagnostics) -> Option<TemplateSet> {
        if let Err(errors) = self.exprs.finish() {
            for (i, e) in errors {
                diags.push(self.expr_sites[i](&e));
            }
            return None;
        }
        match self.templates.finish() {
            Ok(t) => Some(t),
            Err(e) => {
                diags.push(Diagnostic::file(dir, format!("templates: {e}")));
                None
            }
        }
    }
}

/// The policy an endpoint or route names, reported when unknown.
/// "unknown <kind> `x` (bff.yaml defines: a, b)".
pub(super) fn unknown_name<'k>(
    kind: &str,
    name: &str,
    known: impl Iterator<Item = &'k String>,
) -> String {
    let known: Vec<&str> = known.map(String::as_str).collect();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    format!("unknown {kind} `{name}` (bff.yaml defines: {known})")
}
