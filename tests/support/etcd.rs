//! A real single-node `etcd` on loopback ports, with its data in a
//! temporary directory; killed on drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// An etcd server child process.
pub struct Etcd {
    child: Child,
    _data: tempfile::TempDir,
    /// Client URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
}

impl Etcd {
    /// Starts etcd and waits until it answers.
    pub fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let (client, peer) = (super::process::free_port(), super::process::free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .arg("--name=test")
            .arg(format!("--data-dir={}", data.path().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=test={peer_url}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd runs (tests/run installs etcd-server)");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", client)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "etcd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            _data: data,
            url: client_url,
        }
    }

    /// Sets `key` to `value`, through etcd's JSON gateway.
    pub async fn put(&self, key: &str, value: &str) {
        self.call(
            "put",
            serde_json::json!({ "key": B64.encode(key), "value": B64.encode(value) }),
        )
        .await;
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) {
        self.call("deleterange", serde_json::json!({ "key": B64.encode(key) }))
            .await;
    }

    async fn call(&self, op: &str, body: serde_json::Value) {
        // Right after start the gateway may still refuse; try for a while.
        let started = Instant::now();
        loop {
            let r = super::client()
                .post(format!("{}/v3/kv/{op}", self.url))
                .json(&body)
                .send()
                .await;
            match r {
                Ok(r) if r.status().is_success() => return,
                _ if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("etcd {op} failed: {other:?}"),
            }
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
