"""overlap: one ``map_overlap``, from the caller's data to the joined result. Layer: pipeline
(imports plan, halos, share and split; pandas only to join frames).

::

    data ──row_slices──▶ chunks ──halos.plan_halos──▶ Halos (+ boundary rows, gathered once)
         ──plan.Chunked(extended slices, each chunk's own rows)──▶ pipeline.run on any backend
         ──▶ arrays: "array" mode: each worker trims its output and writes its own rows into
                     the map's output buffer (shared memory on processes: nothing pickled back)
             frames: "map" mode: trimmed pieces concatenated, the input's index put back
                     (with ``dtype=``: an ndarray through the output buffer, as for arrays)

The chunks are cut through the ordinary plan, so each backend places them as it places any
chunk: views in-process, a wider slice of the same shared buffer for process workers (a handle,
no copy per chunk), a scattered slice on dask. The worker-side step is ``worker.Job.halos``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .halos import coarsen, depth_pair, is_index_depth, plan_halos
from .pipeline import MapCall, empty_output
from .plan import Chunked
from .share import local_value, refuse_masked
from .split import row_slices


def _value(data: Any) -> Any:
    """The local value of ``data`` (a Shared handle's view), checked to be overlappable."""
    value = local_value(data)
    if isinstance(value, np.ndarray) or type(value).__name__ in ("DataFrame", "Series"):
        return value
    raise TypeError(
        f"map_overlap takes a numpy array, a pandas DataFrame or Series, or a Shared handle of "
        f"one, not {type(value).__name__} (its chunks need neighbours: lists of chunks and lazy "
        "sources have none)")


def _slices(value: Any, call: MapCall, depth: Any, parallelism: int) -> list[slice]:
    """The chunks' own rows. A chunking the package chose is coarsened where the halo would
    outweigh a chunk (it is never needed for correctness); one the caller gave is kept."""
    chunking = call.chunking
    if chunking.by is not None:
        raise TypeError("map_overlap cannot keep groups whole (by=): windows cross chunks by "
                        "rows; use groupby_apply for per-group windows")
    slices = row_slices(value, chunking, parallelism)
    chosen = chunking.n is None and chunking.size is None and chunking.nbytes is None
    if chosen and slices and not is_index_depth(depth):
        reach = sum(depth_pair(depth))
        if reach > min(s.stop - s.start for s in slices):
            slices = coarsen(slices, reach)
    return slices


def run(call: MapCall, depth: Any, boundary: Any, runner: Callable[[MapCall], Any],
        parallelism: int) -> Any:
    """The result of ``call`` (``func`` and options as for map_array) with each chunk extended
    by ``depth``; ``runner`` runs the prepared call (``Pool._run``)."""
    data = call.data
    value = _value(data)
    refuse_masked(value)
    slices = _slices(value, call, depth, parallelism)
    halos = plan_halos(value, slices, depth, boundary)
    if not slices:
        return _empty(value, call)
    call.data = Chunked(data, [slice(h.start, h.stop) for h in halos.halos],
                        [h.core for h in halos.halos])
    call.job.halos = halos
    if isinstance(value, np.ndarray) or call.out_dtype is not None:
        return runner(call)
    call.job.mode = "map"
    return _join(value, runner(call))


def _empty(value: Any, call: MapCall) -> Any:
    """No rows, no chunks: the result is what ``func`` gives on the empty input (as it is for
    the whole data serially, and for map_array), where that has no rows either; else empty
    like the input. ``dtype=``/``shape=`` win for arrays."""
    told = call.out_dtype is not None and call.out_shape is not None
    out = None if told else empty_output(call.job, value)
    if isinstance(value, np.ndarray) or call.out_dtype is not None:
        out = np.asarray(out) if out is not None and np.ndim(out) >= 1 else None
        known = out is not None and out.shape[0] == 0
        shape = call.out_shape if call.out_shape is not None else (
            out.shape[1:] if known else value.shape[1:])
        dtype = call.out_dtype if call.out_dtype is not None else (
            out.dtype if known else value.dtype)
        return np.empty((0,) + tuple(shape), dtype)
    if out is not None and hasattr(out, "iloc") and len(out) == 0:
        return out.set_axis(value.index, axis=0)
    return value.iloc[:0].copy()


def _join(value: Any, pieces: list) -> Any:
    """The trimmed pieces of a frame or series as one result: pandas pieces concatenated with
    the input's index (whatever func did to the labels), arrays stacked."""
    import pandas as pd

    kinds = {isinstance(p, (pd.Series, pd.DataFrame)) for p in pieces}
    if kinds == {True}:
        out = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        return out.set_axis(value.index, axis=0)
    if kinds == {False}:
        return np.concatenate([np.asarray(p) for p in pieces])
    raise TypeError("map_overlap: func returned pandas objects for some chunks and arrays for "
                    "others; return one kind for every chunk")
