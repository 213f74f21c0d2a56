//! What can be known at load time about whether a `respond` expression fits
//! its protobuf message: the keys of object literals the expression ends
//! in, followed into nested literals, lists (`[… | {…}]`, `map({…})`),
//! message-typed fields and the values of maps. Keys under well-known types
//! (`Struct`, `Value`…) are free, as their JSON forms allow; anything
//! computed is left to run time.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use prost_reflect::{Kind, MessageDescriptor};

use super::expr::ExprError;

/// Problems with the expression's literal keys, located in `code`.
pub(super) fn check(code: &str, message: &MessageDescriptor) -> Vec<ExprError> {
    let Some(term) = jaq_core::load::parse(code, |p| p.term()) else {
        // Syntax errors are reported by the expression compiler.
        return Vec::new();
    };
    let mut errors = Vec::new();
    object(code, result(&term), message, &mut errors);
    errors
}

/// The term whose value an expression produces: the right end of pipes and
/// definitions.
fn result<'a, 's>(t: &'a Term<&'s str>) -> &'a Term<&'s str> {
    match t {
        Term::BinOp(_, BinaryOp::Pipe(_), rhs) => result(rhs),
        Term::Def(_, body) => result(body),
        other => other,
    }
}

/// The element a list expression produces, when it is written out.
fn element<'a, 's>(t: &'a Term<&'s str>) -> Option<&'a Term<&'s str>> {
    match result(t) {
        Term::Arr(Some(inner)) => Some(result(inner)),
        Term::Call(name, args) if *name == "map" && args.len() == 1 => Some(result(&args[0])),
        _ => None,
    }
}

fn object(code: &str, t: &Term<&str>, message: &MessageDescriptor, errors: &mut Vec<ExprError>) {
    let Term::Obj(entries) = t else { return };
    if !crate::proto::json_is_its_fields(message) {
        return;
    }
    for (key, value) in entries {
        let Some(name) = literal_key(key) else {
            continue;
        };
        let field = message
            .get_field_by_name(name)
            .or_else(|| message.get_field_by_json_name(name));
        let Some(field) = field else {
            let known: Vec<String> = message.fields().map(|f| f.name().to_owned()).collect();
            errors.push(ExprError {
                range: jaq_core::load::span(code, name),
                message: format!(
                    "`{name}` is not a field of protobuf message `{}` (fields: {})",
                    message.full_name(),
                    known.join(", ")
                ),
            });
            continue;
        };
        let (Kind::Message(inner), Some(value)) = (field.kind(), value) else {
            continue;
        };
        let value = result(value);
        if field.is_map() {
            // The map's own keys are data; its values fill the value message.
            let value_kind = inner.map_entry_value_field().kind();
            if let (Kind::Message(m), Term::Obj(entries)) = (value_kind, value) {
                for v in entries.iter().filter_map(|(_, v)| v.as_ref()) {
                    object(code, result(v), &m, errors);
                }
            }
        } else if field.is_list() {
            if let Some(el) = element(value) {
                object(code, el, &inner, errors);
            }
        } else {
            object(code, value, &inner, errors);
        }
    }
}

/// The key of an object entry when it is written literally (`name:` or `"name":`).
fn literal_key<'s>(key: &Term<&'s str>) -> Option<&'s str> {
    match key {
        Term::Str(None, parts) => match parts.as_slice() {
            [StrPart::Str(s)] => Some(s),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> MessageDescriptor {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("proto")).unwrap();
        std::fs::write(
            dir.path().join("proto/home.proto"),
            "syntax = \"proto3\";\npackage t;\n\
             import \"google/protobuf/struct.proto\";\n\
             import \"google/protobuf/wrappers.proto\";\n\
             message Card { string id = 1; double price = 2; }\n\
             message Home { string greeting = 1; repeated Card for_you = 2; Card top = 3; map<string, Card> by_id = 4;\n\
               google.protobuf.Struct meta = 5; google.protobuf.Value any = 6; google.protobuf.ListValue list = 7;\n\
               repeated google.protobuf.Struct rows = 8; map<string, google.protobuf.Struct> extra = 9;\n\
               google.protobuf.StringValue note = 10; }\n",
        )
        .unwrap();
        let mut diags = crate::source::Diagnostics::default();
        let protos = crate::proto::load(dir.path(), &mut diags);
        protos.pool.get_message_by_name("t.Home").unwrap()
    }

    fn problems(code: &str) -> Vec<String> {
        check(code, &home())
            .into_iter()
            .map(|e| format!("{}: {}", &code[e.range], e.message))
            .collect()
    }

    #[test]
    fn literal_keys_are_checked_at_every_depth() {
        assert!(problems("{greeting: .a, forYou: [.b[] | {id, price}], top: {id: .x}}").is_empty());
        let p =
            problems(".x as $y | {greting: 1, for_you: map({id, cost: .c}), top: {\"name\": 1}}");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].starts_with("greting: `greting` is not a field of protobuf message `t.Home`"));
        assert!(p[1].starts_with("cost: `cost` is not a field of protobuf message `t.Card`"));
        assert!(p[2].starts_with("name: "), "{p:?}");
    }

    #[test]
    fn well_known_types_take_any_literal_their_json_form_allows() {
        let p = problems(
            "{meta: {source: .a, nested: {deep: 1}}, any: {kind: \"x\"}, list: [{a: 1}], \
             rows: [.r[] | {free: 1}], extra: {k: {anything: 2}}, note: {value: \"n\"}}",
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn literal_values_of_a_map_are_checked_against_its_value_message() {
        let p = problems("{by_id: {first: {id: .a, cost: 1}, (.k): {name: 2}, second: .b}}");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("cost: `cost` is not a field of protobuf message `t.Card`"));
        assert!(p[1].starts_with("name: `name` is not a field of protobuf message `t.Card`"));
    }

    #[test]
    fn computed_shapes_are_left_to_run_time() {
        assert!(problems(".home").is_empty());
        assert!(problems("{(.k): 1, by_id: {anything: 1}}").is_empty());
        assert!(problems("if .a then {x: 1} else {} end").is_empty());
    }
}
