"""Fault injection helpers shared by the fault tests (travel to workers by value).

A *fault* is one of :data:`FAULTS`; :func:`trigger` makes it happen in the current process.
The ``*At*`` classes trigger their fault when pickled or unpickled, so a test can make a map fail
at one stage of a chunk's round trip (the crash matrix of CPython's ``test_deadlock.py`` and
loky's ``test_reusable_executor.py``).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import cloudpickle
import psutil

FAULTS = ("exception", "sys.exit", "os._exit", "SIGSEGV", "SIGKILL", "SIGTERM")
#: Faults that kill the process they happen in.
CRASHES = ("os._exit", "SIGSEGV", "SIGKILL", "SIGTERM")
#: Where in a chunk's round trip the fault happens.
STAGES = ("pickle-task", "unpickle-task", "run", "pickle-result", "unpickle-result")
#: Stages that run in the caller (pickling the task, unpickling the result).
CALLER_STAGES = ("pickle-task", "unpickle-result")
START_METHODS = ("forkserver", "spawn")


class InjectedError(Exception):
    """The exception the ``exception`` fault raises."""


class CarryingError(Exception):
    """An exception that carries something that does not pickle (a lock, like a connection)."""


class TwoPartError(Exception):
    """An exception whose constructor takes other arguments than its ``args``: it pickles, and
    ``TwoPartError(*args)`` fails when it is unpickled."""

    def __init__(self, what, code):
        super().__init__(f"{what} failed with code {code}")


class CodedError(Exception):
    """An exception whose constructor formats its message: pickle's ``CodedError(*args)``
    would format it a second time ("code code 7")."""

    def __init__(self, code):
        super().__init__(f"code {code}")
        self.code = code


def raise_coded(chunk):
    if chunk[0] == 0:
        raise CodedError(7)
    return int(chunk.sum())


def raise_two_part(chunk):
    if chunk[0] == 0:
        raise TwoPartError("chunk", 7)
    return int(chunk.sum())


def raise_carrying(chunk):
    import threading

    if chunk[0] == 0:
        raise CarryingError("bad chunk", threading.Lock())
    return int(chunk.sum())


def trigger(fault: str) -> None:
    if fault == "exception":
        raise InjectedError("injected fault")
    if fault == "sys.exit":
        sys.exit(7)
    if fault == "os._exit":
        os._exit(7)
    if fault == "SIGSEGV":
        faulthandler_off()
        ctypes.string_at(0)
    if fault == "SIGKILL":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)
    if fault == "SIGTERM":  # the signal the executor stops the other workers with
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
    raise AssertionError(f"unknown fault {fault}")


def faulthandler_off() -> None:
    """Keep a deliberate segfault quiet (pytest enables faulthandler in the caller)."""
    import faulthandler

    faulthandler.disable()


class FaultAtPickle:
    """Triggers its fault when pickled."""

    def __init__(self, fault: str):
        self.fault = fault

    def __reduce__(self):
        trigger(self.fault)


class FaultAtUnpickle:
    """Pickles fine; triggers its fault when unpickled."""

    def __init__(self, fault: str):
        self.fault = fault

    def __reduce__(self):
        return (trigger, (self.fault,))


class SlowToUnpickle:
    """Takes ``seconds`` to unpickle, as a fresh worker's first imports of pandas and pyarrow
    take while it unpickles its first batch; arrives as ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __reduce__(self):
        return (_slept, (self.seconds,))


