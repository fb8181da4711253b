"""backends.pickling: the caller's side of sending batches to worker processes. Layer: backends
(imports errors and worker; cloudpickle inside the functions).

The process and dask backends send each batch as two cloudpickle payloads, the job and the
batch's specs, and get the outcomes back as bytes (:mod:`.remote` is the worker's side); a
``Pool.submit`` call's value comes back the same way (:func:`deliver_call`). A job is
pickled once per map, whatever its number of batches. Anything that cannot travel is named in
the error: the function, the reducer, ``args`` or ``kwargs``, the chunks, or a result.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import CancelledError, Future, InvalidStateError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from .. import replay
from ..errors import RemoteTraceback, WorkerCrashedError, pickling_error
from ..forks import fork_safe_lock
from ..worker import Job, Outcome, call_without_exit
from . import wire

#: Times a batch is resubmitted after it was lost through no fault of its own (its executor
#: broke under another map's crash, a worker died holding its input or its result, or died
#: running no chunk): it runs again, but a batch that keeps meeting dying workers ends with an
#: error instead of looping.
REQUEUES = 10


@dataclass
class Batch:
    """A batch of chunks as pickled once, kept with its future until it ends, so that a lost
    batch is resubmitted as it was sent."""

    job: bytes
    specs: bytes
    map_id: int
    first_index: int
    requeues: int = 0  # times it was lost through no fault of its own (see REQUEUES)


def pack_batch(job: Job, specs: list, map_id: int) -> Batch:
    """The job (pickled once per map) and the batch's specs, ready to send."""
    return Batch(dumps_job(job), dumps_specs(specs), map_id, specs[0].index)


_jobs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Job → its pickle
_jobs_lock = fork_safe_lock()


def _dumps(obj: Any, what: str) -> bytes:
    import cloudpickle

    try:
        return cloudpickle.dumps(obj)
    except (Exception, SystemExit) as exc:  # a __reduce__ calling sys.exit must not end the caller
        raise pickling_error(what, None, exc) from exc


def dumps_call(fn: Any, args: tuple, kwargs: dict) -> bytes:
    """``Pool.submit``'s call as one cloudpickle (:func:`.remote.call_pickled` runs it); one
    that cannot be pickled is a PicklingError naming the user's function, not our wrapper."""
    import cloudpickle

    try:
        return cloudpickle.dumps((fn, args, kwargs))
    except Exception as exc:
        named = args[0] if fn is call_without_exit and args else fn
        raise pickling_error("the function or its arguments", named, exc) from exc


def dumps_job(job: Job) -> bytes:
    """The job's pickle, made once per job; a part that does not pickle is named."""
    with _jobs_lock:
        cached = _jobs.get(job)
    if cached is not None:
        return cached
    import cloudpickle

    try:
        data = cloudpickle.dumps(job)
    except (Exception, SystemExit):
        for what, obj in (("the function", job.func), ("the reducer", job.reducer),
                          ("args", job.args), ("kwargs", job.kwargs)):
            try:
                cloudpickle.dumps(obj)
            except (Exception, SystemExit) as exc:
                raise pickling_error(what, obj, exc) from exc
        data = _dumps(job, "the job")
    with _jobs_lock:
        _jobs[job] = data
    return data


def dumps_specs(specs: list) -> bytes:
    """A batch's specs as one payload (packed as columns where they allow it)."""
    what = f"chunks {specs[0].index}..{specs[-1].index}"
    try:
        return wire.dumps(wire.pack_specs(specs))
    except (Exception, SystemExit) as exc:
        raise pickling_error(what, None, exc) from exc


def loads_outcomes(raw: bytes, specs: list) -> list[Outcome]:
    """The outcomes a worker sent back for ``specs`` (one failed outcome when the batch could
    not even be unpickled there)."""
    try:
        status, *rest = wire.loads(raw)
    except (Exception, SystemExit) as exc:  # a result must not end the caller
        raise pickling_error(f"the results of chunks {specs[0].index}..{specs[-1].index}",
                             None, exc, verb="unpickle") from exc
    if status == "ok":
        return wire.unpack_outcomes(rest[0])
    if status == "skipped":  # its map was cancelled before the batch started
        return []
    error, tb = rest
    return [Outcome(specs[0].index, False, error=error, remote_tb=tb)]


