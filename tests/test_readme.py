"""Every ```python block of the README runs, in order, as a reader would.

The blocks of one file share a namespace (later examples use names from earlier ones) and run
in a fresh interpreter in an empty folder, so they cannot lean on the test session's state or
leave files in the repository. Jupyter-style top-level ``await`` is allowed, as in a notebook.
A block whose first line is ``# file: NAME`` is a file the reader saves: it is written, not
executed in the namespace, and then run as the text says: ``bench_*.py`` / ``test_*.py`` with
pytest (pytest-benchmark on), any other script with Python through a pipe. A failure names the
file and line of the block.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md"]

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)

_DRIVER = r"""
import ast, asyncio, json, sys, traceback
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for path, line, source in blocks:
    first = source.split("\n", 1)[0]
    if first.startswith("# file: "):
        with open(first[len("# file: "):].strip(), "w") as f:
            f.write(source)
        continue
    code = compile("\n" * (line - 1) + source, path, "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        if code.co_flags & 0x80:  # CO_COROUTINE: the block awaits at top level
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)
    except BaseException:
        traceback.print_exc()
        print(f"README-BLOCK-FAILED {path}:{line}", file=sys.stderr)
        sys.exit(1)
print(f"ran {len(blocks)} block(s)")
"""


def python_blocks(path: Path) -> list[tuple[str, int, str]]:
    """(file, first line of code, code) for each ```python fence in ``path``."""
    text = path.read_text()
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return [(name, text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in _FENCE.finditer(text)]


def test_fence_parser_finds_python_blocks_and_their_lines(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("intro\n```python\na = 1\n```\ntext\n```bash\nls\n```\n```python\nb = a\n```\n")
    assert [(line, code) for _, line, code in python_blocks(doc)] == [(3, "a = 1\n"),
                                                                      (10, "b = a\n")]


@pytest.mark.parametrize("doc", DOCS)
def test_python_examples_run(doc, tmp_path):
    path = ROOT / doc
    if not path.exists():
        pytest.fail(f"{doc} is missing")
    blocks = python_blocks(path)
    assert blocks, f"{doc} has no ```python examples"
    proc = subprocess.run([sys.executable, "-c", _DRIVER], input=json.dumps(blocks),
                          capture_output=True, text=True, cwd=tmp_path, timeout=110)
    assert proc.returncode == 0, f"an example in {doc} failed:\n{proc.stderr[-4000:]}"
    assert f"ran {len(blocks)} block(s)" in proc.stdout
    for _, line, source in blocks:
        first = source.split("\n", 1)[0]
        if first.startswith("# file: "):
            run_saved_file(first[len("# file: "):].strip(), f"{doc}:{line}", tmp_path)


def run_saved_file(name: str, where: str, folder: Path) -> None:
    """Run a ``# file:`` example as its text says: pytest for tests, Python for scripts."""
    if name.startswith(("bench_", "test_")):
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name,
                "--benchmark-json=bench.json"]
    else:
        argv = [sys.executable, name]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=folder, timeout=110)
    assert proc.returncode == 0, f"{name} ({where}) failed:\n{proc.stdout[-3000:]}" \
                                 f"{proc.stderr[-3000:]}"
    assert "%|" not in proc.stderr, f"{name}: a progress bar was drawn into a pipe"
    if name.startswith("bench_"):
        bench = json.loads((folder / "bench.json").read_text())
        assert all(b["extra_info"] for b in bench["benchmarks"]), "extra_info is empty"
