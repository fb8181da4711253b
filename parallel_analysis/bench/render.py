"""Markdown reports: one run (goals, a table per workload, the machine), or two runs compared.
Layer: faces (bench.render; imports the package and its own modules).

Speedups divide the median of the workload's baseline (``serial`` backend, or the plain
numpy/pandas call where the issue says so) by the case's median, both from the same run.
Efficiency is speedup ÷ min(workers, CPUs): the share of the CPUs the case could use that it
turned into speed.
"""

from __future__ import annotations

import math
import os
from typing import Any

from . import goals as _goals
from .ceiling import ceiling_note
from .plots import draw_all
from .results import Record, baseline, speedup_interval
from .runner import workloads
from .stats import is_noisy

_NAMES = {"plain": "plain (one call)"}


def _fmt_bytes(n) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return str(n)


def _fmt_s(t: float) -> str:
    if t is None or math.isnan(t):
        return "–"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.3f} s"


def _efficiency(rec: Record, speed: float, cpus: int) -> float:
    return speed / max(1, min(rec.workers, cpus))


def _note(r: Record) -> str:
    """What a case's row says beyond its figures (per workload)."""
    note = r.extra.get("auto_reason", "")
    if r.workload == "transfer" and r.runner == "process" and r.variant == "fresh":
        note = (f"first call {_fmt_s(r.extra.get('warmup_seconds', math.nan))} (new segment: "
                "page faults); later calls reuse its pages")
    if r.workload == "overhead" and r.size:
        note = f"{r.median / r.size * 1e6:.1f} µs per chunk"
    if r.workload == "coldstart" and r.extra.get("total_seconds"):
        tot = sorted(r.extra["total_seconds"])[len(r.extra["total_seconds"]) // 2]
        note = f"{_fmt_s(tot)} including the interpreter's exit"
    if is_noisy(r.stats):
        note = f"⚠ rounds spread {r.stats['spread']:.0%}" + (f"; {note}" if note else "")
    return note


_ORDER = ("plain", "serial", "thread", "process", "auto")


def _sorted(rows: list[Record]) -> list[Record]:
    return sorted(rows, key=lambda r: (-r.size, r.variant, r.kind == "peer",
                                       _ORDER.index(r.runner) if r.runner in _ORDER else 0,
                                       r.runner, r.workers))


def workload_table(recs: list[Record], workload: str, cpus: int) -> str:
    """One row per case: median, spread, speedup over the baseline with its 95% interval."""
    rows = [r for r in recs if r.workload == workload]
    base = rows[0].extra.get("baseline", "serial") if rows else "serial"
    base_name = "plain call" if base == "plain" else "serial backend"
    head = ("| size | runner | workers | variant | median | min–max (rounds) | "
            f"speedup vs {base_name} [95% interval] | efficiency | memory added at peak, all "
            "processes | notes |\n"
            "|---:|---|---:|---|---:|---|---:|---:|---:|---|\n")
    lines = []
    for r in _sorted(rows):
        if not r.ok:
            lines.append(f"| {r.size:,} | {_NAMES.get(r.runner, r.runner)} | {r.workers} | "
                         f"{r.variant} | failed | | | | | {r.extra.get('error', 'no data')} |")
            continue
        s = r.stats
        sp = speedup_interval(r, baseline(r, recs))
        eff = _efficiency(r, sp.median, cpus)
        mem = (r.extra["memory_peak"] - r.extra["memory_before"]
               if r.extra.get("memory_peak") is not None else None)
        lines.append(
            f"| {r.size:,} | {_NAMES.get(r.runner, r.runner)} | {r.workers} | {r.variant} | "
            f"{_fmt_s(r.median)} | {_fmt_s(s['min'])}–{_fmt_s(s['max'])} ({s['rounds']}) | "
            f"{'–' if math.isnan(sp.median) else sp} | "
            f"{'–' if math.isnan(eff) or r.kind == 'plain' else f'{eff:.0%}'} | "
            f"{_fmt_bytes(mem)} | {_note(r)} |")
    return head + "\n".join(lines) + "\n"


def scaling_table(recs: list[Record], workload: str) -> str:
    """Chunking gains told apart from parallel gains: serial over chunks vs the one call, and
    each runner that ran with one worker (our backends; the ceiling's bare pools) with more
    workers vs the same runner with one."""
    rows = [r for r in recs if r.workload == workload and r.ok and r.kind != "plain"]
    sizes = sorted({r.size for r in rows}, reverse=True)
    lines = []
    for size in sizes:  # a case is compared only with cases of its own data size
        at = f" ({size:,} rows)" if len(sizes) > 1 else ""
        for variant in dict.fromkeys(r.variant for r in rows if r.size == size):
            pick = {(r.runner, r.workers): r for r in rows
                    if r.variant == variant and r.size == size}
            plain = next((r for r in recs if r.workload == workload and r.ok
                          and r.runner == "plain" and r.variant == variant
                          and r.size == size), None)
            serial = pick.get(("serial", 1))
            if plain is not None and serial is not None:
                lines.append(f"| {variant}{at} | chunking alone: serial backend vs one call | "
                             f"{speedup_interval(serial, plain)} |")
            for backend in dict.fromkeys(r for r, _ in pick if r not in ("serial", "auto")):
                one = pick.get((backend, 1))
                for (runner, workers), rec in sorted(pick.items()):
                    if runner == backend and workers > 1 and one is not None:
                        lines.append(f"| {variant}{at} | {backend}: {workers} workers vs 1 | "
                                     f"{speedup_interval(rec, one)} |")
    if not lines:
        return ""
    return ("| variant | comparison | speedup [95% interval] |\n|---|---|---:|\n"
            + "\n".join(lines) + "\n")


def load_note(recs: list[Record], workload: str, cpus: int) -> str:
    """The machine's load average around a workload, and a warning when others were busy."""
    loads = [(r.extra.get("load_before"), r.extra.get("load_after")) for r in recs
             if r.workload == workload and r.extra.get("load_before") is not None]
    if not loads:
        return ""
    before = min(a for a, _ in loads)
    after = max(b for _, b in loads)
    text = (f"Load average (1 min) around this workload: {before:.1f} at the start, {after:.1f} "
            f"at the end, on {cpus} CPUs (the benchmark itself adds up to {cpus}).")
    if max(before, after) > cpus + 1:
        text += (" **Other work was running**: absolute times are inflated and ratios noisier "
                 "than on an idle machine; rounds were interleaved so that ratios stay fair.")
    return text + "\n"


def goals_table(recs: list[Record]) -> str:
    """Every goal with its measured median, 95% interval and verdict."""
    rows = _goals.evaluate(recs)
    if not rows:
        return "_No goal could be evaluated from these results._\n" + ceiling_note(recs)
    out = ["| workload | goal | measured: median [95% interval] | status | note |",
           "|---|---|---|---|---|"]
    for g in rows:
        status = g.status if g.status == "met" else f"**{g.status}**"
        out.append(f"| {g.workload} | {g.target} | {g.measured} | {status} | {g.note} |")
    counts = {s: sum(g.status == s for g in rows)
              for s in ("met", "unclear", "not met", "not measured")}
    unmeasured = f", {counts['not measured']} not measured" if counts["not measured"] else ""
    note = (f"\n{counts['met']} met, {counts['unclear']} unclear, {counts['not met']} not met"
            f"{unmeasured}. "
            "A speedup is the median of per-round ratios (rounds of all cases were interleaved, "
            "so round r of each saw the same background load), with a bootstrap 95% interval "
            "over rounds. A goal is met only when the interval's lower end clears it, not met "
            "when its upper end misses it, unclear otherwise.\n")
    return "\n".join(out) + "\n" + note + ceiling_note(recs)


def autoprobe_section(rows: list[dict]) -> str:
    """backend="auto"'s decisions per workload, idle and beside a busy loop, with the goals:
    the same answer in 20/20 probes idle and 19/20 beside the busy loop, at most 3% of the map
    it decides for."""
    if not rows:
        return ""
    lines = ["| condition | workload | right answer | agreed | choices | probe (median) | "
             "share of the map | per map on one pool | goal |",
             "|---|---|---|---:|---|---:|---:|---:|---|"]
    for r in rows:
        need = r["probes"] if r["condition"] == "idle" else max(1, r["probes"] * 19 // 20)
        agreed = r["agree"] >= need
        first, pooled = r["share_of_map"] <= 0.03, r.get("pooled_share", 1.0) <= 0.03
        status = ("met" if agreed and first else
                  "met on a pool (**not met** by a fresh probe)" if agreed and pooled else
                  "**not met**")
        choices = ", ".join(f"{k} {v}" for k, v in sorted(r["choices"].items()))
        lines.append(f"| {r['condition']} | {r['workload']} | {r['right']} | {r['agree']}/"
                     f"{r['probes']} (≥ {need}) | {choices} | {_fmt_s(r['probe_seconds'])} | "
                     f"{r['share_of_map']:.1%} (≤ 3%) | {r.get('pooled_share', float('nan')):.2%}"
                     f" | {status} |")
    return ("## auto: the same answer under load\n\nEach probe decides afresh; the busy loop is "
            "one process spinning on a CPU, started by the benchmark. The share of the map is "
            "the probe's time over one warm map of the workload on the right backend; *per map "
            "on one pool* is the mean cost of deciding for as many maps on one pool, which "
            "remembers the answer once two probes agreed (so only the first two maps probe).\n\n"
            + "\n".join(lines) + "\n")


def _fmt_load(load: Any) -> str:
    return " / ".join(f"{x:.2f}" for x in load) if isinstance(load, (list, tuple)) else "?"


def machine_section(doc: dict) -> str:
    m = doc.get("machine_info", {})
    v = m.get("versions", {})
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} "
                     f"threads, {b.get('threading_layer', '')})" for b in m.get("blas", [])) \
        or "unknown"
    s = doc.get("parallel_analysis", {})
    commit = doc.get("commit_info", {})
    lines = [
        f"- CPUs usable: {m.get('cpus_usable', '?')} (of {m.get('cpu', {}).get('count', '?')} "
        f"on the machine); model: {m.get('processor', '?')}",
        f"- memory: {_fmt_bytes(m.get('memory_total'))}; /dev/shm free: "
        f"{_fmt_bytes(m.get('shm_free'))}; load average at the start (1, 5, 15 min): "
        f"{_fmt_load(m.get('load_average'))}",
        f"- Python {m.get('python_version', '?')}; numpy {v.get('numpy', '?')}, pandas "
        f"{v.get('pandas', '?')}, pyarrow {v.get('pyarrow', '?')}; peers: joblib "
        f"{v.get('joblib', '?')}, mpire {v.get('mpire', '?')}, dask {v.get('dask', '?')}",
        f"- BLAS: {blas}; environment: {m.get('env') or 'no thread variables set'}",
        f"- start method of the process backend: {m.get('start_method', '?')}",
        f"- run: {doc.get('datetime', '?')}, mode `{s.get('mode', '?')}`, "
        f"{s.get('seconds', 0):.0f} s, commit {commit.get('id', '')[:10]}"
        f"{' (dirty)' if commit.get('dirty') else ''}",
    ]
    return "\n".join(lines) + "\n"


