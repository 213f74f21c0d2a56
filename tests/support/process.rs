//! The BFF binaries as a user runs them: built once per test process with
//! cargo, started as child processes on a free loopback port, killed when
//! the test ends (also when it panics).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The binaries of the workspace, by name.
const BINARIES: [&str; 3] = ["bff-mobile", "bff-web", "bff-partner"];

/// The variables that move the admin listeners of the shipped spec folders;
/// a test's BFF gets a free port for it unless the test sets its own.
const SHIPPED_ADMIN_LISTEN: [&str; 3] = [
    "BFF_MOBILE_ADMIN_LISTEN",
    "BFF_WEB_ADMIN_LISTEN",
    "BFF_PARTNER_ADMIN_LISTEN",
];

/// How long a starting BFF may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Path of a built BFF binary (`bff-web`, …). The first call builds all of
/// them with the cargo that runs the tests, in the same target folder and
/// profile, so the binaries are never stale.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<Vec<(String, PathBuf)>> = OnceLock::new();
    let built = BUILT.get_or_init(build_binaries);
    built
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no binary `{name}` among {BINARIES:?}"))
}

fn build_binaries() -> Vec<(String, PathBuf)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(super::workspace_root()).args([
        "build",
        "--quiet",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    for b in BINARIES {
        cmd.args(["-p", b]);
    }
    // Tests built in release run against release binaries.
    let exe = std::env::current_exe().unwrap();
    if exe.ancestors().any(|a| a.ends_with("release")) {
        cmd.arg("--release");
    }
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(
        out.status.success(),
        "cargo build of the BFF binaries failed"
    );
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str())
        else {
            continue;
        };
        found.push((name.to_owned(), PathBuf::from(exe)));
    }
    found
}

/// Runs a BFF binary to completion (`validate`, `explain`).
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(binary(name))
        .args(args)
        .env_remove("BFF_SPECS")
        .env_remove("BFF_LISTEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A loopback port nobody listens on right now, below the kernel's
/// ephemeral range (32768 and up): the port is handed to a child process
/// to bind later, and in between the kernel must not give it to one of the
/// many port-0 listeners and outgoing connections of tests running beside.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = fastrand::u16(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000")
}

/// A BFF serving as a child process; killed on drop.
pub struct BffProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: tempfile::NamedTempFile,
    out: tempfile::NamedTempFile,
}

impl BffProcess {
    /// Starts `name --specs <specs> --listen 127.0.0.1:<free port>` with
    /// extra environment variables and waits until it accepts connections.
    pub fn start(name: &str, specs: &Path, env: &[(&str, &str)]) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = tempfile::NamedTempFile::new().unwrap();
        let out = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(binary(name));
        cmd.arg("--specs")
            .arg(specs)
            .arg("--listen")
            .arg(addr.to_string())
            .env_remove("BFF_SPECS")
            .env_remove("BFF_LISTEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.reopen().unwrap())
            .stderr(log.reopen().unwrap());
        // The shipped specs put admin listeners on fixed ports by default.
        for var in SHIPPED_ADMIN_LISTEN {
            cmd.env(var, "127.0.0.1:0");
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = Self {
            child: cmd.spawn().unwrap(),
            addr,
            log,
            out,
        };
        process.wait_ready();
        process
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the BFF exited with {status} before serving:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "the BFF did not listen on {} within {READY_TIMEOUT:?}:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Base URL, e.g. `http://127.0.0.1:4711`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM, as an orchestrator does to stop a replica.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `timeout` for the process to exit; its status, if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Peak resident memory so far in bytes (`VmHWM`), on Linux.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// What the process wrote to stdout so far (its access log).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.out.path()).unwrap_or_default()
    }

    /// What the process wrote to stdout once every one of `texts` is in it
    /// (the request log is written by a thread of its own, a moment after
    /// the answer), or after five seconds, whatever it holds then.
    pub fn stdout_with(&self, texts: &[&str]) -> String {
        let start = std::time::Instant::now();
        loop {
            let out = self.stdout();
            if texts.iter().all(|t| out.contains(t)) || start.elapsed() > Duration::from_secs(5) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for BffProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
