"""Notebooks run top to bottom in a real Jupyter kernel (nbclient), against the installed package.

Each notebook in ``notebooks/`` is stored without outputs and executed in a fresh ``python3``
kernel whose working folder is the repository. Beyond "no cell failed", the test reads the
outputs for what a user must see: the progress widget, worker log lines and prints in the cell
that ran the map. One more notebook, written here as a stranger would write it, checks the
promises of the issue directly: notebook functions and lambdas on the process backend, the
default pool reused across cells (same worker pids), worker logs in the cell output, and no
shared-memory segment left behind by the kernel.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT = 120


#: Kernels run at once: start-up and waits overlap, so the five runs take about half as long.
PARALLEL_KERNELS = 2


def execute(book: nbformat.NotebookNode, env: dict | None = None
            ) -> tuple[nbformat.NotebookNode, int]:
    """Run ``book`` in a fresh kernel in the repository folder; returns it and the kernel pid."""
    book.cells.append(new_code_cell("import os; print('KERNEL_PID', os.getpid())"))
    client = NotebookClient(book, kernel_name="python3", timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute(env={**os.environ, **(env or {})})
    finally:
        _close_thread_event_loop()
    pid = int(re.search(r"KERNEL_PID (\d+)", text_of(book.cells[-1])).group(1))
    book.cells.pop()
    return book, pid


def _close_thread_event_loop() -> None:
    """nbclient leaves this thread an event loop (and its sockets) open: close them."""
    import asyncio

    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return
    if not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)


def text_of(cell: nbformat.NotebookNode, stream: str | None = None) -> str:
    """All stream text of a cell (or of one stream) plus the text/plain of its results."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and stream in (None, out.name):
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and stream is None:
            parts.append(str(out.data.get("text/plain", "")))
    return "".join(parts)


