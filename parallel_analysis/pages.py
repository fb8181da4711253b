"""pages: reserving a new segment's bytes and mapping them, faulted in. Layer: low (imports
nothing of the package; numpy and ctypes when a mapping is populated).

A segment's space is reserved before it is mapped (``posix_fallocate``: ENOSPC now, never a
SIGBUS when a full /dev/shm meets a write later), and its pages are faulted in at once, so the
copy into it runs at memory speed, without holding the GIL meanwhile (see :func:`_populate`).
"""

from __future__ import annotations

import mmap
import os
from typing import Any


def free_bytes(folder: str) -> int | None:
    """Bytes free for an unprivileged writer in ``folder``'s file system; None if unknown."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def map_new_fd(fd: int, size: int) -> mmap.mmap:
    """Reserve ``size`` bytes (ENOSPC now rather than SIGBUS later) and map them populated."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:  # pragma: no cover - macOS
        os.ftruncate(fd, size)
    buf = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    _populate(buf, size)
    return buf


#: ``madvise`` advice (Linux 5.14+) that faults a mapping's pages in writable, as MAP_POPULATE
#: does at mmap time.
MADV_POPULATE_WRITE = 23


def _populate(buf: mmap.mmap, size: int) -> None:
    """Fault a new mapping's pages in now, so that the copy into it runs at memory speed, with
    the GIL let go meanwhile: ``mmap.mmap(..., MAP_POPULATE)`` holds it while the kernel faults
    every page (0.2 s for 400 MB), stalling an ``_async`` twin's event loop and every thread.
    madvise through ctypes (which releases the GIL); where the kernel refuses it, one byte
    written per page (a numpy loop, which releases it too)."""
    import ctypes

    import numpy as np

    pages = np.frombuffer(buf, np.uint8)
    try:
        libc = _libc()
        if libc is not None and libc.madvise(ctypes.c_void_p(pages.ctypes.data),
                                             ctypes.c_size_t(size), MADV_POPULATE_WRITE) == 0:
            return
        pages[::mmap.PAGESIZE] = 0  # a fresh segment's bytes are zeros already
    finally:
        del pages  # no export left: the mapping can be closed


_libc_handle: list = []


def _libc() -> Any:
    """The C library, through ctypes (None where it cannot be loaded)."""
    if not _libc_handle:
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            libc.madvise.restype = ctypes.c_int
        except (OSError, AttributeError):
            libc = None
        _libc_handle.append(libc)
    return _libc_handle[0]
