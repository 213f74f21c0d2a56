//! The endpoint file: what an endpoint owns, which calls it makes and how it
//! shapes the answer. Field docs here become the JSON Schema editors use.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::source::Loc;

/// One endpoint the BFF owns (a file under `endpoints/`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Method and path, e.g. `GET /v1/products/{id}`; `{name}` captures a path parameter.
    pub endpoint: Loc<String>,
    /// What the endpoint is for; shown by `explain`.
    #[serde(default)]
    pub description: Option<String>,
    /// Authentication policy of bff.yaml; the identity becomes `auth` in templates and jq.
    #[serde(default)]
    pub auth: Option<Loc<String>>,
    /// What the identity must hold to use the endpoint (needs `auth`).
    #[serde(default)]
    pub require: Option<Loc<crate::config::RequireConfig>>,
    /// Rate-limit policy of bff.yaml counting this endpoint's requests.
    #[serde(default)]
    pub rate_limit: Option<Loc<String>>,
    /// Inspection policy of bff.yaml checking the path, query, headers and
    /// body for injections.
    #[serde(default)]
    pub inspect: Option<Loc<String>>,
    /// Keep complete answers for a while (per caller on endpoints with `auth`).
    #[serde(default)]
    pub cache: Option<EndpointCacheSpec>,
    /// End-to-end deadline, e.g. `800ms`; defaults to `defaults.deadline` of bff.yaml.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Duration>,
    /// What a request must be before any call is made: JSON Schemas of its
    /// path and query parameters and of its body.
    #[serde(default)]
    pub request: Option<RequestSpec>,
    /// Upstream calls by name. A call starts as soon as the calls it refers to have finished.
    #[serde(default)]
    pub calls: IndexMap<String, Loc<CallSpec>>,
    /// How the results become the response; without it, the object of results by call name.
    #[serde(default)]
    pub respond: Option<RespondSpec>,
    /// A sample request, shown by `explain` and the demo as a ready-to-paste curl command.
    #[serde(default)]
    pub example: Option<Loc<ExampleSpec>>,
}

/// The checks of a request's input, each a JSON Schema (draft 2020-12).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Path parameter → its JSON Schema, e.g. `id: { type: integer, minimum: 1 }`.
    /// A parameter whose schema says `type: integer`, `number` or `boolean`
    /// is converted from its text first and reaches templates and jq typed.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub path: IndexMap<String, Loc<serde_json::Value>>,
    /// Query parameter → its JSON Schema, converted like path parameters;
    /// `required: true` beside the schema's keywords makes it required.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, serde_json::Value>")]
    pub query: IndexMap<String, Loc<serde_json::Value>>,
    /// JSON Schema of the JSON body, inline, or the path (relative to the
    /// folder) of a file holding it.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub body: Option<Loc<serde_json::Value>>,
}

/// A sample request of an endpoint.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExampleSpec {
    /// A concrete path (and query) this endpoint answers, e.g. `/v1/products/p-2001?lang=en`.
    pub path: String,
    /// Request headers.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// JSON body of the request.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// Caching of an endpoint's answers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointCacheSpec {
    /// How long an answer is kept; without it, as long as its least fresh
    /// cached part stays fresh (not at all if a part is not cached).
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Duration>,
    /// Names to purge answers by (`POST /cache/purge {"tag": …}` on the admin listener).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One upstream call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// Name of a service in bff.yaml.
    pub service: Loc<String>,
    /// GET this path (tera template, appended to the service URL).
    #[serde(default)]
    pub get: Option<Loc<String>>,
    /// POST to this path (tera template).
    #[serde(default)]
    pub post: Option<Loc<String>>,
    /// PUT to this path (tera template).
    #[serde(default)]
    pub put: Option<Loc<String>>,
    /// PATCH this path (tera template).
    #[serde(default)]
    pub patch: Option<Loc<String>>,
    /// DELETE this path (tera template).
    #[serde(default)]
    pub delete: Option<Loc<String>>,
    /// Call this unary gRPC method, `package.Service/Method` of the `.proto`
    /// files in `proto/`, over HTTP/2; its request message is built from
    /// `body` or `body_jq` by the proto3 JSON mapping, and its answer becomes
    /// JSON with the field names of the `.proto` file.
    #[serde(default)]
    pub grpc: Option<Loc<String>>,
    /// Call a SOAP operation: the body is wrapped in an envelope and POSTed
    /// to the `post` path; the answer's `Body` becomes JSON, and a
    /// `Fault` fails the call (reason `soap-fault`).
    #[serde(default)]
    pub soap: Option<Loc<SoapSpec>>,
    /// Query parameters: name → tera template. Values are percent-encoded.
    #[serde(default)]
    pub query: IndexMap<String, Loc<String>>,
    /// Request headers (metadata of a gRPC call): name → tera template.
    #[serde(default)]
    pub headers: IndexMap<String, Loc<String>>,
    /// JSON body; every string in it is a tera template rendered to a string.
    #[serde(default)]
    pub body: Option<Loc<serde_json::Value>>,
    /// JSON body computed by a jq expression (keeps numbers, lists and objects typed).
    #[serde(default)]
    pub body_jq: Option<Loc<String>>,
    /// Time this call may take (each try, each batch), e.g. `300ms`.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,
    /// jq condition; when it is false or null the call is skipped and its result is `null`.
    #[serde(default)]
    pub when: Option<Loc<String>>,
    /// Calls that must finish first, beside those the templates and expressions refer to.
    #[serde(default)]
    pub after: Vec<Loc<String>>,
    /// jq producing the list to enrich; values are deduplicated. See `batch` and `concurrency`.
    #[serde(default)]
    pub for_each: Option<Loc<String>>,
    /// With `for_each`: at most this many values per upstream call, seen as `batch`.
    #[serde(default)]
    pub batch: Option<Loc<usize>>,
    /// With `for_each`: how many upstream calls may run at once (default 8).
    #[serde(default)]
    pub concurrency: Option<Loc<usize>>,
    /// What a failure of this call means; without it the call is required.
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// Upstream response headers `respond` may read, as
    /// `upstream.<call>.headers.<name>` (lower case). `set-cookie` also
    /// passes the service's cookies on to the client, each one kept
    /// apart. Only for a call of one request (no `for_each`); the call is
    /// then sent each time, past the service's HTTP cache.
    #[serde(default)]
    pub expose_headers: Vec<Loc<String>>,
    /// GraphQL resolvers only: jq turning each result (with `for_each`,
    /// each parent's matched item) into the field's value.
    #[serde(default)]
    pub select: Option<Loc<String>>,
    /// GraphQL resolvers with `for_each` and `batch` only: jq giving the key
    /// an item of the answer belongs to, matched against the parents' keys.
    #[serde(default)]
    pub key: Option<Loc<String>>,
}

