//! The answer of an operation, from the data gathered: apollo-compiler's
//! executor walks the operation over [`Object`]s, so aliases, fragments,
//! `__typename`, introspection, value coercion, error paths and null
//! propagation follow the GraphQL spec without code of ours.

use apollo_compiler::ExecutableDocument;
use apollo_compiler::ast::Type;
use apollo_compiler::executable::Operation;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{ExecutionResponse, GraphQLError, JsonMap};
use apollo_compiler::validation::Valid;
use jaq_json::Val;

use super::fields::to_response_json;
use super::{Object, Out, member};
use crate::plan::graphql::Graphql;

/// Executes the operation over the gathered root object.
pub(super) fn execute(
    graphql: &Graphql,
    document: &Valid<ExecutableDocument>,
    operation: &Operation,
    variables: &Valid<JsonMap>,
    root: &Object,
) -> ExecutionResponse {
    let execution = Execution::new(&graphql.schema, document)
        .operation(operation)
        .implementers_map(&graphql.implementers)
        .coerced_variable_values(variables)
        .enable_schema_introspection(graphql.introspection);
    match execution.execute_sync(&View(root)) {
        Ok(r) => r,
        Err(e) => ExecutionResponse {
            errors: vec![e.to_graphql_error(&document.sources)],
            data: None,
        },
    }
}

/// An object of the answer as the executor sees it.
struct View<'a>(&'a Object);

impl ObjectValue for View<'_> {
    fn type_name(&self) -> &str {
        self.0.type_name.as_str()
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let key = info.field_selections()[0].response_key().as_str();
        let ty = &info.field_definition().ty;
        match self.0.fields.get(key) {
            Some(Ok(out)) => resolved(out, ty),
            Some(Err(message)) => Err(FieldError {
                message: message.clone(),
            }),
            None => Ok(leaf(member(&self.0.data, info.field_name()), ty)),
        }
    }
}

fn resolved<'a>(out: &'a Out, ty: &'a Type) -> Result<ResolvedValue<'a>, FieldError> {
    Ok(match out {
        Out::Null => ResolvedValue::null(),
        Out::Leaf(v) => leaf(v.clone(), ty),
        Out::Object(o) => ResolvedValue::object(View(o)),
        Out::List(items) => {
            let item = ty.item_type();
            ResolvedValue::List(Box::new(items.iter().map(move |x| resolved(x, item))))
        }
        Out::Failed(message) => {
            return Err(FieldError {
                message: message.clone(),
            });
        }
    })
}

/// A scalar, enum or list of them.
fn leaf<'a>(v: Val, ty: &'a Type) -> ResolvedValue<'a> {
    match v {
        Val::Arr(items) if ty.is_list() => {
            let item = ty.item_type();
            let items: Vec<Val> = items.iter().cloned().collect();
            ResolvedValue::List(Box::new(items.into_iter().map(move |x| Ok(leaf(x, item)))))
        }
        other => ResolvedValue::Leaf(to_response_json(&other)),
    }
}

/// A request error (no `data`), as the response carries it.
pub(crate) fn request_error(message: impl Into<String>, code: &str) -> GraphQLError {
    let mut e = GraphQLError {
        message: message.into(),
        locations: Vec::new(),
        path: Vec::new(),
        extensions: JsonMap::new(),
    };
    e.extensions.insert("code", code.into());
    e
}
