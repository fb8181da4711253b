"""segment_exit: segments being created while the interpreter exits. Layer: segment (imports
errors and forks).

At exit, :mod:`.segment` unlinks every segment this process still owns. A map in a daemon
thread keeps running meanwhile (Python stops such threads only after the exit's handlers), and
a segment it creates after that sweep would stay in /dev/shm. So the sweep first waits (a few
seconds at most) for the creations under way in other live threads, and any creation after it
is refused with a :class:`~parallel_analysis.errors.SharedMemoryError`.

Only a plain lock is taken, never for long, and the count is kept per thread: an interrupt (a
signal handler's exception) between two steps can leave at most its own thread's count behind,
which the sweep ignores once that thread is the sweeping one or has ended.
"""

from __future__ import annotations

import errno
import os
import threading
import time

from .errors import SharedMemoryError
from .forks import fork_safe_lock

#: How long the exit's sweep waits for other threads' creations under way.
EXIT_WAIT_SECONDS = 5.0


class Creations:
    """Creations under way per thread, and whether the interpreter's exit has begun; a
    context manager around one creation and its registration."""

    def __init__(self) -> None:
        self._lock = fork_safe_lock()
        self._running: dict[int, int] = {}
        self.exiting = False
        if hasattr(os, "register_at_fork"):  # a child starts with none under way
            os.register_at_fork(after_in_child=self._running.clear)

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._lock:
            if self.exiting:
                raise SharedMemoryError(
                    errno.ESHUTDOWN, "the interpreter is exiting: no new shared memory (a map "
                    "still running in a background thread at exit cannot finish)")
            self._running[me] = self._running.get(me, 0) + 1

    def __exit__(self, *exc: object) -> None:
        me = threading.get_ident()
        with self._lock:
            left = self._running.get(me, 1) - 1
            if left > 0:
                self._running[me] = left
            else:
                self._running.pop(me, None)

    def close(self, wait: float = EXIT_WAIT_SECONDS) -> None:
        """The exit has begun: refuse new creations, then wait (at most ``wait`` seconds) for
        those under way in other threads that are still alive."""
        deadline = time.monotonic() + wait
        if self._lock.acquire(timeout=wait):
            self.exiting = True
            self._lock.release()
        else:  # a lock held past all reason: flag it anyway (a plain store)
            self.exiting = True
        me = threading.get_ident()
        while time.monotonic() < deadline:
            alive = {t.ident for t in threading.enumerate()}
            if not [t for t in list(self._running) if t != me and t in alive]:
                return
            time.sleep(0.005)


creations = Creations()
