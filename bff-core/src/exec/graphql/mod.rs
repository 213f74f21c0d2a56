//! Running a GraphQL operation over the services, level by level.
//!
//! First the data: the selection is walked from the root; at each level a
//! selected field with a resolver runs its call once for all the objects
//! of that level (with `for_each`, the keys of every parent gathered,
//! deduplicated and sent in batches), fields run concurrently, and the
//! level below a field starts as soon as that field is resolved. Fields
//! without a resolver read the parent's member of the same name. Then the
//! answer is written from the data gathered ([`complete`]: aliases,
//! fragments, `__typename`, value coercion, the spec's null propagation);
//! an operation that introspects goes to apollo-compiler's executor
//! instead ([`shape`]).

mod complete;
mod explain;
mod fields;
pub(crate) mod limits;
mod shape;

pub(crate) use explain::explain;
pub(crate) use shape::request_error;

use apollo_compiler::collections::HashMap;
use std::sync::{Arc, Mutex};

use apollo_compiler::executable::{Field, Operation, OperationType, Selection};
use apollo_compiler::response::JsonMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Name, Node as AstNode};
use futures::future::{BoxFuture, join_all};
use futures::{StreamExt, stream};
use jaq_json::Val;
use tokio::time::Instant;

use super::Degraded;
use super::call;
use super::error::CallError;
use super::scope::{RequestData, Scope};
use crate::lang::template::TemplateSet;
use crate::plan::graphql::{Graphql, Resolver};
use crate::running::Running;
use crate::value;
use fields::Doc;

/// One object of the answer: its type, its data, and the fields resolved
/// for it by response key (what is not there is read from `data`).
#[derive(Debug)]
struct Object {
    type_name: Name,
    data: Val,
    fields: HashMap<Name, Result<Out, String>>,
}

/// A resolved value, with the objects in it resolved further.
#[derive(Debug)]
enum Out {
    Null,
    Leaf(Val),
    Object(Object),
    List(Vec<Out>),
    /// A value that cannot be what the schema says: a field error here.
    Failed(String),
}

/// What a run produced: the response, and the resolvers that fell back.
pub(crate) struct Answer {
    /// `data`, as JSON text.
    pub data: Vec<u8>,
    /// `errors`.
    pub errors: Vec<apollo_compiler::response::GraphQLError>,
    /// Resolvers whose failure was covered by their `on_error.default`.
    pub degraded: Vec<Degraded>,
    /// Whether any resolver failed (covered or not).
    pub partial: bool,
    /// Each resolver run, in the order they ended: its name, time and
    /// outcome (`ok`, or the reason of its failure).
    pub timings: Vec<(String, std::time::Duration, String)>,
}

/// What every level of one operation reads.
struct Run<'a> {
    graphql: &'a Graphql,
    templates: &'a TemplateSet,
    running: &'a Running,
    request: RequestData,
    doc: Doc<'a>,
    deadline: Instant,
    /// Failures, by the message they have in `errors`: their reason.
    failures: Mutex<HashMap<String, (String, String)>>,
    degraded: Mutex<Vec<Degraded>>,
    timings: Mutex<Vec<(String, std::time::Duration, String)>>,
}

