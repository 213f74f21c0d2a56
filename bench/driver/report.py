"""Turning measurements into ratios, target verdicts and the terminal table."""

from __future__ import annotations

from .scenarios import Group
from .specs import ENDPOINT_COUNTS, FAN_WIDTHS


def _find(rows: list[dict], group: str, point: str, key: str) -> dict | None:
    for r in rows:
        if r["group"] == group and r["point"] == point and r["key"] == key and r.get("median"):
            return r
    return None


def ratios(groups: list[Group], rows: list[dict]) -> list[dict]:
    """Ours over peer, per point: req/s and p99 (p99 < 1 is better)."""
    out = []
    for g in groups:
        for p in g.points:
            for ours, peer in g.ratios:
                a, b = _find(rows, g.id, p.label, ours), _find(rows, g.id, p.label, peer)
                if not (a and b):
                    continue
                out.append({
                    "group": g.id, "point": p.label, "ours": a["peer"], "peer": b["peer"],
                    "rps": a["median"]["rps"] / b["median"]["rps"],
                    "p99": a["median"]["p99_ms"] / b["median"]["p99_ms"],
                    "cpu_per_req": (a["median"]["gw_cpu_us_per_req"] / b["median"]["gw_cpu_us_per_req"]
                                    if a["median"]["gw_cpu_us_per_req"]
                                    and b["median"]["gw_cpu_us_per_req"] else None),
                    "noisy": bool(a["noisy"] or b["noisy"]),
                })
    return out


def auth_costs(rows: list[dict]) -> list[dict]:
    """Gateway CPU per request with JWT validation minus without, per gateway."""
    out = []
    for point, plain, jwt in (("pass-through", "envoy", "envoy+jwt"),
                              ("pass-through", "bff-proxy", "bff-proxy+jwt"),
                              ("3-call aggregation", "bff", "bff+jwt")):
        a, b = _find(rows, "jwt", point, jwt), _find(rows, "jwt", point, plain)
        if a and b and a["median"]["gw_cpu_us_per_req"] and b["median"]["gw_cpu_us_per_req"]:
            out.append({"point": point, "peer": a["peer"],
                        "us_per_req": a["median"]["gw_cpu_us_per_req"]
                        - b["median"]["gw_cpu_us_per_req"],
                        "rps_kept": a["median"]["rps"] / b["median"]["rps"]})
    return out


def _target(name: str, want: str, measured: float | None, ok: bool | None, text: str,
            miss: str = "") -> dict:
    return {"target": name, "want": want, "measured": measured, "met": ok,
            "text": text, "miss": "" if ok or ok is None else miss}


