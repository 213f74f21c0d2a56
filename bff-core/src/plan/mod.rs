//! Specs compiled into plans: per endpoint, a call graph whose templates
//! and expressions are compiled once here, never per request. Compiling
//! checks the folder as a whole and reports every problem with its place.

mod call;
mod compile;
pub mod graph;
pub mod graphql;
mod grpc;
pub mod input;
pub mod inspect;
pub mod rate_limits;
mod reads;
mod shape;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

pub use crate::lang::{expr, template};
pub use call::{
    BodyPlan, BodyTemplate, Call, ForEach, GrpcMethod, Service, ServiceCache, SoapCall, SoapVersion,
};
pub use compile::{compile, load};
use expr::Expr;
use template::TemplateSet;

use crate::config::BffConfig;

/// Names every template and expression can read besides call results.
pub const REQUEST_ROOTS: [&str; 5] = ["path", "query", "headers", "body", "auth"];

/// The compiled specs of one folder: data only. The gateway starts what
/// runs from it (services, caches, key sets, counters) with every
/// generation, so two loads of a folder share no state.
pub struct Plan {
    /// The spec folder the plan was loaded from.
    pub dir: std::path::PathBuf,
    /// `bff.yaml` as read, with environment values expanded.
    pub config: BffConfig,
    /// The text of `bff.yaml`, from which the extension reads its settings.
    pub(crate) config_text: String,
    /// Address to listen on.
    pub listen: Option<String>,
    /// Aggregated endpoints.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// The GraphQL endpoint, when the folder has `graphql.yaml`.
    pub graphql: Option<Arc<graphql::Graphql>>,
    /// Pass-through routes.
    pub proxies: Vec<Arc<ProxyPlan>>,
    /// The compiled templates of all endpoints.
    pub templates: Arc<TemplateSet>,
    /// Authentication policies by name.
    pub policies: indexmap::IndexMap<String, Arc<crate::auth::Policy>>,
    /// Headers that carry identities to upstreams; clients may never send them.
    pub identity_headers: Vec<http::HeaderName>,
    /// TLS termination, when `tls:` is configured (checked when the
    /// folder loads; the gateway builds the listener's from it).
    pub tls: Option<crate::config::TlsConfig>,
    /// Whether composed answers are shared through Redis (`cache.store: redis`).
    pub(crate) shares_answers: bool,
    /// Upstream services by name.
    pub services: indexmap::IndexMap<String, Arc<Service>>,
    /// Rate-limit policies by name.
    pub rate_limits: rate_limits::RateLimits,
    /// Usage endpoints of rate-limit policies.
    pub usage: Vec<rate_limits::UsageRoute>,
    /// The whole BFF's limit of requests in flight.
    pub max_concurrency: Option<usize>,
    /// Messages and services of the `.proto` files in `proto/`.
    pub protos: prost_reflect::DescriptorPool,
    /// Page templates of `templates/`.
    pub pages: Arc<crate::pages::Pages>,
}

/// One aggregated endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// HTTP method.
    pub method: Method,
    /// Route path, e.g. `/v1/products/{id}`.
    pub path: String,
    /// File it came from.
    pub file: PathBuf,
    /// What it is for.
    pub description: Option<String>,
    /// End-to-end deadline.
    pub deadline: Duration,
    /// The calls; indexes are used by dependencies.
    pub calls: Vec<Call>,
    /// The shaping expression.
    pub respond: Option<Expr>,
    /// Status of a successful response.
    pub status: StatusCode,
    /// jq computing the status instead, from the results and the request.
    pub status_expr: Option<Expr>,
    /// Response headers, each a template over the results and the request.
    pub headers: Vec<(http::HeaderName, template::Template)>,
    /// Largest client body read.
    pub body_limit: usize,
    /// A sample request.
    pub example: Option<crate::spec::ExampleSpec>,
    /// Authentication every request must pass.
    pub auth: Option<Arc<crate::auth::Policy>>,
    /// What the identity must hold.
    pub require: Option<crate::auth::Requirement>,
    /// Rate-limit policy.
    pub rate_limit: Option<Arc<crate::ratelimit::Policy>>,
    /// Inspection policy.
    pub inspect: Option<Arc<inspect::InspectPolicy>>,
    /// How long complete answers are kept, and their purge tags.
    pub cache: Option<(Option<Duration>, Vec<String>)>,
    /// Protobuf message answered to clients that ask for protobuf.
    pub message: Option<prost_reflect::MessageDescriptor>,
    /// Page template rendered for clients that prefer HTML.
    pub page: Option<String>,
    /// Query parameters its templates and expressions read.
    pub query_params: Vec<String>,
    /// What its input must be (`request:`), checked before any call.
    pub input: Option<input::InputCheck>,
}