/// Runs one validated operation.
pub(crate) async fn run(
    graphql: &Graphql,
    templates: &TemplateSet,
    running: &Running,
    request: RequestData,
    document: &Valid<ExecutableDocument>,
    operation: &Operation,
    variables: &Valid<JsonMap>,
) -> Answer {
    let run = Run {
        graphql,
        templates,
        running,
        request,
        doc: Doc {
            schema: &graphql.schema,
            document,
            variables,
        },
        deadline: Instant::now() + graphql.deadline,
        failures: Mutex::default(),
        degraded: Mutex::default(),
        timings: Mutex::default(),
    };
    let root_type = operation.object_type().clone();
    let selections: Vec<&Selection> = operation.selection_set.selections.iter().collect();
    let start = || vec![(root_type.clone(), value::object([]))];
    let root = if operation.operation_type == OperationType::Mutation {
        // A mutation's root fields run one after the other, in order.
        let mut root = Object {
            type_name: root_type.clone(),
            data: value::object([]),
            fields: HashMap::default(),
        };
        let singles: Vec<Vec<Selection>> = run
            .doc
            .collect(&root_type, &selections)
            .into_values()
            .map(|fields| fields.into_iter().cloned().map(Selection::Field).collect())
            .collect();
        for one in &singles {
            let mut done = resolve_level(&run, start(), one.iter().collect()).await;
            let first = done.pop().expect("one root object");
            root.fields.extend(first.fields);
        }
        root
    } else {
        let mut objects = resolve_level(&run, start(), selections.clone()).await;
        objects.pop().expect("one root object")
    };
    let failures = run.failures.into_inner().unwrap_or_default();
    let introspects = run
        .doc
        .collect(&root_type, &selections)
        .values()
        .any(|f| matches!(f[0].name.as_str(), "__schema" | "__type"));
    let (data, errors) = if introspects {
        // The introspection schema is the executor's to answer.
        let mut response = shape::execute(graphql, document, operation, variables, &root);
        for e in &mut response.errors {
            // The executor prefixes what a field's resolution said.
            let own = e
                .message
                .strip_prefix("resolver error: ")
                .unwrap_or(&e.message);
            if let Some((resolver, reason)) = failures.get(own) {
                e.message = own.to_owned();
                e.extensions.insert("code", code(reason).into());
                e.extensions.insert("reason", reason.as_str().into());
                e.extensions.insert("resolver", resolver.as_str().into());
            }
        }
        (complete::data_text(response.data.as_ref()), response.errors)
    } else {
        let c = complete::complete(run.doc, &root, &selections, &failures);
        (c.data, c.errors)
    };
    let degraded = run.degraded.into_inner().unwrap_or_default();
    Answer {
        partial: !failures.is_empty() || !degraded.is_empty(),
        data,
        errors,
        degraded,
        timings: run.timings.into_inner().unwrap_or_default(),
    }
}

/// The `extensions.code` of a resolver's failure, by its reason.
fn code(reason: &str) -> &'static str {
    match reason {
        "timeout" => "UPSTREAM_TIMEOUT",
        "input" => "RESOLVER_INPUT",
        _ => "UPSTREAM_ERROR",
    }
}

/// Resolves the selected fields of a level's objects (each with its
/// concrete type), and everything below them; one object back per parent.
fn resolve_level<'a>(
    run: &'a Run<'a>,
    parents: Vec<(Name, Val)>,
    selections: Vec<&'a Selection>,
) -> BoxFuture<'a, Vec<Object>> {
    Box::pin(async move {
        // Objects of one type select the same fields: resolve them together.
        let mut groups: Vec<(Name, Vec<usize>)> = Vec::new();
        for (i, (ty, _)) in parents.iter().enumerate() {
            match groups.iter_mut().find(|(t, _)| t == ty) {
                Some((_, members)) => members.push(i),
                None => groups.push((ty.clone(), vec![i])),
            }
        }
        let mut objects: Vec<Object> = parents
            .into_iter()
            .map(|(type_name, data)| Object {
                type_name,
                data,
                fields: HashMap::default(),
            })
            .collect();
        // Boxed: a field's future holds its calls' and is large; join_all
        // would move each one whole.
        let mut work: Vec<BoxFuture<'a, FieldOutcome>> = Vec::new();
        for (ty, members) in &groups {
            let selected = run.doc.collect(ty, &selections);
            for fields in selected.into_values() {
                let field = fields[0];
                if field.name.starts_with("__") {
                    continue;
                }
                let data: Vec<Val> = members.iter().map(|&i| objects[i].data.clone()).collect();
                let resolver = run.graphql.resolver(ty, &field.name);
                let composite = !run
                    .doc
                    .schema
                    .types
                    .get(field.ty().inner_named_type())
                    .is_some_and(|t| t.is_leaf());
                if resolver.is_none() && !composite {
                    continue;
                }
                let members = members.clone();
                work.push(Box::pin(async move {
                    let values = match resolver {
                        Some(r) => {
                            let began = Instant::now();
                            let values = resolve_field(run, r, field, &data).await;
                            run.record(r, began.elapsed(), &values);
                            values
                        }
                        None => data.iter().map(|d| Ok(member(d, &field.name))).collect(),
                    };
                    let outs = if composite {
                        let sub: Vec<&Selection> = fields
                            .iter()
                            .flat_map(|f| f.selection_set.selections.iter())
                            .collect();
                        descend(run, field, values, sub).await
                    } else {
                        values.into_iter().map(|v| v.map(Out::Leaf)).collect()
                    };
                    (field.response_key().clone(), members, outs)
                }));
            }
        }
        for (key, members, outs) in join_all(work).await {
            for (i, out) in members.into_iter().zip(outs) {
                objects[i].fields.insert(key.clone(), out);
            }
        }
        objects
    })
}

