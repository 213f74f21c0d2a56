//! One call of an endpoint compiled, one step at a time over a shared
//! [`CallCx`]: its name, its target (service, method, path or gRPC
//! method), `when` and `for_each`, and its error contract. The request it
//! sends is compiled in `request.rs`, what it waits for in `deps.rs`.

use http::{Method, StatusCode};

use super::endpoint::is_identifier;
use super::locate::template_diagnostic;
use super::services::lookup_service;
use super::{FolderParts, LangBuilders};
use crate::plan::template::{Escape, Template};
use crate::plan::{Call, ForEach, GrpcMethod, REQUEST_ROOTS};
use crate::source::{Diagnostics, Loc};
use crate::spec::{CallSpec, SpecFile};
use crate::value::{self, Value};

/// Default number of `for_each` requests in flight at once.
const DEFAULT_CONCURRENCY: usize = 8;

/// What every step of compiling one call reads, and what the steps
/// collect: the names the call's templates read, and problems.
pub(super) struct CallCx<'a, 'c, T> {
    /// The file the call is written in (an endpoint, or `graphql.yaml`).
    pub(super) file: &'a SpecFile<T>,
    /// The call's name, also the key of its result.
    pub(super) name: &'a str,
    /// The call as written.
    pub(super) spec: &'a Loc<CallSpec>,
    /// The names of all calls of the endpoint, by index.
    pub(super) names: &'c [&'a str],
    /// What the folder as a whole holds (services, `proto/`).
    pub(super) folder: FolderParts<'c>,
    /// Templates and expressions of the whole folder, built at the end.
    pub(super) b: &'c mut LangBuilders<'a>,
    /// Problems found so far, in the whole folder.
    pub(super) diags: &'c mut Diagnostics,
    /// Roots the call's templates read, in the order read; empty at first.
    pub(super) roots: Vec<String>,
    /// A GraphQL field's resolver rather than an endpoint's call: named
    /// `Type.field`, reading `args` and `parent` (given as `names`).
    pub(super) resolver: bool,
}

