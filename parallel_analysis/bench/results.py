"""Results on disk: pytest-benchmark's JSON format, our figures in each entry's ``extra_info``.
Layer: faces (bench.results; imports the package and its own modules).

A file written by ``parallel-analysis bench`` and one written by
``pytest benchmarks/ --benchmark-json=...`` read the same way: :func:`load` turns either into
:class:`Record` objects, one per case, which the report and the plots use.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .stats import Interval, paired_speedup, summary
from .workloads import OURS


@dataclass
class Record:
    """One case's figures: who ran, how long (median and spread), how much memory."""

    workload: str
    runner: str
    workers: int
    variant: str
    size: int
    times: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return self.stats.get("median", float("nan"))

    @property
    def ok(self) -> bool:
        return not self.extra.get("error") and bool(self.stats)

    @property
    def kind(self) -> str:
        """"ours", "peer" or "plain" (see :class:`~.workloads.Case`)."""
        return "ours" if self.runner in OURS else "plain" if self.runner == "plain" else "peer"

    @property
    def label(self) -> str:
        return f"{self.runner}×{self.workers}" + (f" {self.variant}" if self.variant else "")


def entry(case, times: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    """The pytest-benchmark JSON entry of one case."""
    return {
        "group": case.workload,
        "name": f"test_{case.workload}[{case.id}]",
        "fullname": f"benchmarks/test_{case.workload}.py::test_{case.workload}[{case.id}]",
        "params": {"runner": case.runner, "workers": case.workers, "variant": case.variant,
                   "size": case.size},
        "param": case.id,
        "extra_info": {"runner": case.runner, "workers": case.workers, "variant": case.variant,
                       "size": case.size, **extra},
        "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": case.rounds,
                    "max_time": 0, "min_time": 0, "warmup": True},
        "stats": summary(times) if times else {},
    }


def document(entries: list[dict], machine: dict, commit: dict, settings: dict) -> dict:
    """The whole JSON document, as pytest-benchmark writes it (plus our ``settings``)."""
    try:
        from importlib.metadata import version

        bench_version = version("pytest-benchmark")
    except Exception:
        bench_version = "unknown"
    return {"machine_info": machine, "commit_info": commit, "benchmarks": entries,
            "datetime": datetime.datetime.now(datetime.UTC).isoformat(),
            "version": bench_version, "parallel_analysis": settings}


def save(doc: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)


def records(doc: dict) -> list[Record]:
    """One :class:`Record` per benchmark entry of a pytest-benchmark document."""
    out = []
    for bench in doc.get("benchmarks", []):
        extra = dict(bench.get("extra_info") or {})
        params = bench.get("params") or {}

        def pick(k, d, extra=extra, params=params):
            return extra.get(k, params.get(k, d))

        stats = dict(bench.get("stats") or {})
        if "spread" not in stats and stats.get("min", 0) > 0 and stats.get("median"):
            # pytest-benchmark's own files: the spread from its min, max and median
            stats["spread"] = (stats["max"] - stats["min"]) / stats["median"]
        out.append(Record(workload=bench.get("group") or pick("workload", "?"),
                          runner=str(pick("runner", bench.get("name", "?"))),
                          workers=int(pick("workers", 1)), variant=str(pick("variant", "")),
                          size=int(pick("size", 0)), times=list(stats.get("data") or []),
                          extra=extra, stats=stats))
    return out


def load(path: str) -> tuple[dict, list[Record]]:
    """(the document, its records) from a JSON file written by either tool; ValueError naming
    the file when it is not JSON or has no list of benchmarks."""
    with open(path) as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON ({exc}): give the results.json that "
                             "`parallel-analysis bench` or pytest-benchmark wrote") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise ValueError(f"{path} holds no benchmark results (no 'benchmarks' list): give the "
                         "results.json that `parallel-analysis bench` or pytest-benchmark wrote")
    try:
        return doc, records(doc)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} has a 'benchmarks' list whose entries are not benchmark "
                         f"results ({type(exc).__name__}: {exc}): give the results.json that "
                         "`parallel-analysis bench` or pytest-benchmark wrote") from None


def baseline(rec: Record, recs: list[Record]) -> Record | None:
    """The case ``rec``'s speedup is measured against (same workload, size and variant)."""
    base_runner = rec.extra.get("baseline", "serial")
    variant = "fresh" if rec.workload == "transfer" and base_runner == "plain" else rec.variant
    base = [r for r in recs if r.workload == rec.workload and r.size == rec.size and r.ok
            and r.runner == base_runner and r.variant == variant]
    return base[0] if base else None


def speedup_interval(rec: Record, base: Record | None) -> Interval:
    """How many times faster ``rec`` ran than ``base``: median of per-round ratios (rounds were
    interleaved, so round r of both saw the same load) and its 95% interval."""
    if base is None or not rec.ok or not base.ok:
        return Interval(math.nan, math.nan, math.nan, 0)
    if not (base.times and rec.times) and rec.median > 0:  # a file without its rounds (as
        ratio = base.median / rec.median  # pytest-benchmark saves by default): one figure
        return Interval(ratio, ratio, ratio, 1)
    return paired_speedup(base.times, rec.times)


def speedup(rec: Record, recs: list[Record]) -> float:
    """The median paired speedup of ``rec`` over its baseline (NaN when there is none)."""
    return speedup_interval(rec, baseline(rec, recs)).median
