//! The answer of an operation, written straight from the data gathered:
//! the operation's fields on each object (aliases, fragments, `@skip` and
//! `@include` through [`Doc::collect`]), `__typename`, leaf values coerced
//! as the GraphQL spec says (§3.5), errors with their path and location,
//! and a null where a field failed, carried up to the nearest nullable
//! parent (§6.4.4). Operations that ask for `__schema` or `__type` go to
//! apollo-compiler's executor instead ([`super::shape`]).

use std::io::Write;

use apollo_compiler::Node;
use apollo_compiler::ast::Type;
use apollo_compiler::executable::{Field, Selection};
use apollo_compiler::response::{GraphQLError, JsonMap, ResponseDataPathSegment};
use apollo_compiler::schema::ExtendedType;
use jaq_json::{Num, Val};

use super::fields::Doc;
use super::{Object, Out, member};
use crate::value;

/// A field's value could not be completed: its parent must be null (or
/// further up, where the parent cannot be).
struct Propagate;

/// What completion produced: `data` as JSON text, and the errors.
pub(super) struct Completed {
    pub(super) data: Vec<u8>,
    pub(super) errors: Vec<GraphQLError>,
}

/// Writes the answer of the operation whose root object is `root`.
pub(super) fn complete(
    doc: Doc<'_>,
    root: &Object,
    selections: &[&Selection],
    failures: &apollo_compiler::collections::HashMap<String, (String, String)>,
) -> Completed {
    let mut w = Writer {
        doc,
        out: Vec::with_capacity(1024),
        errors: Vec::new(),
        path: Vec::new(),
        failures,
        collected: apollo_compiler::collections::HashMap::default(),
    };
    if w.object(root, selections).is_err() {
        w.out.clear();
        w.out.extend_from_slice(b"null");
    }
    Completed {
        data: w.out,
        errors: w.errors,
    }
}

struct Writer<'a, 'f> {
    doc: Doc<'a>,
    out: Vec<u8>,
    errors: Vec<GraphQLError>,
    path: Vec<ResponseDataPathSegment>,
    failures: &'f apollo_compiler::collections::HashMap<String, (String, String)>,
    /// The fields of each selection on each type, collected once: every
    /// item of a list selects the same.
    collected: apollo_compiler::collections::HashMap<
        (apollo_compiler::Name, usize, usize),
        std::rc::Rc<Collected<'a>>,
    >,
}

/// Fields by response key, as [`Doc::collect`] gives them.
type Collected<'a> = apollo_compiler::collections::IndexMap<&'a str, super::fields::Fields<'a>>;

