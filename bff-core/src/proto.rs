//! Protobuf contracts of a BFF: every `.proto` file under its `proto/`
//! folder, compiled at load time (protox, no `protoc` needed) into one
//! descriptor pool. Endpoints answer with its messages and gRPC calls find
//! their methods in it, so editing a contract needs no rebuild.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};

use crate::spec::{Diagnostic, Diagnostics};

/// The folder of a BFF that holds its `.proto` files.
pub const DIR: &str = "proto";

/// Compiles every `.proto` file under `<specs>/proto`; an empty pool when
/// the folder does not exist. Errors are reported at their file and line.
pub fn load(specs: &Path, diags: &mut Diagnostics) -> DescriptorPool {
    let root = specs.join(DIR);
    let mut files = Vec::new();
    if root.is_dir() {
        let proto = |p: &Path| p.extension().is_some_and(|e| e == "proto");
        crate::spec::collect_files(&root, &proto, &mut files, diags);
    }
    let mut files: Vec<PathBuf> = files
        .iter()
        .filter_map(|p| p.strip_prefix(&root).ok().map(Path::to_owned))
        .collect();
    files.sort();
    if files.is_empty() {
        return DescriptorPool::new();
    }
    let compiled = protox::Compiler::new([&root]).and_then(|mut c| {
        c.include_imports(true);
        c.open_files(&files)?;
        Ok(c.descriptor_pool())
    });
    match compiled {
        Ok(pool) => pool,
        Err(e) => {
            diags.push(diagnostic(&root, &e));
            DescriptorPool::new()
        }
    }
}

/// A compiler error pointed at its place in the `.proto` file.
fn diagnostic(root: &Path, e: &protox::Error) -> Diagnostic {
    use miette::Diagnostic as _;
    let message = e.to_string();
    let Some(name) = e.file() else {
        return Diagnostic::file(root, message);
    };
    let path = root.join(name);
    let offset = e.labels().and_then(|mut l| l.next()).map(|l| l.offset());
    match (std::fs::read_to_string(&path), offset) {
        (Ok(text), Some(offset)) => {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() as u32 + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
            Diagnostic::at(&path, &text, line, column, message)
        }
        _ => Diagnostic::file(&path, message),
    }
}

/// Finds a message by its full name, e.g. `shop.mobile.v1.Home`.
pub fn message(pool: &DescriptorPool, name: &str) -> Result<MessageDescriptor, String> {
    pool.get_message_by_name(name.trim_start_matches('.'))
        .ok_or_else(|| {
            unknown(
                "message",
                name,
                pool.all_messages().map(|m| m.full_name().to_owned()),
            )
        })
}

/// Finds a gRPC method by `package.Service/Method`.
pub fn method(pool: &DescriptorPool, name: &str) -> Result<MethodDescriptor, String> {
    let (service, method) = name
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| format!("`{name}` is not of the form `package.Service/Method`"))?;
    let svc = pool.get_service_by_name(service).ok_or_else(|| {
        unknown(
            "service",
            service,
            pool.services().map(|s| s.full_name().to_owned()),
        )
    })?;
    svc.methods().find(|m| m.name() == method).ok_or_else(|| {
        unknown(
            &format!("method of `{service}`"),
            method,
            svc.methods().map(|m| m.name().to_owned()),
        )
    })
}

fn unknown(what: &str, name: &str, known: impl Iterator<Item = String>) -> String {
    let known: Vec<String> = known.collect();
    if known.is_empty() {
        format!("no protobuf {what} `{name}`: no such definition in the `{DIR}/` folder")
    } else {
        format!("no protobuf {what} `{name}`; known: {}", known.join(", "))
    }
}

/// Encodes JSON (proto3 JSON mapping) as the message; the error names the
/// field that does not fit.
pub fn encode_json(desc: &MessageDescriptor, json: &[u8]) -> Result<Bytes, String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let mut track = serde_path_to_error::Track::new();
    let msg = DynamicMessage::deserialize(
        desc.clone(),
        serde_path_to_error::Deserializer::new(&mut de, &mut track),
    )
    .map_err(|e| {
        let path = track.path().to_string();
        let e = e.to_string();
        // serde_json's position is of the encoder's own buffer, not of anything the user wrote.
        let e = e.split(" at line ").next().unwrap_or(&e);
        match path.as_str() {
            "." | "" => format!("{}: {e}", desc.full_name()),
            _ => format!("{}.{path}: {e}", desc.full_name()),
        }
    })?;
    Ok(msg.encode_to_vec().into())
}

/// Decodes the message into JSON (proto3 JSON mapping, field names as in
/// the `.proto` file, defaults included so every field is present).
pub fn decode_json(desc: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, String> {
    let msg = DynamicMessage::decode(desc.clone(), bytes).map_err(|e| e.to_string())?;
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    msg.serialize_with_options(&mut ser, &options)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(files: &[(&str, &str)]) -> (tempfile::TempDir, Diagnostics, DescriptorPool) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(DIR).join(name), text).unwrap();
        }
        let mut diags = Diagnostics::default();
        let pool = load(dir.path(), &mut diags);
        (dir, diags, pool)
    }

    const SHOP: &str = "syntax = \"proto3\";\npackage shop.v1;\n\
        message Item { string id = 1; int32 qty = 2; repeated string tags = 3; }\n\
        service Stock { rpc Get(Item) returns (Item); }\n";

    #[test]
    fn json_round_trips_through_a_compiled_message() {
        let (_d, diags, pool) = pool(&[("shop.proto", SHOP)]);
        assert!(diags.is_empty(), "{diags}");
        let item = message(&pool, "shop.v1.Item").unwrap();
        let bytes = encode_json(&item, br#"{"id":"a","qty":3,"tags":["x"]}"#).unwrap();
        let json = decode_json(&item, &bytes).unwrap();
        assert_eq!(json, br#"{"id":"a","qty":3,"tags":["x"]}"#);
        let m = method(&pool, "shop.v1.Stock/Get").unwrap();
        assert_eq!(m.input().full_name(), "shop.v1.Item");
    }

    #[test]
    fn a_field_the_message_lacks_is_named() {
        let (_d, _, pool) = pool(&[("shop.proto", SHOP)]);
        let item = message(&pool, "shop.v1.Item").unwrap();
        let e = encode_json(&item, br#"{"id":"a","price":3}"#).unwrap_err();
        assert!(e.contains("price"), "{e}");
        let e = encode_json(&item, br#"{"qty":"many"}"#).unwrap_err();
        assert!(e.contains("Item.qty"), "{e}");
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let (_d, _, pool) = pool(&[("shop.proto", SHOP)]);
        assert!(
            message(&pool, "shop.v1.Nope")
                .unwrap_err()
                .contains("shop.v1.Item")
        );
        assert!(
            method(&pool, "shop.v1.Stock/Put")
                .unwrap_err()
                .contains("Get")
        );
        assert!(method(&pool, "Stock").is_err());
    }

    #[test]
    fn syntax_errors_are_located() {
        let (_d, diags, _) = pool(&[(
            "bad.proto",
            "syntax = \"proto3\";\nmessage A {\n  string x = ;\n}\n",
        )]);
        let d = diags.0.first().expect("an error");
        assert!(d.file.ends_with("bad.proto"), "{d}");
        assert_eq!(d.line, 3, "{d}");
    }
}
