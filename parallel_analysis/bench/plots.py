"""PNG plots of a run (matplotlib, Agg backend: no display needed).
Layer: faces (bench.plots; imports the package and its own modules).

=================  ==========================================================================
file               what it shows
=================  ==========================================================================
speedup.png        speedup over the baseline per runner, one panel per workload, 2 workers,
                   with the ideal (= CPUs a 2-worker case can use) and 1× lines
scaling.png        speedup against workers for our backends, with the ideal line
transfer.png       end-to-end time against data size: shared memory vs pickling (log-log)
overhead.png       per-chunk dispatch cost, and fresh interpreter to first result
=================  ==========================================================================
"""

from __future__ import annotations

import math
import os

from .results import Record, baseline, speedup_interval
from .workloads import GOAL_WORKERS, OURS

#: One colour per runner, the same in every plot.
COLORS = {"plain": "#7f7f7f", "serial": "#393b79", "thread": "#1f77b4", "process": "#d62728",
          "auto": "#2ca02c", "joblib": "#9467bd", "multiprocessing": "#8c564b",
          "ProcessPoolExecutor": "#e377c2", "dask": "#bcbd22", "mpire": "#17becf"}
SPEEDUP_WORKLOADS = ("pybound", "npbound", "groupby", "transfer")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _main(recs: list[Record], workload: str) -> list[Record]:
    rows = [r for r in recs if r.workload == workload and r.ok]
    if not rows:
        return []
    size = max(r.size for r in rows)
    return [r for r in rows if r.size == size]


