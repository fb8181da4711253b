"""share.arrays: ndarrays in shared memory, and the spec of rows of one. Layer: share (imports
share.handle, segment, attached and specs).

An array is copied once, in C order, into a new segment (:func:`share_array`), or allocated there
directly (:func:`shared_array`, no copy at all). Its metadata (:class:`ArrayMeta`) is the whole
pickled payload of its handle. Arrays whose dtype cannot live in shared memory (object) travel by
pickle with one :class:`~parallel_analysis.errors.PickleFallbackWarning`; it is never an error
to pass one.
"""

from __future__ import annotations

import math
import operator
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import attached as _attached
from .. import segment as _segment
from ..errors import PickleFallbackWarning
from ..specs import Spec
from .handle import Pickled, Shared, owners, refuse_masked

#: Above this size, copies into shared memory use two threads (numpy releases the GIL in copyto).
PARALLEL_COPY_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ArrayMeta:
    """Where an array lives in a segment: the handle's whole pickled payload."""

    ref: _segment.SegmentRef | None  # None for an empty array (no segment)
    shape: tuple
    dtype: np.dtype
    offset: int = 0
    strides: tuple | None = None
    cache: bool = True  # False: workers map it per chunk (a map's own transient copy)
    writable: bool = False  # True for a map_array output buffer that workers fill

    @property
    def nbytes(self) -> int:
        return _nbytes(self.shape, self.dtype)

    def decode(self, owner: bool) -> np.ndarray:
        """The array on the segment's memory (read-only unless the owner's or writable)."""
        writable = owner or self.writable
        if self.ref is None:
            arr = np.empty(self.shape, self.dtype)
        else:
            buf = _attached.attach(self.ref, writable=writable, cache=self.cache)
            arr = np.ndarray(self.shape, self.dtype, buffer=buf, offset=self.offset,
                             strides=self.strides)
        if not writable:
            arr.flags.writeable = False
        return arr


@dataclass
class ArrayRows(Spec):
    """Rows ``start:stop`` of an array in shared memory."""

    handle: Shared | None = None
    start: int = 0
    stop: int = 0

    def load(self) -> np.ndarray:
        return self.handle.value[self.start: self.stop]


def copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``, on two threads for large arrays (copyto releases the GIL)."""
    if dst.nbytes < PARALLEL_COPY_BYTES or dst.ndim == 0 or dst.shape[0] < 2:
        np.copyto(dst, src, casting="no")
        return
    mid = dst.shape[0] // 2
    worker = threading.Thread(target=np.copyto, args=(dst[mid:], src[mid:]),
                              kwargs={"casting": "no"})
    worker.start()
    try:
        np.copyto(dst[:mid], src[:mid], casting="no")
    finally:
        worker.join()


def _nbytes(shape: tuple, dtype: np.dtype) -> int:
    """Bytes of an array of ``shape`` (Python ints: a product past int64 does not wrap)."""
    return math.prod(int(d) for d in shape) * dtype.itemsize


def _segment_for(shape: tuple, dtype: np.dtype, transient: bool = False
                 ) -> tuple[_segment.Segment | None, ArrayMeta]:
    nbytes = _nbytes(shape, dtype)
    if nbytes > sys.maxsize:
        raise ValueError(f"array is too big: shape {tuple(shape)} of {dtype} would take "
                         f"{nbytes:,} bytes, more than any array can address")
    if nbytes == 0:
        return None, ArrayMeta(None, tuple(shape), dtype)
    seg = _segment.create(nbytes, transient=transient)
    return seg, ArrayMeta(seg.ref, tuple(shape), dtype, cache=not transient)


def share_array(arr: np.ndarray, transient: bool = False) -> Shared:
    """Copy an ndarray into a new segment (C order) and return its handle.

    ``transient`` (a map's own copy, released when the map ends) reuses recently released
    memory and is mapped by workers per chunk rather than cached.
    """
    refuse_masked(arr)
    if arr.dtype.hasobject:
        warnings.warn(
            f"an array of dtype {arr.dtype} holds Python objects, which cannot live in shared "
            "memory: it is sent to workers by pickle instead (slower, one copy per worker).",
            PickleFallbackWarning,
            stacklevel=3,
        )
        return Shared("pickled", Pickled(arr))
    seg, meta = _segment_for(arr.shape, arr.dtype, transient)
    if seg is not None:
        try:
            copy_into(np.ndarray(meta.shape, meta.dtype, buffer=seg.buf), arr)
        except BaseException:
            seg.unlink()
            raise
    return Shared("array", meta, seg)


def shared_array(shape: int | tuple, dtype: Any = np.float64, fill: Any = None) -> Shared:
    """Allocate an array directly in shared memory (no copy at all); zeros unless ``fill``."""
    shape = _shape_of(shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise TypeError("shared_array cannot hold Python objects (object dtype); use a list")
    seg, meta = _segment_for(shape, dtype)
    handle = Shared("array", meta, seg)
    if fill is not None and seg is not None:
        handle.value[...] = fill
    return handle


def _shape_of(shape: Any) -> tuple[int, ...]:
    """``shape`` as np.zeros reads it: an int, or a sequence of ints (never a float)."""
    try:
        return (operator.index(shape),)
    except TypeError:
        pass
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shared_array: shape must be an int or a sequence of ints, as for "
                        f"np.zeros, not {shape!r}") from None


def output_array(shape: tuple, dtype: Any, transient: bool = False) -> Shared:
    """A map_array output buffer in shared memory that workers write into (mapped per chunk).

    ``transient``: pages of a recently released map copy when the arena has some (no page
    faults), **not zeroed**: for outputs whose every element the workers write.
    """
    if transient:
        seg, meta = _segment_for(tuple(shape), np.dtype(dtype), transient=True)
        handle = Shared("array", meta, seg)
    else:
        handle = shared_array(shape, dtype)
    meta = handle.meta
    handle.meta = ArrayMeta(meta.ref, meta.shape, meta.dtype, cache=False, writable=True)
    return handle


def owned_view(arr: np.ndarray) -> Shared | None:
    """A handle to ``arr`` if it is a view into a segment this process owns (no copy needed).

    The handle describes the view (offset and strides) and keeps the owning handle alive (not
    collected, hence not unlinked) while it exists.
    """
    if arr.dtype.hasobject or arr.nbytes == 0:
        return None
    start = arr.__array_interface__["data"][0]
    for seg in list(_segment.owned_segments()):
        base = _buffer_address(seg)
        extents = [s * (n - 1) for s, n in zip(arr.strides, arr.shape)]
        lo = start + sum(e for e in extents if e < 0)
        hi = start + sum(e for e in extents if e > 0) + arr.itemsize
        if base <= lo and hi <= base + seg.ref.size:
            view = Shared("array", ArrayMeta(seg.ref, arr.shape, arr.dtype, start - base,
                                             arr.strides))
            view._keep = owners.get(seg.name)
            return view
    return None


def _buffer_address(seg: _segment.Segment) -> int:
    cached = getattr(seg, "_address", None)
    if cached is None:
        cached = np.frombuffer(seg.buf, np.uint8).__array_interface__["data"][0]
        seg._address = cached
    return cached
