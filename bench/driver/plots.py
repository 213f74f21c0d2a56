"""SVG plots of a run: throughput and p99 per scenario, and the scaling curves.

Every bar of our BFF carries its ratio to the peers of the same run.
"""

from __future__ import annotations

from pathlib import Path

from .scenarios import Group
from .specs import ENDPOINT_COUNTS, FAN_WIDTHS, PAYLOADS

BAR_GROUPS = ("passthrough", "aggregation", "jwt")
OURS = "#d62728"


COLORS = {
    "direct": "#1f77b4", "nginx": "#2ca02c", "haproxy": "#9467bd", "envoy": "#8c564b",
    "envoy+jwt": "#bcbd22", "nginx+lua": "#e377c2", "floor": "#7f7f7f",
    "bff-proxy+jwt": "#ff9896", "bff+jwt": "#ff9896",
}


def _color(key: str) -> str:
    return COLORS.get(key, OURS if key.startswith("bff") else "#17becf")


def _annotate_ratios(ax, rows, rats, group, key, points, against) -> None:
    """Writes `0.81× floor` beside each point of our series."""
    for x, point in points:
        r = next((r for r in rows if r["group"] == group and r["key"] == key
                  and r["point"] == point and r.get("median")), None)
        if not r:
            continue
        parts = [f"{q['rps']:.2f}× {q['peer']}" for q in rats
                 if q["group"] == group and q["point"] == point and q["ours"] == r["peer"]
                 and q["peer"] in against]
        if parts:
            ax.annotate("\n".join(parts), (x, r["median"]["rps"]), fontsize=6,
                        color=OURS, textcoords="offset points", xytext=(4, -14))


def _bars(plt, groups: list[Group], rows: list[dict], rats: list[dict], metric: str,
          label: str, path: Path) -> None:
    shown = [g for g in groups if g.id in BAR_GROUPS and any(
        r["group"] == g.id and r.get("median") for r in rows)]
    if not shown:
        return
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 3.6 * len(shown)), squeeze=False)
    for ax, g in zip(axes[:, 0], shown):
        grows = [r for r in rows if r["group"] == g.id and r.get("median")]
        x = 0.0
        ticks = []
        for p in g.points:
            prow = [r for r in grows if r["point"] == p.label]
            start = x
            for r in prow:
                v = r["median"][metric]
                ax.bar(x, v, 0.8, color=_color(r["key"]), label=r["peer"])
                text = f"{v:,.0f}" if metric == "rps" else f"{v:.2f}"
                if r["noisy"] and (metric if metric == "rps" else "p99_ms") in r["noisy"]:
                    text += "\nnoisy"
                if r["ours"]:
                    key = "rps" if metric == "rps" else "p99"
                    text += "".join(f"\n{x_[key]:.2f}× {x_['peer']}" for x_ in rats
                                    if x_["group"] == g.id and x_["point"] == p.label
                                    and x_["ours"] == r["peer"])
                ax.text(x, v, text, ha="center", va="bottom", fontsize=7)
                x += 1
            if prow:
                ticks.append(((start + x - 1) / 2, p.label))
            x += 1
        ax.set_xticks([t for t, _ in ticks], [lbl for _, lbl in ticks])
        ax.set_title(g.title, fontsize=10)
        ax.set_ylabel(label)
        ax.margins(y=0.45)
        handles, labels = ax.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _series(rows, group, key, points):
    xs, ys = [], []
    for x, point in points:
        for r in rows:
            if r["group"] == group and r["key"] == key and r["point"] == point and r.get("median"):
                xs.append(x)
                ys.append(r["median"]["rps"])
    return xs, ys


