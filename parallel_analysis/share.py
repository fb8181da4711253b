"""share: place data in shared memory once and hand out a small picklable handle.

A :class:`Shared` handle is a context manager. In the process that made it, ``.value`` is a
zero-copy view of the segment; pickled to a worker, it travels as metadata only (a segment name,
shape and dtype: well under 4 KB whatever the data size) and ``.value`` there attaches the segment
read-only, once per process. ``close()`` unlinks the segment; workers drop their mappings within a
fraction of a second, and ``close()`` waits for that so memory really returns.

Arrays whose dtype cannot live in shared memory (object) travel by pickle with one
:class:`~parallel_analysis.errors.PickleFallbackWarning`; it is never an error to pass one.
DataFrames, Series and pyarrow Tables are shared as Arrow buffers (see :mod:`.frames`).
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import segment as _segment
from .errors import PickleFallbackWarning

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


def _array_view(meta: ArrayMeta, owner: bool) -> np.ndarray:
    writable = owner or meta.writable
    if meta.ref is None:
        arr = np.empty(meta.shape, meta.dtype)
    else:
        buf = _segment.attach(meta.ref, writable=writable, cache=meta.cache)
        arr = np.ndarray(meta.shape, meta.dtype, buffer=buf, offset=meta.offset,
                         strides=meta.strides)
    if not writable:
        arr.flags.writeable = False
    return arr


#: kind → "module:function(meta, writable)" that rebuilds the value; imported on first use so a
#: numpy-only worker never imports pandas.
_DECODERS = {
    "array": "parallel_analysis.share:_array_view",
    "frame": "parallel_analysis.frames:decode_shared",
}

#: Owning handles by segment name, so a map over a view of one keeps it alive (plan.py).
owners: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

#: Callables returning the pids of live process-pool workers, so close() can wait for them to
#: drop their mappings (registered by the process backend).
worker_pid_sources: list = []


def _decoder(kind: str):
    module, _, name = _DECODERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


class Shared:
    """A handle to data in shared memory: small to pickle, zero-copy to read.

    Use as a context manager, or call :meth:`close`. Only the process that created it unlinks the
    segment; a copy of the handle in another process only releases its own mapping.
    """

    def __init__(self, kind: str, meta: Any, segment: _segment.Segment | None = None,
                 payload: Any = None):
        self.kind = kind
        self.meta = meta
        self._segment = segment
        self._payload = payload  # the object itself, for kind "pickled"
        self._closed = False
        self._sent_to_processes = False
        self._finalizer = (
            weakref.finalize(self, segment.unlink) if segment is not None else None
        )
        if segment is not None:
            owners[segment.name] = self

    # -- pickling: metadata only ------------------------------------------------------------
    def __reduce__(self):
        if self._closed:
            raise ValueError("cannot send a closed Shared handle to a worker; share the data again")
        self._sent_to_processes = True
        return (_rebuild, (self.kind, self.meta, self._payload))

    # -- access -----------------------------------------------------------------------------
    @property
    def owner(self) -> bool:
        """True in the process that created the segment (the one that unlinks it)."""
        return self._segment is not None and self._segment.ref.owner == os.getpid()

    @property
    def value(self) -> Any:
        """The shared data as an ndarray / DataFrame / Series / Table, without copying."""
        if self._closed:
            raise ValueError("this Shared handle is closed; share the data again")
        if self.kind == "pickled":
            return self._payload
        return _decoder(self.kind)(self.meta, self.owner)

    @property
    def nbytes(self) -> int:
        if self.kind == "array":
            return int(np.prod(self.meta.shape, dtype=np.int64)) * self.meta.dtype.itemsize
        if self.kind == "pickled":
            return int(getattr(self._payload, "nbytes", 0))
        return self.meta.ref.size if self.meta.ref is not None else 0

    @property
    def shape(self) -> tuple:
        if self.kind == "array":
            return self.meta.shape
        return getattr(self.value, "shape", ())

    @property
    def dtype(self):
        return self.meta.dtype if self.kind == "array" else getattr(self.value, "dtype", None)

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def segment_name(self) -> str | None:
        ref = getattr(self.meta, "ref", None)
        return ref.name if ref is not None else None

    # -- life cycle -------------------------------------------------------------------------
    def close(self, wait: bool = True) -> None:
        """Release the data: unlink the segment (owner) or this process's mapping (others).

        Workers of live process pools drop their mappings too; unless ``wait=False`` the owner
        waits briefly for them, so /dev/shm usage and worker memory are back when this returns.
        """
        if self._closed:
            return
        self._closed = True
        name = self.segment_name
        if self.owner:
            self._segment.unlink()
            self._finalizer.detach()
            if wait and self._sent_to_processes and name is not None:
                _wait_workers_released(name)
        elif name is not None:
            with _segment._attach_lock:
                _segment._attached.pop(name + ":r", None)
                _segment._attached.pop(name + ":w", None)
        self._segment = None
        self._payload = None

    def __enter__(self) -> Shared:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("owner" if self.owner else "attached")
        where = self.segment_name or ("pickled" if self.kind == "pickled" else "empty")
        shape = self.shape if not self._closed else "?"
        return f"<Shared {self.kind} shape={shape} {where} {state}>"


def _rebuild(kind: str, meta: Any, payload: Any) -> Shared:
    return Shared(kind, meta, None, payload)


def _maps_name(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return name in f.read()
    except OSError:
        return False


def _wait_workers_released(name: str, timeout: float = 2.0) -> None:
    """Wait until no process-pool worker maps ``name`` (they poll every ~0.1 s)."""
    if not os.path.isdir("/proc"):
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for source in worker_pid_sources for pid in source()]
        if not any(_maps_name(pid, name) for pid in pids):
            return
        time.sleep(0.02)


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


def _segment_for(shape: tuple, dtype: np.dtype, transient: bool = False
                 ) -> tuple[_segment.Segment | None, ArrayMeta]:
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes == 0:
        return None, ArrayMeta(None, tuple(shape), dtype)
    seg = _segment.create(nbytes, transient=transient)
    return seg, ArrayMeta(seg.ref, tuple(shape), dtype, cache=not transient)


def share_array(arr: np.ndarray, transient: bool = False) -> Shared:
    """Copy an ndarray into a new segment (C order) and return its handle.

    ``transient`` (a map's own copy, released when the map ends) reuses recently released
    memory and is mapped by workers per chunk rather than cached.
    """
    if arr.dtype.hasobject:
        warnings.warn(
            f"an array of dtype {arr.dtype} holds Python objects, which cannot live in shared "
            "memory: it is sent to workers by pickle instead (slower, one copy per worker).",
            PickleFallbackWarning,
            stacklevel=3,
        )
        return Shared("pickled", None, None, arr)
    seg, meta = _segment_for(arr.shape, arr.dtype, transient)
    if seg is not None:
        try:
            copy_into(np.ndarray(meta.shape, meta.dtype, buffer=seg.buf), arr)
        except BaseException:
            seg.unlink()
            raise
    return Shared("array", meta, seg)


def share(obj: Any) -> Shared:
    """Place ``obj`` in shared memory once; return a :class:`Shared` handle.

    ``obj`` may be an ndarray, a pandas DataFrame or Series, or a pyarrow Table (a Shared handle
    is returned as it is). One copy is made; use :func:`shared_array` to make none.
    """
    if isinstance(obj, Shared):
        return obj
    if isinstance(obj, np.ndarray):
        return share_array(obj)
    if _is_frame_like(obj):
        from .frames import share_frame

        return share_frame(obj)
    if isinstance(obj, (np.generic, int, float, complex, bool)):
        raise TypeError(
            f"cannot share a scalar ({type(obj).__name__}): pass it to the map's args= instead"
        )
    raise TypeError(
        f"cannot share {type(obj).__name__}: expected a numpy array, pandas DataFrame or Series, "
        "or pyarrow Table"
    )


def _is_frame_like(obj: Any) -> bool:
    module = type(obj).__module__
    return module.startswith(("pandas", "pyarrow"))


def shared_array(shape: int | tuple, dtype: Any = np.float64, fill: Any = None) -> Shared:
    """Allocate an array directly in shared memory (no copy at all); zeros unless ``fill``."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(int(d) < 0 for d in shape):
        raise ValueError(f"negative dimensions are not allowed: {shape}")
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise TypeError("shared_array cannot hold Python objects (object dtype); use a list")
    seg, meta = _segment_for(shape, dtype)
    handle = Shared("array", meta, seg)
    if fill is not None and seg is not None:
        handle.value[...] = fill
    return handle


def find_owned_view(arr: np.ndarray) -> ArrayMeta | None:
    """If ``arr`` is a view into a segment this process owns, describe it (no copy needed)."""
    if arr.dtype.hasobject or arr.nbytes == 0:
        return None
    start = arr.__array_interface__["data"][0]
    for seg in list(_segment._owned.values()):
        if seg.unlinked or seg.ref.owner != os.getpid():
            continue
        base = _buffer_address(seg)
        extents = [s * (n - 1) for s, n in zip(arr.strides, arr.shape)]
        lo = start + sum(e for e in extents if e < 0)
        hi = start + sum(e for e in extents if e > 0) + arr.itemsize
        if base <= lo and hi <= base + seg.ref.size:
            return ArrayMeta(seg.ref, arr.shape, arr.dtype, start - base, arr.strides)
    return None


def _buffer_address(seg: _segment.Segment) -> int:
    cached = getattr(seg, "_address", None)
    if cached is None:
        cached = np.frombuffer(seg.buf, np.uint8).__array_interface__["data"][0]
        seg._address = cached
    return cached
