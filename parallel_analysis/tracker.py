"""tracker: multiprocessing's resource tracker, kept alive and told what this process owns.
Layer: low (imports the leaves errors and forks).

The resource tracker is the helper process that unlinks this process's named shared-memory
segments (``par.share``) and semaphores (six per process pool, made by ``ProcessPoolExecutor``'s
queues) if this process is killed. When the tracker itself is killed (SIGKILL, an OOM killer),
the standard library relaunches it at the next register or unregister, with an empty memory: it
prints a ``KeyError`` traceback for every name it is then told to forget, and every name
registered before would be left in /dev/shm if this process were killed next.

:func:`install` (run on import) puts a small wrapper on the tracker's two entry points:

- every message goes through a ledger of the names this process registered and has not
  unregistered yet (both kinds, ours and the executors');
- before a message, the tracker is probed (one ``write``, as the standard library does); a dead
  one is reaped and relaunched, told the whole ledger, and the user gets one
  :class:`~parallel_analysis.errors.ResourceTrackerWarning` instead of tracebacks.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from multiprocessing import resource_tracker

from .errors import ResourceTrackerWarning
from .forks import fork_safe_lock

_ledger: set[tuple[str, str]] = set()  # (name, rtype) registered by this process, still owned
_lock = fork_safe_lock(reentrant=True)
_local = threading.local()  # .sending: inside our _send (the warning waits for the message)
_state: dict = {"installed": False, "warnings": [], "relaunches": 0}


def relaunches() -> int:
    """How many times this process found its tracker dead and started a new one."""
    return _state["relaunches"]


def owned() -> set[tuple[str, str]]:
    """(name, rtype) this process registered with its tracker and has not unregistered."""
    return set(_ledger)


def _forget_dead(tracker) -> int | None:
    """Reap a tracker that no longer reads its pipe (without the standard library's warning);
    the dead tracker's pid, or None when it was alive or never started."""
    lock = tracker._lock
    with lock:
        count = getattr(lock, "_recursion_count", lambda: 1)()
        if count > 1 or tracker._fd is None or tracker._check_alive():
            return None  # reentrant (a finalizer inside the tracker's code), not started, alive
        pid = tracker._pid
        try:
            os.close(tracker._fd)
        except OSError:
            pass
        if pid is not None:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        tracker._fd = tracker._pid = None
        return pid if pid is not None else -1


def _replay(tracker) -> int:
    """Tell a fresh tracker every name this process still owns."""
    names = list(_ledger)
    for name, rtype in names:
        try:
            os.write(tracker._fd, f"REGISTER:{name}:{rtype}\n".encode("ascii"))
        except OSError:  # dead again: the next message relaunches it again
            break
    return len(names)


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """No garbage collection while the tracker's lock is held: a semaphore collected there runs
    its finalizer, which calls back into the tracker from inside it (Python 3.12 then raises
    ReentrantCallError and the semaphore leaks). Collected right after instead."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ensure_running(tracker, original) -> None:
    with _lock, _collection_paused():
        dead = _forget_dead(tracker)
        original()
        if dead is None:
            return
        told = _replay(tracker)
        _state["relaunches"] += 1
        who = f" (pid {dead})" if dead > 0 else ""
        _state["warnings"].append(
            f"multiprocessing's resource tracker{who} had died (killed?); a new one was started "
            f"and told the {told} shared-memory segment(s) and semaphore(s) this process still "
            "owns, so they are still removed from /dev/shm if this process is killed")
    if not getattr(_local, "sending", False):
        _warn_pending()


def _warn_pending() -> None:
    while _state["warnings"]:
        warnings.warn(_state["warnings"].pop(0), ResourceTrackerWarning,
                      stacklevel=_user_level())


#: Where the warning is not attributed: the standard library (the tracker, multiprocessing,
#: concurrent.futures, threading), and this package.
_MACHINERY = (os.path.dirname(threading.__file__) + os.sep,
              os.path.dirname(os.path.abspath(__file__)) + os.sep)


def _user_level() -> int:
    """The ``stacklevel`` of the first caller outside the machinery (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_MACHINERY):
        frame, level = frame.f_back, level + 1
    return level


def _send(tracker, original, cmd: str, name: str, rtype: str) -> None:
    _local.sending = True
    try:
        with _lock, _collection_paused():
            original(cmd, name, rtype)
            if cmd == "REGISTER":
                _ledger.add((name, rtype))
            elif cmd == "UNREGISTER":
                _ledger.discard((name, rtype))
    finally:
        _local.sending = False
    _warn_pending()


def install() -> None:
    """Wrap this process's resource tracker (once; a no-op where its internals differ)."""
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    needed = ("_send", "ensure_running", "_check_alive", "_fd", "_pid", "_lock")
    if _state["installed"] or tracker is None or not all(hasattr(tracker, a) for a in needed):
        return
    send, ensure = tracker._send, tracker.ensure_running
    # Instance attributes: the tracker's own methods (register, unregister, getfd) call these.
    tracker.ensure_running = lambda: _ensure_running(tracker, ensure)
    tracker._send = lambda cmd, name, rtype: _send(tracker, send, cmd, name, rtype)
    resource_tracker.ensure_running = tracker.ensure_running
    _state["installed"] = True


def _after_fork_in_child() -> None:
    _ledger.clear()  # the parent's names are the parent's to replay, not this child's
    _state["warnings"] = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

install()
