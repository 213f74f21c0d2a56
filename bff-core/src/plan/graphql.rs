//! The GraphQL endpoint, compiled: its validated schema, a resolver (a
//! compiled call) per field that needs data, its limits and its persisted
//! operations.

use apollo_compiler::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use apollo_compiler::collections::HashMap as NameMap;
use apollo_compiler::schema::Implementers;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Name, Schema};

use super::call::Call;
use super::expr::Expr;

/// The GraphQL endpoint of a BFF.
pub struct Graphql {
    /// Route path, e.g. `/graphql`.
    pub path: String,
    /// `graphql.yaml`.
    pub file: PathBuf,
    /// The schema, validated.
    pub schema: Arc<Valid<Schema>>,
    /// Which object types implement each interface or belong to each union.
    pub implementers: NameMap<Name, Implementers>,
    /// Resolvers by type name, then field name.
    pub resolvers: HashMap<String, HashMap<String, Resolver>>,
    /// End-to-end deadline of one operation.
    pub deadline: Duration,
    /// Authentication every request must pass.
    pub auth: Option<Arc<crate::auth::Policy>>,
    /// What the identity must hold.
    pub require: Option<crate::auth::Requirement>,
    /// Rate-limit policy.
    pub rate_limit: Option<Arc<crate::ratelimit::Policy>>,
    /// Whether `__schema` and `__type` answer.
    pub introspection: bool,
    /// Whether browsers get the GraphiQL explorer at the path.
    pub explorer: bool,
    /// What an operation may ask for.
    pub limits: crate::spec::GraphqlLimits,
    /// Persisted operations.
    pub persisted: Persisted,
    /// Largest request body read.
    pub body_limit: usize,
}

impl std::fmt::Debug for Graphql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graphql")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Graphql {
    /// The resolver of `type_name.field`, if the field has one.
    pub fn resolver(&self, type_name: &str, field: &str) -> Option<&Resolver> {
        self.resolvers.get(type_name)?.get(field)
    }
}

/// A field's resolver: the call, and how its answer becomes the field.
#[derive(Debug)]
pub struct Resolver {
    /// `Type.field`.
    pub name: Arc<str>,
    /// The call. With `for_each`, its items expression runs once per
    /// parent and gives that parent's key (or list of keys).
    pub call: Call,
    /// Shapes each result (each matched item with `for_each`) into the value.
    pub select: Option<Expr>,
    /// With `for_each` and `batch`: the key an answered item belongs to.
    pub key: Option<Expr>,
}

/// Persisted operations, by the SHA-256 (lowercase hex) of their text.
#[derive(Debug, Default)]
pub struct Persisted {
    /// The operations of the folder.
    pub by_hash: HashMap<String, Arc<Operation>>,
    /// Only these are accepted.
    pub require: bool,
    /// How many operations clients may register (automatic persisted queries).
    pub register: usize,
}

/// The SHA-256 of a text, in lowercase hex: the persisted operations' key.
pub fn sha256(text: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// An operation document checked against the schema.
#[derive(Debug)]
pub struct Operation {
    /// The text as written.
    pub text: String,
    /// The document, validated.
    pub document: Valid<ExecutableDocument>,
}
