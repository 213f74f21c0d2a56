//! JSON Schema of the spec files, generated from the Rust types so editors
//! complete and check `bff.yaml` and endpoint files.

use schemars::{JsonSchema, Schema, schema_for};

use crate::config::BffConfig;
use crate::spec::{EndpointSpec, GraphqlSpec};

/// Schema of `bff.yaml`.
pub fn bff_schema() -> Schema {
    schema_for!(BffConfig)
}

/// Schema of `bff.yaml` for a BFF whose extension's settings are `C`:
/// `extensions` described by `C`'s schema rather than as any mapping.
pub fn bff_schema_for<C: JsonSchema>() -> Schema {
    let mut core = bff_schema();
    let mut own = schema_for!(C);
    let (Some(core_map), Some(own_map)) = (core.as_object_mut(), own.as_object_mut()) else {
        return core;
    };
    // Both schemas name their definitions under `$defs`; the extension's
    // move into the whole file's, where its `$ref`s point.
    if let Some(serde_json::Value::Object(defs)) = own_map.remove("$defs") {
        let all = core_map
            .entry("$defs")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(all) = all.as_object_mut() {
            all.extend(defs);
        }
    }
    own_map.remove("$schema");
    if let Some(serde_json::Value::Object(properties)) = core_map.get_mut("properties") {
        properties.insert(
            "extensions".to_owned(),
            serde_json::Value::Object(own_map.clone()),
        );
    }
    core
}

/// A schema as the pretty JSON committed under `schema/`.
pub fn pretty(schema: &Schema) -> String {
    serde_json::to_string_pretty(schema).unwrap_or_default() + "\n"
}

/// Schema of an endpoint file.
pub fn endpoint_schema() -> Schema {
    schema_for!(EndpointSpec)
}

/// Schema of `graphql.yaml`.
pub fn graphql_schema() -> Schema {
    schema_for!(GraphqlSpec)
}

/// Schema of the test files of `tests/`.
pub fn test_schema() -> Schema {
    schema_for!(crate::spec::test_file::SpecTest)
}

/// The schemas as pretty JSON, by file name under `schema/`.
pub fn files() -> [(&'static str, String); 4] {
    [
        ("bff.schema.json", pretty(&bff_schema())),
        ("endpoint.schema.json", pretty(&endpoint_schema())),
        ("graphql.schema.json", pretty(&graphql_schema())),
        ("test.schema.json", pretty(&test_schema())),
    ]
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The committed schema must match the types; `UPDATE_SCHEMA=1` rewrites it.
    #[test]
    fn committed_schema_is_current() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema");
        for (name, text) in super::files() {
            let path = dir.join(name);
            if std::env::var_os("UPDATE_SCHEMA").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == text,
                "schema/{name} is stale: run `UPDATE_SCHEMA=1 cargo test -p bff-core schema` and commit it"
            );
        }
    }
}