def _scaling(plt, rows: list[dict], rats: list[dict], startup: list[dict], conns: list[dict],
             path: Path) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(12, 8.5))
    a = ax[0][0]
    for key, name in (("floor", "axum floor"), ("bff", "bff"), ("nginx+lua", "nginx+lua")):
        xs, ys = _series(rows, "fanout", key, [(n, f"{n} calls") for n in FAN_WIDTHS])
        if xs:
            a.plot(xs, ys, "o-", label=name, color=_color(key))
    _annotate_ratios(a, rows, rats, "fanout", "bff", [(n, f"{n} calls") for n in FAN_WIDTHS],
                     ("axum floor", "nginx+lua"))
    a.set(xscale="log", yscale="log", xlabel="upstream calls per request",
          ylabel="req/s", title="4a. Fan-out width")
    a.set_xticks(FAN_WIDTHS, [str(n) for n in FAN_WIDTHS])
    a.legend(fontsize=8)
    b = ax[0][1]
    sizes = list(PAYLOADS)
    for key, kind, name in (("direct", "pass-through", "direct (pass-through)"),
                            ("nginx", "pass-through", "nginx (pass-through)"),
                            ("bff-proxy", "pass-through", "bff (pass-through)"),
                            ("floor", "aggregate 1 call", "axum floor (aggregate 1)"),
                            ("nginx+lua", "aggregate 1 call", "nginx+lua (aggregate 1)"),
                            ("bff", "aggregate 1 call", "bff (aggregate 1)")):
        xs, ys = _series(rows, "payload", key,
                         [(i, f"{kind} {s}") for i, s in enumerate(sizes)])
        if xs:
            style = "o-" if kind == "pass-through" else "s--"
            b.plot(xs, ys, style, label=name, color=_color(key))
    for kind, key, against in (("pass-through", "bff-proxy", ("nginx",)),
                               ("aggregate 1 call", "bff", ("axum floor", "nginx+lua"))):
        _annotate_ratios(b, rows, rats, "payload", key,
                         [(i, f"{kind} {s}") for i, s in enumerate(sizes)], against)
    b.set(yscale="log", xlabel="upstream payload", ylabel="req/s",
          title="4b. Upstream payload size")
    b.set_xticks(range(len(sizes)), sizes)
    b.legend(fontsize=7)
    c = ax[1][0]
    lo, hi = ENDPOINT_COUNTS
    vals = []
    for n in ENDPOINT_COUNTS:
        r = [x for x in rows if x["group"] == "endpoints" and x["key"] == f"bff-{n}"
             and x.get("median")]
        vals.append(r[0]["median"]["rps"] if r else 0)
    c.bar([f"{lo} endpoints", f"{hi:,} endpoints"], vals, color=OURS)
    for i, v in enumerate(vals):
        s = [x for x in startup if x["endpoints"] == ENDPOINT_COUNTS[i]]
        extra = f"\nstart-up {s[0]['startup_s']:.2f} s" if s else ""
        ratio = f"\n{v / vals[0]:.2f}× of {lo}" if i and vals[0] else ""
        c.text(i, v, f"{v:,.0f} req/s{ratio}{extra}", ha="center", va="bottom", fontsize=8)
    c.set(ylabel="req/s of one endpoint", title="4c. Endpoints loaded (bff)")
    c.margins(y=0.3)
    d = ax[1][1]
    peers = list(dict.fromkeys(x["peer"] for x in conns))
    width = 0.8 / max(1, len(peers))
    counts = sorted({x["connections"] for x in conns})
    for i, p in enumerate(peers):
        ys = [next((x["kb_per_conn"] for x in conns if x["peer"] == p and x["connections"] == n),
                   0) for n in counts]
        xs = [j + i * width for j in range(len(counts))]
        key = next(x["key"] for x in conns if x["peer"] == p)
        d.bar(xs, ys, width, label=p, color=_color(key))
        for n, xx, yy in zip(counts, xs, ys):
            text = f"{yy:.1f}"
            if key.startswith("bff"):
                text += "".join(f"\n{yy / o['kb_per_conn']:.0f}× {o['peer']}" for o in conns
                                if not o["ours"] and o["connections"] == n
                                and o["kb_per_conn"] > 0)
            d.text(xx, yy, text, ha="center", va="bottom", fontsize=6)
    d.margins(y=0.35)
    d.set_xticks([j + width * (len(peers) - 1) / 2 for j in range(len(counts))],
                 [f"{n:,} idle connections" for n in counts])
    d.set(ylabel="KB per connection (RSS)", title="4d. Memory per keep-alive connection")
    d.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw(docs: Path, groups: list[Group], rows: list[dict], rats: list[dict],
         startup: list[dict], conns: list[dict], fmt: str = "svg") -> list[Path]:
    """Writes the three plots; returns their paths (none without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    plt.rcParams["svg.hashsalt"] = "bff-bench"
    out = [docs / f"bench-{name}.{fmt}" for name in ("throughput", "p99", "scaling")]
    _bars(plt, groups, rows, rats, "rps", "req/s (median)", out[0])
    _bars(plt, groups, rows, rats, "p99_ms", "p99 latency, ms (median)", out[1])
    _scaling(plt, rows, rats, startup, conns, out[2])
    return [p for p in out if p.exists()]
