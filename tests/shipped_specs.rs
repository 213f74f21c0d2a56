//! Every spec folder shipped in `composition-specs/` loads, and every
//! endpoint file in it becomes an endpoint: shipped specs never rot and no
//! file is silently skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bff_tests::workspace_root;

/// The folders of `composition-specs/` that hold a `bff.yaml`.
fn shipped_folders() -> Vec<PathBuf> {
    let root = workspace_root().join("composition-specs");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.join("bff.yaml").is_file())
        .collect();
    folders.sort();
    folders
}

/// Every `.yaml`/`.yml` file under `dir`, at any depth.
fn yaml_files(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.insert(path);
        }
    }
}

#[test]
fn every_shipped_folder_loads_with_every_endpoint_file() {
    let folders = shipped_folders();
    assert!(
        !folders.is_empty(),
        "no folder with a bff.yaml in composition-specs/"
    );
    let mut failures = Vec::new();
    for dir in &folders {
        let name = dir.file_name().unwrap().to_string_lossy();
        let plan = match bff_core::plan::load(dir) {
            Ok(plan) => plan,
            Err(diagnostics) => {
                failures.push(format!("{name}:\n{diagnostics}"));
                continue;
            }
        };
        if plan.endpoints.is_empty() {
            failures.push(format!("{name}: no endpoints"));
        }
        let mut files = BTreeSet::new();
        yaml_files(&dir.join("endpoints"), &mut files);
        let loaded: BTreeSet<PathBuf> = plan.endpoints.iter().map(|e| e.file.clone()).collect();
        for skipped in files.difference(&loaded) {
            failures.push(format!(
                "{name}: {} did not become an endpoint",
                skipped.display()
            ));
        }
        assert_eq!(
            plan.endpoints.len(),
            loaded.len(),
            "{name}: two endpoints claim one file"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `explain` works on every shipped endpoint (it walks every call graph).
#[test]
fn every_shipped_endpoint_explains_itself() {
    for dir in shipped_folders() {
        let Ok(plan) = bff_core::plan::load(&dir) else {
            continue; // reported by the test above
        };
        for endpoint in &plan.endpoints {
            let text = endpoint.explain();
            assert!(text.contains(&endpoint.id()), "{text}");
            for call in &endpoint.calls {
                assert!(text.contains(&*call.name), "{}: {text}", endpoint.id());
            }
        }
    }
}