def targets(rows: list[dict], startup: list[dict], conns: list[dict]) -> list[dict]:
    """The performance targets, each met, missed (and by how much) or not measured."""
    out = []

    def rel(group, point, ours, peer, name, want, kind="rps"):
        a, b = _find(rows, group, point, ours), _find(rows, group, point, peer)
        if not (a and b):
            out.append(_target(name, "", None, None, "not measured"))
            return
        if kind == "p99":
            r = a["median"]["p99_ms"] / b["median"]["p99_ms"]
            out.append(_target(name, f"p99 ≤ {want}×", r, r <= want,
                               f"{a['median']['p99_ms']:.2f} ms vs {b['median']['p99_ms']:.2f} ms"
                               f" ({r:.2f}×)", f"p99 {100 * (r / want - 1):.0f}% higher"))
        elif kind == "cpu":
            x, y = a["median"]["gw_cpu_us_per_req"], b["median"]["gw_cpu_us_per_req"]
            if not (x and y):
                out.append(_target(name, "", None, None, "not measured"))
                return
            r = x / y
            out.append(_target(name, f"CPU/req ≤ {want}×", r, r <= want,
                               f"{x:.1f} vs {y:.1f} µs/req ({r:.2f}×)",
                               f"{100 * (r / want - 1):.0f}% over"))
        else:
            r = a["median"]["rps"] / b["median"]["rps"]
            out.append(_target(name, f"≥ {want}×", r, r >= want,
                               f"{a['median']['rps']:,.0f} vs {b['median']['rps']:,.0f} req/s"
                               f" ({r:.2f}×)", f"{100 * (1 - r / want):.0f}% short"))

    fast = "fast origin"
    rel("passthrough", fast, "bff-proxy", "nginx", "pass-through CPU/req ≤ 0.8× nginx", 0.8, "cpu")
    rel("passthrough", fast, "bff-proxy", "nginx", "pass-through req/s ≥ 1.0× nginx", 1.0)
    rel("passthrough", fast, "bff-proxy", "nginx", "pass-through p99 ≤ nginx", 1.0, "p99")
    rel("aggregation", fast, "bff", "nginx+lua", "aggregation CPU/req ≤ 0.7× nginx+Lua", 0.7,
        "cpu")
    rel("aggregation", fast, "bff", "floor", "aggregation CPU/req ≤ 0.8× axum floor", 0.8, "cpu")
    rel("aggregation", fast, "bff", "nginx+lua", "aggregation req/s ≥ 1.5× nginx+Lua", 1.5)
    rel("passthrough", fast, "bff-proxy+log", "bff-proxy",
        "request log costs ≤ 5% (pass-through)", 1.05, "cpu")
    rel("aggregation", fast, "bff+log", "bff", "request log costs ≤ 5% (aggregation)", 1.05,
        "cpu")
    rel("fanout", "1 calls", "bff", "floor", "fan-out of 1 call ≥ 1.0× axum floor", 1.0)
    rel("graphql", fast, "bff-graphql", "bff", "GraphQL query CPU/req ≤ 1.2× its REST endpoint",
        1.2, "cpu")
    out.append(_fan_out_linear(rows))
    lo, hi = ENDPOINT_COUNTS
    rel("endpoints", "one endpoint's req/s", f"bff-{hi}", f"bff-{lo}",
        f"{hi:,} endpoints route within 5% of {lo}", 0.95)
    big = [s for s in startup if s["endpoints"] == hi]
    small = [s for s in startup if s["endpoints"] == lo]
    if big:
        t = big[0]["startup_s"]
        out.append(_target(f"start-up with {hi:,} endpoints < 2 s", "< 2 s", t, t < 2.0,
                           f"{t:.2f} s", f"{t - 2.0:.2f} s over"))
    if big and small:
        plans = big[0]["rss_mb"] - small[0]["rss_mb"]
        out.append(_target(f"plans of {hi:,} endpoints < 50 MB of RSS", "< 50 MB", plans,
                           plans < 50, f"{plans:.1f} MB ({big[0]['rss_mb']:.1f} MB in all)",
                           f"{plans - 50:.1f} MB over"))
    costs = {c["peer"]: c["us_per_req"] for c in auth_costs(rows)}
    envoy = next((v for k, v in costs.items() if k.startswith("envoy")), None)
    for c in auth_costs(rows):
        if c["peer"].startswith("envoy"):
            continue
        us = c["us_per_req"]
        out.append(_target(f"JWT seen before ≤ 5 µs ({c['point']})", "≤ 5 µs", us, us <= 5,
                           f"+{us:.1f} µs/req", f"{us - 5:.1f} µs over"))
        if envoy and c["point"] == "pass-through":
            r = us / envoy
            out.append(_target("JWT cost ≤ 0.3× Envoy's", "≤ 0.3×", r, r <= 0.3,
                               f"+{us:.1f} vs +{envoy:.1f} µs/req ({r:.2f}×)",
                               f"{100 * (r / 0.3 - 1):.0f}% over"))
    idle = [c for c in conns if c["key"] == "bff-proxy"]
    if idle:
        m = min(c["idle_mb"] for c in idle)
        out.append(_target("idle RSS < 30 MB", "< 30 MB", m, m < 30, f"{m:.1f} MB",
                           f"{m - 30:.1f} MB over"))
    at10k = [c for c in conns if c["key"] == "bff-proxy" and c["connections"] == 10_000]
    if at10k:
        kb, held = at10k[0]["kb_per_conn"], at10k[0]["held"]
        ok = kb <= 4 and held == 10_000
        out.append(_target("≤ 4 KB per idle keep-alive connection at 10,000", "≤ 4 KB", kb, ok,
                           f"{kb:.1f} KB ({held:,} held, {at10k[0]['rss_mb']:.1f} MB RSS)",
                           f"{kb - 4:.1f} KB over" if kb > 4 else f"only {held} held"))
    return out


