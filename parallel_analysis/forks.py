"""forks: locks that a forked child finds free. Layer: leaves (imports nothing of the package).

``os.fork()`` copies a process with one thread: a lock that another thread held at that moment
stays held in the child, and the child's first call that takes it waits forever. Every
module-level lock of the package is a :class:`ForkSafeLock`, which the child renews.
"""

from __future__ import annotations

import os
import threading
import weakref


class ForkSafeLock:
    """A ``threading.Lock`` (``RLock`` with ``reentrant=True``) that is free again in a child
    of ``os.fork()``, whoever held it in the parent."""

    def __init__(self, reentrant: bool = False) -> None:
        self._make = threading.RLock if reentrant else threading.Lock
        self._lock = self._make()
        if hasattr(os, "register_at_fork"):
            this = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _renew(this))

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self._lock.__enter__()

    def __exit__(self, *exc) -> None:
        self._lock.__exit__(*exc)


def _renew(ref: weakref.ref) -> None:
    lock = ref()
    if lock is not None:
        lock._lock = lock._make()
