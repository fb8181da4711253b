"""board: which worker runs which chunk of which map, since when; which maps were cancelled.
Layer: leaves.

A :class:`Board` is a table over a shared int64 buffer::

    cell 0          how many maps were cancelled (the ring below wraps)
    cells 1..64     the ids of the maps cancelled last: their batches still queued are skipped
    then per slot   pid, map id, chunk + 1, start µs, RSS bytes     (one slot per worker)
                    (start negative: its batch is being unpickled or its results pickled)

Workers write their own slot as a chunk starts and ends (and their watchdog thread the RSS);
the caller reads the table to stop a chunk that outlives ``timeout=``, to name the chunk a dead
worker was running (and how big it was), and to tell one map's chunks from another's when
several maps share a pool. Process workers see it through a ``multiprocessing.RawArray``;
threads through a plain buffer.

The board needs no lock between processes (a lock there would be a named semaphore in
/dev/shm): the caller alone writes the pid of each slot (:meth:`assign`) and the cancelled ring;
each worker writes only its own slot, found by its pid (:meth:`find`).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

#: Cancelled map ids remembered: a cancelled map's queued batches are skipped while its id is
#: among the last CANCELLED cancellations (older ones run, harmlessly, and are discarded).
CANCELLED = 64


#: Seconds a worker may spend unpickling a batch or pickling its results beyond ``timeout=``
#: (its first imports of pandas and pyarrow take about one).
PREPARE_GRACE = 5.0


def _seconds(now: float, started: int) -> float:
    """How long a slot's chunk has run, as timeouts count it (see :meth:`Board.prepare`)."""
    if started >= 0:
        return now - started / 1e6
    return max(0.0, now + started / 1e6 - PREPARE_GRACE)


class Board:
    """A header of cancelled map ids, then slots of (pid, map id, chunk + 1, start µs, RSS)."""

    FIELDS = 5
    HEADER = 1 + CANCELLED

    def __init__(self, buffer: Any):
        # A memoryview: setting one cell costs a tenth of what a numpy item assignment does.
        self.buffer = buffer
        self.cells = memoryview(buffer).cast("B").cast("q")
        self.slots = (len(self.cells) - self.HEADER) // self.FIELDS
        self._lock = threading.Lock()  # this process's writers (threads claiming, cancelling)

    @classmethod
    def cells_for(cls, slots: int) -> int:
        """The int64 cells a board of ``slots`` slots needs."""
        return cls.HEADER + cls.FIELDS * max(1, slots)

    @classmethod
    def local(cls, slots: int) -> Board:
        """A board for in-process workers (threads), over a plain buffer."""
        return cls(bytearray(8 * cls.cells_for(slots)))

    def _base(self, slot: int) -> int:
        return self.HEADER + slot * self.FIELDS

    # -- slots --------------------------------------------------------------------------------
    def assign(self, pid: int) -> int:
        """The caller gives a new worker process a slot (-1 when the board is full)."""
        return self._take(pid)

    def find(self, pid: int, wait: float = 0.0) -> int:
        """The slot the caller assigned to ``pid``, waiting up to ``wait`` seconds (-1: none)."""
        deadline = time.monotonic() + wait
        while True:
            for slot in range(self.slots):
                if self.cells[self._base(slot)] == pid:
                    return slot
            if time.monotonic() >= deadline:
                return -1
            time.sleep(0.001)

    def claim(self) -> int:
        """A free slot for the calling thread (-1 when the board is full); :meth:`release` it."""
        return self._take(os.getpid() or 1)

    def _take(self, pid: int) -> int:
        with self._lock:
            for slot in range(self.slots):
                base = self._base(slot)
                if self.cells[base] == 0:
                    for field in range(1, self.FIELDS):
                        self.cells[base + field] = 0
                    self.cells[base] = pid
                    return slot
        return -1

    def release(self, slot: int) -> None:
        if slot >= 0:
            self.cells[self._base(slot)] = 0

    # start and stop run twice per chunk: inlined arithmetic, no method calls.
    def start(self, slot: int, map_id: int, chunk: int) -> None:
        if slot >= 0:
            base, cells = self.HEADER + slot * self.FIELDS, self.cells
            cells[base + 3] = int(time.monotonic() * 1e6)
            cells[base + 1] = map_id
            cells[base + 2] = chunk + 1

    def prepare(self, slot: int, map_id: int, chunk: int) -> None:
        """Name the chunk a worker unpickles or pickles the results of, timed with a grace of
        PREPARE_GRACE seconds: a fresh worker's first imports (pandas, pyarrow: about a
        second) are not the chunk's run time and must not trip a short ``timeout=``, but a
        phase that hangs still does, and a crash there still names the chunk."""
        if slot >= 0:
            base, cells = self.HEADER + slot * self.FIELDS, self.cells
            cells[base + 3] = -int(time.monotonic() * 1e6)  # negative: a phase with grace
            cells[base + 1] = map_id
            cells[base + 2] = chunk + 1

    def stop(self, slot: int) -> None:
        if slot >= 0:
            self.cells[self.HEADER + slot * self.FIELDS + 2] = 0

    def note_rss(self, slot: int, rss: int) -> None:
        if slot >= 0:
            self.cells[self._base(slot) + 4] = rss

    # -- reading --------------------------------------------------------------------------------
    def rows(self) -> list[tuple[int, int, int | None, float, int]]:
        """(pid, map id, chunk or None, seconds running, RSS bytes) of every claimed slot."""
        now = time.monotonic()
        cells = self.cells[self.HEADER:].tolist()
        out = []
        for i in range(0, self.slots * self.FIELDS, self.FIELDS):
            pid, map_id, chunk, started, rss = cells[i: i + self.FIELDS]
            if pid:
                out.append((pid, map_id, chunk - 1 if chunk else None,
                            _seconds(now, started) if chunk else 0.0, rss))
        return out

    def running(self, map_id: int | None = None) -> list[tuple[int, int, float]]:
        """(pid, chunk, seconds running) for each chunk of ``map_id`` (None: any map) running."""
        return [(pid, chunk, seconds) for pid, mid, chunk, seconds, _ in self.rows()
                if chunk is not None and (map_id is None or mid == map_id)]

    # -- cancelled maps -------------------------------------------------------------------------
    def cancel(self, map_id: int) -> None:
        """Mark ``map_id`` cancelled: workers skip its batches still queued, and its chunks
        not yet started in a batch that runs."""
        with self._lock:
            if self.cancelled(map_id):
                return
            count = self.cells[0]
            self.cells[1 + count % CANCELLED] = map_id
            self.cells[0] = count + 1

    def cancelled(self, map_id: int) -> bool:
        return bool(self.cells[0]) and map_id in self.cells[1: self.HEADER].tolist()