def _fan_out_linear(rows: list[dict]) -> dict:
    """Time per request against width: a line through 1…10 must predict 30
    within 25 %, and no width may cost less per call than the one before by
    a lot (that would be a measurement problem, not a cliff)."""
    name = "fan-out cost linear, no cliff at 30"
    pts = []
    for n in FAN_WIDTHS:
        r = _find(rows, "fanout", f"{n} calls", "bff")
        if r:
            pts.append((n, 1e6 / r["median"]["rps"]))
    if len(pts) < len(FAN_WIDTHS):
        return _target(name, "", None, None, "not measured")
    fit = pts[:-1]
    mx = sum(x for x, _ in fit) / len(fit)
    my = sum(y for _, y in fit) / len(fit)
    slope = sum((x - mx) * (y - my) for x, y in fit) / sum((x - mx) ** 2 for x, _ in fit)
    n_last, actual = pts[-1]
    predicted = my + slope * (n_last - mx)
    r = actual / predicted
    return _target(name, "t(30) ≤ 1.25× line of 1…10", r, r <= 1.25,
                   f"{slope:.1f} µs per extra call; at {n_last}: {actual:.0f} µs/req vs "
                   f"{predicted:.0f} predicted ({r:.2f}×)", f"{100 * (r - 1):.0f}% above the line")


def _fmt(v, spec: str, dash: str = "-") -> str:
    return dash if v is None else format(v, spec)


def table(groups: list[Group], rows: list[dict], rats: list[dict], startup: list[dict],
          conns: list[dict], tgts: list[dict]) -> str:
    lines = []
    head = (f"  {'point':<24} {'peer':<18} {'req/s':>14} {'p50 ms':>8} {'p99 ms':>14} "
            f"{'errors':>7} {'peak RSS MB':>11} {'gw CPU %':>8} {'gw µs/req':>9}")
    for g in groups:
        grow = [r for r in rows if r["group"] == g.id]
        if not grow:
            continue
        lines += ["", g.title, head]
        for r in grow:
            if not r.get("median"):
                lines.append(f"  {r['point']:<24} {r['peer']:<18} skipped: {r['error']}")
                continue
            m, noisy = r["median"], r["noisy"]
            rps = f"{m['rps']:,.0f}" + (" noisy" if "rps" in noisy else "")
            p99 = f"{m['p99_ms']:.2f}" + (" noisy" if "p99_ms" in noisy else "")
            lines.append(
                f"  {r['point']:<24} {r['peer']:<18} {rps:>14} {m['p50_ms']:>8.2f} {p99:>14} "
                f"{m['errors']:>7} {_fmt(m['peak_rss_mb'], '.1f'):>11} "
                f"{_fmt(m['gw_cpu_pct'], '.0f'):>8} {_fmt(m['gw_cpu_us_per_req'], '.1f'):>9}")
        grats = [x for x in rats if x["group"] == g.id]
        if grats:
            lines.append("  ratios (ours / peer; req/s higher is better, p99 and gateway CPU per "
                         "request lower are better):")
            for x in grats:
                cpu = f", CPU/req {x['cpu_per_req']:.2f}×" if x.get("cpu_per_req") else ""
                lines.append(f"    {x['point']:<24} {x['ours']} / {x['peer']}: "
                             f"req/s {x['rps']:.2f}×, p99 {x['p99']:.2f}×{cpu}"
                             + (" (noisy)" if x["noisy"] else ""))
        if g.id == "jwt":
            lines.append("  auth cost (gateway CPU per request with JWT minus without):")
            for c in auth_costs(rows):
                lines.append(f"    {c['point']:<24} {c['peer']:<18} {c['us_per_req']:+.1f} "
                             f"µs/req, keeps {100 * c['rps_kept']:.0f}% of its req/s")
    if startup:
        lines += ["", "4c. Start-up (spawn to first 200 of a routed endpoint), our BFF"]
        for s in startup:
            lines.append(f"  {s['endpoints']:>6} endpoints: {s['startup_s']:.3f} s, "
                         f"RSS after start {s['rss_mb']:.1f} MB")
    if conns:
        lines += ["", "4d. Idle keep-alive connections (RSS of the gateway's process tree)",
                  f"  {'peer':<18} {'conns':>6} {'idle MB':>8} {'with N MB':>10} "
                  f"{'KB/conn':>8} {'held':>6} {'failed':>6}"]
        for c in conns:
            lines.append(f"  {c['peer']:<18} {c['connections']:>6} {c['idle_mb']:>8.1f} "
                         f"{c['rss_mb']:>10.1f} {c['kb_per_conn']:>8.1f} {c['held']:>6} "
                         f"{c['failed']:>6}")
        lines += _conn_ratios(conns)
    if tgts:
        lines += ["", "Targets"]
        for t in tgts:
            verdict = {True: "met   ", False: "MISSED", None: "n/a   "}[t["met"]]
            miss = f" — {t['miss']}" if t["miss"] else ""
            lines.append(f"  {verdict} {t['target']:<42} {t['text']}{miss}")
    return "\n".join(lines)


