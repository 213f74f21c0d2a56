//! The layers of bff-core, lowest first, and the test that holds the code
//! to them: a module may use the modules of its own layer and of the layers
//! before it, never one after it, and no two modules use each other in a
//! cycle. docs/architecture.md explains each layer.

/// Top-level modules by layer, lowest first.
#[cfg(test)]
const LAYERS: &[&[&str]] = &[
    // Leaves every layer may use: errors, header names, metrics, traces,
    // dashboard counters, JSON values, content negotiation, XML, log lines.
    &[
        "error",
        "headers",
        "metrics",
        "telemetry",
        "dashboard_counts",
        "value",
        "negotiate",
        "xml_body",
        "access_log",
    ],
    // Where a setting or spec came from: locations and diagnostics.
    &["source"],
    // bff.yaml, and the endpoint files.
    &["config"],
    &["spec"],
    // The languages of specs: templates, jq, protobuf schemas, pages, WSDL.
    &["lang", "proto", "pages", "wsdl"],
    // Connections: TLS settings, the Redis connection, taking a client's
    // connection over.
    &["tls", "redis_store", "takeover"],
    // One upstream call: clients, instances, balancing, breaker, retries.
    &["upstream"],
    // The HTTP cache of upstream answers and the composed-answer cache.
    &["cache"],
    // Admission: identity, then rate limits.
    &["auth"],
    &["ratelimit"],
    // Specs compiled into what runs.
    &["plan"],
    // One generation of specs running: services, caches, limits, TLS.
    &["running"],
    // The client extension's hooks, with its settings from bff.yaml.
    &["extension"],
    // Running an endpoint's call graph.
    &["exec"],
    // Answers: encodings, validators.
    &["conditional", "formats"],
    // Forwarding pass-through requests: streamed, cached, relayed.
    &["proxy"],
    // The pipeline of a request: admission, then a composed endpoint's way.
    &["pipeline"],
    // The request path: observation, pass-through routes, the edge stage.
    &["observe", "edge"],
    &["openapi"],
    // The gateway and its listener, and tools that load specs.
    &["server", "listener", "healthcheck", "schema"],
    // Hot reload, the admin listener, and running it all.
    &["reload"],
    &["admin"],
    &["runtime", "cli", "spectest"],
];

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    use super::LAYERS;

    /// The top-level modules each module refers to with `crate::`, test
    /// code and comments left out.
    fn uses() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let rel = path.strip_prefix(&src).unwrap();
                let top = rel.components().next().unwrap().as_os_str();
                let top = top.to_str().unwrap().trim_end_matches(".rs").to_owned();
                if top == "lib" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                let used = out.entry(top.clone()).or_default();
                for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for (i, _) in line.match_indices("crate::") {
                        let rest = &line[i + "crate::".len()..];
                        let names: Vec<&str> = match rest.strip_prefix('{') {
                            Some(group) => group
                                .split([',', '}'])
                                .map(|n| n.trim().split("::").next().unwrap_or(""))
                                .collect(),
                            None => vec![
                                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                                    .next()
                                    .unwrap_or(""),
                            ],
                        };
                        for n in names.into_iter().filter(|n| !n.is_empty() && *n != top) {
                            used.insert(n.to_owned());
                        }
                    }
                }
            }
        }
        out
    }

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    #[test]
    fn every_module_has_a_layer() {
        let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
            .unwrap();
        for line in lib.lines() {
            let Some(name) = line
                .trim()
                .strip_prefix("pub mod ")
                .or_else(|| line.trim().strip_prefix("mod "))
                .and_then(|n| n.strip_suffix(';'))
            else {
                continue;
            };
            if name == "layers" {
                continue;
            }
            assert!(
                layer_of(name).is_some(),
                "module `{name}` is in no layer of layers.rs"
            );
        }
    }

    #[test]
    fn modules_only_use_their_own_layer_and_those_below() {
        let mut wrong = Vec::new();
        for (module, used) in uses() {
            let Some(mine) = layer_of(&module) else {
                continue;
            };
            for u in used {
                if let Some(theirs) = layer_of(&u)
                    && theirs > mine
                {
                    wrong.push(format!("{module} uses {u}, a later layer"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn no_modules_use_each_other_in_a_cycle() {
        let graph = uses();
        // Depth-first search for a back edge, naming the cycle it closes.
        fn visit(
            m: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == m) {
                return Some(path[i..].iter().cloned().chain([m.to_owned()]).collect());
            }
            if done.contains(m) {
                return None;
            }
            path.push(m.to_owned());
            for next in graph.get(m).into_iter().flatten() {
                if let Some(cycle) = visit(next, graph, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            done.insert(m.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
                panic!("modules use each other in a cycle: {}", cycle.join(" -> "));
            }
        }
    }
}
