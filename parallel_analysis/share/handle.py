"""share.handle: the :class:`Shared` handle, small to pickle and zero-copy to read. Layer:
share (imports segment and attached).

A :class:`Shared` handle is a context manager. In the process that made it, ``.value`` is a
zero-copy view of the segment; pickled to a worker, it travels as metadata only (a segment name,
shape and dtype: well under 4 KB whatever the data size) and ``.value`` there attaches the segment
read-only, once per process. ``close()`` unlinks the segment; workers drop their mappings within a
fraction of a second, and ``close()`` waits for that so memory really returns.

What the bytes mean is the metadata's business: every kind of metadata (arrays in
:mod:`.arrays`, Arrow frames in :mod:`.frames`) has ``ref`` (its segment, or None) and
``decode(owner)`` (the value, rebuilt on the segment's memory).
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from dataclasses import dataclass
from typing import Any

from .. import attached as _attached
from .. import segment as _segment

#: Owning handles by segment name, so a map over a view of one keeps it alive.
owners: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


@dataclass(frozen=True)
class Pickled:
    """Metadata of data that cannot live in shared memory: the value travels by pickle."""

    value: Any
    ref: None = None

    def decode(self, owner: bool) -> Any:
        return self.value

    @property
    def nbytes(self) -> int:
        return int(getattr(self.value, "nbytes", 0))


class Shared:
    """A handle to data in shared memory: small to pickle, zero-copy to read.

    Use as a context manager, or call :meth:`close`. Only the process that created it unlinks the
    segment; a copy of the handle in another process only releases its own mapping.
    """

    def __init__(self, kind: str, meta: Any, segment: _segment.Segment | None = None,
                 made_here: bool = True):
        self.kind = kind  # "array", "frame" or "pickled"
        self.meta = meta
        self._segment = segment
        self._made_here = made_here  # False for a copy unpickled from another process
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
        return (Shared, (self.kind, self.meta, None, False))

    # -- access -----------------------------------------------------------------------------
    @property
    def owner(self) -> bool:
        """True in the process that created the segment (the one that unlinks it)."""
        return self._segment is not None and self._segment.ref.owner == os.getpid()

    @property
    def _writes(self) -> bool:
        """The owner writes its data; so does the maker of an empty array (it has no segment to
        own, and numpy lets anyone write nothing into an empty array)."""
        empty = self._segment is None and getattr(self.meta, "ref", False) is None
        return self.owner or (empty and self._made_here)

    @property
    def value(self) -> Any:
        """The shared data as an ndarray / DataFrame / Series / Table, without copying."""
        if self._closed:
            raise ValueError("this Shared handle is closed; share the data again")
        return self.meta.decode(self._writes)

    @property
    def nbytes(self) -> int:
        meta = self.meta
        if hasattr(meta, "nbytes"):
            return meta.nbytes
        return meta.ref.size if meta.ref is not None else 0

    @property
    def shape(self) -> tuple:
        if hasattr(self.meta, "shape"):
            return self.meta.shape
        return getattr(self.value, "shape", ())

    @property
    def dtype(self):
        if hasattr(self.meta, "dtype"):
            return self.meta.dtype
        return getattr(self.value, "dtype", None)

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
            _attached.detach(name)
        self._segment = None
        if isinstance(self.meta, Pickled):
            self.meta = None  # the value itself: let it go

    def __enter__(self) -> Shared:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("owner" if self._writes else "attached")
        where = self.segment_name or ("pickled" if self.kind == "pickled" else "empty")
        shape = self.shape if not self._closed else "?"
        return f"<Shared {self.kind} shape={shape} {where} {state}>"


def local_value(data: Any) -> Any:
    """The local zero-copy view behind a :class:`Shared` handle, or ``data`` itself: what the
    stages that read a map's input (its kind, its rows) look at, whether or not it was shared."""
    return data.value if isinstance(data, Shared) else data


def refuse_masked(value: Any) -> None:
    """Refuse a numpy masked array: shared memory, ``map_array``'s output and the reducers hold
    plain arrays, and would drop its mask without a word. (Asked of ``numpy.ma`` only when it is
    loaded: numpy itself does not import it, and no masked array exists before it is. While
    another thread imports it, the module is there without its class yet: no instance either.)"""
    masked = getattr(sys.modules.get("numpy.ma"), "MaskedArray", None)
    if masked is not None and isinstance(value, masked):
        raise TypeError(
            "numpy masked arrays are not supported (shared memory and the reducers would drop "
            "the mask): pass m.filled(np.nan) to reduce with the masked values as NaN, or "
            "m.compressed() for the unmasked values alone")


def _maps_name(pid: int, name: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return name in f.read()
    except OSError:
        return False


def _descendants() -> list[int]:
    """Pids of this process's descendants (pool workers are children of ours or of our
    forkserver)."""
    import psutil

    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def _wait_workers_released(name: str, timeout: float = 2.0) -> None:
    """Wait until no process of ours maps ``name`` (workers poll every ~0.1 s)."""
    if not os.path.isdir("/proc"):
        return
    deadline = time.monotonic() + timeout
    pids = _descendants()
    while time.monotonic() < deadline:
        pids = [pid for pid in pids if _maps_name(pid, name)]
        if not pids:
            return
        time.sleep(0.02)
