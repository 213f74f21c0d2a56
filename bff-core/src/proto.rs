//! Protobuf contracts of a BFF: every `.proto` file under its `proto/`
//! folder, compiled at load time (protox, no `protoc` needed) into one
//! descriptor pool. Endpoints answer with its messages and gRPC calls find
//! their methods in it, so editing a contract needs no rebuild.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};

use crate::source::{Diagnostic, Diagnostics};

/// The folder of a BFF that holds its `.proto` files.
pub(crate) const DIR: &str = "proto";

/// Why a name is not found among the contracts, or a value does not
/// convert to or from its message.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// A method name without its service.
    #[error("`{0}` is not of the form `package.Service/Method`")]
    MethodName(String),
    /// No definition of that kind and name.
    #[error("{}", unknown(what, name, known))]
    Unknown {
        /// What was looked for: `message`, `service`, ``method of `x` ``.
        what: String,
        /// The name looked for.
        name: String,
        /// The names of that kind that exist.
        known: Vec<String>,
    },
    /// The JSON does not fit the message.
    #[error("{at}: {reason}")]
    Misfit {
        /// The message and the path of the field that does not fit.
        at: String,
        /// Why, without serde_json's position in the encoder's buffer.
        reason: String,
    },
    /// The bytes are not an encoding of the message.
    #[error(transparent)]
    Decode(#[from] prost::DecodeError),
    /// The message does not serialize as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The contracts of a BFF's `proto/` folder: everything that compiled, and
/// what the files that did not compile may hold.
#[derive(Debug, Default)]
pub(crate) struct Protos {
    /// Messages and services of every file that compiled.
    pub pool: DescriptorPool,
    /// Files that did not compile, by their own error or an import's.
    failed: Vec<Holds>,
}

/// What a file that did not compile may define.
#[derive(Debug)]
enum Holds {
    /// It parses: exactly these messages and services.
    Names(HashSet<String>),
    /// It does not parse, but declares its package: names in it.
    Package(String),
    /// Nothing can be read from it: any name.
    Anything,
}

impl Protos {
    /// Whether a message or service of this full name may be defined by a
    /// file that did not compile, whose error is reported already.
    pub(crate) fn lost_to_errors(&self, name: &str) -> bool {
        let name = name.trim_start_matches('.');
        self.failed.iter().any(|holds| match holds {
            Holds::Names(names) => names.contains(name),
            Holds::Package(package) => name
                .strip_prefix(package.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
            Holds::Anything => true,
        })
    }
}

/// Compiles every `.proto` file under `<specs>/proto`; an empty pool when
/// the folder does not exist. Each file compiles on its own, so one that
/// does not (or imports one that does not) leaves the others usable; its
/// error is reported once, at its file and line.
pub(crate) fn load(specs: &Path, diags: &mut Diagnostics) -> Protos {
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
    let mut protos = Protos::default();
    if files.is_empty() {
        return protos;
    }
    let mut compiler = match protox::Compiler::new([&root]) {
        Ok(c) => c,
        Err(e) => {
            diags.push(diagnostic(&root, &e));
            return protos;
        }
    };
    compiler.include_imports(true);
    // A file importing a broken one fails with that file's error: report it once.
    let mut reported: HashSet<(Option<String>, String)> = HashSet::new();
    for file in &files {
        if let Err(e) = compiler.open_file(file) {
            if reported.insert((e.file().map(str::to_owned), e.to_string())) {
                diags.push(diagnostic(&root, &e));
            }
            protos.failed.push(holds(&root.join(file), file));
        }
    }
    protos.pool = compiler.descriptor_pool();
    protos
}

/// What a `.proto` file that did not compile defines, as far as it can be read.
fn holds(path: &Path, name: &Path) -> Holds {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Holds::Anything;
    };
    match protox::file::File::from_source(&name.to_string_lossy(), &text) {
        Ok(file) => {
            let file = file.file_descriptor_proto();
            let mut names = HashSet::new();
            let prefix = file.package().to_owned();
            for m in &file.message_type {
                message_names(&prefix, m, &mut names);
            }
            for s in &file.service {
                names.insert(qualified(&prefix, s.name()));
            }
            Holds::Names(names)
        }
        Err(_) => match declared_package(&text) {
            Some(package) => Holds::Package(package),
            None => Holds::Anything,
        },
    }
}

fn message_names(
    prefix: &str,
    m: &prost_reflect::prost_types::DescriptorProto,
    out: &mut HashSet<String>,
) {
    let name = qualified(prefix, m.name());
    for nested in &m.nested_type {
        message_names(&name, nested, out);
    }
    out.insert(name);
}

fn qualified(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The `package a.b.c;` line of a file that does not parse (its error may
/// lie anywhere else).
fn declared_package(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("package")?;
        let name = rest.split(';').next()?.trim();
        let valid = rest.starts_with(char::is_whitespace)
            && rest.contains(';')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        valid.then(|| name.to_owned())
    })
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
pub fn message(pool: &DescriptorPool, name: &str) -> Result<MessageDescriptor, ProtoError> {
    pool.get_message_by_name(name.trim_start_matches('.'))
        .ok_or_else(|| ProtoError::Unknown {
            what: "message".into(),
            name: name.to_owned(),
            known: pool
                .all_messages()
                .map(|m| m.full_name().to_owned())
                .collect(),
        })
}

/// Finds a gRPC method by `package.Service/Method`.
pub(crate) fn method(pool: &DescriptorPool, name: &str) -> Result<MethodDescriptor, ProtoError> {
    let (service, method) = name
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| ProtoError::MethodName(name.to_owned()))?;
    let svc = pool
        .get_service_by_name(service)
        .ok_or_else(|| ProtoError::Unknown {
            what: "service".into(),
            name: service.to_owned(),
            known: pool.services().map(|s| s.full_name().to_owned()).collect(),
        })?;
    svc.methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| ProtoError::Unknown {
            what: format!("method of `{service}`"),
            name: method.to_owned(),
            known: svc.methods().map(|m| m.name().to_owned()).collect(),
        })
}