impl<'a, T> CallCx<'a, '_, T> {
    /// The compiled call; `None` when anything about it is wrong (reported).
    pub(super) fn compile(mut self) -> Option<Call> {
        let before = self.diags.0.len();
        self.check_name();
        let service = lookup_service(
            self.file,
            &self.spec.service,
            self.folder.config,
            self.folder.services,
            self.diags,
        );
        let (method, path_src) = self.method()?;
        let grpc = self.grpc();
        let soap = self.soap();
        let path = self.path(path_src, grpc.as_ref());
        let query = self.query();
        let headers = self.headers();
        let body = self.body();
        let when = self.expr(self.spec.when.as_ref());
        let for_each = self.for_each();
        let deps = self.deps();
        let (fallback, forward_status) = self.on_error();
        let expose = self.expose();
        if self.diags.0.len() > before {
            return None;
        }
        let service = service?;
        let timeout = self
            .spec
            .timeout
            .or(service.timeout)
            .unwrap_or(self.folder.config.defaults.timeout);
        self.roots.sort();
        self.roots.dedup();
        Some(Call {
            name: self.name.into(),
            method,
            path: path?,
            grpc,
            soap,
            query,
            headers,
            body,
            timeout,
            when,
            for_each,
            deps,
            dependents: Vec::new(),
            fallback,
            forward_status,
            template_roots: self.roots,
            expose,
            service,
        })
    }

    /// A call's name is the key of its result, read by templates and jq:
    /// it cannot hide what they read of the request.
    fn check_name(&mut self) {
        let name = self.name;
        if self.resolver {
            return;
        }
        for (key, src) in [("select", &self.spec.select), ("key", &self.spec.key)] {
            if let Some(src) = src {
                self.diags.push(self.file.error_at(
                    src,
                    format!("`{key}` is for GraphQL resolvers; an endpoint shapes its answer in `respond`"),
                ));
            }
        }
        if REQUEST_ROOTS.contains(&name)
            || matches!(name, "batch" | "item" | "upstream")
            || !is_identifier(name)
        {
            self.diags.push(self.file.error_at_key(
                name,
                self.spec,
                format!("`{name}` cannot name a call: use letters, digits and `_`, and none of path, query, headers, body, auth, batch, item, upstream"),
            ));
        }
    }

    /// The one method the call names, and the path (or gRPC method) written with it.
    fn method(&mut self) -> Option<(Method, &'a Loc<String>)> {
        let spec = self.spec;
        let methods = [
            (Method::GET, &spec.get),
            (Method::POST, &spec.post),
            (Method::PUT, &spec.put),
            (Method::PATCH, &spec.patch),
            (Method::DELETE, &spec.delete),
            (Method::POST, &spec.grpc),
        ];
        let given: Vec<(Method, &'a Loc<String>)> = methods
            .iter()
            .filter_map(|(m, p)| p.as_ref().map(|p| (m.clone(), p)))
            .collect();
        match given.as_slice() {
            [one] => Some(one.clone()),
            [] if spec.soap.is_some() => {
                self.diags.push(self.file.error_at(
                    &spec.service,
                    format!(
                        "call `{}` needs the path its SOAP envelope is POSTed to, in `post`",
                        self.name
                    ),
                ));
                None
            }
            [] => {
                self.diags.push(self.file.error_at(
                    &spec.service,
                    format!(
                        "call `{}` needs one of get, post, put, patch, delete, grpc",
                        self.name
                    ),
                ));
                None
            }
            [_, second, ..] => {
                self.diags.push(self.file.error_at(
                    second.1,
                    format!("call `{}` has more than one method", self.name),
                ));
                None
            }
        }
    }

    /// The gRPC method the call names, checked against `proto/`.
    fn grpc(&mut self) -> Option<GrpcMethod> {
        let g = self.spec.grpc.as_ref()?;
        crate::plan::grpc::compile(self.file, self.spec, g, self.folder.protos, self.diags)
    }

    /// The path template; a gRPC call's path is its method's.
    fn path(&mut self, src: &Loc<String>, grpc: Option<&GrpcMethod>) -> Option<Template> {
        match (&self.spec.grpc, grpc) {
            (None, _) => self.template(src, Escape::Url),
            (Some(_), Some(g)) => {
                let path = Loc {
                    value: format!("/{}", g.name),
                    line: src.line,
                    column: src.column,
                };
                self.template(&path, Escape::Url)
            }
            (Some(_), None) => None,
        }
    }

    /// Compiles one template of the call, noting the roots it reads.
    pub(super) fn template(&mut self, src: &Loc<String>, escape: Escape) -> Option<Template> {
        match self.b.templates.add(src, escape) {
            Ok(t) => {
                self.roots.extend(t.roots.iter().cloned());
                Some(t)
            }
            Err(e) => {
                self.diags.push(template_diagnostic(self.file, src, &e));
                None
            }
        }
    }

    /// Queues one jq expression of the call, when it has it.
    pub(super) fn expr(&mut self, src: Option<&'a Loc<String>>) -> Option<crate::plan::expr::Expr> {
        self.b.expr(self.file, src?, self.diags)
    }

    /// The items a call runs over, in batches or one by one; `batch` and
    /// `concurrency` mean nothing without `for_each`.
    fn for_each(&mut self) -> Option<ForEach> {
        let spec = self.spec;
        let for_each = match &spec.for_each {
            Some(fe) => self.expr(Some(fe)).map(|items| ForEach {
                items,
                batch: spec.batch.as_ref().map(|b| b.value.max(1)),
                concurrency: spec
                    .concurrency
                    .as_ref()
                    .map_or(DEFAULT_CONCURRENCY, |c| c.value.max(1)),
            }),
            None => {
                if let Some(b) = &spec.batch {
                    self.diags
                        .push(self.file.error_at(b, "`batch` needs `for_each`"));
                }
                if let Some(c) = &spec.concurrency {
                    self.diags
                        .push(self.file.error_at(c, "`concurrency` needs `for_each`"));
                }
                None
            }
        };
        if let (Some(b), Some(_), Some(fe)) = (&spec.batch, &spec.concurrency, &spec.for_each)
            && b.value == 0
        {
            self.diags
                .push(self.file.error_at(fe, "`batch` must be at least 1"));
        }
        for_each
    }

    /// `expose_headers`: header names, for a call of one request of an endpoint.
    fn expose(&mut self) -> Vec<http::HeaderName> {
        let spec = self.spec;
        let mut out = Vec::new();
        for h in &spec.expose_headers {
            if self.resolver {
                self.diags.push(self.file.error_at(
                    h,
                    "expose_headers is for endpoint calls: a GraphQL answer has no headers of its resolvers",
                ));
                break;
            }
            if spec.for_each.is_some() {
                self.diags.push(self.file.error_at(
                    h,
                    "expose_headers needs a call of one request: with for_each, whose answer's headers would it be?",
                ));
                break;
            }
            match http::HeaderName::try_from(h.to_ascii_lowercase()) {
                Ok(name) => out.push(name),
                Err(_) => self.diags.push(
                    self.file
                        .error_at(h, format!("`{}` is not a header name", h.value)),
                ),
            }
        }
        out
    }

    /// `on_error`: the value standing in for a failed call, and the upstream
    /// statuses passed on to the client instead.
    fn on_error(&mut self) -> (Option<Value>, Vec<StatusCode>) {
        let Some(on_error) = &self.spec.on_error else {
            return (None, Vec::new());
        };
        let mut statuses = Vec::new();
        for s in &on_error.forward_status {
            match StatusCode::from_u16(*s) {
                Ok(code) if code.is_client_error() || code.is_server_error() => statuses.push(code),
                _ => self.diags.push(self.file.error_at(
                    self.spec,
                    format!("forward_status: {s} is not a 4xx or 5xx status"),
                )),
            }
        }
        (on_error.default.as_ref().map(value::from_json), statuses)
    }
}
