"""The issues' goals, written down once as data and evaluated on paired rounds of one run.
Layer: faces (bench.goals; imports the package and its own modules).

A goal is a ratio of two cases of the same run (:class:`Speed`), a memory ceiling
(:class:`Memory`) or a time ceiling (:class:`Seconds`). A speed goal is "met" only when the 95%
interval of the paired per-round speedup clears it (:func:`~.stats.verdict`); a goal whose cases
did not run says so instead of passing.
"""

from __future__ import annotations

from dataclasses import dataclass

from .results import Record
from .stats import Interval, bootstrap_median, paired_speedup, verdict
from .workloads import GOAL_WORKERS

W = GOAL_WORKERS


@dataclass(frozen=True)
class Pick:
    """A case of a workload: a runner (a tuple: the fastest of those, by median), its workers,
    its variant (None: any)."""

    runner: str | tuple
    workers: int | None = None
    variant: str | None = None

    def label(self) -> str:
        runner = " or ".join(self.runner) if isinstance(self.runner, tuple) else self.runner
        return f"{runner}×{self.workers}" if self.workers else runner


@dataclass(frozen=True)
class Speed:
    """``case`` runs at least ``times`` times as fast as ``base``."""

    workload: str
    text: str
    case: Pick
    base: Pick
    times: float


@dataclass(frozen=True)
class Memory:
    """``case``'s peak memory of all processes (its data plus what the call added) is at most
    ``limit`` times ``reference``: its data, or ``per_data`` times it (rolling: input + output,
    a Series each, is twice the data)."""

    workload: str
    text: str
    case: Pick
    limit: float
    per_data: float = 1.0
    reference: str = "the frame"


@dataclass(frozen=True)
class Seconds:
    """``case`` takes at most ``limit`` seconds (``per_gb``: ``limit`` per that many GB of
    data, scaled to the data run)."""

    workload: str
    text: str
    case: Pick
    limit: float
    per_gb: float = 0.0


@dataclass
class Goal:
    workload: str
    target: str
    measured: str
    status: str  # "met", "unclear", "not met" or "not measured"
    note: str = ""

    @property
    def met(self) -> bool | None:
        return {"met": True, "not met": False}.get(self.status)


BEST = ("thread", "process")
GROUPBY_VARIANTS = ("int", "str", "two")

GOALS = [
    Speed("pybound", f"process ×{W} ≥ 1.95× serial", Pick("process", W), Pick("serial", 1),
          1.95),
    Speed("pybound", "process at least as fast as multiprocessing.Pool", Pick("process", W),
          Pick("multiprocessing", W), 1.0),
    Speed("pybound", "process at least as fast as ProcessPoolExecutor", Pick("process", W),
          Pick("ProcessPoolExecutor", W), 1.0),
    Speed("pybound", "auto within 5% of the better of thread and process", Pick("auto", W),
          Pick(BEST, W), 0.95),
    Speed("npbound", f"auto ×{W} ≥ 1.85× serial", Pick("auto", W), Pick("serial", 1), 1.85),
    Speed("npbound", "auto within 3% of thread", Pick("auto", W), Pick("thread", W), 0.97),
    Speed("npbound", "auto within 5% of the better of thread and process", Pick("auto", W),
          Pick(BEST, W), 0.95),
    *[goal for v in GROUPBY_VARIANTS for goal in (
        Speed("groupby", f"[{v} key] thread ×{W} ≥ 1.7× thread ×1", Pick("thread", W, v),
              Pick("thread", 1, v), 1.7),
        Speed("groupby", f"[{v} key] thread ×{W} ≥ 1.6× pandas' groupby().agg()",
              Pick("thread", W, v), Pick("plain", 1, v), 1.6),
        Speed("groupby", f"[{v} key] auto within 5% of the better of thread and process",
              Pick("auto", W, v), Pick(BEST, W, v), 0.95),
        Memory("groupby", f"[{v} key] thread ×{W}: peak memory of all processes ≤ 1.2× "
               "the frame", Pick("thread", W, v), 1.2))],
    Speed("overhead", "process at least as fast as joblib", Pick("process", W),
          Pick("joblib", W), 1.0),
    Seconds("transfer", f"fresh array, process ×{W} ≤ 0.35 s per 1.6 GB",
            Pick("process", W, "fresh"), 0.35, per_gb=1.6),
    Speed("transfer", f"already shared, process ×{W} ≥ 0.5× the speed of a numpy call (≤ 2× "
          "its time)",
          Pick("process", W, "shared"), Pick("plain", 1, "fresh"), 0.5),
    Seconds("coldstart", f"process ×{W}, fresh interpreter to first result ≤ 0.3 s",
            Pick("process", W), 0.3),
    # par.rolling on its default backends: threads for pandas' kernels, processes for apply
    Speed("rolling", f"[mean] thread ×{W} ≥ 1.7× pandas' rolling(1000).mean()",
          Pick("thread", W, "mean"), Pick("plain", 1, "mean"), 1.7),
    Speed("rolling", f"[apply] process ×{W} ≥ 1.8× pandas' rolling(100).apply(np.std)",
          Pick("process", W, "apply"), Pick("plain", 1, "apply"), 1.8),
    Memory("rolling", f"[mean] thread ×{W}: peak memory of all processes ≤ 1.3× input + "
           "output", Pick("thread", W, "mean"), 1.3, per_data=2.0, reference="input + output"),
    # df.par against pandas' own call, pure-Python functions (processes)
    Speed("rowapply", f"df.par process ×{W} ≥ 1.85× pandas' df.apply(f, axis=1)",
          Pick("process", W), Pick("plain", 1), 1.85),
    Speed("rowapply", "auto within 5% of the better of thread and process", Pick("auto", W),
          Pick(BEST, W), 0.95),
    Speed("seriesmap", f"s.par process ×{W} ≥ 1.85× pandas' s.map(g)", Pick("process", W),
          Pick("plain", 1), 1.85),
    Speed("seriesmap", "auto within 5% of the better of thread and process", Pick("auto", W),
          Pick(BEST, W), 0.95),
    Speed("groupapply", f"df.par process ×{W} ≥ 1.7× pandas' groupby(k).apply(f)",
          Pick("process", W), Pick("plain", 1), 1.7),
]


