"""backends.crashes: whose fault a broken process pool was, told as "chunk i, killed by SIGx".
Layer: backends (imports errors, backends.spawning and backends.generation).

``ProcessPoolExecutor`` breaks as a whole when one worker dies: every future it holds fails with
``BrokenProcessPool``, whichever map it belongs to. :func:`judge` reads, once per broken
:class:`~.generation.Generation`, who died on their own (not of the SIGTERM the executor sends
to the others once it broke, told by who was dead already then; not the workers the caller
stopped on purpose) and which chunk of which
map each was running. Then, per map:

==========================================  ===================================================
the map                                     gets
==========================================  ===================================================
ran the chunk whose worker died             :func:`crash_error`: WorkerCrashedError naming it
lost batches with someone else's worker     its batches resubmitted to a fresh executor, up to
(or one that died running no chunk)         ``REQUEUES`` times each, then :func:`lost_error`
==========================================  ===================================================
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import WorkerCrashedError
from .generation import Generation
from .spawning import describe_exit

RESTARTED = "The pool has been restarted; the next call works."


@dataclass
class Death:
    """A worker that died on its own, and the chunk it was running (None: no chunk)."""

    pid: int
    exitcode: int | None
    map_id: int = 0
    chunk: int | None = None
    rss: int = 0


@dataclass
class Verdict:
    """Who broke a generation: the dead worker of each guilty map, and deaths running nothing."""

    culprits: dict[int, Death] = field(default_factory=dict)
    idle: list[Death] = field(default_factory=list)


def exitcode(proc: Any, timeout: float = 3.0) -> int | None:
    """The exit code of a worker of a broken executor, read without reaping it ourselves.

    The executor's own thread reaps its workers when it breaks. Reaping alongside it races:
    multiprocessing's Popen is not thread-safe, and the loser reads EOF from the forkserver
    (exit code 255) or ECHILD from waitpid (None). So wait for the code it stores, and poll
    ourselves only if it never comes.
    """
    popen = getattr(proc, "_popen", None)
    deadline = time.monotonic() + timeout
    while popen is not None and popen.returncode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if popen is not None and popen.returncode is not None:
        return popen.returncode
    return proc.exitcode


def judge(gen: Generation) -> Verdict:
    """Who broke ``gen`` (computed once, when the first of its maps asks)."""
    with gen.lock:
        if gen.verdict is None:
            gen.verdict = _judge(gen)
    gen.sweep()
    return gen.verdict


def _judge(gen: Generation) -> Verdict:
    gen.wait_reaped()
    rows = {pid: (map_id, chunk, rss) for pid, map_id, chunk, _, rss in gen.board.rows()}
    deaths, unknown = [], []
    for pid, proc in list(gen.processes.items()):
        if pid in gen.stopped:
            continue
        code = exitcode(proc)
        map_id, chunk, rss = rows.get(pid, (0, None, 0))
        death = Death(pid, code, map_id, chunk, rss)
        if code is None:
            unknown.append(death)
        elif code != -signal.SIGTERM or pid in gen.dead_at_break:
            deaths.append(death)  # other SIGTERMs: the executor stopping the others
    if not deaths:  # no exit code says who: a worker of unknown fate that ran a chunk
        deaths = [d for d in unknown if d.chunk is not None]
    verdict = Verdict()
    for death in deaths:
        if death.chunk is None:
            verdict.idle.append(death)
        else:
            verdict.culprits.setdefault(death.map_id, death)
    return verdict


def crash_error(death: Death, gen: Generation) -> WorkerCrashedError:
    """The error of the map whose chunk killed its worker."""
    hint = gen.memory.explain(death.pid, death.exitcode, death.rss)
    return WorkerCrashedError(
        f"worker process {death.pid} {describe_exit(death.exitcode)} while running chunk "
        f"{death.chunk}{hint}. {RESTARTED}",
        chunk=death.chunk, exitcode=death.exitcode)


def call_death(gen: Generation, call_id: int) -> tuple[str, int | None] | None:
    """How the worker running submitted call ``call_id`` (marked on the board as a map of
    that id) died when ``gen`` broke: (how, exit code); None when the call was lost with
    another worker's death, and is to be sent again."""
    death = judge(gen).culprits.get(call_id)
    if death is None:
        return None
    return (f"(pid {death.pid}) {describe_exit(death.exitcode)}"
            f"{gen.memory.explain(death.pid, death.exitcode, death.rss)}", death.exitcode)


def lost_error(first_index: int, times: int, verdict: Verdict, gen: Generation
               ) -> WorkerCrashedError:
    """The error of a batch lost too many times with workers that died running other work."""
    last = (verdict.idle or list(verdict.culprits.values()) or [None])[0]
    how = "" if last is None else (
        f" (the last: worker process {last.pid} {describe_exit(last.exitcode)}"
        f"{gen.memory.explain(last.pid, last.exitcode, last.rss)})")
    return WorkerCrashedError(
        f"chunk {first_index} was lost {times} times with worker processes that died while "
        f"it waited or ran next to them{how}; giving up. {RESTARTED}",
        chunk=first_index, exitcode=None if last is None else last.exitcode)