def _conn_ratios(conns: list[dict]) -> list[str]:
    out = []
    for n in sorted({c["connections"] for c in conns}):
        ours = [c for c in conns if c["ours"] and c["connections"] == n]
        for o in ours:
            parts = [f"{p['peer']} {o['kb_per_conn'] / p['kb_per_conn']:.2f}×"
                     for p in conns if not p["ours"] and p["connections"] == n
                     and p["kb_per_conn"] > 0]
            if parts:
                out.append(f"  KB/conn at {n}, {o['peer']} / peer: " + ", ".join(parts))
    return out


# The figures the history keeps per run: (name, group, point, ours, peer, measure).
HEADLINE = (
    ("pass-through CPU/req vs nginx", "passthrough", "fast origin", "bff-proxy", "nginx", "cpu"),
    ("pass-through req/s vs nginx", "passthrough", "fast origin", "bff-proxy", "nginx", "rps"),
    ("pass-through as started, req/s vs nginx", "passthrough", "fast origin",
     "bff-proxy-as-started", "nginx", "rps"),
    ("aggregation CPU/req vs nginx+Lua", "aggregation", "fast origin", "bff", "nginx+lua", "cpu"),
    ("aggregation CPU/req vs axum floor", "aggregation", "fast origin", "bff", "floor", "cpu"),
    ("aggregation req/s vs nginx+Lua", "aggregation", "fast origin", "bff", "nginx+lua", "rps"),
    ("aggregation as started, req/s vs nginx+Lua", "aggregation", "fast origin",
     "bff-as-started", "nginx+lua", "rps"),
    ("request log, CPU/req (pass-through)", "passthrough", "fast origin", "bff-proxy+log",
     "bff-proxy", "cpu"),
)


def headline(result: dict) -> dict:
    """One run's headline ratios, for the history."""
    figures = {}
    for name, group, point, ours, peer, kind in HEADLINE:
        a, b = (_find(result["rows"], group, point, k) for k in (ours, peer))
        if not (a and b):
            continue
        if kind == "cpu":
            x, y = a["median"]["gw_cpu_us_per_req"], b["median"]["gw_cpu_us_per_req"]
            if x and y:
                figures[name] = round(x / y, 3)
        else:
            figures[name] = round(a["median"]["rps"] / b["median"]["rps"], 3)
    for c in result.get("auth_cost", []):
        if not c["peer"].startswith("envoy"):
            figures[f"JWT µs/req ({c['point']})"] = round(c["us_per_req"], 1)
    at10k = [c for c in result.get("connections", []) if c["key"] == "bff-proxy"
             and c["connections"] == 10_000]
    if at10k:
        figures["KB per idle connection"] = round(at10k[0]["kb_per_conn"], 1)
    m = result["meta"]
    return {"date": m["date"], "git": m["git"], "reps": m["reps"], "duration_s": m["duration_s"],
            "figures": figures}


def history_table(history: list[dict], last: int = 10) -> str:
    """The last runs' headline ratios, newest last."""
    names = [h[0] for h in HEADLINE]
    extra = sorted({k for h in history[-last:] for k in h["figures"]} - set(names))
    lines = ["History (ours / peer; CPU lower is better, req/s higher):"]
    for h in history[-last:]:
        figs = ", ".join(f"{k} {h['figures'][k]}" for k in names + extra if k in h["figures"])
        lines.append(f"  {h['date'][:16]} {h['git']:<16} {h['reps']}×{h['duration_s']}s  {figs}")
    return "\n".join(lines)
