"""backends.base: the one interface every backend implements. Layer: backends (imports cpus,
share, specs, split and worker).

A backend places a map's data where its workers can read it (:meth:`Backend.place`), runs
batches of chunk specs there (:meth:`Backend.submit_batch`) and hands back what each batch gave
(:meth:`Backend.outcomes`). The map driver (:mod:`parallel_analysis.map`) does the rest the same
way for all of them. This base class is also the in-process implementation that the serial and
thread backends share: chunks are read-only views of the caller's data, and a ``map_array``
output is a plain array the chunks write into.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cpus import available_cpus
from ..share import local_value
from ..specs import Local, readonly
from ..split import take_rows
from ..worker import Job, Outcome


@dataclass
class Placement:
    """A map's chunk specs on a backend, and what to release when the map ends."""

    specs: list
    releases: list[Callable[[], None]] = field(default_factory=list)

    def release(self) -> None:
        while self.releases:
            self.releases.pop()()


@dataclass
class Output:
    """A ``map_array`` output: the array returned, and what workers write rows into (``None``:
    the rows come back with each chunk's outcome and the caller writes them)."""

    array: np.ndarray
    target: Any = None
    release: Callable[[], None] | None = None


@dataclass
class Delivery:
    """What one finished batch gave: its outcomes, and the bytes pickled each way; or, when the
    batch was lost through no fault of its own (another map's chunk killed the workers), the
    ``replacement`` future of the same batch resubmitted, for the driver to wait on instead."""

    outcomes: list[Outcome]
    bytes_out: int = 0
    bytes_back: int = 0
    replacement: Future | None = None


class Backend:
    """The interface; as it stands, the in-process implementation (views, no copies)."""

    name = "?"

    def __init__(self, workers: int):
        self.workers = workers

    @property
    def parallelism(self) -> int:
        """The CPU count chunking plans for: the machine's, never the pool's size, so the same
        call cuts (and reduces) the same way on every backend."""
        return available_cpus()

    # -- data -----------------------------------------------------------------------------
    def place(self, data: Any, slices: list[slice]) -> Placement:
        """Specs for the chunks of ``data`` (an array, frame, table or Shared handle) cut at
        ``slices``; here read-only views of the caller's data."""
        value = readonly(local_value(data))  # its rows are too
        return Placement([Local(i, s.start, s.stop, take_rows(value, s))
                          for i, s in enumerate(slices)])

    def output(self, shape: tuple, dtype: Any) -> Output:
        """The buffer a ``map_array`` fills; here a plain array the chunks write into."""
        array = np.empty(shape, dtype)
        return Output(array, array)

    # -- running --------------------------------------------------------------------------
    def submit(self, fn, /, *args, **kwargs) -> Future:
        """Run ``fn(*args, **kwargs)`` on the backend."""
        raise NotImplementedError

    def submit_batch(self, job: Job, specs: list, map_id: int) -> Future:
        """Run ``job`` on a batch of chunks; :meth:`outcomes` reads the finished future."""
        raise NotImplementedError

    def outcomes(self, future: Future, map_id: int, specs: list) -> Delivery:
        """What a finished batch gave; a dead worker raises WorkerCrashedError naming its chunk
        in the map that ran it (after the backend made sure the next call gets working
        workers), and hands every other map a replacement for the batches it lost."""
        return Delivery(future.result())

    def running(self, map_id: int) -> list[tuple[int, int, float]]:
        """(worker id, chunk, seconds) of the chunks of ``map_id`` running now."""
        return []

    def check_workers(self, since: float) -> None:
        """Raise when the map waiting now (since ``time.monotonic()`` ``since``) can never
        finish: a cluster left with no workers."""

    def stop_worker(self, worker_id: int) -> bool:
        """Stop the worker running a timed-out chunk; False when that cannot be done."""
        return False

    def cancel(self, futures: Iterable[Future] = (), map_id: int | None = None) -> None:
        """Start none of the map's chunks still waiting (one of its chunks failed); chunks
        already running finish. Other maps on the backend are not touched."""
        for future in futures:
            future.cancel()

    def abort(self, futures: Iterable[Future] = (), map_id: int | None = None) -> None:
        """Stop the map ``map_id`` now (Ctrl-C, timeout, cancellation): its waiting chunks and,
        where the backend can, the workers running its chunks; other maps go on (None: stop
        everything)."""
        self.cancel(futures, map_id)

    def limits(self) -> Any:
        """A context in which a map runs (the thread backend caps BLAS threads there)."""
        return contextlib.nullcontext()

    def shutdown(self, wait: bool = True) -> None:
        """Release the workers."""

    def worker_pids(self) -> list[int]:
        """Pids of live worker processes (none for in-process backends)."""
        return []

    def describe(self) -> str:
        return f"{self.name} backend, {self.workers} worker(s)"
