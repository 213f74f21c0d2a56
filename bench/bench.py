"""The benchmark: our BFF against peers doing the same work, in one run.

Usually started by `bench/run`, which installs what is missing and builds
the binaries first. Everything listens on 127.0.0.1 on ports picked at
start; every process started here is stopped at the end.

    python3 bench/bench.py [--reps N] [--quick] [--only GROUP,...]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from driver import plots, report, scenarios, specs
from driver.load import LoadShape, nofile_limit
from driver.peers import Launcher, find_binaries
from driver.procs import GATEWAY_CORE, LOAD_CORE, free_port, stop_all

REPO = Path(__file__).resolve().parent.parent
GROUP_IDS = ("passthrough", "aggregation", "jwt", "fanout", "payload", "endpoints", "graphql",
             "inspect", "startup", "connections")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions per point (median quoted)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of measured load per run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of load before each run")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (-c)")
    ap.add_argument("--latency-ms", type=int, default=5, help="delay of the slow origin")
    ap.add_argument("--quick", action="store_true", help="1 rep, 2 s per point")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(GROUP_IDS)}")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "latest.json")
    ap.add_argument("--plots", type=Path, default=REPO / "docs",
                    help="folder for the SVG plots")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--plot-format", choices=("svg", "png"), default="svg")
    ap.add_argument("--replot", type=Path, metavar="JSON",
                    help="only print the table and draw the plots of an earlier run")
    ap.add_argument("--keep-tmp", action="store_true", help="keep configs and logs")
    ap.add_argument("--history", type=Path, default=REPO / "bench" / "results" / "history.jsonl",
                    help="where each run appends its headline ratios")
    ap.add_argument("--no-history", action="store_true", help="do not append to the history")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.duration = 1, 2
    only = {x for x in args.only.split(",") if x}
    if only - set(GROUP_IDS):
        ap.error(f"unknown groups: {','.join(sorted(only - set(GROUP_IDS)))}")
    args.groups = only or set(GROUP_IDS)
    if not 1 <= args.reps <= 20 or not 1 <= args.duration <= 300:
        ap.error("--reps must be 1..20 and --duration 1..300")
    return args


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        text = (out.stdout + out.stderr).strip().splitlines()
        return text[0][:120] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def git_state() -> str:
    """The commit, and whether the tree had changes: read when the binaries
    are copied, as what is measured is what was built then."""
    rev = _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _version(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"])
    return rev + ("+changes" if dirty not in ("", "?") else "")


def meta(args, bins, shape: LoadShape, nofile: int, git: str) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               "?")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git,
        "cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
        "reps": args.reps, "duration_s": shape.duration, "warmup_s": shape.warmup,
        "load": f"wrk -t{shape.threads} -c{shape.connections} -d{shape.duration}s",
        "origin_delay_ms": args.latency_ms, "nofile": nofile,
        "pinning": {
            "gateway_core": GATEWAY_CORE, "load_core": LOAD_CORE,
            "gateway_workers": "1 (nginx worker_processes 1, haproxy nbthread 1, "
                               "envoy --concurrency 1, bff/axum TOKIO_WORKER_THREADS=1)",
            "load_side": "wrk 1 thread + origin nginx 1 worker + this driver, on the load core",
        },
        "versions": {
            "wrk": _version(["wrk", "-v"]), "nginx": _version(["nginx", "-v"]),
            "haproxy": _version(["haproxy", "-v"]), "envoy": _version([bins.envoy, "--version"]),
            "rustc": _version(["rustc", "-V"]),
            **bins.describe(),
        },
    }


def present(args, result: dict, groups) -> None:
    """The terminal table and the plots of one run's results."""
    m, noise = result["meta"], result["machine_noise"]
    print(f"\nbff benchmark — {m['date']}, git {m['git']}, {m['cpu']}")
    print(f"{m['load']}, {m['reps']} reps (median), gateway pinned to core "
          f"{m['pinning']['gateway_core']} with 1 worker/thread; wrk + origin on core "
          f"{m['pinning']['load_core']}; origin delay {m['origin_delay_ms']} ms on the slow points")
    print(f"other load on the machine during runs: median {noise['foreign_cpu_pct_median']:.1f}%"
          f", max {noise['foreign_cpu_pct_max']:.1f}% of all cores"
          + ("  (NOISY MACHINE)" if noise["foreign_cpu_pct_max"] > 5 else ""))
    print(report.table(groups, result["rows"], result["ratios"], result["startup"],
                       result["connections"], result["targets"]))
    if not args.no_plots:
        drawn = plots.draw(args.plots, groups, result["rows"], result["ratios"],
                           result["startup"], result["connections"], args.plot_format)
        print("plots: " + (", ".join(str(p) for p in drawn) if drawn else
                           "none (matplotlib is not installed: pip install matplotlib)"))


