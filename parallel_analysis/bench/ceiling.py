"""The ``ceiling`` workload: what this machine's CPUs give bare work in this run, no code of ours.
Layer: faces (bench.ceiling; imports the package and its own modules).

A shared machine (a VM whose CPUs are shared with other tenants, a laptop's turbo) may not give
two workers twice one worker's speed, whatever the library. The same units of work are run
on 1 and 2 workers of the simplest pools there are: pure-Python units (which hold the GIL) on a
``multiprocessing.Pool``, GIL-free numpy units (a ufunc over an array that stays in cache, so
memory bandwidth is not measured) on a ``ThreadPoolExecutor``. Their "2 workers vs 1" rows are
the ceiling every scaling goal of the same run is held against: a goal of 1.95x cannot be met
in a run whose bare processes reach 1.8x. The report states it beside the goals; it changes no
verdict.
"""

from __future__ import annotations

import numpy as np

from . import work
from .results import Record, speedup_interval
from .workloads import Case, Data, Workload

#: Units per map (as many as the other workloads' chunks), and each unit's size: about 25 ms.
UNITS = 16
#: The runner of each variant: pure Python on processes, GIL-free numpy on threads.
RUNNERS = {"python": "multiprocessing", "numpy": "threads"}


class Ceiling(Workload):
    name = "ceiling"
    title = ("what the CPUs give bare work in this run: the same units on 1 and 2 workers of "
             "multiprocessing.Pool (pure Python) and of a ThreadPoolExecutor (GIL-free numpy)")
    baseline = "plain"
    plain_label = "one call"
    #: loop steps per pure-Python unit (the numpy unit is sized to take about as long)
    sizes = {"smoke": 2_000, "quick": 300_000, "full": 300_000}
    rounds = {"smoke": 1, "quick": 5, "full": 9}
    variants = tuple(RUNNERS)

    def cases(self, mode: str, workers: list[int], peers: list[str]) -> list[Case]:
        size, rounds = self.sizes[mode], self.rounds[mode]
        out = []
        for variant, runner in RUNNERS.items():
            out += [Case(self.name, "plain", 1, variant, size, rounds),
                    Case(self.name, "serial", 1, variant, size, rounds)]
            out += [Case(self.name, runner, w, variant, size, rounds) for w in (1, 2)]
        return out

    def make_data(self, size: int) -> Data:
        return Data(size, 0)

    def _units(self, data: Data, case: Case) -> tuple:
        unit = work.spin if case.variant == "python" else work.cached_ufunc
        return unit, [data.value] * UNITS

    def run_plain(self, data, case):
        unit, units = self._units(data, case)
        return sum(unit(u) for u in units)

    def run_ours(self, pool, data, case):
        unit, units = self._units(data, case)
        return sum(pool.map_chunks(unit, units))

    def run_peer(self, peer, data, case):
        unit, units = self._units(data, case)
        return sum(peer.map(unit, units))

    def check(self, result, expected):
        if not np.isclose(result, expected, rtol=1e-12, atol=0):
            raise AssertionError(f"{self.name}: got {result!r}, expected {expected!r}")


def ceiling_note(recs: list[Record]) -> str:
    """What bare work gained from a second worker in this run (the ``ceiling`` workload): the
    bound every scaling goal of the run is read against."""
    found = []
    for variant, runner in RUNNERS.items():
        pick = {r.workers: r for r in recs if r.workload == "ceiling" and r.ok and
                r.runner == runner and r.variant == variant}
        if 1 in pick and 2 in pick:
            found.append(f"{runner} ({variant} units) 2 workers vs 1: "
                         f"{speedup_interval(pick[2], pick[1])}")
    if not found:
        return ""
    return ("\nThis run's ceiling, bare work on the simplest pools (the `ceiling` workload): "
            + "; ".join(found) + ". A scaling goal above it cannot be met in this run by any "
            "library; it changes no verdict above.\n")
