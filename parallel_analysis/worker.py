"""worker: the chunk loop that runs next to the data, the same on every backend. Layer: low
(imports the leaves errors, board and feedback).

A map sends its workers a :class:`Job` (what to do with each chunk) and batches of chunk specs
(how to load each chunk, :mod:`.specs`). :func:`run_chunks` loads each chunk, applies the job,
times it, marks it on the :class:`~parallel_analysis.board.Board` while it runs, and turns an
exception into a failed :class:`Outcome` that the caller re-raises with its own type. Process
workers wrap it in :mod:`parallel_analysis.backends.remote` (bytes in, bytes out).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import feedback, tagging
from .arrow_dtypes import as_whole
from .board import Board
from .errors import WorkerCrashedError

_local = threading.local()  # .running: a chunk of a map runs in this thread (nested maps go serial)
#: Set in worker processes: "in_worker" (nested maps run serially; output is captured).
process_state: dict[str, Any] = {}


def in_worker() -> bool:
    """True inside a worker process, or in a thread that is running a chunk."""
    return bool(process_state.get("in_worker") or getattr(_local, "running", False))


@contextlib.contextmanager
def running_chunk() -> Iterator[None]:
    """This thread runs a chunk (or ``auto``'s probe of one) meanwhile: maps that ``func``
    starts run serially here (:func:`in_worker`), as nested maps do everywhere."""
    outer = getattr(_local, "running", False)  # a nested (serial) map inside a running chunk
    _local.running = True
    try:
        yield
    finally:
        _local.running = outer  # still inside the outer chunk: its later maps stay serial


# -- jobs and results -----------------------------------------------------------------------------

@dataclass(eq=False)  # compared (and hashed) by identity: backends cache its pickle
class Job:
    """What to do with each chunk of one map call."""

    func: Any  # None: the chunk itself
    mode: str  # "map" (return func(chunk)), "reduce" (reducer.partial), "array" (write rows)
    reducer: Any = None
    args: tuple = ()
    kwargs: dict | None = None
    out: Any = None  # "array" mode: a Shared handle or an ndarray to write rows into
    log_level: int = 10  # lowest level the caller's loggers accept (feedback.caller_level)
    halos: Any = None  # map_overlap: halos.Halos, what to add and trim around func per chunk
    cast: str = "safe"  # "array" mode: numpy's casting into ``out`` (same_kind: dtype= given)
    arrow_dtypes: dict | None = None  # "reduce" of Arrow chunks: the whole data's promotions


@dataclass(slots=True)  # thousands per map: slots make each one cheaper to build and read
class Outcome:
    """One chunk's result: ``value`` when ``ok``; otherwise ``error`` and the remote traceback."""

    index: int
    ok: bool
    value: Any = None
    error: BaseException | None = None
    remote_tb: str = ""
    seconds: float = 0.0
    pid: int = 0
    feedback: list | None = None  # log records, warnings, prints (process workers only)
    started: float = 0.0  # time.monotonic() at the start (machine-wide: comparable in the caller)
    load_seconds: float = 0.0  # of ``seconds``, the time spec.load() took (attach, decode)


def apply_job(job: Job, chunk: Any, index: int | None = None) -> Any:
    """``func(chunk)`` (or the chunk itself), then the reducer's partial in "reduce" mode.

    Chunk ``index`` of a map_overlap (``job.halos``) gets its boundary rows first, and its halo
    rows trimmed from ``func``'s output (a probe with no index runs ``func`` alone).
    """
    halos = job.halos if index is not None else None
    if halos is not None:
        chunk = halos.extend(index, chunk)
    value = chunk if job.func is None else job.func(chunk, *job.args, **(job.kwargs or {}))
    if halos is not None:
        value = halos.trim(index, value)
    if job.mode == "reduce":
        if getattr(job.reducer, "arrow_as_pandas", False) and \
                type(value).__module__.startswith("pyarrow") and hasattr(value, "to_pandas"):
            value = value.to_pandas()  # Arrow data as pandas reduces it: NA skipped, per column
            if job.arrow_dtypes:  # ... with the dtypes of the whole data (arrow_dtypes)
                value = as_whole(value, job.arrow_dtypes)
        return job.reducer.partial(value)
    return value


def write_rows(job: Job, spec: Any, value: Any) -> None:
    """Write one chunk's output rows into the map_array output (``job.out``): of the first
    chunk's dtype, which another chunk's values must fit without loss (numpy's "safe" cast:
    int8 into int64, never int64 into int8 or float64 into float32), or of the ``dtype=``
    given, which values are cast to as numpy's "same_kind" allows."""
    out = job.out.value if hasattr(job.out, "value") else job.out
    target = out[spec.out_start: spec.out_stop]
    value = np.asarray(value)
    if value.shape != target.shape:
        raise ValueError(
            f"map_array: func returned shape {value.shape} for chunk {spec.index}, but the "
            f"output rows for that chunk have shape {target.shape} (rows shaped as the first "
            "chunk's, or as shape= says): map_array needs one output row per input row of the "
            "same shape for every chunk (use map_chunks otherwise)"
        )
    if job.cast == "safe" and not np.can_cast(value.dtype, target.dtype, "safe"):
        raise TypeError(
            f"map_array: func returned {value.dtype} for chunk {spec.index}, but the output is "
            f"{target.dtype} (the first chunk's dtype), which cannot hold every {value.dtype} "
            "value: return one dtype from every chunk (e.g. .astype(...)), or use map_chunks "
            "and np.concatenate, which promotes"
        )
    try:
        np.copyto(target, value, casting=job.cast)
    except OverflowError as err:  # numpy 2.5 checks a datetime unit's range itself
        raise _lossy(value, target, spec) from err
    if job.cast == "safe" and _may_lose(value.dtype, target.dtype) and not _round_trips(
            target, value):
        raise _lossy(value, target, spec)


def _lossy(value: np.ndarray, target: np.ndarray, spec: Any) -> TypeError:
    return TypeError(
        f"map_array: func returned {value.dtype} for chunk {spec.index}, but the output is "
        f"{target.dtype} (the first chunk's dtype), which does not hold these values exactly "
        "(numpy calls the cast safe; it rounds integers past 2**53 and wraps dates past the "
        "unit's range): return one dtype from every chunk (e.g. .astype(...))")


def _may_lose(source: np.dtype, target: np.dtype) -> bool:
    """A cast numpy calls safe that can still change values: integers into floats, datetimes
    and timedeltas into a finer unit."""
    return source != target and ((source.kind in "iu" and target.kind in "fc")
                                 or (source.kind in "mM" and target.kind == source.kind))


def _round_trips(written: np.ndarray, value: np.ndarray) -> bool:
    with np.errstate(all="ignore"):
        back = written.astype(value.dtype)
    if value.dtype.kind in "mM":
        return bool(np.array_equal(back.view(np.int64), value.view(np.int64)))
    return bool(np.array_equal(back, value))


def call_without_exit(func: Callable, /, *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` for ``Pool.submit``; a ``sys.exit()`` in it is an error of the
    call (WorkerCrashedError, as a map's chunk gives), which ``result()`` raises: not a
    SystemExit that would end the caller's script."""
    in_caller = not process_state.get("in_worker")  # a thread: its records tagged as a call's
    outer = tagging.enter_chunk(tagging.CALL) if in_caller else None
    try:
        return func(*args, **kwargs)
    except SystemExit as exc:
        raise WorkerCrashedError(
            f"the submitted call called sys.exit({exc.code!r}) in the worker; the caller keeps "
            "running (raise an exception instead)", exitcode=_exit_code(exc)) from None
    finally:
        if in_caller:
            tagging.leave_chunk(outer)


def _exit_code(exc: SystemExit) -> int:
    """The process exit code ``sys.exit(code)`` stands for (1 for a message or other object)."""
    return exc.code if isinstance(exc.code, int) else 1


def exit_error(index: int, exc: SystemExit) -> BaseException:
    """What a chunk's ``sys.exit()`` becomes: an error of the map, never the end of a worker."""
    return WorkerCrashedError(
        f"chunk {index} called sys.exit({exc.code!r}) in the worker; the caller keeps running "
        "(raise an exception instead to stop a map)",
        chunk=index,
        exitcode=_exit_code(exc),
    )


def run_chunks(job: Job, specs: list, board: Board | None = None, slot: int = -1,
               map_id: int = 0, stop_on_error: bool = True) -> list[Outcome]:
    """Run ``job`` on each spec's chunk in order; exceptions become failed outcomes."""
    outcomes, pid = [], os.getpid()
    in_process = bool(process_state.get("in_worker"))
    # One capture per batch (installing handlers costs more than a tiny chunk); each chunk
    # takes what it emitted.
    with running_chunk(), feedback.capture(specs[0].index if specs else 0, enabled=in_process,
                          level=job.log_level) as captured:
        for spec in specs:
            if board is not None and board.cancelled(map_id):
                break  # the map was cancelled (or failed): its other chunks are not wanted
            if in_process:  # its records are tagged when replayed in the caller
                outcome = _run_one(job, spec, board, slot, map_id)
            else:
                outer_chunk = tagging.enter_chunk(spec.index)
                try:
                    outcome = _run_one(job, spec, board, slot, map_id)
                finally:
                    tagging.leave_chunk(outer_chunk)
            outcome.pid = pid
            items = captured.take()
            if items:
                outcome.feedback = items
            outcomes.append(outcome)
            if not outcome.ok and stop_on_error:
                break
    return outcomes


def _run_one(job: Job, spec: Any, board: Board | None, slot: int, map_id: int) -> Outcome:
    """One chunk: load it, apply the job, time it; an exception becomes a failed outcome."""
    if board is not None:
        board.start(slot, map_id, spec.index)
    clock = time.monotonic  # machine-wide: the caller compares start times with its own
    started, loaded = clock(), None
    try:
        chunk = spec.load()
        loaded = clock()
        value = apply_job(job, chunk, spec.index)
        if job.mode == "array":
            write_rows(job, spec, value)
            value = None
        outcome = Outcome(spec.index, True, value)
    except SystemExit as exc:
        outcome = Outcome(spec.index, False, error=exit_error(spec.index, exc),
                          remote_tb=traceback_text(exc))
    except BaseException as exc:  # KeyboardInterrupt raised by func too: it keeps its chunk
        outcome = Outcome(spec.index, False, error=exc, remote_tb=traceback_text(exc))
    finally:
        if board is not None:
            board.stop(slot)
    outcome.seconds = clock() - started
    outcome.started = started
    outcome.load_seconds = (loaded - started) if loaded is not None else outcome.seconds
    return outcome


def traceback_text(exc: BaseException) -> str:
    """``exc``'s traceback as ``traceback.format_exc()`` writes it; on CPython 3.11 without the
    ``^^^`` column markers, whose computation calls ``ast.parse``: before 3.12 its recursion
    counter is interpreter-global (gh-106905), so a chunk failing in a thread while another
    thread parses (IPython, pytest) can kill the interpreter with "SystemError: AST constructor
    recursion depth mismatch". The exception itself keeps its full traceback."""
    report = traceback.TracebackException.from_exception(exc)
    if sys.version_info < (3, 12):
        todo, seen = [report], set()
        while todo:
            part = todo.pop()
            if part is None or id(part) in seen:
                continue
            seen.add(id(part))
            for frame in part.stack:
                frame.colno = frame.end_colno = None
            todo += [part.__cause__, part.__context__, *(getattr(part, "exceptions", None) or ())]
    return "".join(report.format())
