//! The test files of a spec folder's `tests/` (run by `test`): one
//! request, the answers the services give each call, and what the client
//! must get back.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One test of a composition, run with no service running.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecTest {
    /// What the test checks; the file's name when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// The client's request.
    pub(crate) request: TestRequest,
    /// What the services answer, by call name (a pass-through route's by
    /// service name): one answer for every request of the call, or a list
    /// whose first answer that `match`es a request is given.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) upstream: IndexMap<String, Answers>,
    /// What the client must get back.
    #[serde(default)]
    pub(crate) expect: Expect,
}

/// The client's request.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestRequest {
    /// Method; `GET` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) method: Option<String>,
    /// Path and query, e.g. `/v1/products/p-2001?lang=en`.
    pub(crate) path: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) headers: IndexMap<String, String>,
    /// JSON body, sent with `Content-Type: application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<serde_json::Value>,
}

/// One answer, or several chosen by `match`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum Answers {
    /// The answer to every request of the call.
    One(Box<Answer>),
    /// The first that matches each request.
    Many(Vec<Answer>),
}

impl Answers {
    /// The answers, in order.
    pub(crate) fn list(&self) -> &[Answer] {
        match self {
            Self::One(a) => std::slice::from_ref(&**a),
            Self::Many(l) => l,
        }
    }
}

/// What a service answers, or how it fails.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Answer {
    /// The requests this answer is for; every request when left out.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub(crate) matches: Option<Match>,
    /// Status; `200` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Response headers.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) headers: IndexMap<String, String>,
    /// JSON body (`Content-Type: application/json` unless `headers` says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<serde_json::Value>,
    /// A body of text instead (XML of a SOAP service, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// Time before the answer comes, e.g. `300ms`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub(crate) latency: Option<Duration>,
    /// `reset`: the connection closes without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fail: Option<Failure>,
    /// gRPC calls: a status code other than 0 (`5`, NOT_FOUND, say) fails
    /// the call with it; `body` is the answer message otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) grpc_status: Option<u8>,
    /// gRPC calls: the `grpc-message` that comes with `grpc_status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) grpc_message: Option<String>,
}

/// How an answer fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Failure {
    /// The connection closes without an answer.
    Reset,
}

/// Which requests an answer is for.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Match {
    /// The request's path, without its query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Query parameters the request must carry with these values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) query: IndexMap<String, String>,
}

/// What the client must get back, and what the services must have seen.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    /// Headers with these values; `null` for a header that must be absent.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) headers: IndexMap<String, Option<String>>,
    /// The whole JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<serde_json::Value>,
    /// jq expressions over the JSON body that must each give `true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) jq: Vec<String>,
    /// Requests each call made: how many, or how many and what they were.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) calls: IndexMap<String, CallsExpect>,
    /// The answer came within this time, e.g. `900ms`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<String>")]
    pub(crate) within: Option<Duration>,
}

/// The requests of one call.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum CallsExpect {
    /// How many requests.
    Count(usize),
    /// The requests, in the order they were sent (or in any order, for
    /// requests sent at once).
    Requests {
        /// The requests: each `path` (without query), `query` and `body`
        /// given must be what one request had.
        requests: Vec<RequestExpect>,
    },
}

/// What one request of a call must have been.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestExpect {
    /// Its path, without the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// Query parameters it carried with these values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) query: IndexMap<String, String>,
    /// Its JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) body: Option<serde_json::Value>,
}