/// A field of a level resolved: its response key, the objects it was
/// resolved for, and its outcome for each.
type FieldOutcome = (Name, Vec<usize>, Vec<Result<Out, String>>);

/// The objects inside a composite field's values, resolved one level down
/// together, and put back in place.
async fn descend<'a>(
    run: &'a Run<'a>,
    field: &'a AstNode<Field>,
    values: Vec<Result<Val, String>>,
    sub: Vec<&'a Selection>,
) -> Vec<Result<Out, String>> {
    let ty = field.ty();
    let mut children: Vec<(Name, Val)> = Vec::new();
    let mut shapes = Vec::with_capacity(values.len());
    for v in values {
        shapes.push(v.and_then(|v| flatten(run, ty, v, &mut children)));
    }
    let mut resolved = resolve_level(run, children, sub).await.into_iter();
    shapes
        .into_iter()
        .map(|s| s.map(|s| rebuild(s, &mut resolved)))
        .collect()
}

/// A composite value with its objects taken out (to be resolved) in order.
enum Shape {
    Null,
    Object,
    List(Vec<Shape>),
    /// An item of a list that cannot be one of the list's type.
    Failed(String),
}

fn flatten(
    run: &Run<'_>,
    ty: &apollo_compiler::ast::Type,
    v: Val,
    out: &mut Vec<(Name, Val)>,
) -> Result<Shape, String> {
    match v {
        Val::Null => Ok(Shape::Null),
        Val::Arr(items) if ty.is_list() => {
            let item = ty.item_type();
            // An item that does not fit fails alone, as a field error at
            // its place in the list.
            Ok(Shape::List(
                items
                    .iter()
                    .map(|x| flatten(run, item, x.clone(), out).unwrap_or_else(Shape::Failed))
                    .collect(),
            ))
        }
        Val::Obj(_) if !ty.is_list() => {
            let named = ty.inner_named_type();
            let concrete = match run.doc.schema.types.get(named) {
                Some(apollo_compiler::schema::ExtendedType::Object(_)) => named.clone(),
                _ => {
                    let typename = member(&v, "__typename");
                    let Val::TStr(t) = &typename else {
                        return Err(format!(
                            "an object of the abstract type `{named}` has no `__typename` to tell its type"
                        ));
                    };
                    let concrete =
                        Name::new(&String::from_utf8_lossy(t)).map_err(|e| e.to_string())?;
                    let fits = matches!(
                        run.doc.schema.types.get(&concrete),
                        Some(apollo_compiler::schema::ExtendedType::Object(_))
                    ) && run.doc.schema.is_subtype(named, &concrete);
                    if !fits {
                        return Err(format!(
                            "`__typename: {concrete}` is not an object type of `{named}`"
                        ));
                    }
                    concrete
                }
            };
            out.push((concrete, v));
            Ok(Shape::Object)
        }
        other => Err(format!(
            "expected {} for a `{ty}`, got {}",
            if ty.is_list() { "a list" } else { "an object" },
            String::from_utf8_lossy(&value::to_json(&other))
        )),
    }
}

