//! The example manifests in deploy/k8s/: valid by Kubernetes' own schemas
//! (bundled by the `kubernetes-validate` package, so no network is needed),
//! and in step with composition-specs/: each BFF's ConfigMap holds exactly
//! the files of its spec folder, and its Deployment mounts every one of them
//! at its path. `UPDATE_DEPLOY=1 cargo test -p bff-tests --test kubernetes`
//! rewrites both from the folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bff_tests::deploy::{run_checker, yaml_documents};
use bff_tests::workspace_root;
use serde_json::Value;

/// The oldest Kubernetes the manifests are written for.
const KUBERNETES_VERSION: &str = "1.30";

const BFFS: [&str; 3] = ["mobile", "web", "partner"];

const BEGIN_ITEMS: &str = "# BEGIN items";
const END_ITEMS: &str = "# END items";

fn k8s_dir() -> PathBuf {
    workspace_root().join("deploy/k8s")
}

/// The files of a BFF's spec folder as its pods see them, by path relative
/// to the folder: the shipped folder, with the replicas' bff.yaml for the
/// partner BFF (as in docker-compose.yml).
fn spec_files(bff: &str) -> BTreeMap<String, String> {
    let dir = workspace_root().join("composition-specs").join(bff);
    let mut files = BTreeMap::new();
    collect(&dir, &dir, &mut files);
    let replicated = workspace_root()
        .join("deploy/specs")
        .join(bff)
        .join("bff.yaml");
    if replicated.is_file() {
        files.insert(
            "bff.yaml".into(),
            std::fs::read_to_string(replicated).unwrap(),
        );
    }
    files
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).unwrap().to_string_lossy();
            out.insert(
                relative.replace('\\', "/"),
                std::fs::read_to_string(&path).unwrap(),
            );
        }
    }
}

/// A ConfigMap key for a path: keys cannot hold `/`.
fn key_of(path: &str) -> String {
    path.replace('/', "__")
}

/// The ConfigMap manifest holding a BFF's spec folder.
fn config_map(bff: &str) -> String {
    let mut out = format!(
        "# Generated from composition-specs/{bff}/ by tests/kubernetes.rs; do not edit:\n\
         #   UPDATE_DEPLOY=1 cargo test -p bff-tests --test kubernetes\n\
         # Keys are paths with `/` written `__`; bff-{bff}.yaml mounts each at its path.\n\
         apiVersion: v1\n\
         kind: ConfigMap\n\
         metadata:\n  \
           name: bff-{bff}-specs\n  \
           namespace: shop\n  \
           labels:\n    \
             app.kubernetes.io/name: bff-{bff}\n    \
             app.kubernetes.io/part-of: bff\n\
         data:\n"
    );
    for (path, text) in spec_files(bff) {
        out.push_str(&format!("  {}:", key_of(&path)));
        out.push_str(&block_scalar(&text, 4));
    }
    out
}

