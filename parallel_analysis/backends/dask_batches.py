"""backends.dask_batches: a batch's life on a dask cluster, and when to give up on it. Layer:
backends (imports errors, pickling).

A worker that dies mid-map: dask reruns its tasks elsewhere, but it cannot recreate the chunks
it was given by scatter, so the batches that lost theirs are scattered again from the caller
and resubmitted. A chunk that keeps killing workers raises a WorkerCrashedError naming it; a
batch of another map that only waited on those workers runs again, marked, instead of taking
the blame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkerCrashedError
from . import pickling
from .pickling import REQUEUES
from .spawning import describe_exit

#: Times a batch is resubmitted after its worker died while running it (dask itself retries a
#: task whose worker dies, but cannot recreate the scattered data it was given).
RESUBMITS = 3


@dataclass
class Batch(pickling.Batch):
    """A batch as submitted to dask, with the keys of the chunks it was given by scatter."""

    keys: list = field(default_factory=list)
    submitted: float = field(default_factory=time.monotonic)  # first sent to the cluster
    attempts: int = 0  # times its worker died while it ran
    marker: str | None = None  # True on the scheduler while a resubmitted run runs
    current: Any = None  # the dask future running it now

    @property
    def lost(self) -> int:
        return self.attempts + self.requeues

    def lose(self, ran: bool) -> bool:
        """Count one loss of the batch with a dying worker; whether to resubmit it.

        Only a batch that was running when its worker died is suspect. One that waited there,
        or had finished and lost its result, says nothing against itself: it has a budget of
        its own (the first loss counts as a run: it was not marked).
        """
        if ran:
            self.attempts += 1
        else:
            self.requeues += 1
        return self.attempts <= RESUBMITS and self.requeues <= REQUEUES

    def retry(self, exc: BaseException, finished: bool, started) -> bool:
        """Whether to resubmit the batch after dask lost it (``started(marker)``: whether a
        marked run was running when its worker died).

        Cancelled by dask: it lost its input with a dying worker, see :meth:`lose`. KilledWorker:
        dask already retried it on several dying workers, but a batch that merely waited there
        while another map's chunk killed them gets the same verdict; so an unmarked batch runs
        once more with a marker, and only a marked one that was running then is given up.
        """
        ran = not finished and (self.marker is None or started(self.marker))
        if hasattr(exc, "allowed_failures") and ran and self.marker is not None:
            self.attempts += 1
            return False
        return self.lose(ran)

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()


def crash_error(exc: BaseException, batch: Batch, exits: Any = ()) -> WorkerCrashedError:
    """The error of a batch the cluster could not run: which chunks, why we gave up, and how
    the last worker died that exited since the batch was sent (``exits``: the cluster's
    ``(time, exit code)``, newest last; a clean exit, code 0, says nothing)."""
    chunk = batch.first_index
    n = len(batch.keys)  # scattered chunks: one key each; other chunks: not known here
    where = (f"chunk {chunk}" if n == 1 else f"chunks {chunk}..{chunk + n - 1}" if n else
             f"the batch of chunks from {chunk}")
    if hasattr(exc, "allowed_failures"):  # KilledWorker: dask's own verdict
        what = (f"dask workers kept dying while running {where}: the scheduler retried it "
                f"{exc.allowed_failures} time(s)")
    elif batch.attempts > RESUBMITS:
        what = f"the dask worker running {where} died {batch.attempts} times"
    else:
        what = (f"{where} was lost {batch.requeues} times with dask workers that died while "
                "running other chunks")
    exitcode = last_exit(exits, batch.submitted)
    if exitcode is not None:
        what += f" (the last worker process {describe_exit(exitcode)})"
    return WorkerCrashedError(
        f"{what}; giving up ({type(exc).__name__}: {exc}). Look for memory limits or native "
        "crashes in the worker logs (the pool's dask client: client.get_worker_logs()); the "
        "cluster itself keeps working.",
        chunk=chunk, exitcode=exitcode,
    )


def last_exit(exits: Any, since: float) -> int | None:
    """The exit code of the last worker that exited since ``since`` (a clean exit, code 0,
    says nothing)."""
    codes = [code for when, code in list(exits) if when >= since and code]
    return codes[-1] if codes else None


def call_crash_error(exc: BaseException, submitted: float, exits: Any = ()) -> WorkerCrashedError:
    """The error of a submitted call whose worker died under it (dask's KilledWorker), told as
    a process pool's submit tells it."""
    exitcode = last_exit(exits, submitted)
    how = "" if exitcode is None else f" (the last worker process {describe_exit(exitcode)})"
    error = WorkerCrashedError(
        f"the dask workers running the submitted call died{how}; dask gave up "
        f"({type(exc).__name__}: {exc}). The cluster itself keeps working.", exitcode=exitcode)
    error.__cause__ = exc
    return error