def _slept(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def sum_with(chunk, arg):
    """The chunk's sum; ``arg`` is only carried."""
    return int(chunk.sum())


def func_for(fault: str, stage: str):
    """(func, args) for a map whose chunk 3 hits ``fault`` at ``stage``; other chunks are fine."""
    if stage == "pickle-task":
        return _with_arg, (FaultAtPickle(fault),)
    if stage == "unpickle-task":
        return _with_arg, (FaultAtUnpickle(fault),)
    if stage == "run":
        return _run_fault, (fault,)
    if stage == "pickle-result":
        return _result_fault, (fault, FaultAtPickle)
    if stage == "unpickle-result":
        return _result_fault, (fault, FaultAtUnpickle)
    raise AssertionError(stage)


def _with_arg(chunk, arg):
    return int(chunk.sum())


def _hit(chunk) -> bool:
    """The chunk holding the value 30 is the faulty one: the last of arange(40) in 4 chunks, so
    the fault happens after every batch was submitted (see test_crash_while_submitting)."""
    return bool(chunk[0] <= 30 <= chunk[-1])


def _run_fault(chunk, fault):
    if _hit(chunk):
        trigger(fault)
    return int(chunk.sum())


def _result_fault(chunk, fault, cls):
    if _hit(chunk):
        return cls(fault)
    return int(chunk.sum())


# -- leak checks ----------------------------------------------------------------------------------

def my_segments(pid: int | None = None) -> set[str]:
    """par_ segments in /dev/shm owned by ``pid`` (default: this process)."""
    mine = f"par_{pid or os.getpid()}_"
    return {n for n in os.listdir("/dev/shm") if n.startswith(mine)}


def known_worker_pids() -> set[int]:
    """Worker pids of every live process backend in this process."""
    from parallel_analysis.backends.process import live_worker_pids

    return live_worker_pids()


def stray_workers() -> list[int]:
    """Live descendants running a multiprocessing worker that no live pool claims."""
    known = known_worker_pids()
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" in cmd:
            continue
        if "multiprocessing" not in cmd:
            continue  # not a pool worker (e.g. a test's own subprocess)
        if "forkserver" in cmd and child.ppid() == os.getpid():
            continue  # the forkserver itself; its children (same command line) are workers
        if child.pid not in known:
            out.append(child.pid)
    return out


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def gone(pids) -> bool:
    """True when none of ``pids`` is a live (non-zombie) process."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


SEM_PREFIX = "sem.mp-"  # multiprocessing's named semaphores (queues and locks of pools)


def semaphores() -> set[str]:
    """Every multiprocessing semaphore in /dev/shm, whoever made it."""
    try:
        return {n for n in os.listdir("/dev/shm") if n.startswith(SEM_PREFIX)}
    except FileNotFoundError:
        return set()


def _mapped(pids) -> set[int]:
    """Inodes of /dev/shm files these processes map. Every user of a semaphore maps its file;
    its creator maps it under the temporary name glibc made it with, so inodes, not names."""
    inodes = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if "/dev/shm/" in line:
                        inodes.add(int(line.split()[4]))
        except (OSError, ValueError, IndexError):
            continue
    return inodes


def leaked_semaphores(before: set[str]) -> set[str]:
    """Semaphores that appeared since ``before`` and that no live process maps: left in
    /dev/shm for good (their owner closed them without unlinking, or died untracked)."""
    new = {}
    for name in semaphores() - before:
        try:
            new[name] = os.stat(os.path.join("/dev/shm", name)).st_ino
        except FileNotFoundError:
            continue
    new = {n: i for n, i in new.items() if i not in _FOREIGN}
    if new:
        me = psutil.Process()
        ours = [me.pid] + [c.pid for c in me.children(recursive=True)]
        mine = _mapped(ours)
        new = {n: i for n, i in new.items() if i not in mine}
    if new:  # another live program's (this machine is shared): never ours, remembered
        theirs = _mapped(int(p) for p in os.listdir("/proc") if p.isdigit() and
                         int(p) not in ours)
        _FOREIGN.update(i for i in new.values() if i in theirs)
        new = {n: i for n, i in new.items() if i not in theirs}
    return set(new)


_FOREIGN: set[int] = set()  # inodes of semaphores other programs made (scanning costs ~40 ms)


def semaphores_of(pid: int) -> set[str]:
    """The semaphores in /dev/shm that process ``pid`` maps (made or opened)."""
    inodes = _mapped([pid])
    out = set()
    for name in semaphores():
        try:
            if os.stat(os.path.join("/dev/shm", name)).st_ino in inodes:
                out.add(name)
        except FileNotFoundError:
            continue
    return out


#: Semaphores in /dev/shm when the test session started (other programs' or earlier leaks).
SESSION_SEMAPHORES = semaphores()


def assert_no_leaks(timeout: float = 5.0) -> None:
    assert wait_until(lambda: not my_segments(), timeout), f"segments left: {my_segments()}"
    assert wait_until(lambda: not stray_workers(), timeout), f"stray workers: {stray_workers()}"
    assert wait_until(lambda: not leaked_semaphores(SESSION_SEMAPHORES), timeout), (
        f"semaphores left: {leaked_semaphores(SESSION_SEMAPHORES)}")


# -- child interpreters ---------------------------------------------------------------------------

def _default_sigint() -> None:
    """preexec_fn: SIGINT at its default handler (a child without job control inherits SIG_IGN)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_child(code: str, env: dict | None = None, argv_prefix: tuple = (),
                cwd: str | None = None) -> subprocess.Popen:
    """Start ``python -c code`` with SIGINT at default and output piped as text (in this
    folder unless ``cwd``)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen(
        [*argv_prefix, sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
        preexec_fn=_default_sigint, cwd=cwd or os.path.dirname(os.path.abspath(__file__)),
    )


def run_child(code: str, timeout: float = 60, **kw) -> tuple[int, dict, str]:
    """Run a child; returns (exit code, the JSON of its last stdout line or {}, stderr)."""
    proc = start_child(code, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"child hung; stdout={out!r} stderr={err[-3000:]!r}") from None
    return proc.returncode, last_json(out), err


def last_json(out: str) -> dict:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def register_by_value() -> None:
    """Send this module's functions and classes to workers by value (no import needed there)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


class SlowToPickle:
    """A chunk that takes ``seconds`` to pickle (keeps the caller busy submitting batches).

    It arrives as 0, or with ``fault`` as a chunk that triggers it 0.3 s after being unpickled.
    """

    def __init__(self, seconds: float, fault: str | None = None):
        self.seconds = seconds
        self.fault = fault

    def __reduce__(self):
        time.sleep(self.seconds)
        return (int, (0,)) if self.fault is None else (_late_trigger, (self.fault,))


def _late_trigger(fault):
    time.sleep(0.3)
    trigger(fault)


def crash_on_array(chunk, fault):
    """Crash on the chunk that is an ndarray; other chunks (ints) return themselves."""
    if hasattr(chunk, "shape"):
        trigger(fault)
    return chunk


def slow_sum(chunk, seconds):
    time.sleep(seconds)
    return int(chunk.sum())


def mark_and_sleep(chunk, folder, seconds):
    """Leave a file named after the chunk's first value in ``folder``, then sleep."""
    open(os.path.join(folder, str(int(chunk[0]))), "w").close()
    time.sleep(seconds)
    return int(chunk.sum())


# -- concurrent maps ------------------------------------------------------------------------------

def shared_sum(handle) -> int:
    """The sum of a Shared handle's array, slowly: its caller's reference is long gone."""
    time.sleep(0.2)
    return int(handle.value.sum())


def fault_at(chunk, value, fault, delay=0.02):
    """The chunk holding ``value`` hits ``fault`` ("hang": sleeps 60 s; "stall": 2 s, then
    returns); the others sleep ``delay`` (so that maps overlap) and return their sum."""
    if fault is not None and chunk[0] <= value <= chunk[-1]:
        if fault == "hang":
            time.sleep(60)
        if fault == "stall":
            time.sleep(2)
        else:
            trigger(fault)
    time.sleep(delay)
    return int(chunk.sum())


def run_in_threads(calls: dict, timeout: float = 60.0) -> dict:
    """Run each ``name: callable`` in its own thread at once; ``name: value or exception``."""
    import threading

    results: dict = {}
    barrier = threading.Barrier(len(calls))

    def run(name, call):
        barrier.wait()
        try:
            results[name] = call()
        except BaseException as exc:  # the test looks at it
            results[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in calls.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    hung = [name for name, thread in zip(calls, threads) if thread.is_alive()]
    assert not hung, f"maps never returned: {hung}"
    return results


# -- memory ---------------------------------------------------------------------------------------

def eat_memory(chunk, mib, then_kill=False):
    """Chunk 1 touches ``mib`` MiB in 16 MiB steps (a cgroup limit OOM-kills it on the way);
    with ``then_kill`` it then waits for its watchdog to note its RSS and SIGKILLs itself, as
    the kernel's OOM killer would."""
    if int(chunk[0]) != 1:
        return int(chunk[0])
    import numpy as np

    blocks = [np.ones(2**21) for _ in range(mib // 16)]
    if then_kill:
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    return len(blocks)
