"""attached: map segments that another process owns, without ever tracking them. Layer: low
(imports segment and the leaf errors).

Workers (and handles unpickled anywhere) reach a segment through its
:class:`~parallel_analysis.segment.SegmentRef`. :func:`attach` maps it with no resource tracker
involved (the equivalent of Python 3.13's ``SharedMemory(track=False)``), so no tracker deletes
a segment early or warns about leaks; the owner alone unlinks. Mappings are cached per process;
:func:`release_unlinked` (called by the worker's watchdog) drops those whose name is gone, so a
closed segment's memory really returns.
"""

from __future__ import annotations

import errno
import mmap
import os
import tempfile

from .errors import SharedMemoryError
from .forks import fork_safe_lock
from .segment import SHM_DIR, SegmentRef, owned

try:  # POSIX shared memory, as multiprocessing.shared_memory uses it
    import _posixshmem
except ImportError:  # pragma: no cover - Windows
    _posixshmem = None

#: Segments this process attached (it does not own them), by ``name:r`` / ``name:w``.
_attached: dict[str, mmap.mmap] = {}
_attach_lock = fork_safe_lock()


def attach(ref: SegmentRef, *, writable: bool = False, cache: bool = True) -> mmap.mmap:
    """Map a segment another process created, without registering it with any tracker.

    Owners get their own mapping back. Read-only unless ``writable``; cached per process (and
    dropped by :func:`release_unlinked` once the owner unlinks) unless ``cache=False``.
    """
    seg = owned(ref.name)
    if seg is not None:
        return seg.buf
    key = ref.name + (":w" if writable else ":r")
    if cache:
        with _attach_lock:
            buf = _attached.get(key)
        if buf is not None:
            return buf
    try:
        if ref.path is None:
            flags = os.O_RDWR if writable else os.O_RDONLY
            fd = _posixshmem.shm_open("/" + ref.name, flags, mode=0o600)
        else:
            fd = os.open(ref.path, os.O_RDWR if writable else os.O_RDONLY)
    except FileNotFoundError:
        raise SharedMemoryError(
            errno.ENOENT,
            f"shared segment {ref.name} no longer exists: its owner (pid {ref.owner}) closed it "
            "or exited. Share the data again and pass the new handle.",
        ) from None
    except PermissionError:
        raise SharedMemoryError(
            errno.EACCES,
            f"shared segment {ref.name} belongs to another user (segments are created with mode "
            "0600); share the data from this user's process instead.",
        ) from None
    try:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        buf = mmap.mmap(fd, ref.size, flags=mmap.MAP_SHARED, prot=prot)
    finally:
        os.close(fd)
    if cache:
        with _attach_lock:
            buf = _attached.setdefault(key, buf)
    return buf


def detach(name: str) -> None:
    """Drop this process's cached mappings of a segment it attached (not owned)."""
    with _attach_lock:
        _attached.pop(name + ":r", None)
        _attached.pop(name + ":w", None)


def release_unlinked() -> int:
    """Drop cached mappings whose segment name is gone (its owner closed it); how many."""
    with _attach_lock:
        keys = list(_attached)
    dropped = 0
    for key in keys:
        name = key.rsplit(":", 1)[0]
        if not os.path.exists(os.path.join(SHM_DIR, name)) and not _file_exists(name):
            with _attach_lock:
                _attached.pop(key, None)
            dropped += 1
    return dropped


def _file_exists(name: str) -> bool:
    return os.path.exists(os.path.join(tempfile.gettempdir(), name))