/// `text` as a YAML literal block scalar at `indent` spaces, starting after
/// its key's colon: ` |` (one final newline), ` |-` (none) or ` |+` (more).
fn block_scalar(text: &str, indent: usize) -> String {
    if text.is_empty() {
        return " \"\"\n".into();
    }
    let body = text.trim_end_matches('\n');
    let chomp = match text.len() - body.len() {
        0 => "-",
        1 => "",
        _ => "+",
    };
    // A first line starting with a space needs the indentation spelled out.
    let indicator = if body.starts_with(' ') { "2" } else { "" };
    let pad = " ".repeat(indent);
    let mut out = format!(" |{indicator}{chomp}\n");
    for line in text.split_inclusive('\n') {
        if line.trim_end_matches('\n').is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The `items:` of the Deployment's ConfigMap volume.
fn volume_items(bff: &str) -> String {
    let mut out = String::new();
    for path in spec_files(bff).keys() {
        out.push_str(&format!(
            "              - {{ key: {}, path: {path} }}\n",
            key_of(path)
        ));
    }
    out
}

/// `deployment` with the lines between the item markers replaced.
fn with_items(deployment: &str, items: &str) -> String {
    let begin = deployment.find(BEGIN_ITEMS).expect("no BEGIN items marker");
    let begin = begin + deployment[begin..].find('\n').unwrap() + 1;
    let end = deployment[begin..]
        .find(END_ITEMS)
        .expect("no END items marker")
        + begin;
    let end = deployment[..end].rfind('\n').unwrap() + 1;
    format!("{}{items}{}", &deployment[..begin], &deployment[end..])
}

#[test]
fn manifests_follow_the_kubernetes_schemas() {
    let mut files: Vec<String> = std::fs::read_dir(k8s_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec![
        "--strict",
        "--quiet",
        "--kubernetes-version",
        KUBERNETES_VERSION,
    ];
    args.extend(files.iter().map(String::as_str));
    run_checker("kubernetes-validate", &args);
}

#[test]
fn config_maps_and_mounts_match_the_spec_folders() {
    let update = std::env::var_os("UPDATE_DEPLOY").is_some();
    let mut stale = Vec::new();
    for bff in BFFS {
        let map_path = k8s_dir().join(format!("bff-{bff}-specs.yaml"));
        let deployment_path = k8s_dir().join(format!("bff-{bff}.yaml"));
        let want_map = config_map(bff);
        let deployment = std::fs::read_to_string(&deployment_path).unwrap();
        let want_deployment = with_items(&deployment, &volume_items(bff));
        if update {
            std::fs::write(&map_path, &want_map).unwrap();
            std::fs::write(&deployment_path, &want_deployment).unwrap();
            continue;
        }
        if std::fs::read_to_string(&map_path).ok().as_deref() != Some(want_map.as_str()) {
            stale.push(map_path.display().to_string());
        }
        if deployment != want_deployment {
            stale.push(format!("{} (volume items)", deployment_path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "out of step with composition-specs/: {}\n\
         run UPDATE_DEPLOY=1 cargo test -p bff-tests --test kubernetes",
        stale.join(", ")
    );
}

/// Read back as Kubernetes will: every file's text, byte for byte, at the
/// path the Deployment mounts it, and the folder loads.
#[test]
fn pods_see_the_spec_folders_byte_for_byte() {
    for bff in BFFS {
        let docs = yaml_documents(&k8s_dir().join(format!("bff-{bff}-specs.yaml")));
        let data = docs[0]["data"].as_object().unwrap();
        let deployment = yaml_documents(&k8s_dir().join(format!("bff-{bff}.yaml")))
            .into_iter()
            .find(|d| d["kind"] == "Deployment")
            .unwrap();
        let volumes = deployment["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap();
        let items = volumes
            .iter()
            .find(|v| v["configMap"]["name"] == format!("bff-{bff}-specs"))
            .and_then(|v| v["configMap"]["items"].as_array())
            .unwrap_or_else(|| panic!("bff-{bff}: no items for its spec ConfigMap"));
        let dir = tempfile::tempdir().unwrap();
        let mut mounted = BTreeMap::new();
        for item in items {
            let (key, path) = (
                item["key"].as_str().unwrap(),
                item["path"].as_str().unwrap(),
            );
            let text = data[key].as_str().unwrap_or_else(|| panic!("no key {key}"));
            mounted.insert(path.to_owned(), text.to_owned());
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        assert_eq!(mounted, spec_files(bff), "bff-{bff}");
        assert_eq!(data.len(), items.len(), "bff-{bff}: unmounted keys");
        bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("bff-{bff}: {d}"));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let mounts = container["volumeMounts"].as_array().unwrap();
        assert!(
            mounts.iter().any(|m| m["mountPath"] == "/etc/bff/specs"),
            "bff-{bff}: specs not mounted where the image reads them"
        );
        probes_use_the_admin_listener(bff, container);
    }
}

fn probes_use_the_admin_listener(bff: &str, container: &Value) {
    let admin_port = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .unwrap()["containerPort"]
        .as_u64()
        .unwrap();
    let env = container["env"].as_array().unwrap();
    let var = format!("BFF_{}_ADMIN_LISTEN", bff.to_ascii_uppercase());
    let listen = env.iter().find(|e| e["name"] == var.as_str()).unwrap()["value"]
        .as_str()
        .unwrap();
    assert!(
        listen.ends_with(&format!(":{admin_port}")),
        "bff-{bff}: {listen}"
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "bff-{bff}");
        assert_eq!(container[probe]["httpGet"]["path"], path, "bff-{bff}");
    }
}

#[test]
fn block_scalars_round_trip() {
    for text in [
        "a: 1\n",
        "no newline",
        "two\n\n",
        "  indented first\nnext\n",
        "x\n\n  y\n",
        "",
    ] {
        let yaml = format!("k:{}", block_scalar(text, 2));
        let back: BTreeMap<String, String> = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back["k"], text, "{yaml}");
    }
}
