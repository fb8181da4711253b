"""backends.dask_specs: what runs on a dask worker, and the spec of a scattered chunk. Layer:
backends (imports specs, worker and backends.remote; distributed inside the functions).

A chunk scattered to the cluster travels as a task argument; its :class:`Scattered` spec carries
only the key, and :func:`run_batch` makes each task's chunks visible to their specs before
running the batch exactly as a process worker would (:mod:`.remote`). Array chunks are placed at
the caller's address modulo :data:`ALIGNMENT`, so float sums match the local backends bit for
bit.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..specs import Spec
from ..worker import process_state
from .remote import call_pickled, run_batch_pickled


@dataclass
class Scattered(Spec):
    """A chunk scattered to the cluster: the spec carries its key, the task carries its data."""

    key: str = ""
    align: int = -1  # an array chunk's address modulo ALIGNMENT in the caller
    array_type: Any = None  # an ndarray subclass (recarray, matrix), which dask's wire drops

    def load(self) -> Any:
        values = getattr(_received, "values", {})
        if self.key not in values:
            raise RuntimeError(
                f"chunk {self.index}: its scattered data ({self.key}) did not reach this task; "
                "this is a bug in parallel_analysis's dask backend"
            )
        value = values[self.key]
        if isinstance(value, np.ndarray):
            if self.array_type is not None and type(value) is not self.array_type:
                value = value.view(self.array_type)
            value = _aligned_like(value, self.align)
            if value.flags.writeable:
                value = value.view()
                value.flags.writeable = False  # inputs are read-only, as on the other backends
        elif _has_unaligned_columns(value):
            value = value.copy(deep=True)
        return value


#: numpy's SIMD reductions peel a few elements until the data is aligned, so a float sum can
#: differ in the last bit between two copies of the same numbers at different addresses. Chunks
#: are rebuilt at the caller's address modulo this, so results match the local backends bit for
#: bit (64: the widest vector, AVX-512).
ALIGNMENT = 64


def _has_unaligned_columns(value: Any) -> bool:
    """A DataFrame or Series with a numpy column whose data is not aligned to its item size.

    Dask's wire format may leave a column at any byte offset; numpy then takes its unaligned
    loops, whose float sums differ in the last bits from the aligned ones the local backends
    use. A deep copy realigns every column.
    """
    if not type(value).__module__.startswith("pandas"):
        return False
    columns = [value] if value.ndim == 1 else [value.iloc[:, j] for j in range(value.shape[1])]
    return any(isinstance(c.dtype, np.dtype) and not c.to_numpy(copy=False).flags.aligned
               for c in columns)


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def _aligned_like(value: np.ndarray, align: int) -> np.ndarray:
    """``value`` itself, or a copy placed at ``align`` modulo ALIGNMENT when it is not there."""
    if align < 0 or not value.flags.c_contiguous or value.nbytes == 0 or \
            _address(value) % ALIGNMENT == align:
        return value
    raw = np.empty(value.nbytes + ALIGNMENT, np.uint8)
    start = (align - _address(raw)) % ALIGNMENT
    out = raw[start: start + value.nbytes].view(value.dtype).reshape(value.shape)
    if type(out) is not type(value):  # a recarray or matrix stays one
        out = out.view(type(value))
    np.copyto(out, value)
    return out


_received = threading.local()  # .values: key → data of the scattered chunks of this task


class Task(NamedTuple):
    """What a dask task needs besides the payloads: which map and batch, who sent it, the
    scheduler key to mark when a resubmitted run starts, and the keys of its chunks."""

    map_id: int
    first_index: int
    caller: str
    marker: str | None
    keys: list


def run_batch(job: bytes, specs: bytes, task: Task, *values: Any) -> bytes:
    """Dask task: make the batch's chunks visible to its specs, then run it as a process would."""
    if task.marker is not None:
        _mark_running(task.marker, True)
    if process_id() != task.caller:
        # A worker process of its own: nested maps run serially, and (with one thread per
        # worker, so that swapping sys.stdout cannot race) prints and logs go back to the caller.
        process_state["in_worker"] = _single_threaded()
    _received.values = dict(zip(task.keys, values))
    try:
        result = run_batch_pickled(job, specs, task.map_id, task.first_index)
    finally:
        _received.values = {}
    if task.marker is not None:  # it ran to the end: losing its result is not its fault
        _mark_running(task.marker, False)
    return result


def run_call(payload: bytes, log_level: int, caller: str) -> bytes:
    """Dask task of a submitted call: run as a process worker runs one
    (:func:`.remote.call_pickled`); its prints and logs go back to the caller from a worker
    process of its own with one thread, as a batch's do."""
    if process_id() != caller:
        process_state["in_worker"] = _single_threaded()
    return call_pickled(payload, log_level, capture=bool(process_state.get("in_worker")))


def _mark_running(marker: str, running: bool) -> None:
    """Tell the scheduler whether this resubmitted batch is running (a synchronous call, ~3 ms),
    so that a batch that dies with its worker can be told apart from one that only waited
    there, or had finished and lost its result."""
    try:
        from distributed import get_worker
        from distributed.utils import sync

        worker = get_worker()
        sync(worker.loop, worker.scheduler.set_metadata, keys=[marker], value=running)
    except Exception:  # the mark only sharpens the blame
        pass


def process_id() -> str:
    """This process, told apart from processes on other machines."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _single_threaded() -> bool:
    try:
        from distributed import get_worker

        return get_worker().state.nthreads == 1
    except (ImportError, ValueError, AttributeError):
        return False


def alignment(chunk: Any, start: int = 0) -> int:
    """Where a local worker reads an array chunk, modulo ALIGNMENT (-1: not an array): a
    C-contiguous chunk (a view of the caller's array) at its own address; another (strided,
    Fortran order) from the C-order copy a process backend's segment holds, ``start`` rows
    from its page-aligned start."""
    if not isinstance(chunk, np.ndarray) or chunk.dtype.hasobject:
        return -1
    if chunk.flags.c_contiguous:
        return _address(chunk) % ALIGNMENT
    return start * chunk.itemsize * int(np.prod(chunk.shape[1:])) % ALIGNMENT


def subclass_of(chunk: Any) -> Any:
    """An array chunk's ndarray subclass (None: a plain ndarray, or not an array)."""
    return type(chunk) if isinstance(chunk, np.ndarray) and type(chunk) is not np.ndarray \
        else None
