"""Processes the benchmark starts, and what it reads about them from /proc.

Every process is started in its own process group, pinned to a core with
`taskset`, logged to a file in the run's temp dir, and its group id is
appended to a pid file so that `bench/run`'s trap can end it even if this
driver dies. `stop_all()` ends them in reverse order of start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

GATEWAY_CORE = 0
LOAD_CORE = 1
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

_running: list["Proc"] = []


class Proc:
    """One started process (and its children), pinned to one core (`None`:
    left to the scheduler, as a user would start it)."""

    def __init__(self, name: str, argv: list[str], core: int | None, log_dir: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None):
        self.name = name
        self.log = log_dir / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                ["taskset", "-c", str(core), *argv] if core is not None else argv,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=full_env, cwd=cwd, start_new_session=True)
        self.started = time.monotonic()
        _running.append(self)
        _write_pidfile()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 5 s."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(timeout=5)
        if self in _running:
            _running.remove(self)
            _write_pidfile()

    def tree(self) -> list[int]:
        return process_tree(self.pid)

    def rss_bytes(self) -> int:
        return sum(_rss(p) for p in self.tree())

    def cpu_seconds(self) -> float:
        return sum(_cpu(p) for p in self.tree())


def _write_pidfile() -> None:
    """Process groups still running, for `bench/run`'s trap to end should
    this driver die without stopping them."""
    pidfile = os.environ.get("BENCH_PIDFILE")
    if pidfile:
        with open(pidfile, "w") as f:
            f.writelines(f"{p.pid}\n" for p in _running)


def stop_all() -> None:
    for proc in reversed(list(_running)):
        proc.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat_fields(int(entry))
        if stat:
            children.setdefault(int(stat[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: state, ppid, …"""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _cpu(pid: int) -> float:
    f = _stat_fields(pid)
    return (int(f[11]) + int(f[12])) / _TICK if f else 0.0


def self_cpu_seconds() -> float:
    """This driver's CPU time plus that of its waited-for children (wrk)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def machine_cpu() -> dict[str, tuple[float, float]]:
    """Per cpu line of /proc/stat: (busy seconds, total seconds)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if not line.startswith("cpu"):
            break
        name, *vals = line.split()
        v = [int(x) for x in vals]
        idle = v[3] + v[4]
        total = sum(v[:8])
        out[name] = ((total - idle) / _TICK, total / _TICK)
    return out


class RssSampler:
    """Samples the summed RSS of some process trees every 100 ms, keeps the max."""

    def __init__(self, procs: list[Proc]):
        self.procs = procs
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.peak = max(self.peak, sum(p.rss_bytes() for p in self.procs))
            if self._stop.wait(0.1):
                break


# Never through a proxy from the environment: every target is on loopback.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, bytes]:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only targets 127.0.0.1, not {url}")
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(proc: Proc, url: str, timeout: float = 60.0,
               headers: dict[str, str] | None = None) -> float:
    """Polls `url` every 10 ms until it answers 200; returns seconds since spawn."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited: {proc.log_tail()}")
        try:
            status, _ = http_get(url, headers, timeout=2.0)
            if status == 200:
                return time.monotonic() - proc.started
            last = f"status {status}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.01)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout:.0f} s ({last}): "
                       f"{proc.log_tail()}")