/// A SOAP operation a call invokes.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SoapSpec {
    /// SOAP version: `"1.1"` (the default: `text/xml` and a `SOAPAction`
    /// header) or `"1.2"` (`application/soap+xml; action=…`).
    #[serde(default)]
    #[schemars(with = "Option<SoapVersionSpec>")]
    pub version: Option<Loc<SoapVersionSpec>>,
    /// The operation's SOAP action URI, e.g. `http://example.com/stock/GetQuote`.
    #[serde(default)]
    pub action: Option<Loc<String>>,
    /// Namespace prefixes declared on the envelope: prefix → URI. `soap`
    /// is the envelope's own.
    #[serde(default)]
    pub namespaces: IndexMap<String, Loc<String>>,
    /// The content of the envelope's `Body`: a tera template whose values
    /// are XML-escaped.
    pub body: Loc<String>,
    /// A file in the spec folder (e.g. `soap/wsse.xml`) holding the content
    /// of the envelope's `Header`, a tera template like `body`: a
    /// WS-Security `UsernameToken`, say.
    #[serde(default)]
    pub header: Option<Loc<String>>,
    /// Element names of the answer that are always lists, even when one
    /// occurs (matched by local name, without prefix).
    #[serde(default)]
    pub lists: Vec<Loc<String>>,
    /// The operation may be sent twice: only then is it retried or hedged
    /// as the service's settings say. Without it, it is sent once.
    #[serde(default)]
    pub idempotent: bool,
}

/// `soap.version`, written as text (`"1.2"`) or a YAML number (`1.2`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SoapVersionSpec {
    /// `"1.1"` or `"1.2"`.
    Text(String),
    /// `1.1` or `1.2`.
    Number(f64),
}

/// The error contract of a call.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnError {
    /// Makes the call optional: on failure its result is this value and the
    /// response is marked partial.
    #[serde(default, deserialize_with = "some_value")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub default: Option<serde_json::Value>,
    /// Upstream statuses that become the endpoint's own status, e.g. `[404]`.
    #[serde(default)]
    pub forward_status: Vec<u16>,
}

/// `respond.status`: a literal status, or jq computing one.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusSpec {
    /// A status, e.g. `201`.
    Code(u16),
    /// jq giving the status, e.g. `if .order.state == "new" then 201 else 200 end`.
    Jq(String),
}

/// Keeps an explicit `default: null` apart from a missing `default`.
fn some_value<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// How the response is built.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondSpec {
    /// jq over the results by call name (and `path`, `query`, `headers`, `body`, `auth`).
    #[serde(default)]
    pub jq: Option<Loc<String>>,
    /// Status of a successful response: a number (default 200), or a jq
    /// expression over the results (and the request) that gives one.
    #[serde(default)]
    pub status: Option<Loc<StatusSpec>>,
    /// Response headers: name → tera template over the results and the
    /// request. Hop-by-hop headers, the ones the BFF writes itself
    /// (`Content-Type`, `Content-Length`, `Content-Encoding`, `Bff-*`) and
    /// `Set-Cookie` cannot be set.
    #[serde(default)]
    pub headers: IndexMap<String, Loc<String>>,
    /// Protobuf message of the answer, e.g. `shop.mobile.v1.Home`, from the
    /// `.proto` files under `proto/`: clients sending `Accept:
    /// application/x-protobuf` (or `application/protobuf`) get it encoded.
    #[serde(default)]
    pub message: Option<Loc<String>>,
    /// Page template under `templates/`, e.g. `product.html`: clients that
    /// prefer `text/html` (browsers navigating) get the result rendered through it.
    #[serde(default)]
    pub html: Option<Loc<String>>,
}