class CallFuture(Future):
    """The caller's future of a submitted call, whose value comes from the executor's future
    of its last send (unpickled by :func:`deliver_call`). As concurrent.futures' own: ``cancel()``
    succeeds only while the call still waits (once it runs it returns False and the call
    completes), ``running()`` is True from when the executor hands it to a worker."""

    def __init__(self, keep: Any = None) -> None:
        super().__init__()
        self._sent: Future | None = None  # set by each send (again: lost with another's worker)
        self.requeues = 0  # times it was lost through no fault of its own (see REQUEUES)
        # The call's function and arguments, alive until it ends, as concurrent.futures keeps
        # them: a Shared handle made for the call alone must not unlink its segment before the
        # worker attaches it, though the call travels as a pickle.
        self._keep = keep
        self.add_done_callback(CallFuture._drop)

    @staticmethod
    def _drop(future: CallFuture) -> None:
        future._keep = None

    def cancel(self) -> bool:
        sent = self._sent
        lost = sent.done() and not sent.cancelled() and \
            isinstance(sent.exception(), BrokenProcessPool)  # not sent again yet: still waits
        if not (sent.cancel() or lost):  # running or done: not to be cancelled
            return False
        return super().cancel()

    def running(self) -> bool:
        return super().running() or (not self.done() and self._sent.running())


def deliver_call(sent: Future, result: Future, lost: Any = None) -> None:
    """A submitted call's value or exception (:func:`.remote.call_pickled`), unpickled into the
    caller's ``result`` future; a cancelled call stays cancelled. A call lost with a broken
    executor goes to ``lost(exc)``, which settles it (:func:`settle_crash`: its own worker
    died) or sends it again (another's did); that waits for the broken executor to reap its
    workers, so it runs in a thread of its own, not in the executor's, which calls this.
    Without ``lost``, the loss is a WorkerCrashedError."""
    if result.done():  # the caller cancelled it
        return
    if sent.cancelled():
        result.cancel()
        return
    try:
        raw = sent.result()
    except BrokenProcessPool as exc:  # its worker died: as a map's chunk would say
        if lost is None:
            settle_crash(result, exc)
        else:
            threading.Thread(target=_judge_loss, args=(lost, result, exc), daemon=True,
                             name="parallel_analysis-call-crash").start()
        return
    except BaseException as exc:  # its executor was shut down
        _settle(result, error=exc)
        return
    try:
        status, *rest, (pid, items) = wire.loads(raw)
    except Exception as exc:  # a value that does not unpickle here
        _settle(result, error=pickling_error("the result of the call", None, exc,
                                             verb="unpickle"))
        return
    if items:  # what the call logged, warned and printed, as a chunk's
        try:
            replay.replay(items, None, pid)
        except Exception as exc:  # a warnings "error" filter: the call's error, as a chunk's
            _settle(result, error=exc)
            return
    if status == "ok":
        _settle(result, value=rest[0])
        return
    error, tb = rest
    if tb and error.__cause__ is None:
        error.__cause__ = RemoteTraceback(tb)
    _settle(result, error=error)


def _judge_loss(lost: Any, result: Future, exc: BaseException) -> None:
    try:
        lost(exc)
    except CancelledError as closed:  # sent again to a pool closed meanwhile: not a crash
        _settle(result, error=closed)
    except Exception:  # noqa: BLE001 - the crash is the error; how it died is a detail
        settle_crash(result, exc)


def settle_crash(result: Future, exc: BaseException, how: str | None = None,
                 code: int | None = None) -> None:
    """A submitted call's WorkerCrashedError: its worker ``how`` ("(pid 12) was killed by
    SIGKILL"; None: not known) with exit ``code``."""
    what = f"the worker process running the submitted call {how}" if how else \
        "a worker process died while it ran the submitted call (os._exit, a signal, or the " \
        "OOM killer)"
    error = WorkerCrashedError(f"{what}; the pool starts fresh workers for the next call",
                               exitcode=code)
    error.__cause__ = exc
    _settle(result, error=error)


def _settle(result: Future, value: Any = None, error: BaseException | None = None) -> None:
    try:
        if error is None:
            result.set_result(value)
        else:
            result.set_exception(error)
    except InvalidStateError:  # cancelled meanwhile
        pass