fn rebuild(shape: Shape, resolved: &mut impl Iterator<Item = Object>) -> Out {
    match shape {
        Shape::Null => Out::Null,
        Shape::Object => resolved.next().map_or(Out::Null, Out::Object),
        Shape::List(items) => Out::List(items.into_iter().map(|s| rebuild(s, resolved)).collect()),
        Shape::Failed(message) => Out::Failed(message),
    }
}

/// A member of an object value; null for anything else.
fn member(v: &Val, name: &str) -> Val {
    let Val::Obj(map) = v else {
        return Val::Null;
    };
    // The objects of answers are small: comparing keys beats making one
    // to look up (an allocation and a hash per field).
    if map.len() <= 16 {
        for (k, x) in map.iter() {
            if let Val::TStr(b) = k {
                let bytes: &[u8] = b;
                if bytes == name.as_bytes() {
                    return x.clone();
                }
            }
        }
        return Val::Null;
    }
    map.get(&value::string(name)).cloned().unwrap_or(Val::Null)
}

impl Run<'_> {
    /// A resolver's run, for metrics, Server-Timing and the request log.
    fn record(&self, r: &Resolver, took: std::time::Duration, values: &[Result<Val, String>]) {
        let failed = values.iter().find_map(|v| v.as_ref().err()).and_then(|m| {
            let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            failures.get(m).map(|(_, reason)| reason.clone())
        });
        let covered = || {
            let degraded = self.degraded.lock().unwrap_or_else(|p| p.into_inner());
            degraded
                .iter()
                .find(|d| *d.call == *r.name)
                .map(|d| d.reason.clone())
        };
        let outcome = failed.or_else(covered).unwrap_or_else(|| "ok".to_owned());
        self.timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((r.name.to_string(), took, outcome));
    }
}

/// Requests in flight at once for a resolver without `for_each`, one per parent.
const PER_PARENT_CONCURRENCY: usize = 16;

