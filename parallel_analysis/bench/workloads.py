"""The benchmark workloads: what data each one builds, how every runner computes it, and the check.
Layer: faces (bench.workloads; imports the package and its own modules).

A :class:`Case` is one cell of the grid: a workload, a runner (one of our backends, a peer
library, or the plain single-call numpy/pandas/Python baseline), a worker count and, where it
matters, a variant (``transfer``: a fresh array or one already shared) and a data size. The
pytest-benchmark suites in ``benchmarks/`` and ``parallel-analysis bench`` build their cases
from here, so both time exactly the same code.

Every case's result is checked against the serial answer (:meth:`Workload.check`): a fast wrong
answer is a failure, not a figure.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cpus import available_cpus
from ..cuts import even_slices
from ..share import share
from ..split import choose_n_chunks
from . import work

OURS = ("serial", "thread", "process", "auto")
#: The worker count the issue's goals are stated for (this machine has 2 CPUs).
GOAL_WORKERS = 2
#: Sizes per mode: "smoke" runs inside the test suite (a minute), "quick" about six minutes,
#: "full" is ``make report`` (about half an hour on 2 CPUs).
MODES = ("smoke", "quick", "full")


@dataclass(frozen=True)
class Case:
    """One benchmark: ``runner`` ∈ OURS, a peer name, or ``"plain"`` (one call, no pool)."""

    workload: str
    runner: str
    workers: int = 1
    variant: str = ""
    size: int = 0
    rounds: int = 3

    @property
    def kind(self) -> str:
        return "ours" if self.runner in OURS else "plain" if self.runner == "plain" else "peer"

    @property
    def id(self) -> str:
        parts = [self.runner, str(self.workers)]
        if self.variant:
            parts.append(self.variant)
        return "-".join(parts) + "@" + short_size(self.size)

    @property
    def name(self) -> str:
        return f"{self.workload}[{self.id}]"


def short_size(n: int) -> str:
    """``150k``, ``12.5M``: sizes in case ids."""
    for div, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            return f"{n / div:g}{unit}"
    return str(n)


class Data(contextlib.ExitStack):
    """A workload's input (``.value``) plus what must be released afterwards."""

    def __init__(self, value: Any, nbytes: int):
        super().__init__()
        self.value = value
        self.nbytes = nbytes
        self.extra: dict[str, Any] = {}


def chunk_slices(n_rows: int) -> list[slice]:
    """The chunking our pools would choose here; peers get the very same chunks."""
    return even_slices(n_rows, choose_n_chunks(n_rows, 8, available_cpus()))


class Workload:
    """Base: subclasses set the sizes and say how each runner computes the answer."""

    name = "?"
    title = ""
    #: The runner the speedups in the report divide by.
    baseline = "serial"
    sizes = {"smoke": 1, "quick": 1, "full": 1}
    rounds = {"smoke": 1, "quick": 3, "full": 3}
    plain_label = "python"

    #: Rounds for the peers where they are slow (pickling hundreds of MB): fewer, for scale.
    peer_rounds: dict = {}

    #: Variants of the data every case runs on (e.g. the key of a groupby); peers run one.
    variants: tuple = ("",)
    peer_variant = ""

    def cases(self, mode: str, workers: list[int], peers: list[str]) -> list[Case]:
        """The grid of cases for ``mode``: per variant, the one-call baseline, serial, thread and
        process at every worker count, auto at GOAL_WORKERS; peers at GOAL_WORKERS.

        Every case of a workload runs the same rounds (peers may run fewer where they are slow),
        interleaved, so any two can be compared round by round: "chunking alone" (serial vs the
        one call), "2 workers" (×2 vs ×1 of the same backend), against a peer. ``smoke`` (the
        test suite) runs the grid once; ``quick`` keeps 1 and GOAL_WORKERS workers.
        """
        size, rounds = self.sizes[mode], self.rounds[mode]
        if mode == "quick":
            workers = sorted({1, GOAL_WORKERS})
        out = []
        for v in self.variants:
            out += [Case(self.name, "plain", 1, v, size, rounds),
                    Case(self.name, "serial", 1, v, size, rounds)]
            for backend in ("thread", "process"):
                out += [Case(self.name, backend, w, v, size, rounds) for w in workers]
            out.append(Case(self.name, "auto", GOAL_WORKERS, v, size, rounds))
        prounds = self.peer_rounds.get(mode, rounds)
        out += [Case(self.name, p, GOAL_WORKERS, self.peer_variant, size, prounds)
                for p in peers]
        return out

    def make_data(self, size: int) -> Data:
        raise NotImplementedError

    def run(self, case: Case, runners: Any, data: Data) -> Any:
        """Compute the answer with ``case``'s runner (``runners`` holds the warm pools)."""
        if case.kind == "plain":
            return self.run_plain(data, case)
        if case.kind == "ours":
            pool = runners.pool(case.runner, case.workers)
            return self.run_ours(pool, data, case)
        peer = runners.peer(case.runner, case.workers)
        return self.run_peer(peer, data, case)

    def run_plain(self, data: Data, case: Case) -> Any:
        raise NotImplementedError

    def run_ours(self, pool: Any, data: Data, case: Case) -> Any:
        raise NotImplementedError

    def run_peer(self, peer: Any, data: Data, case: Case) -> Any:
        raise NotImplementedError

    def check(self, result: Any, expected: Any) -> None:
        """Raise AssertionError unless ``result`` is the serial answer."""
        if result != expected:
            raise AssertionError(f"{self.name}: got {result!r}, expected {expected!r}")


