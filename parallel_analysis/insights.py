"""insights: what a map did, chunk by chunk, for ``par.last_run()`` and benchmark reports. Layer:
leaves.

Every map records a :class:`RunStats`: the backend (and why ``auto`` chose it), and for each chunk
a :class:`ChunkTiming` of its life, measured on the machine-wide monotonic clock, so times taken
in a worker process and in the caller line up::

    caller: submit ──────────────┐                                   ┌── result in hand
    worker:          queue wait  │ attach │ compute │  (next chunk)  │
                     ◀──────────▶◀───────▶◀────────▶  ◀─ send back ─▶
                                  spec.load  func / partial   pickle, pipe, unpickle

``queue_wait`` is from submission to the chunk's start (waiting for a free worker, or for the
earlier chunks of its batch); ``attach`` is ``spec.load()`` (mapping shared memory, decoding Arrow
columns, unpickling an inline chunk); ``compute`` is ``func`` and the reducer's ``partial``;
``send_back`` is from the end of the chunk's batch in the worker to the caller holding the result.
Bytes are those pickled through the executor's pipes (the job and chunk specs out, results back);
data in shared memory is not counted as moved, since it is not.

``summary()`` is one line, ``_repr_html_`` a table in Jupyter, ``as_dict()`` plain numbers for
pytest-benchmark's ``extra_info`` or a JSON report.
"""

from __future__ import annotations

import html
import operator
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Per-chunk rows shown by ``_repr_html_`` (the totals always cover every chunk).
HTML_ROWS = 20


class ChunkTiming(NamedTuple):
    """One chunk's life in seconds, and the pickled bytes of its batch (on its first chunk)."""

    index: int
    pid: int
    queue_wait: float
    attach: float
    compute: float
    send_back: float
    bytes_sent: int = 0
    bytes_received: int = 0


PHASES = ("queue_wait", "attach", "compute", "send_back")


class _Timed(NamedTuple):
    """What a ChunkTiming needs of an outcome."""

    index: int
    pid: int
    started: float
    seconds: float
    load_seconds: float


_TIMED = _Timed._fields


