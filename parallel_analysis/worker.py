"""What runs next to the data: the chunk loop shared by every backend, and worker set-up.

Every backend runs :func:`run_chunks` on a batch of chunk specs; the process backend wraps it in
:func:`run_batch_pickled` (payload in and results out as cloudpickle bytes, so lambdas, closures
and notebook functions travel, and an unpicklable result becomes a clear error instead of a
broken pool). Worker processes start with :func:`init_process_worker`, which ignores SIGINT (the
caller owns Ctrl-C), caps BLAS threads, claims a slot on the :class:`Board` and starts a watchdog
thread that exits the worker when the caller dies and drops mappings of unlinked segments.

Helpers here are private and module-level so they pickle under forkserver and spawn.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import feedback

#: Seconds between watchdog checks (dead caller, unlinked segments): the delay before a worker
#: exits after its caller is killed, and before it releases a closed segment.
WATCHDOG_INTERVAL = 0.1

_local = threading.local()  # .running: a chunk of a map runs in this thread (nested maps go serial)
_process_state: dict[str, Any] = {}


def in_worker() -> bool:
    """True inside a worker process, or in a thread that is running a chunk."""
    return bool(_process_state.get("in_worker") or getattr(_local, "running", False))


# -- the board: which worker runs which chunk since when ------------------------------------------

class Board:
    """Slots of (pid, map id, chunk + 1, start µs) over a shared int64 buffer.

    The caller reads it to stop a chunk that outlives ``timeout=`` and to name the chunk a dead
    worker was running. Process workers see it through a ``RawArray``; threads through a plain
    array.
    """

    FIELDS = 4

    def __init__(self, buffer: Any, lock: Any = None):
        # A memoryview: setting one cell costs a tenth of what a numpy item assignment does.
        self.cells = memoryview(buffer).cast("B").cast("q")
        self.slots = len(self.cells) // self.FIELDS
        self.lock = lock or threading.Lock()

    def claim(self) -> int:
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


# -- jobs and results -----------------------------------------------------------------------------

@dataclass
class Job:
    """What to do with each chunk of one map call."""

    func: Any  # None: the chunk itself
    mode: str  # "map" (return func(chunk)), "reduce" (reducer.partial), "array" (write rows)
    reducer: Any = None
    args: tuple = ()
    kwargs: dict | None = None
    out: Any = None  # "array" mode: a Shared handle or an ndarray to write rows into
    log_level: int = 10  # lowest level the caller's loggers accept (feedback.caller_level)


@dataclass
class Outcome:
    """One chunk's result: ``value`` when ``ok``; otherwise ``error`` and the remote traceback."""

    index: int
    ok: bool
    value: Any = None
    error: BaseException | None = None
    remote_tb: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    pid: int = 0
    feedback: list | None = None  # log records, warnings, prints (process workers only)
    started: float = 0.0  # time.monotonic() at the start (machine-wide: comparable in the caller)
    load_seconds: float = 0.0  # of ``seconds``, the time spec.load() took (attach, decode)


def _apply(job: Job, chunk: Any) -> Any:
    value = chunk if job.func is None else job.func(chunk, *job.args, **(job.kwargs or {}))
    if job.mode == "reduce":
        return job.reducer.partial(value)
    return value


def _write_rows(job: Job, spec: Any, value: Any) -> None:
    out = job.out.value if hasattr(job.out, "value") else job.out
    target = out[spec.out_start: spec.out_stop]
    value = np.asarray(value)
    if value.shape != target.shape:
        raise ValueError(
            f"map_array: func returned shape {value.shape} for chunk {spec.index}, but the "
            f"output rows for that chunk have shape {target.shape}: map_array needs one output "
            "row per input row of the same shape for every chunk (use map_chunks otherwise)"
        )
    np.copyto(target, value, casting="same_kind")


def _exit_error(index: int, exc: SystemExit) -> BaseException:
    from .errors import WorkerCrashedError

    return WorkerCrashedError(
        f"chunk {index} called sys.exit({exc.code!r}) in the worker; the caller keeps running "
        "(raise an exception instead to stop a map)",
        chunk=index,
        exitcode=exc.code if isinstance(exc.code, int) else 1,
    )


def run_chunks(job: Job, specs: list, board: Board | None = None, slot: int = -1,
               map_id: int = 0, stop_on_error: bool = True) -> list[Outcome]:
    """Run ``job`` on each spec's chunk in order; exceptions become failed outcomes."""
    outcomes = []
    in_process = bool(_process_state.get("in_worker"))
    outer = getattr(_local, "running", False)  # a nested (serial) map inside a running chunk
    _local.running = True
    # One capture per batch (installing handlers costs more than a tiny chunk); each chunk
    # takes what it emitted.
    try:
        with feedback.capture(specs[0].index if specs else 0, enabled=in_process,
                              level=job.log_level) as captured:
            for spec in specs:
                outcome = _run_one(job, spec, board, slot, map_id)
                items = captured.take()
                if items:
                    outcome.feedback = items
                outcomes.append(outcome)
                if not outcome.ok and stop_on_error:
                    break
    finally:
        _local.running = outer  # still inside the outer chunk: its later maps stay serial
    return outcomes