fn unknown(what: &str, name: &str, known: &[String]) -> String {
    if known.is_empty() {
        format!("no protobuf {what} `{name}`: no such definition in the `{DIR}/` folder")
    } else {
        format!("no protobuf {what} `{name}`; known: {}", known.join(", "))
    }
}

/// Whether protobuf's JSON mapping writes the message as an object of its
/// fields. The well-known types (`Struct`, `Value`, `Timestamp`, wrappers…)
/// have JSON forms of their own, so their fields say nothing about the keys
/// a value written for them may have.
pub(crate) fn json_is_its_fields(message: &MessageDescriptor) -> bool {
    message.package_name() != "google.protobuf"
}

/// Encodes JSON (proto3 JSON mapping) as the message; the error names the
/// field that does not fit.
pub(crate) fn encode_json(desc: &MessageDescriptor, json: &[u8]) -> Result<Bytes, ProtoError> {
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
        let reason = e.split(" at line ").next().unwrap_or(&e).to_owned();
        let at = match path.as_str() {
            "." | "" => desc.full_name().to_owned(),
            _ => format!("{}.{path}", desc.full_name()),
        };
        ProtoError::Misfit { at, reason }
    })?;
    Ok(msg.encode_to_vec().into())
}

/// Decodes the message into JSON (proto3 JSON mapping, field names as in
/// the `.proto` file, defaults included so every field is present).
pub fn decode_json(desc: &MessageDescriptor, bytes: &[u8]) -> Result<Vec<u8>, ProtoError> {
    let msg = DynamicMessage::decode(desc.clone(), bytes)?;
    let options = prost_reflect::SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::new(&mut out);
    msg.serialize_with_options(&mut ser, &options)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(files: &[(&str, &str)]) -> (tempfile::TempDir, Diagnostics, DescriptorPool) {
        let (dir, diags, protos) = protos(files);
        (dir, diags, protos.pool)
    }

    fn protos(files: &[(&str, &str)]) -> (tempfile::TempDir, Diagnostics, Protos) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(DIR)).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(DIR).join(name), text).unwrap();
        }
        let mut diags = Diagnostics::default();
        let protos = load(dir.path(), &mut diags);
        (dir, diags, protos)
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
        let e = encode_json(&item, br#"{"id":"a","price":3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("price"), "{e}");
        let e = encode_json(&item, br#"{"qty":"many"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Item.qty"), "{e}");
    }

    #[test]
    fn unknown_names_list_what_exists() {
        let (_d, _, pool) = pool(&[("shop.proto", SHOP)]);
        assert!(
            message(&pool, "shop.v1.Nope")
                .unwrap_err()
                .to_string()
                .contains("shop.v1.Item")
        );
        assert!(
            method(&pool, "shop.v1.Stock/Put")
                .unwrap_err()
                .to_string()
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

    #[test]
    fn a_file_that_does_not_compile_leaves_the_others_compiled() {
        let (_d, diags, protos) = protos(&[
            ("shop.proto", SHOP),
            (
                "broken.proto",
                "syntax = \"proto3\";\npackage offers.v1;\nmessage Offer {\n  string id = ;\n}\n",
            ),
            (
                "promo.proto",
                "syntax = \"proto3\";\npackage promo.v1;\nimport \"broken.proto\";\n\
                 message Promo { message Code { string c = 1; } offers.v1.Offer offer = 1; }\n",
            ),
            (
                "unresolved.proto",
                "syntax = \"proto3\";\npackage sem.v1;\nmessage S { Missing m = 1; }\n",
            ),
        ]);
        assert_eq!(diags.0.len(), 2, "{diags}");
        assert!(diags.0[0].file.ends_with("broken.proto"), "{diags}");
        assert_eq!(diags.0[0].line, 4, "{diags}");
        assert!(diags.0[1].file.ends_with("unresolved.proto"), "{diags}");
        assert!(protos.lost_to_errors("sem.v1.S"));
        assert!(!protos.lost_to_errors("sem.v1.T"));
        assert!(message(&protos.pool, "shop.v1.Item").is_ok());
        assert!(method(&protos.pool, "shop.v1.Stock/Get").is_ok());
        assert!(message(&protos.pool, "promo.v1.Promo").is_err());
        assert!(protos.lost_to_errors("offers.v1.Offer"));
        assert!(protos.lost_to_errors("promo.v1.Promo.Code"));
        assert!(!protos.lost_to_errors("promo.v1.Nope"));
        assert!(!protos.lost_to_errors("shop.v1.Itme"));
        assert!(!protos.lost_to_errors("offers.v10.Offer"));
    }
}