def find(recs: list[Record], workload: str, pick: Pick) -> Record | None:
    """The record of a case at the workload's largest size (the fastest, for a tuple: none
    when one of those failed, as "the better of" two cannot be told from one)."""
    runners = pick.runner if isinstance(pick.runner, tuple) else (pick.runner,)
    rows = [r for r in recs if r.workload == workload and r.runner in runners
            and (pick.workers is None or r.workers == pick.workers)
            and (pick.variant is None or r.variant == pick.variant)]
    if not rows or (len(runners) > 1 and not all(r.ok for r in rows)):
        return None
    rows = [r for r in rows if r.ok]
    if not rows:
        return None
    size = max(r.size for r in rows)
    return min((r for r in rows if r.size == size), key=lambda r: r.median)


def _missing(goal, what: str) -> Goal:
    return Goal(goal.workload, goal.text, "not measured", "not measured",
                f"{what} did not run or failed")


def _speed(goal: Speed, recs: list[Record]) -> Goal:
    case, base = find(recs, goal.workload, goal.case), find(recs, goal.workload, goal.base)
    if case is None or base is None:
        return _missing(goal, f"{goal.case.label()} or {goal.base.label()}")
    interval = paired_speedup(base.times, case.times)
    note = f"vs {base.label}" if isinstance(goal.base.runner, tuple) else ""
    if case.extra.get("auto_reason"):
        note = (note + "; " if note else "") + f"auto chose {case.extra['auto_reason']}"
    return Goal(goal.workload, goal.text, str(interval), verdict(interval, goal.times), note)


def _memory(goal: Memory, recs: list[Record]) -> Goal:
    case = find(recs, goal.workload, goal.case)
    extra = case.extra if case is not None else {}
    if not extra.get("memory_peak") or not extra.get("data_bytes"):
        return _missing(goal, goal.case.label())
    added = max(0, extra["memory_peak"] - extra["memory_before"])
    ratio = (extra["data_bytes"] + added) / (goal.per_data * extra["data_bytes"])
    return Goal(goal.workload, goal.text, f"{ratio:.2f}× {goal.reference}",
                "met" if ratio <= goal.limit else "not met",
                "the data + what the call added at its peak (PSS summed over every process), "
                f"÷ {goal.reference} ({goal.per_data:g}× the data's deep memory usage); one "
                "sampled call")


def _seconds(goal: Seconds, recs: list[Record]) -> Goal:
    case = find(recs, goal.workload, goal.case)
    if case is None:
        return _missing(goal, goal.case.label())
    limit = goal.limit
    if goal.per_gb:
        limit *= case.extra.get("data_bytes", 0) / 1e9 / goal.per_gb
    times = bootstrap_median(case.times)
    # A time goal: met when even the slow end of the interval is under the limit.
    status = verdict(Interval(limit / times.median, limit / times.high, limit / times.low,
                              times.n), 1.0) if times.n else "not measured"
    return Goal(goal.workload, goal.text,
                f"{times.median:.3f} s [{times.low:.3f}–{times.high:.3f}]", status,
                f"limit {limit:.3f} s for this data" if goal.per_gb else "")


_EVALUATE = {Speed: _speed, Memory: _memory, Seconds: _seconds}


def evaluate(recs: list[Record]) -> list[Goal]:
    """Every goal whose workload is in the records, in the order of :data:`GOALS`."""
    present = {r.workload for r in recs}
    return [_EVALUATE[type(goal)](goal, recs) for goal in GOALS if goal.workload in present]
