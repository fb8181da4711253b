"""forks: locks that a forked child finds free. Layer: leaves (imports nothing of the package).

``os.fork()`` copies a process with one thread: a lock that another thread held at that moment
stays held in the child, and the child's first call that takes it waits forever. Every
module-level lock of the package is made by :func:`fork_safe_lock`: the child re-initialises it
in place, as the standard library does its own (``logging``, ``concurrent.futures``), so it is
a plain lock, at a plain lock's cost.
"""

from __future__ import annotations

import os
import threading
from typing import Any


def fork_safe_lock(reentrant: bool = False) -> Any:
    """A ``threading.Lock`` (``RLock`` with ``reentrant=True``) that is free again in a child
    of ``os.fork()``, whoever held it in the parent."""
    lock = threading.RLock() if reentrant else threading.Lock()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lock._at_fork_reinit)  # CPython's own, 3.9+
    return lock
