"""auto: backend="auto" chooses threads or processes per map from a probe, and says why. Layer:
pipeline (imports gil, split, tagging and worker; touches no pool).

The question is whether ``func`` holds the GIL: threads that take turns on it cannot run in
parallel, processes can; threads that release it need no data moved at all. :mod:`.gil` answers
it for one call, in a way the machine's load cannot fool (it counts the GIL-holding share of
func's own CPU time). The probe runs ``func`` in the calling thread on pieces of the first
chunk: a first piece of 1/64 of the chunk (which also sizes the work), then pieces of about
:data:`VOTE_CPU_SECONDS` of func's CPU time, until two votes agree or three are in; the median
held share decides. A piece in which the watcher took the GIL many times and found it almost
never held settles alone (:data:`RELEASED_SHARE`): a GIL holder lets another thread in at most
once per switch interval, so many naps in one short piece cannot come from one. Their results,
logs and prints are thrown away (the chunks say it all again): 4-20 ms of func time, a few
per cent of a 0.3 s map, less of a longer one.

=========================================  ========  =========================================
probe                                      choice    why
=========================================  ========  =========================================
one worker                                 serial    nothing to run in parallel
one chunk                                  thread    nothing to run in parallel
a reducer whose partials release the GIL   thread    its kernels say so (``releases_gil``);
                                                     no probe
a map with ``timeout=``, not remembered    process   its chunks can be stopped; no probe (func
                                                     in this thread could not be)
a chunk takes < ``TINY_CHUNK_SECONDS``     thread    too little work to move to processes
median held share >= ``HELD_SHARE``        process   threads would take turns on the GIL
otherwise                                  thread    func releases the GIL: no data moves
func raised (or called sys.exit)           thread    let the map raise it, with its chunk
=========================================  ========  =========================================

A pool remembers the answers of the GIL votes (:mod:`.auto_memory`), keyed by what decides them:
the function (its code, looked through ``functools.partial`` and bound methods, so the
accessor's wrappers key on the user's function), the map's mode and reducer, and the kind of
data (type and dtypes). Later maps of the same function on the same kind of data pay no probe:
the probe is a cost of the first maps, as a warm pool's start-up is. Answers that depend on
the size of the chunks (too small, could not watch, func raised) are not remembered, and an
answer is used only once ``CONFIRMED`` probes in a row agreed on it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from . import tagging
from .auto_memory import Memory
from .gil import Watched, watch
from .split import take_rows
from .worker import Job, apply_job, running_chunk

#: Each voting piece gives the watcher about this much of func's CPU time: less than a GIL
#: switch interval (5 ms), so that a GIL holder makes the watcher wait through all of it, and
#: enough for ~8 naps when func releases the GIL.
VOTE_CPU_SECONDS = 0.002

#: Pieces whose held shares are voted on (the median decides).
VOTES = 3

#: The probe stops after this much wall time even with fewer votes (a starved machine).
MAX_SECONDS = 0.060

#: A piece that found little holding, during which the watcher waited for a CPU more than this
#: share of the time and napped fewer than MANY_NAPS times, does not vote (unless no piece
#: could): func ran unwatched, and a GIL holder would look released.
STARVED_SHARE = 0.25
MANY_NAPS = 6

#: A vote below this held share, from a piece in which the watcher was not starved and napped
#: at least MANY_NAPS times, settles the probe alone ("thread"): each nap needed the GIL, which a
#: holder gives up once per 5 ms switch interval. A high share still needs a second vote (a
#: first call in a cold process holds the GIL while it imports).
RELEASED_SHARE = 0.1

#: The first piece: this fraction of a chunk's rows.
FIRST_PIECE = 1 / 64

#: A chunk estimated to take less than this is too small for processes to pay off.
TINY_CHUNK_SECONDS = 0.002

#: Held share from which the map goes to processes. With 2 workers, threads reach at most
#: 1 / (h + (1 - h) / 2): 1.43x at 0.4, while processes reach near 2x minus moving the data.
#: Measured shares sit far from it: <= 0.2 for numpy and pandas' groupby kernels, >= 0.5 for
#: work that is mostly Python.
HELD_SHARE = 0.4


def _piece_maker(specs: list) -> tuple[Callable[[int], Any], int]:
    """(rows → the first rows of the first chunk, its rows); chunks that cannot be cut by rows
    (a list of chunks of other kinds) are watched whole."""
    chunk = specs[0].load()
    try:
        rows = len(chunk)
        take_rows(chunk, slice(0, 1))
    except (TypeError, AttributeError):
        return (lambda r: chunk), 1
    return (lambda r: take_rows(chunk, slice(0, r))), max(1, rows)


def _fed(piece: Watched) -> bool:
    """The watcher had a CPU through most of the piece (it waited for one at most
    STARVED_SHARE of the time), so it would have seen a held GIL."""
    return piece.starved <= STARVED_SHARE * piece.seconds


def plainly_released(piece: Watched) -> bool:
    """A piece that settles the probe alone: the watcher, fed with CPU, took the GIL at least
    MANY_NAPS times and found it held through less than RELEASED_SHARE of func's CPU time."""
    return (piece.ran > 0 and piece.held / piece.ran < RELEASED_SHARE and _fed(piece)
            and piece.naps >= MANY_NAPS)


def _settled(shares: list, settles: bool) -> bool:
    """A plainly released piece, or two votes on the same side of HELD_SHARE (a third cannot
    move the median across)."""
    return settles or (
        len(shares) >= 2 and (min(shares) >= HELD_SHARE or max(shares) < HELD_SHARE))


