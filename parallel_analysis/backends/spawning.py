"""backends.spawning: starting worker processes safely. Layer: backends (imports nothing of
the package).

- Start method: ``forkserver`` on Linux (safe with threads, fast with numpy preloaded), ``spawn``
  elsewhere.
- Workers never re-run the caller's ``__main__``: the classic trap where a script without
  ``if __name__ == "__main__":`` starts pools recursively. Functions travel by value with
  cloudpickle, so workers never need it.
- A child of ``os.fork()`` forgets the parent's forkserver and workers.
- A worker's exit code is read right even when two threads poll it at once.
- Ctrl-C waits while an executor is built and its workers start (:func:`interrupts_deferred`).
- :func:`describe_exit` says how a worker died, from its exit code.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
from collections.abc import Iterator
from multiprocessing import context as mp_context
from multiprocessing import spawn

try:
    from multiprocessing import popen_forkserver
except ImportError:  # pragma: no cover - no forkserver (Windows)
    popen_forkserver = None

#: Modules the forkserver imports once, so each worker starts with numpy already loaded.
FORKSERVER_PRELOAD = ["numpy", "cloudpickle", "threadpoolctl", "parallel_analysis.worker",
                      "parallel_analysis.share", "parallel_analysis.backends.remote"]


def default_start_method() -> str:
    """forkserver on Linux (safe with threads, fast with preloading); spawn elsewhere."""
    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        return "forkserver"
    return "spawn"


_launching = threading.local()
_original_preparation_data = spawn.get_preparation_data


def _preparation_data(name):
    """multiprocessing's start-up data, minus the main module when we start our workers.

    Without this every worker re-runs the caller's script (``__main__``) on start-up: the
    classic trap where a script without ``if __name__ == "__main__":`` starts pools recursively.
    Our functions travel by value with cloudpickle, so workers never need ``__main__``.
    """
    data = _original_preparation_data(name)
    if getattr(_launching, "active", False):
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
    return data


spawn.get_preparation_data = _preparation_data


class _StartWithoutMain:
    def start(self):
        _launching.active = True
        try:
            super().start()
        finally:
            _launching.active = False


class _ForkServerPopen(popen_forkserver.Popen if popen_forkserver else object):
    """multiprocessing's forkserver Popen, with a poll() that two threads may call at once.

    A dying worker is polled by the executor's own thread (joining it) and by any
    ``Process.start()`` in this process (multiprocessing then polls all its children, e.g. when
    another pool starts workers). Both see the exit pipe readable: one reads the exit status,
    the other reads EOF and records exit code 255 over it, and a worker the executor stopped
    with SIGTERM looks like a crash. With the lock the second reads the first's code; the
    blocking wait stays outside it.
    """

    def __init__(self, process_obj):
        self._poll_lock = threading.Lock()
        super().__init__(process_obj)

    def poll(self, flag=os.WNOHANG):
        if flag != os.WNOHANG and self.returncode is None:
            from multiprocessing.connection import wait

            wait([self.sentinel])
        with self._poll_lock:
            return super().poll(os.WNOHANG)


class ForkServerWorker(_StartWithoutMain, mp_context.ForkServerProcess):
    """A forkserver process that does not re-run ``__main__``, polled thread-safely."""

    @staticmethod
    def _Popen(process_obj):
        return _ForkServerPopen(process_obj)


class SpawnWorker(_StartWithoutMain, mp_context.SpawnProcess):
    """A spawned process that does not re-run ``__main__``."""


class ForkServerWorkerContext(mp_context.ForkServerContext):
    Process = ForkServerWorker


class SpawnWorkerContext(mp_context.SpawnContext):
    Process = SpawnWorker


_CONTEXTS = {"forkserver": ForkServerWorkerContext, "spawn": SpawnWorkerContext}


def _forget_parent_processes() -> None:
    """In the child of an os.fork(): the parent's forkserver and workers are not ours.

    Without this the child's first process map fails (multiprocessing waits on the parent's
    forkserver) and its exit tries to join the parent's workers.
    """
    from multiprocessing import forkserver, process

    server = forkserver._forkserver
    if server._forkserver_alive_fd is not None:  # a copy: the parent's forkserver may end
        try:
            os.close(server._forkserver_alive_fd)
        except OSError:
            pass
    server._forkserver_address = server._forkserver_alive_fd = None
    server._forkserver_pid = server._inherited_fds = None
    server._lock = threading.Lock()
    process._children.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_processes)


def context(start_method: str | None):
    """A multiprocessing context whose processes start without importing ``__main__``."""
    method = start_method or default_start_method()
    if method not in mp.get_all_start_methods():
        methods = ", ".join(mp.get_all_start_methods())
        raise ValueError(f"unknown start method {method!r}; choose one of {methods}")
    if method == "forkserver":
        mp.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    return _CONTEXTS[method]() if method in _CONTEXTS else mp.get_context(method)


@contextlib.contextmanager
def interrupts_deferred(needed: bool = True) -> Iterator[None]:
    """Ctrl-C held back while multiprocessing builds an executor's queues and starts its
    workers, and delivered (KeyboardInterrupt) right after: an interrupt in the middle leaves
    a named semaphore in /dev/shm that nobody unlinks, or a worker whose pid never reached the
    executor. Only in the main thread, over Python's own handler (signal handlers are the
    main thread's; another handler is the caller's to keep)."""
    if not needed or threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "died (exit code unknown)"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"was killed by {name} (exit code {exitcode})"
    return f"exited with code {exitcode} (os._exit or a fatal error in native code)"
