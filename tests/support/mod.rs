//! Shared test harness: real HTTP upstreams and real gateways on loopback,
//! port 0, with spec folders written to temporary directories.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use bff_core::{Extension, Gateway, NoExtension};

pub mod browser;
pub mod deploy;
pub mod etcd;
pub mod jwt;
pub mod process;
pub mod redis;

/// Serves a router on 127.0.0.1 with an ephemeral port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// A spec folder in a temporary directory.
pub struct SpecDir {
    dir: tempfile::TempDir,
    /// The folder inside `dir`, when it must have a name of its own.
    named: Option<PathBuf>,
}

impl SpecDir {
    /// A folder with the given `bff.yaml`.
    pub fn new(bff_yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bff.yaml"), bff_yaml).unwrap();
        std::fs::create_dir_all(dir.path().join("endpoints")).unwrap();
        Self { dir, named: None }
    }

    /// Adds or replaces `endpoints/<name>.yaml`.
    pub fn endpoint(self, name: &str, yaml: &str) -> Self {
        std::fs::write(
            self.path().join("endpoints").join(format!("{name}.yaml")),
            yaml,
        )
        .unwrap();
        self
    }

    /// Adds or replaces the file at `relative` (`proto/shop.proto`,
    /// `templates/page.html`), creating its folders.
    pub fn file(self, relative: &str, text: &str) -> Self {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// A copy of a spec folder (a shipped one, say), under the same name,
    /// to change without touching the original.
    pub fn copy_of(folder: &Path) -> Self {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join(folder.file_name().unwrap());
        copy(folder, &named);
        Self {
            dir,
            named: Some(named),
        }
    }

    /// Appends top-level keys to `bff.yaml`, replacing any it already sets.
    pub fn append_bff_yaml(self, yaml: &str) -> Self {
        let path = self.path().join("bff.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        for key in yaml.lines().filter_map(top_level_key) {
            text = without_key(&text, key);
        }
        text.push('\n');
        text.push_str(yaml);
        std::fs::write(path, text).unwrap();
        self
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.named.as_deref().unwrap_or(self.dir.path())
    }
}

/// `bff.yaml` text declaring the given services by name and base URL.
pub fn bff_yaml(services: &[(&str, &str)]) -> String {
    let mut s = String::from("services:\n");
    for (name, url) in services {
        s.push_str(&format!("  {name}: {{ url: \"{url}\" }}\n"));
    }
    s
}

/// Loads a folder into a gateway served on an ephemeral port; returns its
/// base URL. Panics with the rendered diagnostics if the folder is invalid.
pub async fn gateway(dir: &Path) -> String {
    gateway_with(dir, NoExtension).await
}

/// Like [`gateway`], with a client extension.
pub async fn gateway_with(dir: &Path, extension: impl Extension) -> String {
    let plan = bff_core::plan::load(dir).unwrap_or_else(|d| panic!("{d}"));
    let gw = Gateway::from_plan(plan, extension).unwrap_or_else(|d| panic!("{d}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { gw.serve(listener).await.unwrap() });
    format!("http://{addr}")
}

/// The workspace root, for reaching shipped spec folders.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A client that never uses a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The key a line of YAML starts at the top level, if it does.
fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '#', '-']) {
        return None;
    }
    line.split_once(':').map(|(k, _)| k.trim())
}

/// The YAML text without a top-level key and the lines nested under it.
fn without_key(text: &str, key: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if let Some(k) = top_level_key(line) {
            skipping = k == key;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of the sample of `name` carrying every given label, in
/// Prometheus' text exposition.
pub fn metric_sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