def draw_speedup(recs: list[Record], path: str, cpus: int) -> bool:
    panels = [w for w in SPEEDUP_WORKLOADS if _main(recs, w)]
    if not panels:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, name in zip(axes[0], panels):
        rows = [r for r in _main(recs, name) if r.workers == GOAL_WORKERS or r.runner == "serial"
                or r.runner == "plain"]
        plain = [r for r in rows if r.variant in ("", "fresh")] + \
            [r for r in rows if r.variant == "shared" and r.runner == "process"]
        if plain:
            rows = plain
            labels = [r.runner + (" (shared)" if r.variant == "shared" else "") for r in rows]
        else:  # variants of their own (groupby's keys): the plain call and ours, per variant
            order = ("plain", "thread", "process", "auto")
            rows = sorted((r for r in rows if r.runner in order),
                          key=lambda r: (r.variant, order.index(r.runner)))
            labels = [f"{r.runner} [{r.variant}]" for r in rows]
        intervals = [speedup_interval(r, baseline(r, recs)) for r in rows]
        values = [i.median for i in intervals]
        errors = [[0 if math.isnan(i.median) else i.median - i.low for i in intervals],
                  [0 if math.isnan(i.median) else i.high - i.median for i in intervals]]
        ax.bar(range(len(rows)), [0 if math.isnan(v) else v for v in values], yerr=errors,
               capsize=3, ecolor="#222", color=[COLORS.get(r.runner, "#333") for r in rows])
        for i, v in enumerate(values):
            if not math.isnan(v):
                ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        ideal = min(GOAL_WORKERS, cpus)
        top = max([i.high for i in intervals if not math.isnan(i.high)] + [ideal if name in (
            "pybound", "npbound") else 1])
        ax.set_ylim(0, top * 1.18)
        if name in ("pybound", "npbound"):
            ax.axhline(ideal, ls="--", color="k", lw=1)
            ax.text(len(rows) - 0.5, ideal, f"ideal {ideal}×", ha="right", va="bottom",
                    fontsize=7)
        ax.axhline(1, ls=":", color="#555", lw=1)
        ax.set_xticks(range(len(rows)), labels, rotation=60, ha="right", fontsize=8)
        base = rows[0].extra.get("baseline", "serial") if rows else "serial"
        ax.set_title(f"{name}: speedup vs {'plain call' if base == 'plain' else 'serial'}",
                     fontsize=10)
    fig.suptitle(f"Speedup with {GOAL_WORKERS} workers (higher is better; bars: 95% intervals "
                 "over paired rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_scaling(recs: list[Record], path: str, cpus: int) -> bool:
    """Speedup of thread and process against the same backend with one worker."""
    panels = [w for w in ("pybound", "npbound", "groupby", "overhead")
              if len({r.workers for r in _main(recs, w) if r.runner in OURS}) > 1]
    if not panels:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.8), squeeze=False)
    for ax, name in zip(axes[0], panels):
        rows = [r for r in _main(recs, name) if r.variant in ("", "int")]
        xs = sorted({r.workers for r in rows if r.runner in ("thread", "process")})
        ax.plot(xs, [min(x, cpus) for x in xs], "k--", lw=1, label=f"ideal ({cpus} CPUs)")
        for runner in ("thread", "process"):
            one = next((r for r in rows if r.runner == runner and r.workers == 1), None)
            pts = sorted((r.workers, speedup_interval(r, one)) for r in rows
                         if r.runner == runner and one is not None)
            if pts:
                ws, its = zip(*pts)
                low = [i.median - i.low for i in its]
                high = [i.high - i.median for i in its]
                ax.errorbar(ws, [i.median for i in its], yerr=[low, high], capsize=3,
                            marker="o", color=COLORS[runner], label=runner)
        ax.set_xticks(xs)
        ax.set_xlabel("workers")
        ax.set_ylabel("speedup vs the same backend with 1 worker")
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle("Scaling with workers (bars: 95% intervals over paired rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_transfer(recs: list[Record], path: str) -> bool:
    rows = [r for r in recs if r.workload == "transfer" and r.ok
            and (r.workers == GOAL_WORKERS or r.runner == "plain")]
    if not rows:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    series = [("plain", "fresh", "numpy sum (no transfer)"),
              ("process", "fresh", "par process: fresh array → shared memory"),
              ("process", "shared", "par process: already shared"),
              ("thread", "fresh", "par thread (no transfer)"),
              ("multiprocessing", "fresh", "multiprocessing.Pool (pickling)"),
              ("ProcessPoolExecutor", "fresh", "ProcessPoolExecutor (pickling)"),
              ("joblib", "fresh", "joblib (memmap)"), ("dask", "fresh", "dask (pickling)"),
              ("mpire", "fresh", "mpire (pickling)")]
    for runner, variant, label in series:
        pts = sorted((r.size * 8 / 1e6, r.median) for r in rows
                     if r.runner == runner and r.variant == variant)
        if pts:
            style = "s--" if variant == "shared" else "o-"
            ax.plot(*zip(*pts), style, color=COLORS.get(runner), label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("data size (MB, float64)")
    ax.set_ylabel("end-to-end time (s)")
    ax.set_title(f"Moving data to {GOAL_WORKERS} workers: shared memory vs pickling")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_overhead(recs: list[Record], path: str) -> bool:
    over = [r for r in _main(recs, "overhead") if r.runner != "plain"
            and (r.workers == GOAL_WORKERS or r.runner == "serial")]
    cold = [r for r in _main(recs, "coldstart") if r.workers == GOAL_WORKERS
            or r.runner in ("serial", "plain")]
    if not over and not cold:
        return False
    plt = _pyplot()
    panels = [(over, "overhead"), (cold, "coldstart")]
    panels = [p for p in panels if p[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (rows, name) in zip(axes[0], panels):
        if name == "overhead":
            values = [r.median / max(1, r.size) * 1e6 for r in rows]
            ax.set_ylabel("µs per chunk")
            ax.set_title(f"Per-chunk overhead ({rows[0].size:,} tiny chunks, warm pool)",
                         fontsize=10)
        else:
            values = [r.median for r in rows]
            ax.set_ylabel("seconds")
            ax.set_title("Fresh interpreter to first result", fontsize=10)
            ax.axhline(0.3, ls="--", color="k", lw=1, label="goal 0.3 s")
            ax.legend(fontsize=7)
        ax.bar(range(len(rows)), values, color=[COLORS.get(r.runner, "#333") for r in rows])
        for i, v in enumerate(values):
            ax.text(i, v, f"{v:.0f}" if name == "overhead" else f"{v:.2f}", ha="center",
                    va="bottom", fontsize=7)
        ax.set_xticks(range(len(rows)), [f"{r.runner}×{r.workers}" for r in rows], rotation=60,
                      ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def draw_all(recs: list[Record], out: str, cpus: int) -> list[str]:
    """Draw every plot the records allow; the file names written (relative to ``out``)."""
    names = []
    for name, draw in (("speedup.png", lambda p: draw_speedup(recs, p, cpus)),
                       ("scaling.png", lambda p: draw_scaling(recs, p, cpus)),
                       ("transfer.png", lambda p: draw_transfer(recs, p)),
                       ("overhead.png", lambda p: draw_overhead(recs, p))):
        if draw(os.path.join(out, name)):
            names.append(name)
    return names