def _votes(func: Callable, piece_maker: Callable[[int], Any], rows: int) -> tuple | str:
    """The held shares of the probe's pieces (and of those that could not vote), its wall and
    CPU seconds and wall seconds per row; or the reason string when the work is too small to
    probe."""
    first = max(1, int(rows * FIRST_PIECE))
    shares, skipped, spent, cpu_seen, probed = [], [], 0.0, 0.0, 0
    began = time.perf_counter()
    size, last, settles = first, None, False
    while (len(shares) < VOTES and not _settled(shares, settles)
           and time.perf_counter() - began < MAX_SECONDS):
        if last is not None:  # pieces after the first: sized for VOTE_CPU_SECONDS of func CPU
            rate = (last.ran if last.ran > 0.3 * last.seconds else last.seconds) / size
            size = min(rows, max(size, int(VOTE_CPU_SECONDS * 1.1 / max(rate, 1e-12))))
        last = watch(func, piece_maker(size))
        spent, cpu_seen, probed = spent + last.seconds, cpu_seen + last.ran, probed + size
        if size == first and last.seconds * rows / first < TINY_CHUNK_SECONDS:
            return (f"a chunk takes about {last.seconds * rows / first * 1e3:.2f} ms: too "
                    "little work to move to processes")
        if last.ran >= VOTE_CPU_SECONDS / 2:
            share = last.held / last.ran
            # A watcher waiting for a CPU can miss a held GIL, never fake one: a piece that
            # found little holding votes only if the watcher ran enough to know.
            if share >= HELD_SHARE or _fed(last) or last.naps >= MANY_NAPS:
                shares.append(share)
                settles = plainly_released(last)
            else:
                skipped.append(share)
        elif size == rows and last.seconds < VOTE_CPU_SECONDS / 2:
            return (f"a whole chunk took {last.seconds * 1e3:.2f} ms: too little work to move "
                    "to processes")
    return shares or skipped, spent, cpu_seen, spent / max(probed, 1)


def decide(job: Job, specs: list, workers: int, memory: Memory | None = None,
           data: Any = None, timeout: float | None = None) -> tuple[str, str]:
    """(backend name, reason) for running ``job`` over ``specs`` with ``workers`` workers;
    ``memory`` (with the map's ``data``) remembers the GIL votes' answers for the next map.
    A map with a ``timeout`` that would need a probe goes to processes unprobed: the probe runs
    func in this thread, where an overrun cannot be stopped (nor can it in a thread)."""
    if workers <= 1:
        return "serial", "one worker: nothing to run in parallel"
    if len(specs) < 2:
        return "thread", (f"{'one chunk' if specs else 'no chunk (no rows)'}: nothing to run "
                          "in parallel")
    if job.func is None and getattr(job.reducer, "releases_gil", False):
        return "thread", (f"{type(job.reducer).__name__}'s partials run in kernels that "
                          "release the GIL: threads, no data moved (no probe)")
    key = memory.key(job, data) if memory is not None else None
    remembered = memory.get(key) if key is not None else None
    if remembered is not None:
        choice, reason, per_row = remembered
        estimate = per_row * _piece_maker(specs)[1]
        if choice != "process" or estimate >= TINY_CHUNK_SECONDS:
            return choice, f"{reason} (remembered from an earlier map: no probe)"
        return "thread", (f"a chunk takes about {estimate * 1e3:.2f} ms (at the rate an earlier "
                          "map measured): too little work to move to processes")
    if timeout is not None:
        return "process", (f"timeout={timeout:g} s given: processes, whose chunks are stopped "
                           "when they overrun (a probe in this thread, or a thread, could not "
                           "be; no probe)")
    choice, reason, per_row = _probe(job, specs)
    if per_row is not None and key is not None:
        memory.put(key, (choice, reason, per_row))
    return choice, reason


def _pieces(shares: list) -> str:
    """The voting pieces' shares, in words."""
    listed = ", ".join(f"{v:.0%}" for v in shares)
    if len(shares) == 1:
        return f"one piece: {listed}"
    return f"median of {len(shares)} pieces: {listed}"


def _probe(job: Job, specs: list) -> tuple[str, str, float | None]:
    """(backend, reason, func's wall seconds per row when the GIL votes decided: an answer
    worth remembering; else None)."""
    probe = Job(job.func, "map" if job.mode == "array" else job.mode, job.reducer, job.args,
                job.kwargs)
    try:
        piece_maker, rows = _piece_maker(specs)
        with tagging.silenced(), running_chunk():  # maps func starts run serially
            votes = _votes(lambda piece: apply_job(probe, piece), piece_maker, rows)
    except (Exception, SystemExit) as exc:  # the map itself will raise it, with the chunk
        return "thread", f"the probe raised {type(exc).__name__}; running on threads", None
    if isinstance(votes, str):
        return "thread", votes, None
    shares, spent, cpu_seen, per_row = votes
    if not shares:
        return "thread", ("the probe could not watch func run (the OS gave it no CPU): "
                          "running on threads"), None
    share = statistics.median(shares)
    what = (f"it held the GIL through {share:.0%} of its CPU time while a second thread waited "
            f"for it ({_pieces(shares)}; {cpu_seen * 1e3:.1f} ms of func CPU, "
            f"{spent * 1e3:.1f} ms wall)")
    if share >= HELD_SHARE:
        return "process", f"func holds the GIL: {what}, so the map runs in processes", per_row
    return "thread", f"func releases the GIL: {what}; threads suffice and no data moves", per_row
