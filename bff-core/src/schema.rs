//! JSON Schema of the spec files, generated from the Rust types so editors
//! complete and check `bff.yaml` and endpoint files.

use schemars::{Schema, schema_for};

use crate::config::BffConfig;
use crate::spec::EndpointSpec;

/// Schema of `bff.yaml`.
pub fn bff_schema() -> Schema {
    schema_for!(BffConfig)
}

/// Schema of an endpoint file.
pub fn endpoint_schema() -> Schema {
    schema_for!(EndpointSpec)
}

/// Both schemas as pretty JSON, by file name under `schema/`.
pub fn files() -> [(&'static str, String); 2] {
    let pretty = |s: Schema| serde_json::to_string_pretty(&s).unwrap_or_default() + "\n";
    [
        ("bff.schema.json", pretty(bff_schema())),
        ("endpoint.schema.json", pretty(endpoint_schema())),
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
