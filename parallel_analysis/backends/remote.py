"""backends.remote: what runs inside a worker process, for the process and dask backends.
Layer: backends (imports worker, board, attached and errors).

A batch arrives as two cloudpickle payloads, the job (cached: every batch of a map carries the
same bytes) and the batch's specs, so lambdas, closures and notebook functions travel.
:func:`run_batch_pickled` runs it with :func:`~parallel_analysis.worker.run_chunks` and pickles
the outcomes back; an outcome that cannot be pickled becomes a clear error instead of a broken
pool. Process workers start with :func:`init_process_worker`, which ignores SIGINT (the caller
owns Ctrl-C), caps BLAS threads, finds the slot the caller gave it on the board and starts a
watchdog thread that exits the worker when the caller dies, drops mappings of unlinked segments
and notes the worker's RSS on the board. A batch of a map cancelled meanwhile is skipped.

Everything here is module-level so it pickles by reference under forkserver and spawn.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
import traceback
from typing import Any

from .. import attached, feedback
from ..board import Board
from ..errors import pickling_error
from ..worker import exit_error, process_state, run_chunks
from . import wire

#: Seconds between watchdog checks (dead caller, unlinked segments, RSS): the delay before a
#: worker exits after its caller is killed, and before it releases a closed segment.
WATCHDOG_INTERVAL = 0.1

#: Seconds a new worker waits for the caller to give it a slot on the board (the caller does
#: so right after the submit that started it); a worker given none by then exits.
SLOT_WAIT = 10.0

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_job_cache: dict[str, Any] = {"bytes": None, "job": None}


def run_batch_pickled(job_bytes: bytes, specs_bytes: bytes, map_id: int,
                      first_index: int = 0) -> bytes:
    """Process-worker entry point: unpickle the job (cached) and the specs, run, pickle back."""
    import cloudpickle

    board = process_state.get("board")
    slot = process_state.get("slot", -1)
    try:
        if board is not None:  # marked before unpickling, so a crash there names the chunk
            board.prepare(slot, map_id, first_index)
            if board.cancelled(map_id):  # queued before its map was cancelled (or failed)
                board.stop(slot)
                return wire.dumps(("skipped",))
        specs = wire.unpack_specs(wire.loads(specs_bytes))
        if _job_cache["bytes"] != job_bytes:
            _job_cache["job"] = cloudpickle.loads(job_bytes)
            _job_cache["bytes"] = job_bytes
        job = _job_cache["job"]
    except BaseException as exc:  # reported to the caller with its traceback
        if board is not None:
            board.stop(slot)
        error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        if isinstance(exc, SystemExit):
            error = exit_error(first_index, exc)
        return wire.dumps(("failed", travelling_error(error), traceback.format_exc()))
    outcomes = run_chunks(job, specs, board, slot, map_id)
    if board is not None:  # a crash while pickling the results still names the chunk
        board.prepare(slot, map_id, first_index)
    for outcome in outcomes:  # a chunk's exception must also be rebuilt in the caller
        if not outcome.ok:
            outcome.error = travelling_error(outcome.error)
    try:
        return wire.dumps(("ok", wire.pack_outcomes(outcomes)))
    except BaseException:  # find the outcome that cannot travel
        for outcome in outcomes:
            try:
                cloudpickle.dumps(outcome)
            except BaseException as exc:
                what = f"the result of chunk {outcome.index}"
                bad = outcome.value if outcome.ok else outcome.error
                outcome.ok, outcome.value = False, None
                outcome.error = pickling_error(what, bad, exc)
                outcome.remote_tb = ""
        return wire.dumps(("ok", wire.pack_outcomes(outcomes)))
    finally:
        if board is not None:
            board.stop(slot)


def _round_trips(obj: Any) -> bool:
    import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(obj))
        return True
    except Exception:
        return False


def _arrives_as_it_is(exc: BaseException) -> bool:
    """``exc`` pickled and unpickled is the same exception: type, args and message. Pickle
    rebuilds an exception by calling its class with its ``args``; an ``__init__`` that formats
    its message (``super().__init__(f"code {code}")``) formats it twice, one that takes other
    arguments fails."""
    import cloudpickle

    try:
        back = cloudpickle.loads(cloudpickle.dumps(exc))
        return type(back) is type(exc) and back.args == exc.args and str(back) == str(exc)
    except Exception:  # an __init__ that wants other arguments, or args that do not compare
        return False


def _rebuilt(cls: type, args: tuple, state: dict) -> BaseException:
    """An exception of type ``cls`` with these ``args`` and attributes, its ``__init__`` not run
    again (the worker's instance had run it)."""
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class _AsItWas:
    """Pickles as the exception it holds, rebuilt by :func:`_rebuilt`."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __reduce__(self) -> tuple:
        return _rebuilt, (type(self.exc), self.exc.args, dict(vars(self.exc)))


def travelling_error(exc: BaseException) -> Any:
    """``exc``, or what pickles as a faithful copy of it (unpickled, it *is* the exception).

    Pickling alone is not enough: pickle rebuilds an exception by calling its class with its
    ``args``, so one whose ``__init__`` takes other arguments (``WeirdError(a, b)`` calling
    ``super().__init__(f"{a}-{b}")``) fails to rebuild in the caller, where it would cost the
    whole batch's results, and one that formats its message gets it formatted twice. The copy
    is rebuilt without calling ``__init__``: same type, args and attributes, those that do not
    pickle replaced by their repr. If even that fails, a RuntimeError names the type and
    message. Only failed chunks pay for the checks.
    """
    if _arrives_as_it_is(exc):
        return exc
    try:
        copy = _rebuilt(type(exc), tuple(a if _round_trips(a) else repr(a) for a in exc.args),
                        {k: v if _round_trips(v) else repr(v) for k, v in vars(exc).items()})
        note = ("(arguments or attributes of this exception that could not be pickled were "
                "replaced by their repr to send it from the worker)")
        if (copy.args != exc.args or vars(copy) != vars(exc)) \
                and note not in getattr(copy, "__notes__", ()):  # once, if it travels twice
            copy.add_note(note)
        faithful = _AsItWas(copy)
        if _round_trips(faithful):
            return faithful
    except Exception:  # a class that cannot be made without its __init__
        pass
    error = RuntimeError(f"{type(exc).__name__}: {exc}")
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    error.add_note(f"(the worker sent this RuntimeError in place of {type(exc).__name__}, "
                   "which could not be rebuilt from its arguments after pickling)")
    return error


def init_process_worker(board_buffer: Any, caller_pid: int, blas_threads: int) -> None:
    """Initializer of each process worker (runs once per process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    process_state["in_worker"] = True
    _limit_blas(blas_threads)
    board = Board(board_buffer)
    process_state["board"] = board
    slot = process_state["slot"] = _wait_for_slot(board, caller_pid)
    threading.Thread(target=_watchdog, args=(caller_pid, board, slot), daemon=True,
                     name="parallel_analysis-watchdog").start()


def _wait_for_slot(board: Board, caller_pid: int) -> int:
    """Our slot on the board, which the caller writes right after the submit that started us.

    A caller that never learned our pid (a Ctrl-C while multiprocessing was starting us: the
    forkserver forked us, the pid never reached the executor) gives none: nobody would ever
    stop us, so we exit before taking any task, as we do when the caller dies meanwhile."""
    deadline = time.monotonic() + SLOT_WAIT
    while True:
        slot = board.find(os.getpid(), wait=0.05)
        if slot >= 0:
            return slot
        if time.monotonic() >= deadline or not pid_alive(caller_pid):
            os._exit(0)


def _limit_blas(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except Exception:  # BLAS limits are an optimisation, never a failure
        pass


def _rss() -> int:
    """This process's resident set size in bytes (0 when /proc cannot tell)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _watchdog(caller_pid: int, board: Board, slot: int) -> None:
    """Exit when the caller dies; drop mappings of segments their owner unlinked; note the RSS
    on the board (what a crash report says when the kernel kills us for memory)."""
    pidfd = None
    try:
        pidfd = os.pidfd_open(caller_pid)
    except (AttributeError, OSError):
        pass
    while True:
        if pidfd is not None:
            ready, _, _ = select.select([pidfd], [], [], WATCHDOG_INTERVAL)
            dead = bool(ready)
        else:
            time.sleep(WATCHDOG_INTERVAL)
            dead = not pid_alive(caller_pid)
        if dead:
            os._exit(0)
        attached.release_unlinked()
        board.note_rss(slot, _rss())


def pid_alive(pid: int) -> bool:
    """Whether a process with that pid exists (without reaping or signalling it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def call_pickled(payload: bytes, log_level: int = 10, call_id: int = 0,
                 capture: bool = True) -> bytes:
    """``Pool.submit``'s task: a cloudpickled (function, args, kwargs), called.

    The value or exception goes back pickled here, as a map's outcomes do, not by the executor's
    standard pickler: that one cannot pickle an instance of a class defined in the caller's
    ``__main__`` (a script, a notebook), which functions and classes reach us by value. What
    the call logged, warned and printed goes with it (as a chunk's does), for the caller to
    replay; ``log_level`` is the lowest level the caller's loggers accept. The call is marked
    on the board as chunk 0 of a map ``call_id`` (negative: no map has it) from before its
    unpickling to after its reply's pickling, so that if its worker dies the caller knows whose
    call it was, and sends the others lost with it again.
    """
    import cloudpickle

    board = process_state.get("board") if call_id else None
    slot = process_state.get("slot", -1)
    if board is not None:
        board.start(slot, call_id, 0)
    try:
        with feedback.capture(0, enabled=capture, level=log_level) as captured:
            try:
                fn, args, kwargs = cloudpickle.loads(payload)
                value = fn(*args, **kwargs)
                reply: tuple = ("ok", value)
            except BaseException as exc:  # KeyboardInterrupt raised by fn: its own error too
                reply = ("failed", travelling_error(exc), traceback.format_exc())
        said = (os.getpid(), captured.take())
        try:
            return wire.dumps((*reply, said))
        except Exception as exc:
            return wire.dumps(("failed", pickling_error("the result of the call", reply[1], exc),
                               "", said))
    finally:
        if board is not None:
            board.stop(slot)
