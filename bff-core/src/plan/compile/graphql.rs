//! `graphql.yaml` compiled: the SDL parsed and validated (errors at their
//! line and column in the `.graphql` file), each resolver compiled as a
//! call of its own and checked against the field it resolves, and every
//! persisted operation validated against the schema.

use apollo_compiler::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use apollo_compiler::diagnostic::ToCliReport;
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::{ExecutableDocument, Schema};

use super::call::CallCx;
use super::locate::at_reference;
use super::policies::lookup_policy;
use super::{FolderParts, LangBuilders};
use crate::plan::graphql::{Graphql, Operation, Persisted, Resolver};
use crate::source::{Diagnostic, Diagnostics, Loc};
use crate::spec::{CallSpec, GraphqlSpec, SpecFile};

/// What resolvers read besides the request: the field's arguments and the
/// object the field belongs to.
const RESOLVER_ROOTS: [&str; 2] = ["args", "parent"];

/// The GraphQL endpoint of `graphql.yaml`; `None` when anything is wrong (reported).
pub(super) fn compile_graphql<'a>(
    file: &'a SpecFile<GraphqlSpec>,
    dir: &Path,
    folder: FolderParts<'_>,
    b: &mut LangBuilders<'a>,
    diags: &mut Diagnostics,
) -> Option<Graphql> {
    let spec = &file.spec;
    let before = diags.0.len();
    let auth = lookup_policy(file, spec.auth.as_ref(), folder.policies, diags);
    if let (Some(r), None) = (&spec.require, &spec.auth) {
        diags.push(file.error_at(r, "`require` needs an `auth` policy"));
    }
    let rate_limit = crate::plan::rate_limits::lookup(
        file,
        spec.rate_limit.as_ref(),
        auth.is_some(),
        folder.rate_limits,
        diags,
    );
    let schema = load_schema(file, dir, diags)?;
    let mut resolvers: HashMap<String, HashMap<String, Resolver>> = HashMap::default();
    for (name, call) in &spec.resolvers {
        if let Some(r) = compile_resolver(file, name, call, &schema, folder, b, diags) {
            let (ty, field) = name.split_once('.').expect("checked by compile_resolver");
            resolvers
                .entry(ty.to_owned())
                .or_default()
                .insert(field.to_owned(), r);
        }
    }
    let persisted = load_persisted(file, dir, &schema, diags);
    if diags.0.len() > before {
        return None;
    }
    Some(Graphql {
        path: spec
            .path
            .as_ref()
            .map_or_else(|| "/graphql".to_owned(), |p| p.value.clone()),
        file: file.path.clone(),
        implementers: schema.implementers_map(),
        schema: Arc::new(schema),
        resolvers,
        deadline: spec.deadline.unwrap_or(folder.config.defaults.deadline),
        auth,
        require: spec
            .require
            .as_ref()
            .map(|r| crate::auth::Requirement::new(r)),
        rate_limit,
        introspection: spec.introspection,
        explorer: spec.explorer,
        limits: spec.limits.clone(),
        persisted,
        body_limit: folder.config.defaults.body_limit,
    })
}

/// Reads the SDL files and validates the schema they make together.
fn load_schema(
    file: &SpecFile<GraphqlSpec>,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<Valid<Schema>> {
    let default = [Loc::unplaced("graphql/schema.graphql".to_owned())];
    let names = if file.spec.schema.is_empty() {
        &default[..]
    } else {
        &file.spec.schema[..]
    };
    let mut texts: Vec<(PathBuf, String)> = Vec::new();
    let mut builder = Schema::builder();
    for name in names {
        let path = dir.join(name.as_str());
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                builder = builder.parse(text.clone(), &path);
                texts.push((path, text));
            }
            Err(e) => {
                let message = format!("cannot read the schema `{}`: {e}", path.display());
                diags.push(if name.line == 0 {
                    Diagnostic::file(&file.path, message)
                } else {
                    file.error_at(name, message)
                });
            }
        }
    }
    if texts.len() < names.len() {
        return None;
    }
    let schema = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            report(&e.errors, &texts, diags);
            return None;
        }
    };
    match schema.validate() {
        Ok(s) => Some(s),
        Err(e) => {
            report(&e.errors, &texts, diags);
            None
        }
    }
}

/// apollo-compiler's diagnostics, each at its line and column of the file it is in.
pub(crate) fn report(
    errors: &DiagnosticList,
    texts: &[(PathBuf, String)],
    diags: &mut Diagnostics,
) {
    for d in errors.iter() {
        let message = d.error.to_string();
        let at = d.error.location().and_then(|span| {
            let path = d.sources.get(&span.file_id())?.path().to_owned();
            let range = d.line_column_range()?;
            Some((path, range.start))
        });
        diags.push(match at {
            Some((path, start)) => {
                let text = texts
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or("", |(_, t)| t.as_str());
                Diagnostic::at(&path, text, start.line as u32, start.column as u32, message)
            }
            None => Diagnostic::file(
                texts
                    .first()
                    .map_or(Path::new("graphql"), |(p, _)| p.as_path()),
                message,
            ),
        });
    }
}

