"""pipeline: one map, from the caller's data to its result. Layer: pipeline (imports plan, map,
auto, reduce, reducers, backends, split, progress, insights and worker).

::

    MapCall ─▶ backend (auto: decided by a probe on threads) ─▶ plan.cut ─▶ plan.place
            ─▶ map.execute ─▶ "map": values in chunk order
                              "reduce": partials into the fixed tree ─▶ finalize
                              "array": rows written into the backend's output buffer

The rules for data with no rows live here too: a reduction of empty input gives numpy's (or
pandas') own answer for it, ``map_chunks`` an empty list, ``map_array`` an empty array.
"""

from __future__ import annotations

import operator
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import auto
from .arrow_dtypes import promotions
from .backends import AUTO, Backend
from .insights import RunStats, finish_run, timed_run
from .map import Run, check_timeout, execute
from .plan import Plan, cut, place
from .progress import progress_bar
from .reduce import TreeReduction
from .reducers import Fold
from .reducers.base import is_pandas
from .share import is_arrow_table, local_value
from .split import Chunking
from .worker import Job, apply_job, write_rows


@dataclass
class MapCall:
    """One map as a pool received it: the job, the data and how to run it."""

    job: Job
    data: Any
    chunking: Chunking = field(default_factory=Chunking)
    progress: Any = None
    desc: str = "map"
    timeout: float | None = None
    cancel: threading.Event | None = None  # set: the map stops (its asyncio task was cancelled)
    out_dtype: Any = None  # map_array: the output's dtype and row shape (None: from chunk 0)
    out_shape: tuple | None = None

    def __post_init__(self) -> None:
        check_timeout(self.timeout)  # before auto's decision, which reads it


def run(call: MapCall, backend_for: Callable[[str], Backend], name: str,
        memory: auto.Memory | None = None) -> tuple[Any, RunStats, str]:
    """The result of ``call`` on the backend ``name`` (built by ``backend_for``), its stats, and
    the backend it ran on (``auto``'s choice, which ``memory`` keeps for the next map)."""
    call = _with_arrow_dtypes(call)
    backend = backend_for("thread" if name == AUTO else name)
    chunks = cut(call.data, call.chunking, backend.parallelism)
    plan, reason = place(chunks, backend), ""
    if name == AUTO:
        try:
            chosen, reason = auto.decide(call.job, plan.specs, backend.workers, memory,
                                         call.data, call.timeout)
        except BaseException:
            plan.close()
            raise
        if chosen != backend.name:  # the data moves only now that another backend is chosen
            plan.close()
            backend = backend_for(chosen)
            plan = place(chunks, backend)
    stats = timed_run(f"auto → {backend.name}" if name == AUTO else backend.describe(),
                      backend.workers)
    stats.reason = reason
    bar = progress_bar(len(plan.specs), call.desc, call.progress)
    try:
        settings = Run(call.timeout, call.cancel, bar, stats, len(plan.specs))
        with backend.limits():
            result = _RESULTS[call.job.mode](backend, call, plan, settings)
        return result, stats, backend.name
    finally:
        bar.close()
        plan.close()
        finish_run(stats, len(plan.specs))


def _with_arrow_dtypes(call: MapCall) -> MapCall:
    """A reduction of a pyarrow Table's own chunks converts each to pandas with the whole
    table's dtypes (an int column with a null in one chunk is float64 in all of them)."""
    job = call.job
    if job.mode != "reduce" or job.func is not None or \
            not getattr(job.reducer, "arrow_as_pandas", False):
        return call
    table = local_value(call.data)
    if not is_arrow_table(table):
        return call
    dtypes = promotions(table)
    return replace(call, job=replace(job, arrow_dtypes=dtypes)) if dtypes else call


def _values(backend: Backend, call: MapCall, plan: Plan, settings: Run) -> list:
    results: dict[int, Any] = {}
    execute(backend, call.job, plan.specs, results.__setitem__, settings)
    return [results[i] for i in range(len(plan.specs))]


def _reduction(backend: Backend, call: MapCall, plan: Plan, settings: Run) -> Any:
    reducer = call.job.reducer
    if not plan.specs:
        return _reduce_empty(call)
    tree = TreeReduction(len(plan.specs), reducer.combine)
    execute(backend, call.job, plan.specs, tree.add, settings)
    return reducer.finalize(tree.result)


def _reduce_empty(call: MapCall) -> Any:
    """Reduce data with no rows: numpy's (or pandas') own answer for an empty input."""
    reducer, job = call.job.reducer, call.job
    if isinstance(reducer, Fold):
        raise TypeError("reduce() of empty data with no initial value")
    data = local_value(call.data)
    if hasattr(data, "empty_frame"):  # a lazy source without rows: its empty DataFrame
        data = data.empty_frame()
    if isinstance(data, (list, tuple)) and job.func is None:
        data = np.asarray(data)  # no chunks: numpy's answer for np.asarray([]), as np.sum([])
    elif isinstance(data, (list, tuple)) or hasattr(data, "chunk_specs"):
        if hasattr(reducer, "identity"):
            return reducer.finalize(reducer.identity())
        raise ValueError("cannot reduce no chunks: the data is empty")
    return reducer.finalize(apply_job(job, data))  # func, then the reducer's partial