/// Runs a resolver for every parent of a level; one value per parent.
async fn resolve_field(
    run: &Run<'_>,
    resolver: &Resolver,
    field: &Field,
    parents: &[Val],
) -> Vec<Result<Val, String>> {
    let args = run.doc.arguments(field);
    let scope = |parent: Val| {
        let mut s = Scope::new(
            run.request.clone(),
            vec![Arc::from("args"), Arc::from("parent")],
        );
        s.results = vec![Some(args.clone()), Some(parent)];
        s
    };
    let call = &resolver.call;
    let Some(fe) = &call.for_each else {
        let results = stream::iter(parents.iter().cloned())
            .map(|parent| {
                let scope = scope(parent);
                Box::pin(async move {
                    match call::prepare(call, &scope, run.templates) {
                        Ok(p) => self::send(run, resolver, p).await,
                        Err(e) => Err(e),
                    }
                })
            })
            .buffered(PER_PARENT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        return results
            .into_iter()
            .map(|r| finish(run, resolver, r.and_then(|v| select(resolver, v))))
            .collect();
    };
    // Each parent's key, or keys for a list field.
    let mut keys: Vec<Result<(Vec<Val>, bool), CallError>> = Vec::with_capacity(parents.len());
    for parent in parents {
        let s = scope(parent.clone());
        // A parent whose `when` is false asks for nothing and gets null.
        if let Some(when) = &call.when {
            match when.first(s.jq_input()) {
                Ok(v) if !value::truthy(&v) => {
                    keys.push(Ok((Vec::new(), false)));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    keys.push(Err(CallError::Input(e.to_string())));
                    continue;
                }
            }
        }
        let k = fe
            .items
            .run(s.jq_input())
            .map_err(|e| CallError::Input(e.to_string()))
            .map(|outputs| match outputs.as_slice() {
                [Val::Arr(a)] => (a.iter().cloned().collect(), true),
                [one] => (vec![one.clone()], false),
                _ => (outputs, true),
            });
        keys.push(k);
    }
    let all: Vec<Val> = keys
        .iter()
        .filter_map(|k| k.as_ref().ok())
        .flat_map(|(k, _)| k.iter().cloned())
        .collect();
    let all = call::unique_items(all);
    let batched = fe.batch.is_some();
    let answered = if all.is_empty() {
        Ok(Vec::new())
    } else {
        let items = all.clone();
        match call::prepare_items(call, &scope(Val::Null), run.templates, items) {
            Ok(p) => self::send(run, resolver, p).await.map(|v| match v {
                Val::Arr(a) => a.iter().cloned().collect(),
                Val::Null => Vec::new(),
                other => vec![other],
            }),
            Err(e) => Err(e),
        }
    };
    // Answers by key: read with `key` from batched items, by position otherwise.
    let by_key: Result<HashMap<Val, Val>, CallError> = answered.and_then(|items| {
        if batched {
            let key = resolver.key.as_ref().expect("checked at load time");
            let mut map = HashMap::default();
            for item in items {
                let k = key
                    .first(item.clone())
                    .map_err(|e| CallError::Input(e.to_string()))?;
                map.entry(k).or_insert(item);
            }
            Ok(map)
        } else {
            // A key whose request answered null has no item, as a key a
            // batch left out.
            Ok(all
                .into_iter()
                .zip(items)
                .filter(|(_, item)| !matches!(item, Val::Null))
                .collect())
        }
    });
    keys.into_iter()
        .map(|k| {
            let result = k.and_then(|(keys, list)| {
                let map = by_key.as_ref().map_err(Clone::clone)?;
                let mut found = Vec::with_capacity(keys.len());
                for k in &keys {
                    match map.get(k) {
                        Some(item) => found.push(select(resolver, item.clone())?),
                        None if list => {}
                        None => found.push(Val::Null),
                    }
                }
                Ok(if list {
                    found.into_iter().collect()
                } else {
                    found.pop().unwrap_or(Val::Null)
                })
            });
            finish(run, resolver, result)
        })
        .collect()
}

/// Sends a resolver's requests under the operation's deadline.
async fn send(
    run: &Run<'_>,
    resolver: &Resolver,
    prepared: call::Prepared,
) -> Result<Val, CallError> {
    let sent = call::send(&resolver.call, prepared, run.running, run.deadline);
    match tokio::time::timeout_at(run.deadline, sent).await {
        Ok((result, _freshness, _headers)) => match result {
            Err(CallError::Stale(v)) => Ok(v),
            other => other,
        },
        Err(_) => Err(CallError::Timeout),
    }
}

fn select(resolver: &Resolver, v: Val) -> Result<Val, CallError> {
    match &resolver.select {
        Some(e) => e.first(v).map_err(|e| CallError::Input(e.to_string())),
        None => Ok(v),
    }
}

/// A resolver's outcome for one parent: its value, its fallback, or the
/// message of its error in `errors`.
fn finish(
    run: &Run<'_>,
    resolver: &Resolver,
    result: Result<Val, CallError>,
) -> Result<Val, String> {
    let e = match result {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let reason = e.reason();
    if let CallError::Input(msg) = &e {
        tracing::warn!(resolver = %resolver.name, error = %msg, "resolver could not build its call");
    }
    if let Some(fallback) = &resolver.call.fallback {
        let mut degraded = run.degraded.lock().unwrap_or_else(|p| p.into_inner());
        if !degraded.iter().any(|d| *d.call == *resolver.name) {
            degraded.push(Degraded {
                call: resolver.name.to_string(),
                reason,
            });
        }
        return Ok(fallback.clone());
    }
    // What a template or expression said about the request stays in the log.
    let message = match &e {
        CallError::Input(_) => format!(
            "{}: the request to the service could not be built",
            resolver.name
        ),
        other => format!("{}: {other}", resolver.name),
    };
    run.failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(message.clone(), (resolver.name.to_string(), reason));
    Err(message)
}
