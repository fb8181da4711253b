"""arena: recently released transient segments, kept mapped for reuse. Layer: leaves.

Writing into fresh shared pages costs about a second per 1.6 GB in page faults, a copy into warm
pages a tenth of that; so a map over a fresh array reuses the pages of the previous map of a
similar size. The arena holds :class:`~parallel_analysis.segment.Segment` objects (anything with
``buf``, ``fd``, ``ref.owner`` and ``close_fd()``); :mod:`.segment` gives them new names.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from .forks import fork_safe_lock


class Arena:
    """Recently released transient segments, kept mapped so the next map pays no page faults.

    Writing into fresh shared pages costs about a second per 1.6 GB in page faults, a copy into
    warm pages a tenth of that; so a map over a fresh array reuses the pages of the previous
    map of a similar size. Bounded in bytes, emptied after ``IDLE_SECONDS`` unused and at exit.
    """

    #: Most bytes kept for reuse: a quarter of this machine's memory, at most 8 GiB.
    MAX_BYTES = min(8 * 2**30, (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 4
                    if hasattr(os, "sysconf") else 2**30)
    #: Seconds an unused segment is kept before its memory goes back to the system.
    IDLE_SECONDS = 10.0
    #: Most segments kept (each holds a file descriptor): maps over arrays of ever-different
    #: sizes would otherwise keep one per map, up to MAX_BYTES.
    MAX_SEGMENTS = 8

    def __init__(self) -> None:
        self._free: list = []
        self._lock = fork_safe_lock()
        self._timer: threading.Timer | None = None

    def take(self, size: int) -> Any:
        """A kept segment of at least ``size`` bytes (and at most twice that), or None (a
        forked child's arena starts empty: :meth:`forget_after_fork`)."""
        with self._lock:
            fits = [s for s in self._free if size <= s.buf.size() <= 2 * size]
            if not fits:
                return None
            seg = min(fits, key=lambda s: s.buf.size())
            self._free.remove(seg)
        return seg

    def give(self, seg: Any) -> None:
        with self._lock:
            if os.getpid() != seg.ref.owner or seg.buf.size() > self.MAX_BYTES:
                drop = [seg]
            else:
                self._free.append(seg)
                drop = []
                while (len(self._free) > self.MAX_SEGMENTS
                       or sum(s.buf.size() for s in self._free) > self.MAX_BYTES):
                    drop.append(self._free.pop(0))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.IDLE_SECONDS, self.clear)
            self._timer.daemon = True
            self._timer.start()
        for old in drop:
            old.close_fd()

    def clear(self) -> None:
        """Give every kept segment's memory back (its pages go when the last view does)."""
        with self._lock:
            dropped, self._free = self._free, []
        for seg in dropped:
            seg.close_fd()

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's kept segments are not the child's to reuse (their
        pages are the parent's, shared: two maps would write into the same memory)."""
        dropped, self._free, self._timer = self._free, [], None
        for seg in dropped:
            seg.close_fd()  # the child's copy of the descriptor; the parent keeps its own

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s.buf.size() for s in self._free)