def output_layout(dtype: Any, shape: Any) -> tuple[np.dtype | None, tuple | None]:
    """map_array's ``dtype=`` and ``shape=`` (of one output row: an int or a tuple of sizes,
    as numpy takes a shape), checked; None for either: from the first chunk."""
    if shape is not None:
        try:
            shape = (operator.index(shape),) if np.ndim(shape) == 0 else \
                tuple(operator.index(size) for size in shape)
        except TypeError:
            raise TypeError(f"shape= is the shape of one output row, an int or a tuple of "
                            f"ints, not {shape!r}") from None
        if any(size < 0 for size in shape):
            raise ValueError(f"shape= is the shape of one output row; its sizes cannot be "
                             f"negative: {shape}")
    return (None if dtype is None else np.dtype(dtype)), shape


def _array(backend: Backend, call: MapCall, plan: Plan, settings: Run) -> np.ndarray:
    """map_array: learn the output's dtype and row shape, allocate it, let workers fill it."""
    job, specs = call.job, plan.specs
    dtype, row_shape = call.out_dtype, call.out_shape
    if not specs:
        return _empty_array(call, dtype, row_shape)
    first = None
    if dtype is None or row_shape is None:  # the first chunk alone says
        values: dict[int, Any] = {}
        execute(backend, _map_job(job), specs[:1], values.__setitem__, settings)
        first = np.asarray(values[specs[0].index])
        rows = specs[0].out_stop - specs[0].out_start
        if first.ndim == 0 or first.shape[0] != rows:
            raise ValueError(
                f"map_array: func returned shape {first.shape} for chunk 0 of {rows} rows; "
                "map_array needs one output row per input row (use map_chunks otherwise)"
            )
        dtype = first.dtype if dtype is None else dtype
        row_shape = first.shape[1:] if row_shape is None else row_shape
    output = backend.output((plan.n_rows,) + tuple(row_shape), dtype)
    cast = "safe" if call.out_dtype is None else "same_kind"  # dtype= given: cast to it
    try:
        if first is not None:  # its shape checked against shape= as every chunk's is
            write_rows(Job(None, "array", out=output.array, cast="same_kind"), specs[0], first)
            specs = specs[1:]
        if output.target is None:  # the rows come back with the outcomes: the caller writes
            written = Job(None, "array", out=output.array, cast=cast)
            by_index = {spec.index: spec for spec in specs}
            execute(backend, _map_job(job), specs,
                    lambda i, v: write_rows(written, by_index[i], v), settings)
        else:
            execute(backend, replace(job, out=output.target, cast=cast), specs, _ignore,
                    settings)
        return output.array if plan.order is None else _in_data_order(output.array, plan.order)
    finally:
        if output.release is not None:
            output.release()


def _in_data_order(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """map_array's rows put back in the data's order: ``by=`` gathered each chunk's groups
    together, and the output answers the data row by row (as pandas' transform does)."""
    restored = np.empty_like(rows)
    restored[order] = rows
    return restored


def _empty_array(call: MapCall, dtype: Any, row_shape: Any) -> np.ndarray:
    """map_array of no rows: the dtype and row shape ``func`` gives on the empty input, when it
    gives an array of no rows there (as dask infers its meta), else float64; ``dtype=`` and
    ``shape=`` win."""
    data = local_value(call.data)
    if (dtype is None or row_shape is None) and (isinstance(data, np.ndarray)
                                                 or is_pandas(data)):
        probe = empty_output(call.job, data)
        probe = None if probe is None else np.asarray(probe)
        if probe is not None and probe.ndim >= 1 and probe.shape[0] == 0:
            dtype = probe.dtype if dtype is None else dtype
            row_shape = probe.shape[1:] if row_shape is None else row_shape
    return np.empty((0,) + tuple(row_shape or ()), dtype or np.float64)


def empty_output(job: Job, data: Any) -> Any:
    """``func``'s output on data of no rows, quietly, or None where it needs rows to run: what
    it gives there tells an empty result its dtype, row shape and columns (as dask's meta)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return apply_job(job, data)
    except Exception:
        return None


def _map_job(job: Job) -> Job:
    """The same function as ``job`` (and halos), its values sent back."""
    return replace(job, mode="map", reducer=None, out=None)


def _ignore(index: int, value: Any) -> None:
    pass


_RESULTS = {"map": _values, "reduce": _reduction, "array": _array}
