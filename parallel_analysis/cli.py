"""The ``parallel-analysis`` command: ``bench``, ``report`` and ``info``.
Layer: faces (cli; imports the package and its own modules).

::

    parallel-analysis bench [--quick] [--workloads pybound npbound ...] [--out DIR]
    parallel-analysis report A.json [B.json] [--out DIR]
    parallel-analysis info

``bench`` runs the benchmark workloads (``make report`` runs it at full size: about half an
hour on 2 CPUs; ``--quick`` about six minutes) and writes ``DIR/report.md``, ``DIR/results.json``
(pytest-benchmark's format) and PNG plots. ``report`` re-renders a report from saved results, or
compares two runs side by side. Heavy imports (pandas, matplotlib) happen inside the commands.
"""

from __future__ import annotations

import argparse
import os
import sys

from .bench import render
from .bench.results import load, records, save
from .bench.runner import run
from .info import format_info

WORKLOAD_NAMES = ("ceiling", "pybound", "npbound", "transfer", "groupby", "overhead", "coldstart",
                  "rolling", "autoprobe", "rowapply", "seriesmap", "groupapply")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parallel-analysis",
        description="Benchmarks and reports for parallel_analysis (serial vs threads vs "
                    "processes, and peers).")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run the benchmark workloads and write a report")
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="mode",
                      help="smaller data, fewer rounds: about six minutes on 2 CPUs")
    size.add_argument("--smoke", action="store_const", const="smoke", dest="mode",
                      help="tiny data, one round: checks the machinery, figures mean nothing")
    bench.add_argument("--workloads", nargs="+", metavar="NAME", choices=WORKLOAD_NAMES,
                       help=f"run only these ({', '.join(WORKLOAD_NAMES)}); default: all")
    bench.add_argument("--no-peers", action="store_true",
                       help="skip joblib, multiprocessing, ProcessPoolExecutor, dask and mpire")
    bench.add_argument("--out", default="report", metavar="DIR",
                       help="folder for report.md, results.json and the plots (default: report)")
    bench.add_argument("--no-plots", action="store_true", help="write no PNG files")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    bench.set_defaults(mode="full")

    report = sub.add_parser("report", help="re-render a report from results.json, or compare two")
    report.add_argument("results", nargs="+", metavar="RESULTS.json",
                        help="one results file, or two to compare (A then B)")
    report.add_argument("--out", default=None, metavar="DIR",
                        help="write report.md and plots there (two results: compare.md, no "
                             "plots); default: print the report")
    report.add_argument("--no-plots", action="store_true", help="write no PNG files")

    sub.add_parser("info", help="CPUs usable, start method, /dev/shm free, versions, BLAS")
    return parser


class _OutFolderError(Exception):
    """--out names a place no folder can be made."""


def _out_folder(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise _OutFolderError(f"cannot write the report to {path!r} ({exc.strerror}): give "
                              "--out a folder (it is made if missing)") from None


def _bench(args: argparse.Namespace) -> int:
    _out_folder(args.out)
    doc = run(args.mode, args.workloads, progress=not args.quiet,
              peers=[] if args.no_peers else None)
    path = os.path.join(args.out, "results.json")
    save(doc, path)
    written = render.write(doc, records(doc), args.out, plots=not args.no_plots)
    failed = [r for r in records(doc) if r.extra.get("error")]
    print(f"wrote {path}, " + ", ".join(written))
    if failed:  # the report is written, and the exit status says it holds failures
        print(f"{len(failed)} case(s) failed: "
              + "; ".join(f"{r.workload} {r.runner} x{r.workers}" for r in failed[:5])
              + ("; ..." if len(failed) > 5 else "") + "; see the report", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    if len(args.results) > 2:
        print("report takes one results file, or two to compare", file=sys.stderr)
        return 2
    try:
        runs = [load(path) for path in args.results]
    except (OSError, ValueError) as exc:  # a missing file, not JSON, not results
        print(f"report: {exc}", file=sys.stderr)
        return 2
    try:
        return _render(args, runs)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # JSON of another shape
        print(f"report: {' or '.join(args.results)} is JSON with a 'benchmarks' list but not "
              f"results this tool wrote ({type(exc).__name__}: {exc}): give the results.json "
              "that `parallel-analysis bench` or pytest-benchmark wrote", file=sys.stderr)
        return 2


def _render(args: argparse.Namespace, runs: list) -> int:
    """Write (or print) the report of one run, or the comparison of two."""
    if len(runs) == 1:
        doc, recs = runs[0]
        if args.out:
            _out_folder(args.out)
            print("wrote " + ", ".join(render.write(doc, recs, args.out,
                                                     plots=not args.no_plots)))
        else:
            print(render.markdown(doc, recs))
        return 0
    (doc_a, a), (doc_b, b) = runs
    text = render.compare(doc_a, a, doc_b, b, names=tuple(args.results))
    if args.out:
        _out_folder(args.out)
        path = os.path.join(args.out, "compare.md")
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}")
    else:
        print(text)
    return 0


def _info(args: argparse.Namespace) -> int:
    print(format_info())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``parallel-analysis`` console script."""
    args = _parser().parse_args(argv)
    handler = {"bench": _bench, "report": _report, "info": _info}[args.command]
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _OutFolderError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
