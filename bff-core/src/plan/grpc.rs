//! gRPC calls checked against the `.proto` contracts when specs load: the
//! method exists and is unary, nothing HTTP-only is asked of it, and the
//! literal keys of its `body` are fields of its request message.

use prost_reflect::{Kind, MessageDescriptor, MethodDescriptor};

use super::GrpcMethod;
use crate::source::{Diagnostic, Diagnostics, Loc};
use crate::spec::{CallSpec, SpecFile};

/// `idempotency_level` values of `google.protobuf.MethodOptions` that make
/// a method safe to call twice: `NO_SIDE_EFFECTS` and `IDEMPOTENT`.
const SAFE_LEVELS: [i32; 2] = [1, 2];

/// The method a call names, checked; problems go to `diags`.
pub(super) fn compile<T>(
    file: &SpecFile<T>,
    call: &Loc<CallSpec>,
    name: &Loc<String>,
    protos: &crate::proto::Protos,
    diags: &mut Diagnostics,
) -> Option<GrpcMethod> {
    let before = diags.0.len();
    let service = name
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let method = match crate::proto::method(&protos.pool, name) {
        Ok(m) => Some(m),
        // A service a broken file may hold is not called missing: that file's error says why.
        Err(_)
            if protos.pool.get_service_by_name(service).is_none()
                && protos.lost_to_errors(service) =>
        {
            None
        }
        Err(e) => {
            diags.push(file.error_at(name, format!("grpc: {e}")));
            None
        }
    };
    if let Some(m) = &method
        && (m.is_client_streaming() || m.is_server_streaming())
    {
        diags.push(file.error_at(
            name,
            format!(
                "grpc: `{}` streams; only unary methods can be composed",
                name.value
            ),
        ));
    }
    if let Some(q) = call.query.values().next() {
        diags.push(file.error_at(
            q,
            "a gRPC call has no query string: put the value in `body`",
        ));
    }
    for (header, v) in &call.headers {
        let h = header.to_ascii_lowercase();
        if h == "content-type" || h == "te" || h.starts_with("grpc-") {
            diags.push(file.error_at(v, format!("`{header}` is set by the gRPC protocol itself")));
        }
    }
    if let (Some(body), Some(m)) = (&call.body, &method) {
        check_fields(file, body, &body.value, &m.input(), diags);
    }
    let method = method?;
    if diags.0.len() > before {
        return None;
    }
    Some(GrpcMethod {
        name: format!("{}/{}", method.parent_service().full_name(), method.name()),
        idempotent: is_idempotent(&method),
        input: method.input(),
        output: method.output(),
    })
}

fn is_idempotent(method: &MethodDescriptor) -> bool {
    method
        .options()
        .get_field_by_name("idempotency_level")
        .and_then(|v| v.as_enum_number())
        .is_some_and(|level| SAFE_LEVELS.contains(&level))
}

/// Every object key of a `body` must name a field of the message it fills
/// (by its `.proto` or its JSON name); values are templates, known only per
/// request, so their types are checked when the request is built.
fn check_fields<T>(
    file: &SpecFile<T>,
    body: &Loc<serde_json::Value>,
    value: &serde_json::Value,
    message: &MessageDescriptor,
    diags: &mut Diagnostics,
) {
    if !crate::proto::json_is_its_fields(message) {
        return;
    }
    let serde_json::Value::Object(object) = value else {
        return;
    };
    for (key, v) in object {
        let field = message
            .get_field_by_name(key)
            .or_else(|| message.get_field_by_json_name(key));
        let Some(field) = field else {
            let known: Vec<String> = message.fields().map(|f| f.name().to_owned()).collect();
            let known = if known.is_empty() {
                "it has none".to_owned()
            } else {
                format!("it has {}", known.join(", "))
            };
            diags.push(at_key(
                file,
                body,
                key,
                format!(
                    "`{key}` is not a field of `{}` ({known})",
                    message.full_name()
                ),
            ));
            continue;
        };
        let Kind::Message(inner) = field.kind() else {
            continue;
        };
        if field.is_map() {
            // Map keys are data; values of message type are checked.
            let value_kind = inner.map_entry_value_field().kind();
            if let (Kind::Message(m), serde_json::Value::Object(entries)) = (value_kind, v) {
                for entry in entries.values() {
                    check_fields(file, body, entry, &m, diags);
                }
            }
        } else if let serde_json::Value::Array(items) = v {
            for item in items {
                check_fields(file, body, item, &inner, diags);
            }
        } else {
            check_fields(file, body, v, &inner, diags);
        }
    }
}

/// Points at a key written inside `body`: its first occurrence as a key
/// (`key:` or `"key":`) from the line where `body` starts.
fn at_key<T>(
    file: &SpecFile<T>,
    body: &Loc<serde_json::Value>,
    key: &str,
    message: String,
) -> Diagnostic {
    let start = body.line.saturating_sub(1) as usize;
    let found = file
        .text
        .lines()
        .enumerate()
        .skip(start)
        .find_map(|(i, line)| crate::source::key_column(line, key).map(|c| (i, c)));
    match found {
        Some((i, column)) => Diagnostic::span(
            &file.path,
            &file.text,
            i as u32 + 1,
            column as u32 + 1,
            key.chars().count() as u32,
            message,
        ),
        None => file.error_at(body, message),
    }
}
