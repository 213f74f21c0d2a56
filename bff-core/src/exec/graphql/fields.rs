//! What an operation selects on an object of a given type: its fields by
//! response key, with fragments expanded and `@skip`/`@include` applied
//! (the spec's CollectFields), and a field's arguments as values.

use apollo_compiler::ast;
use apollo_compiler::collections::IndexMap;
use apollo_compiler::executable::{Field, Selection};
use apollo_compiler::response::JsonMap;
use apollo_compiler::{ExecutableDocument, Node, Schema};
use jaq_json::Val;

use crate::value;

/// The fields of one response key: one, unless the operation repeats it.
pub(super) type Fields<'a> = smallvec::SmallVec<[&'a Node<Field>; 1]>;

/// What field collection reads: the schema, the document, the variables.
#[derive(Clone, Copy)]
pub(super) struct Doc<'a> {
    pub(super) schema: &'a Schema,
    pub(super) document: &'a ExecutableDocument,
    pub(super) variables: &'a JsonMap,
}

impl<'a> Doc<'a> {
    /// The fields `selections` select on an object of `type_name`, by response key.
    pub(super) fn collect(
        &self,
        type_name: &str,
        selections: &[&'a Selection],
    ) -> IndexMap<&'a str, Fields<'a>> {
        let mut out: IndexMap<&'a str, Fields<'a>> = IndexMap::default();
        let mut seen_fragments = Vec::new();
        for s in selections {
            self.collect_one(type_name, s, &mut out, &mut seen_fragments);
        }
        out
    }

    fn collect_one(
        &self,
        type_name: &str,
        selection: &'a Selection,
        out: &mut IndexMap<&'a str, Fields<'a>>,
        seen: &mut Vec<&'a str>,
    ) {
        match selection {
            Selection::Field(f) => {
                if self.included(&f.directives) {
                    out.entry(f.response_key().as_str()).or_default().push(f);
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.fragment_name.as_str();
                if !self.included(&spread.directives) || seen.contains(&name) {
                    return;
                }
                seen.push(name);
                if let Some(fragment) = self.document.fragments.get(name)
                    && self.applies(fragment.type_condition(), type_name)
                {
                    for s in &fragment.selection_set.selections {
                        self.collect_one(type_name, s, out, seen);
                    }
                }
            }
            Selection::InlineFragment(inline) => {
                if !self.included(&inline.directives) {
                    return;
                }
                if inline
                    .type_condition
                    .as_ref()
                    .is_none_or(|c| self.applies(c, type_name))
                {
                    for s in &inline.selection_set.selections {
                        self.collect_one(type_name, s, out, seen);
                    }
                }
            }
        }
    }

    /// Whether a fragment on `condition` applies to an object of `type_name`.
    fn applies(&self, condition: &str, type_name: &str) -> bool {
        condition == type_name || self.schema.is_subtype(condition, type_name)
    }

    /// `@skip(if:)` and `@include(if:)`.
    fn included(&self, directives: &apollo_compiler::executable::DirectiveList) -> bool {
        if directives.is_empty() {
            return true;
        }
        let flag = |name: &str| {
            let d = directives.get(name)?;
            let v = d.specified_argument_by_name("if")?;
            Some(match v.as_ref() {
                ast::Value::Boolean(b) => *b,
                ast::Value::Variable(var) => {
                    matches!(
                        self.variables.get(var.as_str()),
                        Some(serde_json_bytes::Value::Bool(true))
                    )
                }
                _ => false,
            })
        };
        flag("skip") != Some(true) && flag("include") != Some(false)
    }

    /// A field's arguments, with the defaults of those not given.
    pub(super) fn arguments(&self, field: &Field) -> Val {
        let mut pairs: Vec<(&str, Val)> = Vec::new();
        for def in &field.definition.arguments {
            let given = field
                .arguments
                .iter()
                .find(|a| a.name == def.name)
                .map(|a| &a.value);
            let v = match given {
                Some(v) => match v.as_ref() {
                    // A variable that was not given takes the argument's default.
                    ast::Value::Variable(var) if !self.variables.contains_key(var.as_str()) => {
                        def.default_value.as_ref().map(|d| self.value(d))
                    }
                    _ => Some(self.value(v)),
                },
                None => def.default_value.as_ref().map(|d| self.value(d)),
            };
            if let Some(v) = v {
                pairs.push((def.name.as_str(), v));
            }
        }
        value::object(pairs)
    }

    /// A value of the document as the engine's value; variables by their values.
    fn value(&self, v: &ast::Value) -> Val {
        match v {
            ast::Value::Null => Val::Null,
            ast::Value::Enum(n) => value::string(n.as_str()),
            ast::Value::Variable(n) => self
                .variables
                .get(n.as_str())
                .map_or(Val::Null, from_response_json),
            ast::Value::String(s) => value::string(s),
            ast::Value::Float(f) => value::parse(f.as_str().as_bytes()).unwrap_or(Val::Null),
            ast::Value::Int(i) => value::parse(i.as_str().as_bytes()).unwrap_or(Val::Null),
            ast::Value::Boolean(b) => Val::Bool(*b),
            ast::Value::List(items) => items.iter().map(|x| self.value(x)).collect(),
            ast::Value::Object(pairs) => {
                value::object(pairs.iter().map(|(k, x)| (k.as_str(), self.value(x))))
            }
        }
    }
}

/// A value of apollo-compiler's JSON as the engine's value.
pub(super) fn from_response_json(v: &serde_json_bytes::Value) -> Val {
    serde_json::to_vec(v)
        .ok()
        .and_then(|b| value::parse(&b).ok())
        .unwrap_or(Val::Null)
}

/// The engine's value as apollo-compiler's JSON, converted directly (each
/// leaf of every answer passes here).
pub(super) fn to_response_json(v: &Val) -> serde_json_bytes::Value {
    use serde_json_bytes::Value as J;
    match v {
        Val::Null => J::Null,
        Val::Bool(b) => J::Bool(*b),
        Val::Num(jaq_json::Num::Int(i)) => J::from(*i as i64),
        Val::Num(jaq_json::Num::Float(f)) => J::from(*f),
        Val::TStr(_) | Val::BStr(_) => J::from(value::to_text(v)),
        Val::Arr(items) => J::Array(items.iter().map(to_response_json).collect()),
        Val::Obj(map) => J::Object(
            map.iter()
                .map(|(k, x)| (value::to_text(k).into(), to_response_json(x)))
                .collect(),
        ),
        // Big integers and decimals: as their JSON text says.
        other @ Val::Num(_) => serde_json::from_slice(&value::to_json(other)).unwrap_or(J::Null),
    }
}