def _chosen(doc: dict) -> str:
    """The bench options that picked this run's workloads and peers, as typed."""
    settings = doc.get("parallel_analysis", {})
    names = [n for n in settings.get("workloads") or [] if n != "autoprobe"] \
        + (["autoprobe"] if "autoprobe" in (settings.get("workloads") or []) else [])
    every = set(workloads()) | {"autoprobe"}
    flags = f" --workloads {' '.join(names)}" if names and set(names) != every else ""
    return flags + (" --no-peers" if settings.get("no_peers") else "")


def markdown(doc: dict, recs: list[Record], plots: list[str] = ()) -> str:
    """The report of one run."""
    known = workloads()
    cpus = doc.get("machine_info", {}).get("cpus_usable") or 1
    mode = doc.get("parallel_analysis", {}).get("mode", "full")
    flag = {"quick": " --quick", "smoke": " --smoke"}.get(mode, "") + _chosen(doc)
    parts = [
        "# parallel_analysis benchmarks\n",
        f"Reproduce with `parallel-analysis bench{flag} --out DIR` (`make report` runs the full "
        "size). Every time is the median of the rounds listed; rounds of all cases of a workload "
        "were interleaved (each round in an order of its own, shuffled), so ratios compare cases "
        "under the same background load and no case always follows the same one. Each "
        "case's answer was checked against the serial one before it was timed.\n",
        "## Goals (2 workers, ratios within this run)\n",
    ]
    if mode != "full":
        parts.append(f"**This is a `{mode}` run: its data are too small and its rounds too few "
                     "for the goals below to be judged; its verdicts only show that every case "
                     "runs. `make report` (full size) measures them.**\n")
    parts += [
        goals_table(recs),
    ]
    for name in dict.fromkeys(r.workload for r in recs):
        w = known.get(name)
        parts.append(f"## {name}: {w.title if w else ''}\n")
        sizes = {r.size: r.extra.get("data_bytes") for r in recs if r.workload == name}
        data = ", ".join(f"{size:,} rows: {_fmt_bytes(nbytes)}" for size, nbytes in
                         sorted(sizes.items(), reverse=True) if nbytes)
        if data:
            parts.append(f"Data: {data}. Memory added at peak is the proportional set size of "
                         "this process and all its children, sampled every 10 ms during the "
                         "case's first (untimed) call, minus its level just before.\n")
        parts.append(workload_table(recs, name, cpus))
        scaling = scaling_table(recs, name)
        if scaling:
            parts.append("Chunking gains and parallel gains, told apart (paired rounds):\n")
            parts.append(scaling)
        parts.append(load_note(recs, name, cpus))
    parts.append(autoprobe_section(doc.get("parallel_analysis", {}).get("autoprobe", [])))
    if plots:
        parts.append("## Plots\n")
        parts += [f"![{os.path.splitext(p)[0]}]({p})\n" for p in plots]
    parts += ["## Machine\n", machine_section(doc)]
    return "\n".join(parts)


