//! `graphql.yaml`: a GraphQL endpoint over the same services, its schema,
//! its resolvers (each one a call) and its protections. Field docs here
//! become the JSON Schema editors use.

use std::time::Duration;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use super::model::CallSpec;
use crate::source::Loc;

/// The GraphQL endpoint of a BFF (the file `graphql.yaml` beside `bff.yaml`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphqlSpec {
    /// Path of the endpoint (default `/graphql`): `POST` with a JSON body,
    /// `GET` with `query`, `variables`, `operationName` for queries.
    #[serde(default)]
    pub path: Option<Loc<String>>,
    /// SDL files of the schema, relative to the folder (default `graphql/schema.graphql`).
    #[serde(default)]
    pub schema: Vec<Loc<String>>,
    /// Authentication policy of bff.yaml; the identity is `auth` in resolvers.
    #[serde(default)]
    pub auth: Option<Loc<String>>,
    /// What the identity must hold to use the endpoint (needs `auth`).
    #[serde(default)]
    pub require: Option<Loc<crate::config::RequireConfig>>,
    /// Rate-limit policy of bff.yaml counting this endpoint's requests.
    #[serde(default)]
    pub rate_limit: Option<Loc<String>>,
    /// End-to-end deadline of one operation; defaults to `defaults.deadline` of bff.yaml.
    #[serde(default, with = "humantime_serde")]
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Duration>,
    /// Whether `__schema` and `__type` answer (default true).
    #[serde(default = "yes")]
    pub introspection: bool,
    /// Serve the GraphiQL explorer (embedded, no CDN) to browsers that open
    /// the endpoint's path (default false).
    #[serde(default)]
    pub explorer: bool,
    /// Limits checked before any upstream request is made.
    #[serde(default)]
    pub limits: GraphqlLimits,
    /// Persisted operations: `.graphql` files keyed by the SHA-256 of their text.
    #[serde(default)]
    pub persisted: Option<PersistedSpec>,
    /// A resolver per field that needs data, by `Type.field`: a call whose
    /// templates see `args`, `parent`, `auth` and `headers`.
    #[serde(default)]
    pub resolvers: IndexMap<String, Loc<CallSpec>>,
}

fn yes() -> bool {
    true
}

/// What an operation may ask for.
#[derive(Debug, Clone, Deserialize, serde::Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GraphqlLimits {
    /// Deepest nesting of selections (the root fields are depth 1).
    pub max_depth: usize,
    /// Most fields with an alias in one operation.
    pub max_aliases: usize,
    /// Most root fields in one operation.
    pub max_root_fields: usize,
    /// Highest estimated cost of one operation (see docs/graphql.md).
    pub max_cost: u64,
    /// Length assumed for a list field when estimating cost, unless the
    /// field has a `first`, `last`, `limit` or `size` argument.
    pub list_size: u64,
    /// Cost of one upstream request in the estimate.
    pub call_cost: u64,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_aliases: 30,
            max_root_fields: 20,
            max_cost: 10_000,
            list_size: 10,
            call_cost: 10,
        }
    }
}

/// Persisted operations.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersistedSpec {
    /// Folder of `.graphql` files, relative to the spec folder (default `graphql/persisted`).
    #[serde(default)]
    pub dir: Option<Loc<String>>,
    /// Accept only the persisted operations (by hash or by identical text).
    #[serde(default)]
    pub require: bool,
    /// How many operations clients may register with the automatic
    /// persisted queries protocol (default 1000; 0 turns registration off).
    #[serde(default = "apq_default")]
    pub register: usize,
}

fn apq_default() -> usize {
    1000
}