impl<'a> Writer<'a, '_> {
    fn object(&mut self, obj: &Object, selections: &[&'a Selection]) -> Result<(), Propagate> {
        self.out.push(b'{');
        let id = (
            obj.type_name.clone(),
            selections
                .first()
                .map_or(0, |s| std::ptr::from_ref(*s) as usize),
            selections.len(),
        );
        let fields = match self.collected.get(&id) {
            Some(c) => c.clone(),
            None => {
                let c = std::rc::Rc::new(self.doc.collect(&obj.type_name, selections));
                self.collected.insert(id, c.clone());
                c
            }
        };
        for (i, (key, fields)) in fields.iter().enumerate() {
            let key: &'a str = key;
            if i > 0 {
                self.out.push(b',');
            }
            self.string(key);
            self.out.push(b':');
            let field = fields[0];
            if field.name == "__typename" {
                self.string(&obj.type_name);
                continue;
            }
            self.path
                .push(ResponseDataPathSegment::Field(field.response_key().clone()));
            let done = self.nullable(field.ty(), |w| w.field(obj, key, field, fields));
            self.path.pop();
            done?;
        }
        self.out.push(b'}');
        Ok(())
    }

    fn field(
        &mut self,
        obj: &Object,
        key: &str,
        field: &'a Node<Field>,
        fields: &[&'a Node<Field>],
    ) -> Result<(), Propagate> {
        let ty = field.ty();
        match obj.fields.get(key) {
            Some(Err(message)) => {
                let mut e = self.error(message.clone(), field);
                if let Some((resolver, reason)) = self.failures.get(message) {
                    e.extensions.insert("code", super::code(reason).into());
                    e.extensions.insert("reason", reason.as_str().into());
                    e.extensions.insert("resolver", resolver.as_str().into());
                }
                self.errors.push(e);
                Err(Propagate)
            }
            Some(Ok(out)) => {
                let sub: Vec<&'a Selection> = fields
                    .iter()
                    .flat_map(|f| f.selection_set.selections.iter())
                    .collect();
                self.out_value(out, ty, field, &sub)
            }
            None => self.leaf(&member(&obj.data, &field.name), ty, field),
        }
    }

    /// A value of the gathered data: objects resolved further, lists, leaves.
    fn out_value(
        &mut self,
        out: &Out,
        ty: &Type,
        field: &'a Node<Field>,
        sub: &[&'a Selection],
    ) -> Result<(), Propagate> {
        match out {
            Out::Null => self.null(ty, field),
            Out::Failed(message) => self.fail(message.clone(), field),
            Out::Leaf(v) => self.leaf(v, ty, field),
            Out::Object(o) => {
                if ty.is_list() {
                    return self.fail(format!("expected a list for `{ty}`, got an object"), field);
                }
                self.object(o, sub)
            }
            Out::List(items) => {
                if !ty.is_list() {
                    return self.fail(format!("expected `{ty}`, got a list"), field);
                }
                let item = ty.item_type();
                self.list(items, item, |w, x| w.out_value(x, item, field, sub))
            }
        }
    }

    /// A scalar or enum value (or a list of them), coerced to its type.
    fn leaf(&mut self, v: &Val, ty: &Type, field: &'a Node<Field>) -> Result<(), Propagate> {
        if matches!(v, Val::Null) {
            return self.null(ty, field);
        }
        if ty.is_list() {
            let Val::Arr(items) = v else {
                return self.fail(format!("expected a list for `{ty}`"), field);
            };
            let item = ty.item_type();
            return self.list(items, item, |w, x| w.leaf(x, item, field));
        }
        let named = ty.inner_named_type().as_str();
        let ok = match (named, v) {
            ("Int", Val::Num(Num::Int(i))) if i32::try_from(*i).is_ok() => {
                let _ = write!(self.out, "{i}");
                true
            }
            ("Int", Val::Num(Num::Float(f)))
                if f.fract() == 0.0 && *f >= f64::from(i32::MIN) && *f <= f64::from(i32::MAX) =>
            {
                let _ = write!(self.out, "{}", *f as i64);
                true
            }
            ("Float", Val::Num(Num::Int(i))) => {
                let _ = write!(self.out, "{i}");
                true
            }
            ("Float", Val::Num(Num::Float(f))) if f.is_finite() => {
                let _ = serde_json::to_writer(&mut self.out, f);
                true
            }
            ("String" | "ID", Val::TStr(_) | Val::BStr(_)) => {
                self.string(&value::to_text(v));
                true
            }
            ("ID", Val::Num(Num::Int(i))) => {
                self.string(&i.to_string());
                true
            }
            ("String", Val::Bool(_) | Val::Num(_)) => {
                self.string(&value::to_text(v));
                true
            }
            ("Boolean", Val::Bool(b)) => {
                self.out
                    .extend_from_slice(if *b { b"true" } else { b"false" });
                true
            }
            ("Int" | "Float" | "String" | "Boolean" | "ID", _) => false,
            _ => match self.doc.schema.types.get(named) {
                Some(ExtendedType::Enum(e)) => match v {
                    Val::TStr(_) if e.values.contains_key(value::to_text(v).as_str()) => {
                        self.string(&value::to_text(v));
                        true
                    }
                    _ => false,
                },
                // A custom scalar: its JSON as it is.
                Some(ExtendedType::Scalar(_)) => {
                    self.out.extend_from_slice(&value::to_json(v));
                    true
                }
                _ => {
                    return self.fail(format!("expected an object for `{ty}`, got a value"), field);
                }
            },
        };
        if ok {
            Ok(())
        } else {
            let shown = String::from_utf8_lossy(&value::to_json(v)).into_owned();
            self.fail(format!("{named} cannot represent value: {shown}"), field)
        }
    }

    /// Writes one value of type `ty`; when it fails, a `null` stands in
    /// for it if `ty` may be null, else the failure goes up to the parent.
    fn nullable(
        &mut self,
        ty: &Type,
        write: impl FnOnce(&mut Self) -> Result<(), Propagate>,
    ) -> Result<(), Propagate> {
        let start = self.out.len();
        if write(self).is_err() {
            if ty.is_non_null() {
                return Err(Propagate);
            }
            self.out.truncate(start);
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }

    /// A list whose items are of type `item`, each written at its index.
    fn list<T>(
        &mut self,
        items: &[T],
        item: &Type,
        mut write: impl FnMut(&mut Self, &T) -> Result<(), Propagate>,
    ) -> Result<(), Propagate> {
        self.out.push(b'[');
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.path.push(ResponseDataPathSegment::ListIndex(i));
            let done = self.nullable(item, |w| write(w, x));
            self.path.pop();
            done?;
        }
        self.out.push(b']');
        Ok(())
    }

    fn null(&mut self, ty: &Type, field: &'a Node<Field>) -> Result<(), Propagate> {
        if ty.is_non_null() {
            return self.fail(format!("non-null type {ty} resolved to null"), field);
        }
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn fail(&mut self, message: String, field: &'a Node<Field>) -> Result<(), Propagate> {
        let e = self.error(message, field);
        self.errors.push(e);
        Err(Propagate)
    }

    fn error(&self, message: String, field: &'a Node<Field>) -> GraphQLError {
        let mut e = GraphQLError::new(message, field.location(), &self.doc.document.sources);
        e.path = self.path.clone();
        e
    }

    fn string(&mut self, s: &str) {
        let _ = serde_json::to_writer(&mut self.out, s);
    }
}

/// apollo-compiler's `data` as JSON text.
pub(super) fn data_text(data: Option<&JsonMap>) -> Vec<u8> {
    serde_json::to_vec(&data).unwrap_or_else(|_| b"null".to_vec())
}