/// One resolver: its `Type.field` must exist, and what it reads of
/// `parent` and produces with `select` must fit the types.
fn compile_resolver<'a>(
    file: &'a SpecFile<GraphqlSpec>,
    name: &'a str,
    spec: &'a Loc<CallSpec>,
    schema: &Valid<Schema>,
    folder: FolderParts<'_>,
    b: &mut LangBuilders<'a>,
    diags: &mut Diagnostics,
) -> Option<Resolver> {
    let Some((type_name, field_name)) = name.split_once('.') else {
        diags.push(file.error_at_key(
            name,
            spec,
            format!("a resolver is named `Type.field`, got `{name}`"),
        ));
        return None;
    };
    let fields = match schema.types.get(type_name) {
        Some(ExtendedType::Object(o)) => &o.fields,
        Some(_) => {
            diags.push(file.error_at_key(
                name,
                spec,
                format!("`{type_name}` is not an object type of the schema: resolvers belong to object types"),
            ));
            return None;
        }
        None => {
            diags.push(file.error_at_key(
                name,
                spec,
                format!("the schema has no type `{type_name}`"),
            ));
            return None;
        }
    };
    let Some(field) = fields.get(field_name) else {
        let known: Vec<&str> = fields.keys().map(|k| k.as_str()).collect();
        diags.push(file.error_at_key(
            name,
            spec,
            format!(
                "type `{type_name}` has no field `{field_name}` (it has: {})",
                known.join(", ")
            ),
        ));
        return None;
    };
    let before = diags.0.len();
    let cx = CallCx {
        file,
        name,
        spec,
        names: &RESOLVER_ROOTS,
        folder,
        b: &mut *b,
        diags: &mut *diags,
        roots: Vec::new(),
        resolver: true,
    };
    let call = cx.compile();
    if let Some(after) = spec.after.first() {
        diags.push(file.error_at(
            after,
            format!("resolver `{name}`: `after` names calls of an endpoint; a resolver runs when its parent is resolved"),
        ));
    }
    if let Some(on_error) = &spec.on_error {
        if !on_error.forward_status.is_empty() {
            diags.push(file.error_at(
                spec,
                format!("resolver `{name}`: forward_status has no meaning in GraphQL, whose errors go in `errors`"),
            ));
        }
        if on_error.default.is_none() && field.ty.is_non_null() {
            diags.push(file.error_at(
                spec,
                format!("resolver `{name}` is optional (on_error) without a default, but `{field_name}: {}` cannot be null: give on_error a default", field.ty),
            ));
        }
    }
    match (&spec.key, &spec.for_each, &spec.batch) {
        (Some(k), _, None) => diags.push(file.error_at(
            k,
            "`key` matches batched answers to parents: it needs `for_each` with `batch`",
        )),
        (None, Some(fe), Some(_)) => diags.push(file.error_at(
            fe,
            format!("resolver `{name}` batches (`for_each` with `batch`): give `key`, the jq that reads the parent key an answered item belongs to"),
        )),
        _ => {}
    }
    check_parent_reads(file, name, spec, type_name, fields, diags);
    if let Some(select) = &spec.select {
        check_select_keys(file, select, schema, field.ty.inner_named_type(), diags);
    }
    let select = spec.select.as_ref().and_then(|s| b.expr(file, s, diags));
    let key = spec.key.as_ref().and_then(|k| b.expr(file, k, diags));
    if diags.0.len() > before {
        return None;
    }
    Some(Resolver {
        name: name.into(),
        call: call?,
        select,
        key,
    })
}

/// Every `parent.x` a resolver reads must be a field of the type it belongs to.
fn check_parent_reads(
    file: &SpecFile<GraphqlSpec>,
    name: &str,
    spec: &Loc<CallSpec>,
    type_name: &str,
    fields: &apollo_compiler::collections::IndexMap<
        apollo_compiler::Name,
        apollo_compiler::schema::Component<apollo_compiler::schema::FieldDefinition>,
    >,
    diags: &mut Diagnostics,
) {
    let mut texts: Vec<&str> = Vec::new();
    let s = &spec.value;
    for t in [
        &s.get,
        &s.post,
        &s.put,
        &s.patch,
        &s.delete,
        &s.body_jq,
        &s.when,
        &s.for_each,
    ]
    .into_iter()
    .flatten()
    {
        texts.push(t.as_str());
    }
    texts.extend(s.query.values().map(|v| v.as_str()));
    texts.extend(s.headers.values().map(|v| v.as_str()));
    let mut body_strings = Vec::new();
    if let Some(body) = &s.body {
        json_strings(&body.value, &mut body_strings);
    }
    texts.extend(body_strings.iter().map(String::as_str));
    let mut reported = Vec::new();
    for text in texts {
        for member in parent_members(text) {
            if !fields.contains_key(member.as_str()) && !reported.contains(&member) {
                diags.push(at_reference(
                    file,
                    spec,
                    "parent",
                    format!("resolver `{name}` reads `parent.{member}`, but type `{type_name}` has no field `{member}`"),
                ));
                reported.push(member);
            }
        }
    }
}

fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// The members read as `parent.x` (template) or `.parent.x` (jq).
fn parent_members(text: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for (i, _) in text.match_indices("parent.") {
        if text[..i].chars().next_back().is_some_and(ident) {
            continue;
        }
        let rest = &text[i + "parent.".len()..];
        let member: String = rest.chars().take_while(|&c| ident(c)).collect();
        if !member.is_empty() {
            out.push(member);
        }
    }
    out
}

/// The keys of an object a `select` builds (`{a, b: …}`) must be fields
/// of the type it resolves to.
fn check_select_keys(
    file: &SpecFile<GraphqlSpec>,
    select: &Loc<String>,
    schema: &Valid<Schema>,
    type_name: &str,
    diags: &mut Diagnostics,
) {
    let fields = match schema.types.get(type_name) {
        Some(ExtendedType::Object(o)) => &o.fields,
        Some(ExtendedType::Interface(i)) => &i.fields,
        _ => return,
    };
    for key in object_keys(select.as_str()) {
        if !fields.contains_key(key.as_str()) {
            diags.push(file.error_at(
                select,
                format!("select builds `{key}`, which is not a field of `{type_name}`"),
            ));
        }
    }
}

/// The top-level keys of a jq object construction `{a, b: .x, "c": 1}`;
/// nothing for any other expression.
fn object_keys(jq: &str) -> Vec<String> {
    let t = jq.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return Vec::new();
    }
    let inner = &t[1..t.len() - 1];
    let mut keys = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut start = true;
    let mut current = String::new();
    for c in inner.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            if depth == 0 && start {
                current.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                if depth == 0 && start {
                    current.push(c);
                }
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                push_key(&mut keys, &current);
                current.clear();
                start = true;
            }
            ':' if depth == 0 && start => {
                push_key(&mut keys, &current);
                current.clear();
                start = false;
            }
            _ if depth == 0 && start => current.push(c),
            _ => {}
        }
    }
    if start {
        push_key(&mut keys, &current);
    }
    keys
}

fn push_key(keys: &mut Vec<String>, raw: &str) {
    let k = raw.trim();
    let k = k.strip_prefix('$').unwrap_or(k);
    let k = k
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(k);
    if !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with("__")
    {
        keys.push(k.to_owned());
    }
}

/// The persisted operations of the folder, each validated against the schema.
fn load_persisted(
    file: &SpecFile<GraphqlSpec>,
    dir: &Path,
    schema: &Valid<Schema>,
    diags: &mut Diagnostics,
) -> Persisted {
    let Some(spec) = &file.spec.persisted else {
        return Persisted::default();
    };
    let folder = dir.join(
        spec.dir
            .as_ref()
            .map_or("graphql/persisted", |d| d.value.as_str()),
    );
    let mut persisted = Persisted {
        by_hash: HashMap::default(),
        require: spec.require,
        register: if spec.require { 0 } else { spec.register },
    };
    if !folder.is_dir() {
        let message = format!("persisted operations: no folder `{}`", folder.display());
        diags.push(match &spec.dir {
            Some(d) => file.error_at(d, message),
            None => Diagnostic::file(&file.path, message),
        });
        return persisted;
    }
    let mut paths = Vec::new();
    let graphql = |p: &Path| p.extension().and_then(|e| e.to_str()) == Some("graphql");
    crate::spec::collect_files(&folder, &graphql, &mut paths, diags);
    paths.sort();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::file(&path, format!("cannot read file: {e}")));
                continue;
            }
        };
        match ExecutableDocument::parse_and_validate(schema, text.clone(), &path) {
            Ok(document) => {
                persisted.by_hash.insert(
                    crate::plan::graphql::sha256(&text),
                    Arc::new(Operation { text, document }),
                );
            }
            Err(e) => report(&e.errors, &[(path.clone(), text)], diags),
        }
    }
    persisted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_the_top_level_keys() {
        assert_eq!(
            object_keys(r#"{id, name: .title, "price": (.cents / 100), tags: [.t[] | {x: 1}]}"#),
            ["id", "name", "price", "tags"]
        );
        assert!(object_keys(".items[0]").is_empty());
    }

    #[test]
    fn parent_members_are_found_in_templates_and_jq() {
        assert_eq!(
            parent_members("/p/{{ parent.id }}?c={{ parent.category_id }}"),
            ["id", "category_id"]
        );
        assert_eq!(parent_members(".parent.sku"), ["sku"]);
        assert!(parent_members("grandparent.x").is_empty());
    }
}
