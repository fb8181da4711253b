"""board: which worker runs which chunk of which map, since when. Layer: leaves.

A :class:`Board` is a table of slots over a shared int64 buffer, one slot per worker: (pid, map
id, chunk + 1, start µs). Workers write their own slot as a chunk starts and ends; the caller
reads the table to stop a chunk that outlives ``timeout=`` and to name the chunk a dead worker
was running. Process workers see it through a ``multiprocessing.RawArray``; threads through a
plain array.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any


class Board:
    """Slots of (pid, map id, chunk + 1, start µs) over a shared int64 buffer."""

    FIELDS = 4

    def __init__(self, buffer: Any, lock: Any = None):
        # A memoryview: setting one cell costs a tenth of what a numpy item assignment does.
        self.cells = memoryview(buffer).cast("B").cast("q")
        self.slots = len(self.cells) // self.FIELDS
        self.lock = lock or threading.Lock()

    @classmethod
    def local(cls, slots: int) -> Board:
        """A board for in-process workers (threads), over a plain buffer."""
        return cls(bytearray(8 * cls.FIELDS * max(1, slots)))

    def claim(self) -> int:
        """A free slot for the calling worker (-1 when the board is full)."""
        with self.lock:
            for slot in range(self.slots):
                if self.cells[slot * self.FIELDS] == 0:
                    self.cells[slot * self.FIELDS] = os.getpid() or 1
                    return slot
        return -1

    def start(self, slot: int, map_id: int, chunk: int) -> None:
        if slot >= 0:
            base = slot * self.FIELDS
            self.cells[base + 3] = int(time.monotonic() * 1e6)
            self.cells[base + 1] = map_id
            self.cells[base + 2] = chunk + 1

    def stop(self, slot: int) -> None:
        if slot >= 0:
            self.cells[slot * self.FIELDS + 2] = 0

    def running(self, map_id: int) -> list[tuple[int, int, float]]:
        """(pid, chunk, seconds running) for each chunk of ``map_id`` now running."""
        now = time.monotonic()
        cells = self.cells.tolist()
        rows = [cells[i: i + self.FIELDS] for i in range(0, len(cells), self.FIELDS)]
        return [
            (pid, chunk - 1, now - started / 1e6)
            for pid, mid, chunk, started in rows
            if pid and chunk and mid == map_id
        ]
