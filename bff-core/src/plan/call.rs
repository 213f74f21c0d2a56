//! A call of an endpoint, compiled: its request templates, expressions,
//! dependencies and error contract.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method, StatusCode};

use super::expr::Expr;
use super::template::Template;
use crate::value::Value;

/// An upstream service of the BFF, as bff.yaml declares it.
#[derive(Debug)]
pub struct Service {
    /// Its place among the plan's services, where the gateway keeps the
    /// service running.
    pub index: usize,
    /// Name in bff.yaml.
    pub name: String,
    /// Per-call timeout unless the call sets its own.
    pub timeout: Option<Duration>,
    /// Where instances come from at run time, if they change.
    pub discovery: Option<crate::config::DiscoveryConfig>,
    /// Active health checks of the instances.
    pub health_check: Option<crate::config::HealthCheckConfig>,
    /// Largest upstream body a call reads.
    pub max_response_bytes: usize,
    /// Whether its answers are kept in the HTTP cache, and its TTL override.
    pub cache: Option<ServiceCache>,
    /// Instances, balancing, breaker, retries, limit, clients.
    pub(crate) upstream: crate::upstream::Settings,
}

/// A service's use of the HTTP cache.
#[derive(Debug, Clone, Copy)]
pub struct ServiceCache {
    /// Freshness given to answers that state none.
    pub ttl: Option<Duration>,
}

/// A call, ready to run.
#[derive(Debug)]
pub struct Call {
    /// Name in the spec; also the key of its result.
    pub name: Arc<str>,
    /// Where it goes.
    pub service: Arc<Service>,
    /// HTTP method.
    pub method: Method,
    /// Path and optional inline query, appended to the service URL.
    pub path: Template,
    /// The gRPC method, when the call is one.
    pub grpc: Option<GrpcMethod>,
    /// The SOAP operation, when the call is one.
    pub soap: Option<SoapCall>,
    /// Query parameters added to the URL.
    pub query: Vec<(String, Template)>,
    /// Request headers.
    pub headers: Vec<(HeaderName, Template)>,
    /// Request body.
    pub body: Option<BodyPlan>,
    /// Time allowed for each upstream request of this call.
    pub timeout: Duration,
    /// Condition to run at all.
    pub when: Option<Expr>,
    /// List enrichment.
    pub for_each: Option<ForEach>,
    /// Calls whose results this call needs (indexes into the endpoint's calls).
    pub deps: Vec<usize>,
    /// Calls that need this call's result.
    pub dependents: Vec<usize>,
    /// Result used when an optional call fails.
    pub fallback: Option<Value>,
    /// Upstream statuses that become the endpoint's status.
    pub forward_status: Vec<StatusCode>,
    /// Top-level names the templates read, so only those enter their context.
    pub template_roots: Vec<String>,
    /// Upstream response headers `respond` reads (lower case).
    pub expose: Vec<HeaderName>,
}

/// A unary gRPC method, as its `.proto` file declares it.
#[derive(Debug)]
pub struct GrpcMethod {
    /// `package.Service/Method`.
    pub name: String,
    /// The request message.
    pub input: prost_reflect::MessageDescriptor,
    /// The response message.
    pub output: prost_reflect::MessageDescriptor,
    /// Declared `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`: only
    /// then may a request be sent twice (retried or hedged).
    pub idempotent: bool,
}

/// A SOAP operation: its envelope, built around rendered templates, and
/// how its answer is read.
#[derive(Debug)]
pub struct SoapCall {
    /// 1.1 or 1.2.
    pub version: SoapVersion,
    /// The SOAP action URI (may be empty).
    pub action: String,
    /// The envelope's start tag, with the namespaces declared.
    pub open: String,
    /// The content of `Header`, when there is one.
    pub header: Option<Template>,
    /// The content of `Body`.
    pub body: Template,
    /// `Content-Type` of the request (with the action, for 1.2).
    pub content_type: http::HeaderValue,
    /// `SOAPAction` of a 1.1 request.
    pub soap_action: Option<http::HeaderValue>,
    /// Elements of the answer that are always lists.
    pub lists: Vec<String>,
    /// Whether the operation may be sent twice (retried or hedged).
    pub idempotent: bool,
    /// The body the operation expects, sketched from its WSDL, when the
    /// folder's `wsdl/` describes it.
    pub expects: Option<String>,
}

/// The SOAP versions a call can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoapVersion {
    /// SOAP 1.1: `text/xml`, `SOAPAction`.
    V1_1,
    /// SOAP 1.2: `application/soap+xml; action=…`.
    V1_2,
}

impl SoapVersion {
    /// The envelope's namespace URI.
    pub fn envelope_ns(self) -> &'static str {
        match self {
            Self::V1_1 => "http://schemas.xmlsoap.org/soap/envelope/",
            Self::V1_2 => "http://www.w3.org/2003/05/soap-envelope",
        }
    }

    /// `1.1` or `1.2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
        }
    }
}

/// How a request body is built.
#[derive(Debug)]
pub enum BodyPlan {
    /// A JSON structure whose strings are templates.
    Template(BodyTemplate),
    /// A jq expression computing the whole body.
    Jq(Expr),
}

/// A JSON structure with templated strings.
#[derive(Debug)]
pub enum BodyTemplate {
    /// A value with no template in it.
    Literal(Value),
    /// A templated string.
    Text(Template),
    /// A list.
    Array(Vec<BodyTemplate>),
    /// An object, in written order.
    Object(Vec<(String, BodyTemplate)>),
}

/// `for_each`: one upstream request per batch or per item.
#[derive(Debug)]
pub struct ForEach {
    /// Produces the items.
    pub items: Expr,
    /// `Some(n)`: at most n items per request (as `batch`); `None`: one per item (as `item`).
    pub batch: Option<usize>,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Call {
    /// Whether a failure of this call falls back instead of failing the endpoint.
    pub fn is_optional(&self) -> bool {
        self.fallback.is_some()
    }
}
