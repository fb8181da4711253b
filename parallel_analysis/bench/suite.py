"""Glue between the workloads and pytest-benchmark, used by ``benchmarks/test_*.py``.
Layer: faces (bench.suite; imports the package and its own modules).

The suites run in one of three modes (``PAR_BENCH_MODE``): ``smoke`` (tiny data, one round;
the default when pytest runs with ``--benchmark-disable``, as ``make test`` does), ``quick``
(the default when benchmarks are enabled) and ``full``. Every case checks its answer against
the serial one; pytest-benchmark times it and records our figures in ``extra_info``.
"""

from __future__ import annotations

import os
from typing import Any

import parallel_analysis as par

from .measure import MemorySampler, Runners
from .peers import available_peers
from .runner import worker_counts, workloads
from .workloads import GOAL_WORKERS, Case, Data, Workload

ENV = "PAR_BENCH_MODE"


def mode(benchmark_disabled: bool | None = None) -> str:
    """The size mode: ``PAR_BENCH_MODE`` if set, else smoke when benchmarks are disabled."""
    chosen = os.environ.get(ENV)
    if chosen:
        if chosen not in ("smoke", "quick", "full"):
            raise ValueError(f"{ENV} must be smoke, quick or full, not {chosen!r}")
        return chosen
    return "smoke" if benchmark_disabled in (None, True) else "quick"


def cases(name: str, chosen_mode: str) -> list[Case]:
    """The parametrisation of one suite (smoke mode trims coldstart's subprocesses)."""
    grid = workloads()[name].cases(chosen_mode, worker_counts(), available_peers())
    if chosen_mode == "smoke" and name == "coldstart":
        grid = [c for c in grid if c.runner in ("plain", "serial", "process", "joblib")
                and c.workers in (1, GOAL_WORKERS)]
    return grid


class DataStore:
    """Each workload's data, built once per (workload, size), and its serial answer per variant."""

    def __init__(self):
        self._data: dict[tuple, Data] = {}
        self._expected: dict[tuple, Any] = {}

    def get(self, workload: Workload, case: Case, runners: Runners) -> tuple[Data, Any]:
        key = (workload.name, case.size)
        if key not in self._data:
            self._data[key] = workload.make_data(case.size)
        data = self._data[key]
        answer = key + (case.variant,)
        if answer not in self._expected:
            reference = Case(case.workload, "serial", 1, case.variant, case.size)
            self._expected[answer] = workload.run(reference, runners, data)
        return data, self._expected[answer]

    def close(self) -> None:
        for data in self._data.values():
            data.close()
        self._data.clear()
        self._expected.clear()


def run_case(benchmark: Any, workload: Workload, case: Case, runners: Runners,
             store: DataStore) -> None:
    """Check ``case`` against serial, then time it with pytest-benchmark's fixture."""
    data, expected = store.get(workload, case, runners)
    disabled = bool(getattr(benchmark, "disabled", False))
    with MemorySampler() as mem:
        # Disabled (smoke): pedantic runs the call once, untimed; that is the checked run.
        value = (benchmark.pedantic(workload.run, args=(case, runners, data), rounds=1)
                 if disabled else workload.run(case, runners, data))
    workload.check(value, expected)
    benchmark.group = case.workload
    benchmark.extra_info.update(
        workload=case.workload, runner=case.runner, workers=case.workers, variant=case.variant,
        size=case.size,
        baseline=workload.baseline, data_bytes=data.nbytes, memory_before=mem.before,
        memory_peak=mem.peak, memory_idle=mem.before)
    if case.kind == "ours" and par.last_run() is not None:
        benchmark.extra_info["last_run"] = par.last_run().summary()
    if disabled:
        return
    result = benchmark.pedantic(workload.run, args=(case, runners, data), rounds=case.rounds,
                                iterations=1, warmup_rounds=0)
    workload.check(result, expected)