def cell_with(book: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    return next(c for c in book.cells if c.cell_type == "code" and snippet in c.source)


def segments_of(pid: int) -> list[str]:
    try:
        return [n for n in os.listdir("/dev/shm") if n.startswith(f"par_{pid}_")]
    except FileNotFoundError:
        return []


def test_the_four_notebooks_exist():
    names = {p.stem for p in NOTEBOOKS}
    assert names >= {"01_quickstart", "02_dataframes", "03_benchmarks", "04_choosing_a_backend",
                     "05_pandas_accessor"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert book.metadata["kernelspec"]["name"] == "python3"
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


#: Environment per notebook for the suite's run: 03 runs the benchmark at its "smoke" size on
#: three workloads without peers (seconds instead of the six minutes a reader's "quick" run takes).
ENV = {"03_benchmarks": {"PAR_BENCH_MODE": "smoke", "PAR_BENCH_NO_PEERS": "1",
                         "PAR_BENCH_WORKLOADS": "pybound npbound transfer"},
       "05_pandas_accessor": {"PAR_NOTEBOOK_ROWS": "20000"}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every notebook (and the stranger's) started once, PARALLEL_KERNELS kernels at a time.

    Each test waits for its own run, so a failure is still reported by the test it concerns.
    """
    out = tmp_path_factory.mktemp("bench")
    books = {path.stem: nbformat.read(path, as_version=4) for path in NOTEBOOKS}
    books["stranger"] = stranger_notebook()
    with ThreadPoolExecutor(PARALLEL_KERNELS) as pool:
        # Each kernel's temporary folder is its own: 03 writes its report there by default.
        for name in books:
            (out / name).mkdir()
        futures = {name: pool.submit(execute, book, {**ENV.get(name, {}),
                                                      "TMPDIR": str(out / name)})
                   for name, book in books.items()}
        yield futures
        for future in futures.values():
            future.cancel()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, runs):
    book, kernel_pid = runs[path.stem].result()
    errors = [out for c in book.cells for out in c.get("outputs", [])
              if out.output_type == "error"]
    assert not errors
    assert not segments_of(kernel_pid)
    check = CHECKS.get(path.stem)
    if check is not None:
        check(book)


def _check_quickstart(book):
    bar = cell_with(book, "progress=True")
    assert any(WIDGET in out.get("data", {}) for out in bar.outputs), "no progress widget"
    assert "slow_square_sum" in text_of(bar)
    logs = cell_with(book, "def summarise")
    err, out = text_of(logs, "stderr"), text_of(logs, "stdout")
    for chunk in range(4):
        assert re.search(rf"INFO quickstart: chunk of 500000 rows.*\[chunk {chunk}, worker \d+\]",
                         err), err
    assert out.count("printed by a worker: 500000 rows") == 4
    assert "<table>" in str(cell_with(book, "par.last_run()").outputs[0].data["text/html"])


def _check_dataframes(book):
    assert "zone 00" in text_of(cell_with(book, "by_zone = par.groupby_agg"))


def _check_benchmarks(book):
    folder = re.search(r"report folder: (\S+)", text_of(cell_with(book, "parallel_analysis.cli")))
    assert folder and not Path(folder.group(1)).resolve().is_relative_to(ROOT), (
        "the notebook writes its report into the work tree")
    images = [out for c in book.cells for out in c.get("outputs", [])
              if "image/png" in out.get("data", {})]
    assert len(images) >= 2, "the benchmark plots are not shown inline"
    assert "[3/3] transfer" in text_of(cell_with(book, "parallel_analysis.cli"))
    assert "pybound" in text_of(cell_with(book, "pivot_table"))


def _check_backends(book):
    assert "image/png" in str([o.get("data", {}).keys() for o in
                               cell_with(book, "plot.bar").outputs])
    reasons = text_of(cell_with(book, 'backend="auto"'))
    assert "python loop:" in reasons and "numpy:" in reasons


def _check_accessor(book):
    timing = text_of(cell_with(book, "pandas_seconds = "))
    assert "equal to pandas: True" in timing and "df.par.apply(order_value" in timing
    assert "speedup" in timing
    bar = cell_with(book, "progress=True")
    assert any(WIDGET in out.get("data", {}) for out in bar.outputs), "no progress widget"
    assert "True" in text_of(bar)
    assert text_of(cell_with(book, "per_region = ")).count("True") == 2
    error = text_of(cell_with(book, "def fragile"))
    assert "ValueError price missing" in error and "'order-1234'" in error
    assert "True True" in text_of(cell_with(book, "vectorised = "))


CHECKS = {"01_quickstart": _check_quickstart, "02_dataframes": _check_dataframes,
          "03_benchmarks": _check_benchmarks, "04_choosing_a_backend": _check_backends,
          "05_pandas_accessor": _check_accessor}


STRANGER = [
    """
import logging, os, sys
import numpy as np
import parallel_analysis as par
logging.basicConfig(level=logging.INFO, format="%(levelname)s|%(message)s", force=True)
x = np.arange(1_000_000, dtype=np.float64)
""",
    """
def cube_sum(chunk):
    logging.getLogger("stranger").info("cubing %d rows", len(chunk))
    print("hello from", os.getpid())
    return float((chunk ** 3).sum())

first = par.map_reduce(cube_sum, x, par.reducers.Sum(), backend="process", n=4)
pids_first = sorted(par.default_pool().worker_pids())
assert np.isclose(first, (x ** 3).sum())
""",
    """
second = par.map_chunks(lambda c: float(c.mean()), x, backend="process", n=4)
pids_second = sorted(par.default_pool().worker_pids())
assert pids_second == pids_first, (pids_first, pids_second)
assert os.getpid() not in pids_first
print("same pool", pids_first)
""",
    """
total = par.map_reduce(lambda c: c.sum(), x, par.reducers.Sum(), n=8, progress=True)
assert total == x.sum()
""",
]


def stranger_notebook() -> nbformat.NotebookNode:
    book = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                 "display_name": "Python 3"}})
    book.cells = [new_code_cell(src.strip()) for src in STRANGER]
    return book


def test_a_notebook_written_by_someone_else(runs):
    book, kernel_pid = runs["stranger"].result()
    logs, reuse, bar = book.cells[1], book.cells[2], book.cells[3]
    err, out = text_of(logs, "stderr"), text_of(logs, "stdout")
    assert len(re.findall(r"INFO\|cubing 250000 rows \[chunk \d, worker \d+\]", err)) == 4, err
    pids = set(map(int, re.findall(r"hello from (\d+)", out)))
    assert pids and kernel_pid not in pids
    assert "same pool" in text_of(reuse)
    assert any(WIDGET in o.get("data", {}) for o in bar.outputs)
    assert not segments_of(kernel_pid)