def _run_one(job: Job, spec: Any, board: Board | None, slot: int, map_id: int) -> Outcome:
    """One chunk: load it, apply the job, time it; an exception becomes a failed outcome."""
    if board is not None:
        board.start(slot, map_id, spec.index)
    started, cpu_started = time.perf_counter(), time.thread_time()
    wall_started, loaded = time.monotonic(), None
    try:
        chunk = spec.load()
        loaded = time.perf_counter()
        value = _apply(job, chunk)
        if job.mode == "array":
            _write_rows(job, spec, value)
            value = None
        outcome = Outcome(spec.index, True, value)
    except SystemExit as exc:
        outcome = Outcome(spec.index, False, error=_exit_error(spec.index, exc),
                          remote_tb=traceback.format_exc())
    except Exception as exc:
        outcome = Outcome(spec.index, False, error=exc, remote_tb=traceback.format_exc())
    finally:
        if board is not None:
            board.stop(slot)
    outcome.seconds = time.perf_counter() - started
    outcome.cpu_seconds = time.thread_time() - cpu_started
    outcome.started = wall_started
    outcome.load_seconds = (loaded - started) if loaded is not None else outcome.seconds
    outcome.pid = os.getpid()
    return outcome


# -- process workers ------------------------------------------------------------------------------

_job_cache: dict[str, Any] = {"bytes": None, "job": None}


def _pickling_error(what: str, obj: Any, exc: BaseException) -> BaseException:
    from .errors import PicklingError

    return PicklingError(
        f"could not pickle {what} ({type(obj).__name__}: {_short_repr(obj)}) to send it between "
        f"processes: {type(exc).__name__}: {exc}. Return plain data (numbers, arrays, frames), or "
        "use backend='thread'."
    )


def _short_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = object.__repr__(obj)
    return text if len(text) <= 80 else text[:77] + "..."


def run_batch_pickled(job_bytes: bytes, specs_bytes: bytes, map_id: int,
                      first_index: int = 0) -> bytes:
    """Process-worker entry point: unpickle the job (cached) and the specs, run, pickle back."""
    import cloudpickle

    board = _process_state.get("board")
    slot = _process_state.get("slot", -1)
    try:
        if board is not None:  # marked before unpickling, so a crash there names the chunk
            board.start(slot, map_id, first_index)
        specs = cloudpickle.loads(specs_bytes)
        if _job_cache["bytes"] != job_bytes:
            _job_cache["job"] = cloudpickle.loads(job_bytes)
            _job_cache["bytes"] = job_bytes
        job = _job_cache["job"]
    except BaseException as exc:  # noqa: BLE001 - reported to the caller with its traceback
        if board is not None:
            board.stop(slot)
        error = exc if isinstance(exc, Exception) else RuntimeError(repr(exc))
        if isinstance(exc, SystemExit):
            error = _exit_error(first_index, exc)
        return cloudpickle.dumps(("failed", _safe_error(error), traceback.format_exc()))
    outcomes = run_chunks(job, specs, board, slot, map_id)
    if board is not None:  # a crash while pickling the results still names the chunk
        board.start(slot, map_id, first_index)
    try:
        return cloudpickle.dumps(("ok", outcomes))
    except BaseException:  # noqa: BLE001 - find the outcome that cannot travel
        for outcome in outcomes:
            try:
                cloudpickle.dumps(outcome)
            except BaseException as exc:  # noqa: BLE001
                if not outcome.ok:  # the chunk's own exception: a copy of it that pickles
                    outcome.error = _picklable_copy(outcome.error)
                    continue
                what = f"the result of chunk {outcome.index}"
                bad = outcome.value if outcome.ok else outcome.error
                outcome.ok, outcome.value = False, None
                outcome.error = _pickling_error(what, bad, exc)
                outcome.remote_tb = ""
        return cloudpickle.dumps(("ok", outcomes))
    finally:
        if board is not None:
            board.stop(slot)


def _picklable_copy(exc: BaseException) -> BaseException:
    """``exc``'s type with the arguments that do not pickle replaced by their repr."""
    import cloudpickle

    def pickles(obj: Any) -> bool:
        try:
            cloudpickle.dumps(obj)
            return True
        except Exception:  # noqa: BLE001
            return False

    try:
        copy = type(exc)(*[a if pickles(a) else repr(a) for a in exc.args])
        for note in getattr(exc, "__notes__", ()):
            copy.add_note(note)
        copy.add_note("(arguments of this exception that could not be pickled were replaced "
                      "by their repr to send it from the worker)")
        cloudpickle.loads(cloudpickle.dumps(copy))
        return copy
    except Exception:  # noqa: BLE001 - a constructor that wants other arguments
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _safe_error(exc: BaseException) -> BaseException:
    import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def init_process_worker(board_buffer: Any, board_lock: Any, caller_pid: int,
                        blas_threads: int) -> None:
    """Initializer of each process worker (runs once per process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _process_state["in_worker"] = True
    _limit_blas(blas_threads)
    board = Board(board_buffer, board_lock)
    _process_state["board"] = board
    _process_state["slot"] = board.claim()
    threading.Thread(target=_watchdog, args=(caller_pid,), daemon=True,
                     name="parallel_analysis-watchdog").start()


def _limit_blas(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)
    except Exception:  # noqa: BLE001 - BLAS limits are an optimisation, never a failure
        pass


def _watchdog(caller_pid: int) -> None:
    """Exit when the caller dies; drop mappings of segments their owner unlinked."""
    from . import segment

    pidfd = None
    try:
        pidfd = os.pidfd_open(caller_pid)
    except (AttributeError, OSError):
        pass
    import select

    while True:
        if pidfd is not None:
            ready, _, _ = select.select([pidfd], [], [], WATCHDOG_INTERVAL)
            dead = bool(ready)
        else:
            time.sleep(WATCHDOG_INTERVAL)
            dead = not pid_alive(caller_pid)
        if dead:
            os._exit(0)
        segment.release_unlinked()


def pid_alive(pid: int) -> bool:
    """Whether a process with that pid exists (without reaping or signalling it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