class _FoldWorkload(Workload):
    """``func`` on each chunk of a 1-D array, partials added: pybound, npbound, transfer."""

    func = staticmethod(work.collatz_steps)

    def run_plain(self, data, case):
        return self.func(data.value)

    def run_ours(self, pool, data, case):
        return pool.map_reduce(self.func, data.value, work.add)

    def run_peer(self, peer, data, case):
        x = data.value
        return sum(peer.map(self.func, [x[s] for s in chunk_slices(len(x))]))


class PyBound(_FoldWorkload):
    name = "pybound"
    title = "pure-Python Collatz steps on an int64 array (holds the GIL)"
    sizes = {"smoke": 2_000, "quick": 30_000, "full": 150_000}
    rounds = {"smoke": 1, "quick": 3, "full": 7}
    func = staticmethod(work.collatz_steps)

    def make_data(self, size):
        x = np.random.default_rng(4).integers(1, 1_000_000, size, dtype=np.int64)
        return Data(x, x.nbytes)


class NpBound(_FoldWorkload):
    name = "npbound"
    title = "sqrt(sin² + cos² + 1) summed with numpy ufuncs (release the GIL)"
    sizes = {"smoke": 200_000, "quick": 4_000_000, "full": 100_000_000}
    rounds = {"smoke": 1, "quick": 3, "full": 3}
    peer_rounds = {"full": 2}
    plain_label = "numpy"
    func = staticmethod(work.trig_norm)

    def make_data(self, size):
        x = np.random.default_rng(5).random(size)
        return Data(x, x.nbytes)

    def check(self, result, expected):
        if not np.isclose(result, expected, rtol=1e-9, atol=0):
            raise AssertionError(f"{self.name}: got {result!r}, expected {expected!r}")


class Transfer(NpBound):
    """Moving data: a trivial sum per chunk, on a fresh array or on one already shared."""

    name = "transfer"
    title = "float64 array, trivial work per chunk (the cost of moving data)"
    baseline = "plain"
    sizes = {"smoke": 400_000, "quick": 25_000_000, "full": 200_000_000}
    rounds = {"smoke": 1, "quick": 3, "full": 5}
    peer_rounds = {"full": 2}
    func = staticmethod(work.chunk_sum)
    #: Fractions of the full size for the "time against data size" plot (full mode only).
    sweep = (1 / 16, 1 / 4)

    def cases(self, mode, workers, peers):
        size, rounds = self.sizes[mode], self.rounds[mode]
        workers = [GOAL_WORKERS] if mode == "quick" else workers
        prounds = self.peer_rounds.get(mode, rounds)
        out = []
        for variant in ("fresh", "shared"):
            out += [c for c in (Case(self.name, "plain", 1, variant, size, rounds),
                                Case(self.name, "serial", 1, variant, size, rounds),
                                Case(self.name, "thread", GOAL_WORKERS, variant, size, rounds))]
            out += [Case(self.name, "process", w, variant, size, rounds) for w in workers]
            out += [Case(self.name, "auto", GOAL_WORKERS, variant, size, rounds)]
        out += [Case(self.name, p, GOAL_WORKERS, "fresh", size, prounds) for p in peers]
        if mode == "full":
            for fraction in self.sweep:
                small = int(size * fraction)
                out += [Case(self.name, r, 1 if r == "plain" else GOAL_WORKERS, v, small, rounds)
                        for r, v in (("plain", "fresh"), ("process", "fresh"),
                                     ("process", "shared"))]
                out += [Case(self.name, p, GOAL_WORKERS, "fresh", small, rounds)
                        for p in peers if p in ("multiprocessing", "joblib")]
        return out

    def make_data(self, size):
        x = np.arange(size, dtype=np.float64)
        return Data(x, x.nbytes)

    def _input(self, data, case):
        if case.variant != "shared":
            return data.value
        handle = data.extra.get("shared")
        if handle is None:
            handle = data.extra["shared"] = data.enter_context(share(data.value))
        return handle

    def run_plain(self, data, case):
        return float(data.value.sum())

    def run_ours(self, pool, data, case):
        return pool.map_reduce(self.func, self._input(data, case), work.add)


class Overhead(Workload):
    name = "overhead"
    title = "tiny chunks (one row each) on a warm pool: the cost of dispatching a chunk"
    sizes = {"smoke": 200, "quick": 2_000, "full": 5_000}
    rounds = {"smoke": 1, "quick": 5, "full": 9}

    def make_data(self, size):
        x = np.arange(size, dtype=np.int64)
        return Data(x, x.nbytes)

    def run_plain(self, data, case):
        return [work.tiny(data.value[i: i + 1]) for i in range(len(data.value))]

    def run_ours(self, pool, data, case):
        return pool.map_chunks(work.tiny, data.value, n=len(data.value))

    def run_peer(self, peer, data, case):
        x = data.value
        # multiprocessing and ProcessPoolExecutor one chunk per message (chunksize=1), as a
        # user mapping over chunks writes it; joblib and mpire batch on their own.
        return peer.map(work.tiny, [x[i: i + 1] for i in range(len(x))], chunksize=1
                        if peer.name in ("multiprocessing", "ProcessPoolExecutor") else None)