def main() -> int:
    args = parse_args()
    if args.replot:
        result = json.loads(args.replot.read_text())
        ids = {r["group"] for r in result["rows"]}
        present(args, result, [g for g in scenarios.groups(result["meta"]["origin_delay_ms"])
                               if g.id in ids])
        return 0
    if (os.cpu_count() or 1) < 2:
        say("the benchmark needs 2 cores: one for the gateway, one for load and origin")
        return 2
    nofile = nofile_limit()
    os.sched_setaffinity(0, {LOAD_CORE})
    shape = LoadShape(duration=args.duration, warmup=args.warmup, connections=args.connections)
    tmp = Path(tempfile.mkdtemp(prefix="bff-bench-"))
    os.chmod(tmp, 0o755)
    started = time.monotonic()
    try:
        bins = find_binaries(REPO).snapshot(tmp / "bin")
        git = git_state()
        www = tmp / "www"
        specs.write_origin_files(www)
        origin_port = free_port()
        folders = specs.write_bff_specs(tmp / "specs", f"http://127.0.0.1:{origin_port}")
        jwt = specs.Jwt(tmp)
        folders.update(jwt.write_bff_folders(tmp / "specs", f"http://127.0.0.1:{origin_port}"))
        launch = Launcher(tmp, bins, origin_port)
        say(f"bench: temp dir {tmp}; {shape.duration} s x {args.reps} reps per point; "
            f"gateway on core {GATEWAY_CORE}, wrk + origin on core {LOAD_CORE}")
        origin = launch.origin(www, args.latency_ms)
        unsupported = {}
        for name in ("compose-jwt", "proxy-jwt"):
            ok, text = launch.validate(folders[name])
            if not ok:
                unsupported[name] = text
                say(f"bench: JWT {name}: not supported by this build:\n{text}")
        auth = jwt.header()

        def unless(name, start):
            def go():
                if name in unsupported:
                    raise RuntimeError(f"not supported by this build: "
                                       f"{unsupported[name].splitlines()[0]}")
                return start()
            return go

        start = {
            "nginx": launch.nginx, "haproxy": launch.haproxy, "envoy": launch.envoy,
            "nginx+lua": launch.nginx_lua, "floor": launch.floor,
            "envoy+jwt": lambda: launch.envoy(jwks=jwt.jwks, headers=auth),
            "bff-proxy": lambda: launch.bff(folders["proxy"], "bff (proxy route)"),
            "bff": lambda: launch.bff(folders["compose"], "bff", probe="/agg"),
            "bff-proxy+log": lambda: launch.bff(folders["proxy+log"], "bff (proxy)+log"),
            "bff+log": lambda: launch.bff(folders["compose+log"], "bff+log", probe="/agg"),
            "bff-graphql": lambda: launch.bff(folders["compose"], "bff GraphQL", probe="/agg"),
            "bff-proxy+inspect": lambda: launch.bff(folders["proxy-inspect"],
                                                    "bff (proxy)+inspect"),
            "bff+inspect": lambda: launch.bff(folders["compose-inspect"], "bff+inspect",
                                              probe="/agg"),
            "apollo": lambda: launch.apollo(folders["compose"] / "graphql" / "schema.graphql"),
            scenarios.AS_STARTED_PROXY: lambda: launch.bff(
                folders["proxy+log"], "bff (proxy) as started", as_started=True),
            scenarios.AS_STARTED: lambda: launch.bff(
                folders["compose+log"], "bff as started", probe="/agg", as_started=True),
            "bff-proxy+jwt": unless("proxy-jwt", lambda: launch.bff(
                folders["proxy-jwt"], "bff (proxy)+jwt", headers=auth)),
            "bff+jwt": unless("compose-jwt", lambda: launch.bff(
                folders["compose-jwt"], "bff+jwt", probe="/agg", headers=auth)),
        }
        for n in specs.ENDPOINT_COUNTS:
            start[f"bff-{n}"] = (lambda n=n: launch.bff(
                folders[f"endpoints-{n}"], f"bff {n:,} endpoints", probe=specs.routed_path(n)))

        groups = [g for g in scenarios.groups(args.latency_ms) if g.id in args.groups]
        for g in groups:
            if g.id == "jwt":
                g.headers = auth
        rows = []
        for g in groups:
            say(f"\n== {g.title}")
            rows += scenarios.run_group(g, start, www, origin, shape, args.reps, say)
        startup = []
        if "startup" in args.groups:
            say("\n== start-up time")
            startup = scenarios.startup_times(lambda n: start[f"bff-{n}"](), args.reps, say)
        conns = []
        if "connections" in args.groups:
            say("\n== memory per idle keep-alive connection")
            conns = scenarios.connection_memory(
                start, ["bff-proxy", "nginx", "haproxy", "envoy"], args.reps, launch.logs, say)

        rats = report.ratios(groups, rows)
        tgts = report.targets(rows, startup, conns)
        foreign = [r["foreign_cpu_pct"] for row in rows for r in row["reps"]]
        result = {
            "meta": meta(args, bins, shape, nofile, git),
            "machine_noise": {
                "foreign_cpu_pct_max": max(foreign, default=0.0),
                "foreign_cpu_pct_median": sorted(foreign)[len(foreign) // 2] if foreign else 0.0,
                "note": "CPU used by processes other than the gateway, origin, wrk and this "
                        "driver, in % of all cores, during measured runs",
            },
            "jwt_unsupported": unsupported,
            "rows": rows, "ratios": rats, "auth_cost": report.auth_costs(rows), "startup": startup, "connections": conns,
            "targets": tgts, "wall_s": time.monotonic() - started,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        # One line per run, kept in the repository: a regression shows the
        # day it lands, beside the commit that brought it.
        history = []
        if not args.no_history:
            with open(args.history, "a") as f:
                f.write(json.dumps(report.headline(result), ensure_ascii=False) + "\n")
        if args.history.exists():
            history = [json.loads(line) for line in args.history.read_text().splitlines()
                       if line.strip()]
        present(args, result, groups)
        if history:
            print(report.history_table(history))
        print(f"results: {args.out}")
        return 0
    finally:
        stop_all()
        if args.keep_tmp:
            say(f"bench: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    sys.exit(main())
