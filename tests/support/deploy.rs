//! Reading the deployment files (docker-compose.yml, the Dockerfile,
//! deploy/) as the checks of `tests/deployment.rs` and `tests/k8s.rs` need
//! them: YAML as JSON values, the Dockerfile's stages, and the environment
//! variables each binary reads.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::workspace_root;

/// Variables read by libraries the binaries link rather than by the
/// workspace's own code: tracing-subscriber's filter.
pub const LIBRARY_VARIABLES: [&str; 1] = ["RUST_LOG"];

/// A file of the workspace as text.
pub fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A YAML file of the workspace (anchors and merge keys resolved) as JSON.
pub fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Every document of a multi-document YAML file.
pub fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a checker installed by `tests/run` (a Python console script) and
/// panics with its output unless it succeeds.
pub fn run_checker(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); tests/run installs it with pip"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One stage of a Dockerfile.
#[derive(Debug, Default)]
pub struct Stage {
    /// `AS <name>`.
    pub name: String,
    /// `ENV` settings.
    pub env: BTreeMap<String, String>,
    /// `EXPOSE`d ports (ranges expanded).
    pub expose: BTreeSet<u16>,
    /// Whether the stage declares a `HEALTHCHECK`.
    pub healthcheck: bool,
}

/// The named stages of the workspace's Dockerfile.
pub fn dockerfile_stages() -> Vec<Stage> {
    let text = read("Dockerfile").replace("\\\n", " ");
    let mut stages: Vec<Stage> = Vec::new();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else {
            continue;
        };
        match instruction.to_ascii_uppercase().as_str() {
            "FROM" => {
                let rest: Vec<&str> = words.collect();
                let name = match rest.as_slice() {
                    [.., as_, name] if as_.eq_ignore_ascii_case("as") => name.to_string(),
                    _ => String::new(),
                };
                stages.push(Stage {
                    name,
                    ..Stage::default()
                });
            }
            "ENV" => {
                let stage = stages.last_mut().expect("ENV before FROM");
                for pair in words {
                    let (k, v) = pair.split_once('=').expect("ENV key=value");
                    stage.env.insert(k.into(), v.into());
                }
            }
            "EXPOSE" => {
                let stage = stages.last_mut().expect("EXPOSE before FROM");
                for port in words {
                    match port.split_once('-') {
                        Some((a, b)) => {
                            stage
                                .expose
                                .extend(a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap());
                        }
                        None => {
                            stage.expose.insert(port.parse().unwrap());
                        }
                    }
                }
            }
            "HEALTHCHECK" => {
                stages
                    .last_mut()
                    .expect("HEALTHCHECK before FROM")
                    .healthcheck = true
            }
            _ => {}
        }
    }
    stages
}

/// The environment variables a binary's code reads: every all-caps string
/// literal (`"BFF_SPECS"`, `"DEMO_LATENCY_MS"`) in its crate and in
/// bff-core, which every binary links.
pub fn variables_read_by(crate_dir: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = LIBRARY_VARIABLES.iter().map(|s| s.to_string()).collect();
    for dir in ["bff-core/src", &format!("{crate_dir}/src")] {
        let mut files = Vec::new();
        rust_files(&workspace_root().join(dir), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, piece) in text.split('"').enumerate() {
                let looks_like_a_variable = piece.len() > 2
                    && piece.contains('_')
                    && piece.starts_with(|c: char| c.is_ascii_uppercase())
                    && piece
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if i % 2 == 1 && looks_like_a_variable {
                    names.insert(piece.to_owned());
                }
            }
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `${VAR}` and `${VAR:-default}` references of a text: name → whether
/// it has a default.
pub fn env_references(text: &str) -> BTreeMap<String, bool> {
    let mut refs = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("unclosed ${");
        let inner = &after[..end];
        let (name, has_default) = match inner.split_once(":-") {
            Some((name, _)) => (name, true),
            None => (inner, false),
        };
        let entry = refs.entry(name.to_owned()).or_insert(has_default);
        *entry = *entry && has_default;
        rest = &after[end + 1..];
    }
    refs
}

/// The port of `host:port`, `scheme://host:port[/…]` or `[v6]:port`.
pub fn port_of(address: &str) -> u16 {
    let without_scheme = address.split("://").last().unwrap();
    let authority = without_scheme.split('/').next().unwrap();
    let port = authority.rsplit(':').next().unwrap();
    port.parse()
        .unwrap_or_else(|_| panic!("no port in `{address}`"))
}

/// The host of `scheme://host:port[/…]` or `host:port`.
pub fn host_of(address: &str) -> &str {
    let without_scheme = address.split("://").last().unwrap();
    let authority = without_scheme.split('/').next().unwrap();
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_addresses() {
        let refs = env_references("a ${A:-x} ${B} ${A}");
        assert!(!refs["A"], "one use without a default makes it required");
        assert!(!refs["B"]);
        assert!(env_references("${C:-1}")["C"]);
        assert_eq!(port_of("http://users:9101"), 9101);
        assert_eq!(port_of("0.0.0.0:8082"), 8082);
        assert_eq!(host_of("http://users:9101/x"), "users");
        assert_eq!(host_of("redis://redis:6379"), "redis");
    }
}