@dataclass
class RunStats:
    """What a map did: backend, chunks, wall time and each chunk's timing."""

    backend: str = ""
    workers: int = 0
    chunks: int = 0
    seconds: float = 0.0
    chunk_seconds: list = field(default_factory=list)
    reason: str = ""
    timings: list = field(default_factory=list)  # ChunkTiming per chunk, in arrival order

    def __post_init__(self) -> None:
        self._batches: list = []  # returned batches not yet read into chunk_seconds / timings

    def add_batch(self, outcomes: list, submitted: float, received: float, bytes_sent: int,
                  bytes_received: int) -> None:
        """Record a returned batch. Its ChunkTimings are built when ``timings`` or
        ``chunk_seconds`` is first read: a map of thousands of tiny chunks does not pay for
        timings nobody reads. Only the outcomes' numbers are kept (never their values or
        errors, whose tracebacks hold frames, pools and their semaphores)."""
        columns = tuple(list(map(operator.attrgetter(name), outcomes)) for name in _TIMED)
        self._batches.append((columns, submitted, received, bytes_sent, bytes_received))

    def _settle(self) -> None:
        batches, self._batches = self._batches, []
        for columns, submitted, received, bytes_sent, bytes_received in batches:
            self.__dict__["_timings"].extend(batch_timings(
                [_Timed(*row) for row in zip(*columns)], submitted, received, bytes_sent,
                bytes_received))
            self.__dict__["_chunk_seconds"].extend(columns[_TIMED.index("seconds")])

    @property
    def busy_fraction(self) -> float:
        """Share of the workers' time spent on chunks (attach + compute; 1.0 = never idle)."""
        if not self.seconds or not self.workers:
            return 0.0
        return min(1.0, sum(self.chunk_seconds) / (self.seconds * self.workers))

    @property
    def bytes_moved(self) -> int:
        """Bytes pickled through pipes, both ways (shared-memory data is not moved)."""
        return sum(t.bytes_sent + t.bytes_received for t in self.timings)

    def utilisation(self) -> dict[int, float]:
        """Busy fraction of each worker (by pid) over the map's wall time."""
        busy: dict[int, float] = {}
        for t in self.timings:
            busy[t.pid] = busy.get(t.pid, 0.0) + t.attach + t.compute
        return {pid: min(1.0, s / self.seconds) if self.seconds else 0.0
                for pid, s in busy.items()}

    def totals(self) -> dict[str, float]:
        """Seconds summed over chunks for each phase."""
        return {phase: sum(getattr(t, phase) for t in self.timings) for phase in PHASES}

    def medians(self) -> dict[str, float]:
        """Median seconds per chunk for each phase (0 when no chunk was timed)."""
        return {phase: statistics.median(getattr(t, phase) for t in self.timings)
                if self.timings else 0.0 for phase in PHASES}

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers (JSON-ready), e.g. ``benchmark.extra_info.update(stats.as_dict())``."""
        out: dict[str, Any] = {
            "backend": self.backend, "reason": self.reason, "workers": self.workers,
            "chunks": self.chunks, "seconds": self.seconds,
            "busy_fraction": self.busy_fraction, "bytes_moved": self.bytes_moved,
            "bytes_sent": sum(t.bytes_sent for t in self.timings),
            "bytes_received": sum(t.bytes_received for t in self.timings),
        }
        out.update({f"{k}_total": v for k, v in self.totals().items()})
        out.update({f"{k}_median": v for k, v in self.medians().items()})
        return out

    def summary(self) -> str:
        """One line: what ran where, how long, where the time went, how busy the workers were."""
        why = f" ({self.reason})" if self.reason else ""
        line = f"{self.chunks} chunks on {self.backend}{why} in {self.seconds:.3f} s"
        if self.timings:
            med = self.medians()
            line += (f"; per chunk (median) queue {_ms(med['queue_wait'])}, attach "
                     f"{_ms(med['attach'])}, compute {_ms(med['compute'])}, send back "
                     f"{_ms(med['send_back'])}")
            if self.bytes_moved:
                line += f"; {_bytes(self.bytes_moved)} pickled"
        return line + f"; workers busy {self.busy_fraction:.0%}"

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<RunStats: {self.summary()}>"

    def _repr_html_(self) -> str:
        esc = html.escape
        head = (f"<p><b>{esc(str(self.chunks))} chunks</b> on {esc(self.backend)}"
                f"{' (' + esc(self.reason) + ')' if self.reason else ''} in "
                f"{self.seconds:.4f} s; workers busy {self.busy_fraction:.0%}"
                f"{'; ' + _bytes(self.bytes_moved) + ' pickled' if self.bytes_moved else ''}</p>")
        if not self.timings:
            return head
        cols = ["chunk", "worker", "queue wait", "attach", "compute", "send back", "bytes"]
        rows = sorted(self.timings)[:HTML_ROWS]
        body = "".join(
            "<tr>" + "".join(f"<td>{v}</td>" for v in (
                t.index, t.pid, _ms(t.queue_wait), _ms(t.attach), _ms(t.compute),
                _ms(t.send_back), _bytes(t.bytes_sent + t.bytes_received))) + "</tr>"
            for t in rows)
        tot = self.totals()
        body += ("<tr><th>total</th><th></th>" + "".join(
            f"<th>{_ms(tot[p])}</th>" for p in PHASES) + f"<th>{_bytes(self.bytes_moved)}</th>"
            "</tr>")
        more = (f"<p>first {HTML_ROWS} of {len(self.timings)} chunks shown</p>"
                if len(self.timings) > HTML_ROWS else "")
        return (head + "<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>" + body
                + "</table>" + more)


def _settled_list(name: str) -> property:
    """A RunStats list field read through :meth:`RunStats._settle` (the dataclass's __init__
    assigns it through the setter)."""
    private = f"_{name}"

    def get(self: RunStats) -> list:
        if self.__dict__.get("_batches"):
            self._settle()
        return self.__dict__[private]

    def put(self: RunStats, value: list) -> None:
        self.__dict__[private] = value

    return property(get, put)


RunStats.timings = _settled_list("timings")  # type: ignore[assignment]
RunStats.chunk_seconds = _settled_list("chunk_seconds")  # type: ignore[assignment]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


# -- recording ---------------------------------------------------------------------------------

_last = threading.local()
_last_global: dict[str, RunStats] = {}


def last_run() -> RunStats | None:
    """Statistics of the last map run in this thread (or any thread when none ran here)."""
    return getattr(_last, "stats", None) or _last_global.get("stats")


def record(stats: RunStats) -> None:
    """Make ``stats`` what :func:`last_run` returns (in this thread, and for any thread)."""
    _last.stats = stats
    _last_global["stats"] = stats


def timed_run(backend_name: str, workers: int) -> RunStats:
    stats = RunStats(backend=backend_name, workers=workers)
    stats._started = time.perf_counter()
    return stats


def finish_run(stats: RunStats, chunks: int) -> None:
    stats.seconds = time.perf_counter() - stats._started
    stats.chunks = chunks
    record(stats)


def batch_timings(outcomes: list, submitted: float, received: float, bytes_sent: int,
                  bytes_received: int) -> list[ChunkTiming]:
    """The ChunkTimings of one returned batch (see the module docstring for the phases)."""
    finished = max((o.started + o.seconds for o in outcomes if o.started), default=received)
    out = []
    for i, o in enumerate(outcomes):
        queue = max(0.0, o.started - submitted) if o.started else 0.0
        out.append(ChunkTiming(
            o.index, o.pid, queue, o.load_seconds, max(0.0, o.seconds - o.load_seconds),
            max(0.0, received - finished),
            bytes_sent if i == 0 else 0, bytes_received if i == 0 else 0))
    return out
