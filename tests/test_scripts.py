"""A batch script using par, run as users run it: from a terminal, through a pipe, from stdin.

The script has no ``if __name__ == "__main__":`` guard (workers never re-run it). Through a pipe
its stdout carries the results, stderr the worker log lines, and no progress bar; on a terminal
(a pseudo-terminal here) the bar is drawn on stderr.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent("""
    import logging
    import numpy as np
    import parallel_analysis as par

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("batch")

    def work(chunk):
        log.info("summing %d rows", len(chunk))
        return int(chunk.sum())

    x = np.arange(1_000_000, dtype=np.int64)
    total = par.map_reduce(work, x, par.reducers.Sum(), n=4, progress=PROGRESS)
    squares = par.map_chunks(lambda c: int((c * c).sum()), x, n=4)
    print(f"total={total} squares={sum(squares)}")
    print(par.last_run().summary())
""")
EXPECTED = f"total={sum(range(1_000_000))} squares={sum(i * i for i in range(1_000_000))}"
LOG_LINE = re.compile(r"INFO batch: summing 250000 rows \[chunk (\d), worker (\d+)\]")
BAR = re.compile(r"work: +100%.*4/4")


def script(tmp_path, progress="True") -> str:
    path = tmp_path / "batch.py"
    path.write_text(SCRIPT.replace("PROGRESS", progress))
    return str(path)


def leftover_segments(pid: int) -> list[str]:
    return [n for n in os.listdir("/dev/shm") if n.startswith(f"par_{pid}_")] \
        if os.path.isdir("/dev/shm") else []


def run_in_pty(argv: list[str], cwd, columns: int = 0,
               timeout: float = 60.0) -> tuple[int, str, int]:
    """Run with stdin/stdout/stderr on a pseudo-terminal; (exit code, output, pid).

    A fresh pty reports a 0 x 0 window, as ``docker run -t`` and some CI wrappers do;
    ``columns`` gives it a size like a terminal emulator's.
    """
    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                            close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode(errors="replace"), proc.pid


def test_through_a_pipe_results_on_stdout_logs_on_stderr_no_bar(tmp_path):
    proc = subprocess.Popen([sys.executable, script(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=60)
    proc.stdout, proc.stderr = stdout, stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == EXPECTED
    assert "chunks on process backend" in proc.stdout
    chunks = sorted(int(m.group(1)) for m in LOG_LINE.finditer(proc.stderr))
    assert chunks == [0, 1, 2, 3], proc.stderr
    assert "chunk/s" not in proc.stderr and "%|" not in proc.stderr  # no progress bar
    assert not leftover_segments(proc.pid)


def test_forced_progress_is_drawn_even_through_a_pipe(tmp_path):
    proc = subprocess.run([sys.executable, script(tmp_path, '"always"')], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert BAR.search(proc.stderr), proc.stderr


@pytest.mark.parametrize("columns", [100, 0])
def test_on_a_terminal_the_bar_is_drawn(tmp_path, columns):
    code, output, pid = run_in_pty([sys.executable, script(tmp_path)], tmp_path, columns)
    assert code == 0, output
    assert EXPECTED in output
    assert BAR.search(output), output
    assert len(LOG_LINE.findall(output)) == 4
    assert not re.search(r"chunk/s\]INFO", output), "a worker's log line was glued to the bar"
    assert not leftover_segments(pid)


@pytest.mark.parametrize("how", ["stdin", "dash-c"])
def test_script_without_a_file(tmp_path, how):
    source = SCRIPT.replace("PROGRESS", "True")
    argv = [sys.executable, "-"] if how == "stdin" else [sys.executable, "-c", source]
    proc = subprocess.run(argv, input=source if how == "stdin" else None, capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == EXPECTED


MAIN_CLASSES = textwrap.dedent("""
    from dataclasses import dataclass
    import parallel_analysis as par

    @dataclass
    class Point:
        x: int

    class Refused(Exception):
        pass

    def make(v):
        return Point(v)

    def refuse(v):
        raise Refused(f"no {v}")

    with par.Pool(2, "process") as pool:
        print(pool.submit(make, 3).result(timeout=30))
        try:
            pool.submit(refuse, 4).result(timeout=30)
        except Refused as exc:
            print(type(exc).__name__, exc, "refuse" in str(exc.__cause__))
""")


def test_submit_returns_and_raises_instances_of_classes_defined_in_the_script(tmp_path):
    """A script's (or notebook's) own classes travel back from ``Pool.submit`` as they do from a
    map: the executor's standard pickler cannot look them up in the worker's ``__main__``."""
    path = tmp_path / "classes.py"
    path.write_text(MAIN_CLASSES)
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout.splitlines() == ["Point(x=3)", "Refused no 4 True"]
    assert not leftover_segments(proc.pid)


DEPRECATED = textwrap.dedent("""
    import warnings
    import numpy as np
    import parallel_analysis as par

    def old_api(chunk):
        warnings.warn("old api", DeprecationWarning)
        return int(chunk.sum())

    print(par.map_chunks(old_api, np.arange(10), n=2, backend="process", workers=2))
""")


def test_a_deprecation_warning_in_a_worker_is_replayed_under_pythons_default_filters(tmp_path):
    """Python's own filter of DeprecationWarning in ``__main__`` holds its module as a plain
    string, not a pattern (pytest replaces the filters, so only a script sees it); reading it
    as a pattern had failed every map whose func warned of a deprecation."""
    path = tmp_path / "deprecated.py"
    path.write_text(DEPRECATED)
    proc = subprocess.run([sys.executable, "-W", "default", str(path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[10, 35]"]
    assert "DeprecationWarning: old api [chunk" in proc.stderr
    plain = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == ["[10, 35]"]
