//! The plan of one operation, readable: which resolvers its fields run, in
//! which wave (a field's resolver starts once the resolver above it has
//! answered), sent how often, and what the limits measure.

use std::fmt::Write;

use apollo_compiler::ExecutableDocument;
use apollo_compiler::executable::Selection;
use apollo_compiler::response::JsonMap;

use super::fields::Doc;
use super::limits;
use crate::plan::graphql::{Graphql, Resolver};

/// Explains `text` (an operation document) against the endpoint, or says
/// why it is not a valid operation.
pub(crate) fn explain(
    g: &Graphql,
    text: &str,
    operation_name: Option<&str>,
    variables: &JsonMap,
) -> Result<String, String> {
    let document = ExecutableDocument::parse_and_validate(&g.schema, text, "operation.graphql")
        .map_err(|e| e.errors.to_string())?;
    let op = document
        .operations
        .get(operation_name)
        .map_err(|e| e.message().to_string())?;
    let m = limits::measure(g, &document, op);
    let l = &g.limits;
    let mut out = String::new();
    let _ = writeln!(out, "GraphQL {}  ({})", g.path, g.file.display());
    let _ = writeln!(
        out,
        "  {} {}, deadline {}",
        op.operation_type,
        op.name.as_ref().map_or("(anonymous)", |n| n.as_str()),
        humantime::format_duration(g.deadline)
    );
    let _ = writeln!(
        out,
        "  depth {}/{}, aliases {}/{}, root fields {}/{}, estimated cost {}/{}",
        m.depth,
        l.max_depth,
        m.aliases,
        l.max_aliases,
        m.root_fields,
        l.max_root_fields,
        m.cost,
        l.max_cost
    );
    if let Err(e) = limits::check(g, &document, op) {
        let _ = writeln!(out, "  refused before any call: {e}");
    }
    let doc = Doc {
        schema: &g.schema,
        document: &document,
        variables,
    };
    let mut steps = Vec::new();
    let selections: Vec<&Selection> = op.selection_set.selections.iter().collect();
    walk(
        g,
        &doc,
        op.object_type(),
        &selections,
        "",
        1,
        false,
        &mut steps,
    );
    let waves = steps.iter().map(|s| s.wave).max().unwrap_or(0);
    for wave in 1..=waves {
        let members: Vec<&Step> = steps.iter().filter(|s| s.wave == wave).collect();
        let mode = if members.len() > 1 {
            " in parallel"
        } else {
            ""
        };
        let when = if wave == 1 {
            " — starts at once".to_owned()
        } else {
            " — each as soon as the resolver above it has answered".to_owned()
        };
        let _ = writeln!(out, "\n  wave {wave}{mode}{when}");
        for s in members {
            let _ = writeln!(out, "    {:<28} {}", s.path, s.what);
        }
    }
    if steps.is_empty() {
        let _ = writeln!(
            out,
            "\n  no resolver runs: the operation reads only what needs no call"
        );
    }
    Ok(out)
}

struct Step {
    wave: usize,
    path: String,
    what: String,
}

#[allow(clippy::too_many_arguments)]
fn walk(
    g: &Graphql,
    doc: &Doc<'_>,
    type_name: &str,
    selections: &[&Selection],
    prefix: &str,
    wave: usize,
    in_list: bool,
    out: &mut Vec<Step>,
) {
    for (key, fields) in doc.collect(type_name, selections) {
        let field = fields[0];
        if field.name.starts_with("__") {
            continue;
        }
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        };
        let resolver = g.resolver(type_name, &field.name);
        if let Some(r) = resolver {
            out.push(Step {
                wave,
                path: path.clone(),
                what: describe(r, type_name, in_list || wave > 1),
            });
        }
        let sub: Vec<&Selection> = fields
            .iter()
            .flat_map(|f| f.selection_set.selections.iter())
            .collect();
        if sub.is_empty() {
            continue;
        }
        let below = field.ty().inner_named_type();
        let next_wave = if resolver.is_some() { wave + 1 } else { wave };
        let list = in_list || field.ty().is_list();
        // An abstract type's fields are explained on each type it may be.
        let concrete: Vec<String> = match (g.implementers.get(below), g.schema.types.get(below)) {
            (Some(i), _) => i.objects.iter().map(|n| n.to_string()).collect(),
            (None, Some(apollo_compiler::schema::ExtendedType::Union(u))) => {
                u.members.iter().map(|n| n.to_string()).collect()
            }
            _ => vec![below.to_string()],
        };
        for ty in &concrete {
            walk(g, doc, ty, &sub, &path, next_wave, list, out);
        }
    }
}

/// `Type.field → GET service /path`, and how often it is sent.
fn describe(r: &Resolver, type_name: &str, many: bool) -> String {
    let c = &r.call;
    let target = match (&c.grpc, &c.soap) {
        (Some(m), _) => format!("gRPC {} {}", c.service.name, m.name),
        (None, Some(s)) => format!(
            "SOAP {} {} {} {}",
            s.version.as_str(),
            c.service.name,
            c.path.source,
            s.action
        ),
        (None, None) => format!("{} {} {}", c.method, c.service.name, c.path.source),
    };
    let times = match (&c.for_each, many) {
        (Some(fe), _) => match fe.batch {
            Some(n) => {
                format!("the keys of every {type_name} of the level, deduplicated, {n} per request")
            }
            None => format!(
                "one request per distinct key of the level's {type_name}s, {} at a time",
                fe.concurrency
            ),
        },
        (None, true) => format!("once per {type_name}"),
        (None, false) => "once".to_owned(),
    };
    let optional = match &c.fallback {
        Some(_) => ", on failure its default",
        None => "",
    };
    format!("{} → {target}  ({times}{optional})", r.name)
}
