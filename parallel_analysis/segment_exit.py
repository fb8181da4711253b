"""segment_exit: segments being created while the interpreter exits. Layer: segment (imports
errors and forks).

At exit, :mod:`.segment` unlinks every segment this process still owns. A map in a daemon
thread keeps running meanwhile (Python stops such threads only after the exit's handlers), and
a segment it creates after that sweep would stay in /dev/shm. So the sweep first waits for the
creations under way, and any creation after it is refused with a
:class:`~parallel_analysis.errors.SharedMemoryError`.
"""

from __future__ import annotations

import errno
import os
import threading

from .errors import SharedMemoryError
from .forks import fork_safe_lock


class Creations:
    """Segments being created, and whether the interpreter's exit has begun; a context
    manager around one creation and its registration."""

    def __init__(self) -> None:
        self.changed = threading.Condition(fork_safe_lock())
        self.running = 0
        self.exiting = False
        if hasattr(os, "register_at_fork"):  # a child creates its own, from none under way
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self.changed = threading.Condition(fork_safe_lock())
        self.running = 0

    def __enter__(self) -> None:
        with self.changed:
            if self.exiting:
                raise SharedMemoryError(
                    errno.ESHUTDOWN, "the interpreter is exiting: no new shared memory (a map "
                    "still running in a background thread at exit cannot finish)")
            self.running += 1

    def __exit__(self, *exc: object) -> None:
        with self.changed:
            self.running -= 1
            self.changed.notify_all()

    def close(self, wait: float = 5.0) -> None:
        """The exit has begun: wait (at most ``wait`` seconds) for creations under way."""
        with self.changed:
            self.exiting = True
            self.changed.wait_for(lambda: self.running == 0, timeout=wait)


creations = Creations()
