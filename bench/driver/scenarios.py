"""The scenarios: which peers run which load, in which order.

A group starts its peers fresh (so a peak RSS belongs to that group), checks
every answer once against what the origin holds, then runs its points
repetition by repetition, every peer in turn, so that a slow minute on the
machine touches all peers alike. It stops its peers before the next group.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .load import LoadShape, hold_connections, measure_quietly
from .peers import Peer
from .procs import http_get
from .specs import ENDPOINT_COUNTS, FAN_WIDTHS, GRAPHQL_AGG, PAYLOADS, routed_path

NOISY = 0.10
# Our BFF exactly as a user starts it, measured once per run.
AS_STARTED = "bff-as-started"
AS_STARTED_PROXY = "bff-proxy-as-started"
CONNECTION_COUNTS = (1000, 10_000)


@dataclass
class Point:
    label: str
    paths: dict[str, str]          # peer key → request path


@dataclass
class Group:
    id: str
    title: str
    points: list[Point]
    ratios: list[tuple[str, str]]  # (ours, peer) keys compared at every point
    headers: dict[str, str] = field(default_factory=dict)


def groups(latency_ms: int) -> list[Group]:
    def same(keys, path):
        return {k: path for k in keys}
    through = ["direct", "nginx", "haproxy", "envoy", "bff-proxy"]
    agg = ["nginx+lua", "floor", "bff"]
    # Our BFF with its request log on (the default), pinned like the
    # others, and once exactly as a user starts it (log on, default worker
    # threads, not pinned): measured at the fast point, in the first
    # repetition only.
    through_fast = through + ["bff-proxy+log", AS_STARTED_PROXY]
    agg_fast = agg + ["bff+log", AS_STARTED]
    return [
        Group("passthrough", "1. Pass-through GET of a small JSON file", [
            Point("fast origin", same(through_fast, "/a.json")),
            Point(f"origin +{latency_ms} ms", same(through, "/slow/a.json")),
        ], [("bff-proxy", k) for k in through[:-1]]
           + [("bff-proxy+log", "bff-proxy"), (AS_STARTED_PROXY, "nginx")]),
        Group("aggregation", "2. Aggregation of 3 upstream calls into one JSON", [
            Point("fast origin", same(agg_fast, "/agg")),
            Point(f"origin +{latency_ms} ms", same(agg, "/slow/agg")),
        ], [("bff", "nginx+lua"), ("bff", "floor"), ("bff+log", "bff"),
            (AS_STARTED, "nginx+lua")]),
        Group("jwt", "3. JWT (RS256) validation on", [
            Point("pass-through", same(["envoy", "envoy+jwt", "bff-proxy", "bff-proxy+jwt"],
                                       "/a.json")),
            Point("3-call aggregation", same(["bff", "bff+jwt"], "/agg")),
        ], [("bff-proxy+jwt", "envoy+jwt"), ("bff-proxy+jwt", "bff-proxy"),
            ("envoy+jwt", "envoy"), ("bff+jwt", "bff")]),
        Group("fanout", "4a. Fan-out width", [
            Point(f"{n} calls", same(agg, f"/fan/{n}")) for n in FAN_WIDTHS
        ], [("bff", "floor"), ("bff", "nginx+lua")]),
        Group("payload", "4b. Upstream payload size", [
            p for name in PAYLOADS for p in (
                Point(f"pass-through {name}", same(["direct", "nginx", "bff-proxy"],
                                                   f"/{name}.json")),
                Point(f"aggregate 1 call {name}", same(agg, f"/one/{name}.json")))
        ], [("bff-proxy", "nginx"), ("bff-proxy", "direct"), ("bff", "floor"),
            ("bff", "nginx+lua")]),
        Group("graphql", "5. The 3-call aggregation as a GraphQL query", [
            Point("fast origin", {"bff": "/agg", "bff-graphql": GRAPHQL_AGG,
                                  "apollo": GRAPHQL_AGG}),
        ], [("bff-graphql", "bff"), ("bff-graphql", "apollo")],
            # Apollo Server refuses GETs without it (CSRF prevention).
            headers={"apollo-require-preflight": "true"}),
        # A search term in the query: a value the detectors must read.
        Group("inspect", "6. Injection inspection (SQLi and XSS, block) of every request", [
            Point("pass-through", same(["bff-proxy", "bff-proxy+inspect"],
                                       "/a.json?q=kitchen+knife+20cm")),
            Point("3-call aggregation", same(["bff", "bff+inspect"],
                                             "/agg?q=kitchen+knife+20cm")),
        ], [("bff-proxy+inspect", "bff-proxy"), ("bff+inspect", "bff")]),
        Group("endpoints", "4c. Endpoints loaded (routing cost)", [
            Point("one endpoint's req/s", {f"bff-{n}": routed_path(n) for n in ENDPOINT_COUNTS}),
        ], [(f"bff-{ENDPOINT_COUNTS[-1]}", f"bff-{ENDPOINT_COUNTS[0]}")]),
    ]


def expected(www: Path, path: str):
    """What a correct answer to `path` is: ('bytes', …) or ('json', …)."""
    load = lambda rel: json.loads((www / rel).read_text())  # noqa: E731
    path = path.removeprefix("/slow").split("?", 1)[0]
    if path == "/agg":
        return "json", {k: load(f"{k}.json") for k in "abc"}
    if path.startswith("/fan/"):
        return "json", {f"c{i}": load(f"f/{i}.json") for i in range(int(path[5:]))}
    if path.startswith("/one/"):
        return "json", {"a": load(path[5:])}
    if path.startswith("/graphql"):
        return "json", {"data": {k: load(f"{k}.json") for k in "abc"}}
    if path.startswith("/v1/"):
        return "json", {"a": load("a.json")}
    return "bytes", (www / path.lstrip("/")).read_bytes()


def check(peer: Peer, path: str, www: Path, headers: dict[str, str]) -> str | None:
    """None when `peer` answers `path` correctly, else what is wrong."""
    try:
        status, body = http_get(peer.url(path), headers, timeout=10)
    except OSError as e:
        return f"request failed: {e}"
    if status != 200:
        return f"answered {status}: {body[:160]!r}"
    kind, want = expected(www, path)
    try:
        got = body if kind == "bytes" else json.loads(body)
    except ValueError:
        return f"answer is not JSON: {body[:160]!r}"
    return None if got == want else f"answer differs from the origin's data: {body[:160]!r}"


def summarize(reps: list[dict]) -> tuple[dict, list[str]]:
    """Medians of the repetitions, and the figures that vary by more than 10 %."""
    med = lambda k: statistics.median(r[k] for r in reps)  # noqa: E731
    out = {k: med(k) for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "mb_per_s",
                               "core0_busy_pct", "core1_busy_pct")}
    out["errors"] = sum(r["errors"] for r in reps)
    out["requests"] = sum(r["requests"] for r in reps)
    out["foreign_cpu_pct"] = max(r["foreign_cpu_pct"] for r in reps)
    for k in ("gw_cpu_pct", "gw_cpu_us_per_req"):
        vals = [r[k] for r in reps if r[k] is not None]
        out[k] = statistics.median(vals) if vals else None
    rss = [r["peak_rss_mb"] for r in reps if r["peak_rss_mb"] is not None]
    out["peak_rss_mb"] = max(rss) if rss else None
    noisy = []
    for k in ("rps", "p99_ms"):
        vals = [r[k] for r in reps]
        if len(vals) > 1 and out[k] and (max(vals) - min(vals)) / out[k] > NOISY:
            noisy.append(k)
    return out, noisy


def run_group(group: Group, start: dict[str, Callable[[], Peer]], www: Path, origin: Peer,
              shape: LoadShape, reps: int, say: Callable[[str], None]) -> list[dict]:
    keys = list(dict.fromkeys(k for p in group.points for k in p.paths))
    peers: dict[str, Peer] = {}
    failed: dict[str, str] = {}
    rows: list[dict] = []
    try:
        for key in keys:
            if key == "direct":
                peers[key] = origin
                continue
            try:
                peers[key] = start[key]()
            except (RuntimeError, KeyError, OSError) as e:
                failed[key] = str(e).splitlines()[0] if str(e) else repr(e)
                say(f"  {key}: not started: {failed[key]}")
        for point in group.points:
            for key, path in point.paths.items():
                peer = peers.get(key)
                row = {"group": group.id, "point": point.label, "key": key, "path": path,
                       "peer": peer.name if peer else key, "ours": key.startswith("bff"),
                       "reps": [], "error": failed.get(key)}
                if peer and not row["error"]:
                    row["error"] = check(peer, path, www, group.headers)
                    if row["error"]:
                        say(f"  {key} {path}: {row['error']}")
                rows.append(row)
        for rep in range(reps):
            for row in rows:
                if row["error"] or (rep > 0 and row["key"].endswith("as-started")):
                    continue
                try:
                    r = measure_quietly(peers[row["key"]], origin.proc, row["path"], shape, group.headers)
                except (RuntimeError, OSError) as e:
                    row["error"] = str(e)[:300]
                    continue
                row["reps"].append(r)
                say(f"  rep {rep + 1}/{reps} {row['point']:<24} {row['peer']:<18} "
                    f"{r['rps']:>9.0f} req/s  p99 {r['p99_ms']:7.2f} ms  err {r['errors']}")
        for row in rows:
            if row["reps"]:
                row["median"], row["noisy"] = summarize(row["reps"])
    finally:
        for key, peer in peers.items():
            if key != "direct":
                peer.stop()
    return rows


def startup_times(start_bff: Callable[[int], Peer], reps: int,
                  say: Callable[[str], None]) -> list[dict]:
    """Spawn to first 200 of a routed endpoint, for each endpoint count."""
    out = []
    for n in ENDPOINT_COUNTS:
        times, rss = [], []
        for _ in range(reps):
            peer = start_bff(n)
            try:
                times.append(peer.startup)
                time.sleep(0.3)
                rss.append(peer.proc.rss_bytes() / 2**20)
            finally:
                peer.stop()
        out.append({"endpoints": n, "startup_s": statistics.median(times), "all_s": times,
                    "rss_mb": statistics.median(rss)})
        say(f"  {n} endpoints: start-up {statistics.median(times):.3f} s, "
            f"RSS {statistics.median(rss):.1f} MB")
    return out


def connection_memory(start: dict[str, Callable[[], Peer]], keys: list[str], reps: int,
                      log_dir: Path, say: Callable[[str], None]) -> list[dict]:
    """RSS with N idle keep-alive connections minus idle RSS, divided by N."""
    out = []
    for key in keys:
        for n in CONNECTION_COUNTS:
            samples = []
            for _ in range(reps):
                try:
                    peer = start[key]()
                except RuntimeError as e:
                    say(f"  {key}: not started: {e}")
                    break
                try:
                    time.sleep(0.3)
                    idle = peer.proc.rss_bytes() / 2**20
                    held = hold_connections(peer, "/a.json", n, log_dir)
                    samples.append({"idle_mb": idle, **held,
                                    "kb_per_conn": (held["rss_mb"] - idle) * 1024 / max(1, held["held"])})
                except RuntimeError as e:
                    say(f"  {key} {n}: {e}")
                finally:
                    peer.stop()
            if not samples:
                continue
            med = lambda k: statistics.median(s[k] for s in samples)  # noqa: E731
            row = {"key": key, "peer": peer.name, "ours": key.startswith("bff"),
                   "connections": n, "idle_mb": med("idle_mb"), "rss_mb": med("rss_mb"),
                   "kb_per_conn": med("kb_per_conn"), "held": min(s["held"] for s in samples),
                   "failed": max(s["failed"] for s in samples), "reps": samples}
            out.append(row)
            say(f"  {peer.name:<18} {n:>6} conns: idle {row['idle_mb']:.1f} MB, "
                f"held {row['rss_mb']:.1f} MB, {row['kb_per_conn']:.1f} KB/conn "
                f"({row['held']} held, {row['failed']} failed)")
    return out
