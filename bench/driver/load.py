"""Load: wrk runs with CPU and RSS accounting, and held idle connections.

One measurement is a wrk run (`-t1 -c64 -d<dur>` on the load core) after a
short warm-up, during which the gateway's process tree is sampled for RSS
and its CPU time, the origin's, this driver's and the machine's are read
before and after: what is left over is CPU that other processes on the
machine took (the lead compiling, say), reported as `foreign`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .peers import Peer
from .procs import LOAD_CORE, Proc, RssSampler, machine_cpu, self_cpu_seconds

HERE = Path(__file__).resolve().parent.parent
WRK_SCRIPT = HERE / "wrk_report.lua"
QUIET_PCT = 10.0   # other load, % of all cores, above which a run is redone
QUIET_WAIT = 5.0   # seconds to wait for a quiet machine before each run
RETRIES = 1


@dataclass
class LoadShape:
    duration: int = 10      # seconds per measured run
    warmup: int = 1         # seconds of load before it, not measured
    connections: int = 64
    threads: int = 1


def wrk(url: str, seconds: int, shape: LoadShape, headers: dict[str, str]) -> dict:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only targets 127.0.0.1, not {url}")
    argv = ["taskset", "-c", str(LOAD_CORE), "wrk", f"-t{shape.threads}",
            f"-c{shape.connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_SCRIPT)]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError(f"wrk gave no result for {url}: {out.stdout[-400:]} {out.stderr[-400:]}")


def measure(peer: Peer, origin: Proc, path: str, shape: LoadShape,
            headers: dict[str, str]) -> dict:
    """One warmed-up wrk run against `peer`, with the figures of one repetition."""
    url = peer.url(path)
    if shape.warmup:
        wrk(url, shape.warmup, shape, headers)
    gw_procs = [peer.proc] if peer.gateway else []
    cpu0, gw0, or0, me0 = machine_cpu(), _cpu(gw_procs), origin.cpu_seconds(), self_cpu_seconds()
    with RssSampler(gw_procs) as rss:
        r = wrk(url, shape.duration, shape, headers)
    cpu1, gw1, or1, me1 = machine_cpu(), _cpu(gw_procs), origin.cpu_seconds(), self_cpu_seconds()
    secs = r["duration_us"] / 1e6
    busy = {k: (cpu1[k][0] - cpu0[k][0]) / max(1e-9, cpu1[k][1] - cpu0[k][1]) for k in cpu1}
    all_busy = cpu1["cpu"][0] - cpu0["cpu"][0]
    foreign = max(0.0, all_busy - (gw1 - gw0) - (or1 - or0) - (me1 - me0))
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return {
        "rps": r["requests"] / secs,
        "p50_ms": r["p50_us"] / 1000, "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000, "p999_ms": r["p999_us"] / 1000,
        "requests": r["requests"], "errors": errors,
        "error_kinds": {k: r[k] for k in ("connect", "read", "write", "status", "timeout") if r[k]},
        "mb_per_s": r["bytes"] / secs / 1e6,
        "peak_rss_mb": rss.peak / 2**20 if peer.gateway else None,
        "gw_cpu_pct": 100 * (gw1 - gw0) / secs if peer.gateway else None,
        "gw_cpu_us_per_req": 1e6 * (gw1 - gw0) / max(1, r["requests"]) if peer.gateway else None,
        "core0_busy_pct": 100 * busy.get("cpu0", 0.0),
        "core1_busy_pct": 100 * busy.get("cpu1", 0.0),
        "foreign_cpu_pct": 100 * foreign / max(1e-9, secs * (len(cpu1) - 1)),
    }


def wait_quiet(limit_pct: float = QUIET_PCT, max_wait: float = QUIET_WAIT) -> float:
    """Waits (at most `max_wait` s) until other processes use less than
    `limit_pct` of the machine over half a second; returns the seconds waited."""
    started = time.monotonic()
    while True:
        cpu0, me0 = machine_cpu()["cpu"], self_cpu_seconds()
        time.sleep(0.5)
        cpu1, me1 = machine_cpu()["cpu"], self_cpu_seconds()
        busy = (cpu1[0] - cpu0[0] - (me1 - me0)) / max(1e-9, cpu1[1] - cpu0[1])
        waited = time.monotonic() - started
        if 100 * busy < limit_pct or waited >= max_wait:
            return waited


def measure_quietly(peer: Peer, origin: Proc, path: str, shape: LoadShape,
                    headers: dict[str, str]) -> dict:
    """`measure` once the machine is quiet; run again (once) if other
    processes took more than QUIET_PCT during it, keeping the quieter run."""
    best = None
    for attempt in range(1 + RETRIES):
        waited = wait_quiet()
        r = measure(peer, origin, path, shape, headers)
        r["quiet_wait_s"], r["attempt"] = waited, attempt + 1
        if best is None or r["foreign_cpu_pct"] < best["foreign_cpu_pct"]:
            best = r
        if r["foreign_cpu_pct"] <= QUIET_PCT:
            break
    return best


def _cpu(procs: list[Proc]) -> float:
    return sum(p.cpu_seconds() for p in procs)


def hold_connections(peer: Peer, path: str, n: int, log_dir: Path,
                     settle: float = 1.0) -> dict:
    """RSS of `peer` with `n` idle keep-alive connections open (one request each)."""
    status = log_dir / f"hold-{peer.proc.name}-{n}.json"
    status.unlink(missing_ok=True)
    argv = [sys.executable, str(HERE / "hold.py"), "--port", str(peer.port), "--path", path,
            "--n", str(n), "--status", str(status), "--max-seconds", "120"]
    holder = Proc(f"hold-{peer.proc.name}-{n}", argv, LOAD_CORE, log_dir)
    try:
        deadline = time.monotonic() + 110
        while not status.exists() and time.monotonic() < deadline:
            if not holder.alive():
                raise RuntimeError(f"connection holder exited: {holder.log_tail()}")
            time.sleep(0.1)
        if not status.exists():
            raise RuntimeError(f"connection holder did not open {n} connections in time")
        held = json.loads(status.read_text())
        time.sleep(settle)
        rss = max(peer.proc.rss_bytes() for _ in range(5) if time.sleep(0.05) is None)
        return {"held": held["held"], "failed": held["failed"], "rss_mb": rss / 2**20,
                "open_seconds": held["seconds"]}
    finally:
        holder.stop()


def nofile_limit() -> int:
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_count() -> int:
    return os.cpu_count() or 1
