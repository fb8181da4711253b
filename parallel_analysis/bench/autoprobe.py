"""The ``autoprobe`` benchmark: does backend="auto" give the same answer under load?
Layer: faces (bench.autoprobe; imports the package and its own modules).

For three workloads whose right answer is known (pure-Python Collatz: process; numpy ufuncs:
thread; the GroupBy reducer's pandas partials: thread), the probe of ``backend="auto"`` decides
``probes`` times on the machine as it is ("idle": other people's work included) and then beside
a busy loop this benchmark starts itself (one process spinning on a CPU, killed afterwards and
ending by itself after ten minutes in any case). Each workload's map is timed once on the chosen
backend, so the probe's cost is also given as a share of the map it decides for: a fresh probe
(a pool's first maps of a function), and the mean over ``probes`` maps on one pool, which
remembers the answer once two probes agreed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import numpy as np

import parallel_analysis as par

from .. import auto
from ..backends import make_backend
from ..plan import make_plan
from ..reducers.groupby import GroupBy
from ..split import Chunking
from ..worker import Job
from . import work
from .frames import make_frame

#: The busy loop: bounded in time, so that it cannot outlive a killed benchmark by long.
SPIN = "import time\nend = time.time() + 600\nwhile time.time() < end:\n    pass\n"

CHUNKS = 16


def _cases(mode: str) -> dict:
    """name → (job, data, the right answer); maps of about 0.5-2 s on 2 workers (full)."""
    scale = {"smoke": 0.02, "quick": 0.25, "full": 1.0}[mode]
    rng = np.random.default_rng(9)
    ints = rng.integers(1, 10**6, int(80_000 * scale) + CHUNKS, dtype=np.int64)
    floats = rng.standard_normal(int(16_000_000 * scale) + CHUNKS)
    frame = make_frame(int(4_000_000 * scale) + CHUNKS)
    return {
        "pure-Python Collatz": (Job(work.collatz_steps, "map"), ints, "process"),
        "numpy ufuncs": (Job(work.trig_norm, "map"), floats, "thread"),
        "pandas groupby partials": (Job(None, "reduce", GroupBy("key", {"value": ["mean",
                                                                             "var"]})),
                                    frame[["key", "value"]], "thread"),
    }


def _decisions(job: Job, data, probes: int) -> tuple[list[str], list[float], float]:
    """The picks and costs of ``probes`` fresh probes, and the mean cost of deciding for
    ``probes`` maps on one pool (which remembers the answer: the first maps probe)."""
    plan = make_plan(data, make_backend("thread", 2), Chunking(n=CHUNKS))  # views: no copy
    picks, costs = [], []
    for _ in range(probes):
        started = time.perf_counter()
        picks.append(auto.decide(job, plan.specs, 2)[0])
        costs.append(time.perf_counter() - started)
    memory, started = auto.Memory(), time.perf_counter()
    for _ in range(probes):
        auto.decide(job, plan.specs, 2, memory, data)
    return picks, costs, (time.perf_counter() - started) / probes


def _map_seconds(job: Job, data, backend: str) -> float:
    """One warm map of the workload on ``backend`` with 2 workers (the map the probe serves)."""
    reducer = job.reducer if job.reducer is not None else work.add
    with par.Pool(2, backend) as pool:
        pool.map_reduce(job.func, data, reducer, n=CHUNKS)
        started = time.perf_counter()
        pool.map_reduce(job.func, data, reducer, n=CHUNKS)
        return time.perf_counter() - started


def tally(mode: str = "full", probes: int = 20) -> list[dict]:
    """One row per (condition, workload): the choices, the right count, the probe's cost."""
    cases = _cases(mode)
    rows = []
    for condition in ("idle", "busy loop"):
        busy = subprocess.Popen([sys.executable, "-c", SPIN]) if condition != "idle" else None
        try:
            if busy is not None:
                time.sleep(0.5)  # the loop is spinning before the first probe
            for name, (job, data, right) in cases.items():
                picks, costs, pooled = _decisions(job, data, probes)
                seconds = _map_seconds(job, data, right)
                cost = statistics.median(costs)
                rows.append({"condition": condition, "workload": name, "right": right,
                             "probes": probes, "agree": picks.count(right),
                             "choices": {c: picks.count(c) for c in set(picks)},
                             "probe_seconds": cost, "map_seconds": seconds,
                             "share_of_map": cost / seconds if seconds else float("nan"),
                             "pooled_seconds": pooled,
                             "pooled_share": pooled / seconds if seconds else float("nan")})
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    return rows
