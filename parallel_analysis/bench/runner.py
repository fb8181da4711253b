"""Run the workloads: build each data set once, warm every case, then time rounds interleaved.
Layer: faces (bench.runner; imports the package and its own modules).

::

    for each workload (progress line: which one, which round):
        for each data size:   build the data (idle memory measured before)
            warm-up:  each case once, untimed: memory sampled, answer checked against serial
            rounds:   every case once, in an order shuffled afresh each round
        close the peers' pools

Interleaving matters on a shared machine: a burst of someone else's work slows one round of
every case rather than every round of one case, so the ratios of medians taken in the same run
stay fair even when the absolute times are noisy. The order is shuffled (seeded, so a run can
be repeated) rather than rotated: a case also pays for what ran just before it (pages a frame's
copy left to the allocator, a pool's idle workers), and in a rotation every case keeps the same
neighbour in all but one round, so thread x2 would always follow thread x1.
"""

from __future__ import annotations

import gc
import random
import sys
import time
from collections import defaultdict
from typing import Any

import parallel_analysis as par

from . import autoprobe, results
from .accessor import GroupApply, RowApply, SeriesMap
from .ceiling import Ceiling
from .coldstart import ColdStart
from .frames import GroupByWorkload
from .machine import commit_info, machine_info
from .measure import MemorySampler, Runners, cpu_count, stopwatch, tree_memory
from .peers import available_peers
from .rolling import RollingWorkload
from .workloads import Case, NpBound, Overhead, PyBound, Transfer, Workload

#: Not a timed workload: backend="auto"'s decisions, idle and beside a busy loop.
AUTOPROBE = "autoprobe"
PROBES = {"smoke": 2, "quick": 10, "full": 20}

#: The seed of the rounds' orders (round r shuffles with ORDER_SEED + r).
ORDER_SEED = 12


def workloads() -> dict[str, Workload]:
    """Every workload, by name, in the order the report shows them."""
    return {w.name: w for w in (Ceiling(), PyBound(), NpBound(), Transfer(), GroupByWorkload(),
                                Overhead(), ColdStart(), RollingWorkload(), RowApply(),
                                SeriesMap(), GroupApply())}


def worker_counts() -> list[int]:
    """1, 2 and twice the CPUs (the issue's grid)."""
    return sorted({1, 2, 2 * cpu_count()})


def all_cases(mode: str, names: list[str] | None = None, peers: list[str] | None = None,
              ) -> list[Case]:
    peers = available_peers() if peers is None else peers
    chosen = workloads()
    if names:
        unknown = set(names) - set(chosen) - {AUTOPROBE}
        if unknown:
            raise ValueError(f"unknown workload(s) {sorted(unknown)}; choose from {list(chosen)}")
        chosen = {n: chosen[n] for n in chosen if n in names}
    return [c for w in chosen.values() for c in w.cases(mode, worker_counts(), peers)]


class Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per step otherwise."""

    def __init__(self, enabled: bool = True, stream: Any = None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last = ""

    def show(self, text: str, step: bool = False) -> None:
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r\033[K" + text[:150])
            self._last = text
        elif step:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\033[K" if self.tty else "") + text + "\n")
            self.stream.flush()


def _run_once(workload: Workload, case: Case, runners: Runners, data) -> tuple[Any, float]:
    return stopwatch(workload.run, case, runners, data)


def run_group(workload: Workload, cases: list[Case], runners: Runners, progress: Progress,
              prefix: str) -> list[dict]:
    """Warm up and time the cases of one workload at one data size; their JSON entries."""
    gc.collect()
    idle = tree_memory()
    load_before = _load()
    progress.show(f"{prefix}: building data", step=True)
    data = workload.make_data(cases[0].size)
    order = sorted(cases, key=lambda c: c.runner != "serial")  # serial first: the reference
    extras: dict[Case, dict] = defaultdict(dict)
    times: dict[Case, list] = defaultdict(list)
    expected: dict[str, Any] = {}  # the serial answer, per variant
    with data:
        for i, case in enumerate(order):
            progress.show(f"{prefix}: warm-up {i + 1}/{len(order)} {case.id}")
            extra = extras[case]
            extra.update(data_bytes=data.nbytes, memory_idle=idle, kind=case.kind,
                         baseline=workload.baseline)
            value = None
            try:
                with MemorySampler() as mem:
                    value, seconds = _run_once(workload, case, runners, data)
                extra.update(memory_before=mem.before, memory_peak=mem.peak,
                             warmup_seconds=seconds)
                if case.rounds <= 1:  # smoke: the checked warm-up call is the only round
                    times[case].append(seconds)
                if case.kind == "ours" and par.last_run() is not None:
                    extra["last_run"] = par.last_run().summary()
                    if case.runner == "auto":
                        extra["auto_reason"] = par.last_run().backend + ": " + \
                            par.last_run().reason
                if case.variant not in expected:
                    expected[case.variant] = value
                else:
                    workload.check(value, expected[case.variant])
                if hasattr(value, "total_seconds") and case.rounds <= 1:
                    extra["total_seconds"] = [value.total_seconds]
            except Exception as exc:  # one failing case must not end the run
                extra["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            value = None
        live = [c for c in order if not extras[c].get("error")]
        rounds = max((c.rounds for c in cases), default=1)
        for r in range(rounds):
            for i, case in enumerate(round_order(live, r)):
                if extras[case].get("error") or r >= case.rounds or case.rounds <= 1:
                    continue
                progress.show(f"{prefix}: round {r + 1}/{rounds}, case {i + 1}/{len(live)} "
                              f"{case.id}")
                try:
                    value, seconds = _run_once(workload, case, runners, data)
                    times[case].append(seconds)
                    if hasattr(value, "total_seconds"):
                        extras[case].setdefault("total_seconds", []).append(value.total_seconds)
                    value = None
                except Exception as exc:
                    extras[case]["error"] = f"{type(exc).__name__}: {exc}"[:300]
    runners.close_peers()
    load = {"load_before": load_before, "load_after": _load()}
    return [results.entry(c, times[c], {**extras[c], **load}) for c in cases]


def round_order(cases: list, r: int) -> list:
    """The cases in the order of round ``r``: a permutation of its own, the same in every run."""
    order = list(cases)
    random.Random(ORDER_SEED + r).shuffle(order)
    return order


def _load() -> float | None:
    """The 1-minute load average: how busy the machine was (others' work included)."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def run(mode: str = "full", names: list[str] | None = None, progress: bool = True,
        peers: list[str] | None = None) -> dict:
    """Run the benchmark and return the pytest-benchmark-format document."""
    cases = all_cases(mode, names, peers)
    groups: dict[tuple, list[Case]] = defaultdict(list)
    for case in cases:
        groups[(case.workload, case.size)].append(case)
    line = Progress(progress)
    chosen = workloads()
    runners = Runners()
    entries: list[dict] = []
    machine = machine_info()  # before any workload: its load average is the machine's own
    started = time.perf_counter()
    names_in_order = list(dict.fromkeys(c.workload for c in cases))
    try:
        for (name, size), group in groups.items():
            w = names_in_order.index(name) + 1
            prefix = f"[{w}/{len(names_in_order)}] {name} size {size:,}"
            t0 = time.perf_counter()
            entries += run_group(chosen[name], group, runners, line, prefix)
            line.done(f"{prefix}: {len(group)} cases in {time.perf_counter() - t0:.1f} s")
    finally:
        runners.close()
    settings = {"mode": mode, "workloads": names_in_order, "workers": worker_counts(),
                "no_peers": peers == []}
    if not names or AUTOPROBE in names:
        line.show(f"{AUTOPROBE}: {PROBES[mode]} decisions per workload, idle and busy",
                  step=True)
        settings[AUTOPROBE] = autoprobe.tally(mode, PROBES[mode])
        settings["workloads"].append(AUTOPROBE)
    settings["seconds"] = time.perf_counter() - started
    return results.document(entries, machine, commit_info(), settings)