def compare(doc_a: dict, a: list[Record], doc_b: dict, b: list[Record],
            names: tuple = ("A", "B")) -> str:
    """Two runs side by side: medians per case and B's time relative to A's."""
    index_b = {(r.workload, r.runner, r.workers, r.variant, r.size): r for r in b}
    lines = [f"# Comparison: A = `{names[0]}`, B = `{names[1]}`\n",
             f"A: {doc_a.get('datetime', '?')} ({doc_a.get('parallel_analysis', {}).get('mode')})"
             f"; B: {doc_b.get('datetime', '?')} "
             f"({doc_b.get('parallel_analysis', {}).get('mode')})\n",
             *(["**A and B ran at different sizes (modes), so few of their cases pair up.**\n"]
               if doc_a.get("parallel_analysis", {}).get("mode")
               != doc_b.get("parallel_analysis", {}).get("mode") else []),
             "| workload | size | runner | workers | variant | A median | B median | B / A |",
             "|---|---:|---|---:|---|---:|---:|---:|"]
    for r in a:
        other = index_b.pop((r.workload, r.runner, r.workers, r.variant, r.size), None)
        ratio = (other.median / r.median) if (other and other.ok and r.ok and r.median) \
            else math.nan
        lines.append(f"| {r.workload} | {r.size:,} | {r.runner} | {r.workers} | {r.variant} | "
                     f"{_fmt_s(r.median) if r.ok else 'failed'} | "
                     f"{_fmt_s(other.median) if other and other.ok else '–'} | "
                     f"{'–' if math.isnan(ratio) else f'{ratio:.2f}'} |")
    for r in index_b.values():
        lines.append(f"| {r.workload} | {r.size:,} | {r.runner} | {r.workers} | {r.variant} | – "
                     f"| {_fmt_s(r.median) if r.ok else 'failed'} | – |")
    ga = {(g.workload, g.target): g for g in _goals.evaluate(a)}
    lines += ["", "## Goals", "", "| workload | goal | A | B |", "|---|---|---|---|"]
    for g in _goals.evaluate(b):
        old = ga.pop((g.workload, g.target), None)
        lines.append(f"| {g.workload} | {g.target} | {old.measured if old else '–'} | "
                     f"{g.measured} |")
    for g in ga.values():
        lines.append(f"| {g.workload} | {g.target} | {g.measured} | – |")
    return "\n".join(lines) + "\n"


def write(doc: dict, recs: list[Record], out: str, plots: bool = True) -> list[str]:
    """Write report.md (and the PNG plots) into ``out``; the paths written."""
    written = []
    names: list[str] = []
    if plots:
        names = draw_all(recs, out, cpus=doc.get("machine_info", {}).get("cpus_usable") or 1)
        written += [os.path.join(out, n) for n in names]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write(markdown(doc, recs, names))
    return [path] + written