impl Endpoint {
    /// `METHOD /path`, as written in specs.
    pub fn id(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Looks a call up by name.
    pub fn call(&self, name: &str) -> Option<&Call> {
        self.calls.iter().find(|c| &*c.name == name)
    }

    /// A curl command line sending the endpoint's example request to `base`.
    pub fn curl(&self, base: &str) -> Option<String> {
        let ex = self.example.as_ref()?;
        let mut cmd = String::from("curl -s");
        if self.method != Method::GET {
            cmd.push_str(&format!(" -X {}", self.method));
        }
        for (k, v) in &ex.headers {
            cmd.push_str(&format!(" -H '{k}: {v}'"));
        }
        if let Some(body) = &ex.body {
            cmd.push_str(" -H 'content-type: application/json'");
            cmd.push_str(&format!(" -d '{body}'"));
        }
        cmd.push_str(&format!(" '{base}{}'", ex.path));
        Some(cmd)
    }

    /// A readable account of the call graph: what runs in parallel and
    /// what waits for what.
    pub fn explain(&self) -> String {
        use std::fmt::Write;
        let deps: Vec<Vec<usize>> = self.calls.iter().map(|c| c.deps.clone()).collect();
        let stages = graph::stages(&deps);
        let mut out = String::new();
        let _ = writeln!(out, "{}  ({})", self.id(), self.file.display());
        if let Some(d) = &self.description {
            let _ = writeln!(out, "  {d}");
        }
        let _ = writeln!(
            out,
            "  deadline {}",
            humantime::format_duration(self.deadline)
        );
        let last = stages.iter().copied().max();
        for stage in 0..=last.unwrap_or(0) {
            let members: Vec<&Call> = self
                .calls
                .iter()
                .zip(&stages)
                .filter(|(_, s)| **s == stage)
                .map(|(c, _)| c)
                .collect();
            if members.is_empty() {
                continue;
            }
            let mode = if members.len() > 1 {
                " in parallel"
            } else {
                ""
            };
            let _ = writeln!(out, "\n  stage {}{mode}", stage + 1);
            for c in members {
                let target = match (&c.grpc, &c.soap) {
                    (Some(g), _) => format!("gRPC {} {}", c.service.name, g.name),
                    (None, Some(s)) => format!(
                        "SOAP {} {} {}",
                        s.version.as_str(),
                        c.service.name,
                        if s.action.is_empty() {
                            c.path.source.as_ref()
                        } else {
                            &s.action
                        }
                    ),
                    (None, None) => format!("{} {}", c.method, c.service.name),
                };
                let _ = write!(out, "    {:<16} {target}{}", c.name, describe_for_each(c));
                if c.deps.is_empty() {
                    let _ = write!(out, "  — starts at once");
                } else {
                    let names: Vec<&str> = c.deps.iter().map(|&d| &*self.calls[d].name).collect();
                    let _ = write!(out, "  — waits for {}", names.join(", "));
                }
                if c.when.is_some() {
                    let _ = write!(out, ", conditional");
                }
                let _ = write!(out, ", timeout {}", humantime::format_duration(c.timeout));
                if c.is_optional() {
                    let _ = write!(out, ", optional (falls back on error)");
                }
                let _ = writeln!(out);
                if let Some(body) = c.soap.as_ref().and_then(|s| s.expects.as_ref()) {
                    let _ = writeln!(out, "{:<21}expects {body}", "");
                }
            }
        }
        if self.calls.is_empty() {
            let _ = writeln!(out, "\n  no calls");
        }
        let shape = if self.respond.is_some() {
            "jq expression"
        } else {
            "results by call name"
        };
        let _ = writeln!(out, "\n  respond {} with {shape}", self.status.as_u16());

        out
    }
}

fn describe_for_each(c: &Call) -> String {
    match &c.for_each {
        Some(f) => match f.batch {
            Some(n) => format!(" for_each `{}` in batches of {n}", f.items.source()),
            None => format!(
                " for_each `{}` one by one, {} at once",
                f.items.source(),
                f.concurrency
            ),
        },
        None => String::new(),
    }
}

/// A pass-through route.
#[derive(Debug)]
pub struct ProxyPlan {
    /// Owned path prefix, without a trailing slash.
    pub prefix: String,
    /// Where requests go.
    pub service: Arc<Service>,
    /// What replaces the prefix upstream.
    pub rewrite: String,
    /// Time the upstream may take to answer once the request body is sent.
    pub timeout: Duration,
    /// Largest request body passed on.
    pub max_body: Option<u64>,
    /// Authentication every request must pass.
    pub auth: Option<Arc<crate::auth::Policy>>,
    /// What the identity must hold.
    pub require: Option<crate::auth::Requirement>,
    /// Rate-limit policy.
    pub rate_limit: Option<Arc<crate::ratelimit::Policy>>,
    /// Inspection policy.
    pub inspect: Option<Arc<inspect::InspectPolicy>>,
    /// WebSocket upgrades, when the route carries them.
    pub websocket: Option<WebSocketPlan>,
}

/// WebSocket connections of a pass-through route.
#[derive(Debug)]
pub struct WebSocketPlan {
    /// A connection without traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Origins allowed to connect, serialised as browsers send them; any when empty.
    pub origins: Vec<String>,
}

impl ProxyPlan {
    /// The route's name in metrics, traces, the log and the dashboard: its
    /// prefix, or `/` for the route owning every path (an empty label
    /// would be no label to Prometheus).
    pub fn label(&self) -> &str {
        if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        }
    }

    /// The upstream path and query for a request path under the prefix.
    pub fn upstream_path(&self, path_and_query: &str) -> String {
        let rest = path_and_query
            .strip_prefix(self.prefix.as_str())
            .unwrap_or(path_and_query);
        let joined = format!("{}{rest}", self.rewrite);
        if joined.is_empty() || joined.starts_with('?') {
            format!("/{joined}")
        } else {
            joined
        }
    }
}
