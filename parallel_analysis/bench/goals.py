"""The issue's goals, evaluated as ratios of medians measured in the same run.
Layer: faces (bench.goals; imports the package and its own modules).

Each goal returns a :class:`Goal` row: what it asks, what was measured, met or not, and how far
off. Nothing here is hard-coded: a goal whose cases did not run (a workload left out, a peer not
installed, a failed case) says so instead of passing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .results import Record
from .workloads import GOAL_WORKERS

W = GOAL_WORKERS


@dataclass
class Goal:
    workload: str
    target: str
    measured: str
    met: bool | None  # None: could not be evaluated
    note: str = ""


def find(recs: list[Record], workload: str, runner: str, workers: int | None = None,
         variant: str | None = None, size: int | None = None) -> Record | None:
    """The record of one case (the largest size run, unless ``size`` is given)."""
    hits = [r for r in recs if r.workload == workload and r.runner == runner and r.ok
            and (workers is None or r.workers == workers)
            and (variant is None or r.variant == variant) and (size is None or r.size == size)]
    return max(hits, key=lambda r: r.size) if hits else None


def main_size(recs: list[Record], workload: str) -> int | None:
    sizes = [r.size for r in recs if r.workload == workload]
    return max(sizes) if sizes else None


def _ratio(a: Record | None, b: Record | None) -> float:
    if a is None or b is None or not b.median:
        return math.nan
    return a.median / b.median


def _missing(workload: str, target: str, what: str) -> Goal:
    return Goal(workload, target, "not measured", None, f"{what} did not run or failed")


def best_rounds(recs: list[Record]) -> list[Record]:
    """Copies of ``recs`` whose median is their fastest round: the figures a quiet machine gives.

    On a machine shared with other work, round times are bimodal (both CPUs free, or one taken
    by someone else); the fastest round of each case says what the code does when it has the
    CPUs, the median what a user saw during this run. The report shows both.
    """
    out = []
    for r in recs:
        stats = dict(r.stats)
        if "min" in stats:
            stats["median"] = stats["min"]
        out.append(Record(r.workload, r.runner, r.workers, r.variant, r.size, r.times,
                          r.extra, stats))
    return out


def evaluate(recs: list[Record]) -> list[Goal]:
    """Every goal of the issue that the records allow us to evaluate."""
    by_workload = {"pybound": _pybound, "npbound": _npbound, "transfer": _transfer,
                   "groupby": _groupby, "overhead": _overhead, "coldstart": _coldstart,
                   "rolling": _rolling}
    present = {r.workload for r in recs}
    return [goal for name, goals_of in by_workload.items() if name in present
            for goal in goals_of(recs)]


def _auto_goal(recs, name) -> Goal:
    target = "auto within 10% of the better of thread and process"
    size = main_size(recs, name)
    auto, thread, process = (find(recs, name, b, W, size=size)
                             for b in ("auto", "thread", "process"))
    if auto is None or thread is None or process is None:
        return _missing(name, target, f"auto/thread/process ×{W}")
    best = min(thread, process, key=lambda r: r.median)
    ratio = auto.median / best.median
    return Goal(name, target, f"{ratio:.3f}× the time of {best.runner}", ratio <= 1.10,
                f"auto chose {auto.extra.get('auto_reason', '?')}")


def _pybound(recs):
    size = main_size(recs, "pybound")
    serial = find(recs, "pybound", "serial", 1, size=size)
    ours = find(recs, "pybound", "process", W, size=size)
    target = f"process ×{W} ≥ 1.90× serial"
    if serial is None or ours is None:
        out = [_missing("pybound", target, "serial or process")]
    else:
        speed = _ratio(serial, ours)
        out = [Goal("pybound", target, f"{speed:.2f}×", speed >= 1.90,
                    "" if speed >= 1.90 else f"short by {1.90 - speed:.2f}×")]
        for peer in sorted({r.runner for r in recs if r.kind == "peer"
                            and r.workload == "pybound"}):
            rec = find(recs, "pybound", peer, W, size=size)
            if rec is None:
                continue
            ratio = ours.median / rec.median
            out.append(Goal("pybound", f"process ×{W} at least as fast as {peer}",
                            f"{ratio:.3f}× {peer}'s time ({_ratio(serial, rec):.2f}× serial)",
                            ratio <= 1.0, "" if ratio <= 1.0 else f"{ratio - 1:.1%} slower"))
    return out + [_auto_goal(recs, "pybound")]


def _npbound(recs):
    size = main_size(recs, "npbound")
    serial = find(recs, "npbound", "serial", 1, size=size)
    auto = find(recs, "npbound", "auto", W, size=size)
    thread = find(recs, "npbound", "thread", W, size=size)
    out = []
    target = f"auto ×{W} ≥ 1.85× serial"
    if serial is None or auto is None:
        out.append(_missing("npbound", target, "serial or auto"))
    else:
        speed = _ratio(serial, auto)
        out.append(Goal("npbound", target, f"{speed:.2f}×", speed >= 1.85,
                        "" if speed >= 1.85 else f"short by {1.85 - speed:.2f}×"))
    target = f"auto within 3% of thread ×{W}"
    if thread is None or auto is None:
        out.append(_missing("npbound", target, "thread or auto"))
    else:
        ratio = auto.median / thread.median
        out.append(Goal("npbound", target, f"{ratio:.3f}× thread's time", ratio <= 1.03))
    return out + [_auto_goal(recs, "npbound")]


def _transfer(recs):
    size = main_size(recs, "transfer")
    gb = size * 8 / 1e9
    out = []
    fresh = find(recs, "transfer", "process", W, "fresh", size)
    limit = 0.35 * gb / 1.6
    target = f"fresh {gb:.2f} GB array, process ×{W} ≤ {limit:.3f} s" + \
        ("" if abs(gb - 1.6) < 0.01 else " (0.35 s per 1.6 GB, scaled)")
    if fresh is None:
        out.append(_missing("transfer", target, "process fresh"))
    else:
        out.append(Goal("transfer", target, f"{fresh.median:.3f} s", fresh.median <= limit,
                        "" if fresh.median <= limit else
                        f"{fresh.median / limit:.1f}× the goal; see the transfer section"))
    shared = find(recs, "transfer", "process", W, "shared", size)
    plain = find(recs, "transfer", "plain", 1, "fresh", size)
    target = f"already shared, process ×{W} ≤ 2× serial numpy"
    if shared is None or plain is None:
        out.append(_missing("transfer", target, "process shared or numpy"))
    else:
        ratio = shared.median / plain.median
        out.append(Goal("transfer", target, f"{ratio:.2f}× numpy's {plain.median:.3f} s",
                        ratio <= 2.0))
    return out


def _groupby(recs):
    size = main_size(recs, "groupby")
    pandas = find(recs, "groupby", "plain", 1, size=size)
    ours = [r for r in (find(recs, "groupby", b, W, size=size) for b in ("auto", "thread",
                                                                           "process")) if r]
    target = f"≥ 1.6× pandas groupby().agg() ({size / 1e6:g}M rows)"
    if pandas is None or not ours:
        return [_missing("groupby", target, "pandas or our backends")]
    auto = next((r for r in ours if r.runner == "auto"), None)
    best = min(ours, key=lambda r: r.median)
    out = []
    for rec in [auto] + ([best] if best is not auto else []):
        if rec is None:
            continue
        speed = _ratio(pandas, rec)
        out.append(Goal("groupby", f"{rec.runner} ×{W} {target}", f"{speed:.2f}×", speed >= 1.6,
                        "" if speed >= 1.6 else f"short by {1.6 - speed:.2f}×"))
        extra = rec.extra
        if extra.get("memory_peak") and extra.get("data_bytes"):
            added = max(0, extra["memory_peak"] - extra["memory_before"])
            ratio = (extra["data_bytes"] + added) / extra["data_bytes"]
            out.append(Goal("groupby", f"{rec.runner} ×{W} peak memory of all processes ≤ 1.5× "
                            "the frame", f"{ratio:.2f}× the frame", ratio <= 1.5,
                            "(the frame + what the call added at its peak, PSS summed over "
                            "every process) ÷ the frame's deep memory usage"))
    return out


def _overhead(recs):
    size = main_size(recs, "overhead")
    ours = find(recs, "overhead", "process", W, size=size)
    joblib = find(recs, "overhead", "joblib", W, size=size)
    target = f"{size:,} tiny chunks, process ×{W} ≤ joblib"
    if ours is None or joblib is None:
        return [_missing("overhead", target, "process or joblib")]
    ratio = ours.median / joblib.median
    return [Goal("overhead", target, f"{ours.median * 1e3:.1f} ms vs joblib "
                 f"{joblib.median * 1e3:.1f} ms ({ratio:.2f}×)", ratio <= 1.0)]


def _coldstart(recs):
    ours = find(recs, "coldstart", "process", W)
    target = f"process ×{W}, fresh interpreter to first result ≤ 0.3 s"
    if ours is None:
        return [_missing("coldstart", target, "process")]
    joblib = find(recs, "coldstart", "joblib", W)
    note = f"joblib {joblib.median:.3f} s" if joblib else ""
    return [Goal("coldstart", target, f"{ours.median:.3f} s", ours.median <= 0.3, note)]


def _rolling(recs):
    """par.rolling on its default backend (threads for pandas' kernels, processes for apply)
    against pandas' own rolling, and the peak memory of the mean."""
    out = []
    for variant, runner, target in (("mean", "thread", 1.7), ("apply", "process", 1.8)):
        pandas = find(recs, "rolling", "plain", 1, variant)
        ours = find(recs, "rolling", runner, W, variant)
        label = f"{variant}: {runner} ×{W} (par.rolling's default) ≥ {target}× pandas"
        if pandas is None or ours is None or pandas.size != ours.size:
            out.append(_missing("rolling", label, f"pandas or {runner} ×{W} {variant}"))
            continue
        speed = _ratio(pandas, ours)
        out.append(Goal("rolling", label, f"{speed:.2f}× ({ours.size:,} rows)", speed >= target,
                        "" if speed >= target else f"short by {target - speed:.2f}×"))
        extra = ours.extra
        if variant == "mean" and extra.get("memory_peak") and extra.get("data_bytes"):
            added = max(0, extra["memory_peak"] - extra["memory_before"])
            ratio = (extra["data_bytes"] + added) / (2 * extra["data_bytes"])
            out.append(Goal("rolling", f"mean: {runner} ×{W} peak memory ≤ 1.3× input + output",
                            f"{ratio:.2f}×", ratio <= 1.3,
                            "(the Series + what the call added at its peak, PSS summed over "
                            "every process) ÷ (input + output, a float64 Series each)"))
    return out
