"""tagging: what chunks running in the caller's process (threads, serial, the auto probe) and
submitted calls say reaches the caller as a process worker's replayed feedback does: tagged,
once per chunk, off the progress bar's line.
"""

from __future__ import annotations

import io
import logging
import sys
import warnings

import numpy as np
import pytest

import parallel_analysis as par

LOGGER = "par_test.tagging"
log = logging.getLogger(LOGGER)


class Collect(logging.Handler):
    """Keeps ``chunk|message`` of every record (``MISSING|...`` for one without ``chunk``, on
    which a ``%(chunk)s`` format fails)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(f"{getattr(record, 'chunk', 'MISSING')}|{record.getMessage()}")


@pytest.fixture
def collect():
    handler, logger = Collect(), logging.getLogger(LOGGER)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def _clips(chunk):
    print(f"rows {len(chunk)}")
    log.info("clipping %d rows", len(chunk))
    return float(np.clip(chunk, -1, 1).sum())


def test_the_auto_probe_says_nothing_of_its_own(collect, capsys):
    """The probe runs func on pieces of the first chunk in the caller: their records had no
    ``chunk`` (a ``%(chunk)s`` format failed) and they and their prints came out extra."""
    x = np.random.default_rng(0).normal(size=100_000)
    with par.Pool(workers=2, backend="auto") as pool:
        pool.map_reduce(_clips, x, par.reducers.Sum(), n=2)
    lines = sorted(collect.lines)
    assert len(lines) == 2, lines
    for k, line in enumerate(lines):
        assert line.startswith(f"{k}|clipping 50000 rows [chunk {k}, "), lines
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rows")]
    assert printed == ["rows 50000", "rows 50000"]


def _says(value):
    log.debug("debug %d", value)
    log.warning("warning %d", value)
    return value


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_submitted_call_logs_through_the_callers_handlers(pools, collect, backend):
    assert pools[backend].submit(_says, 7).result() == 7
    assert len(collect.lines) == 2, collect.lines
    for line, text in zip(collect.lines, ("debug 7", "warning 7")):
        assert line.startswith(f"None|{text} [submitted call, ")


def _formatted_warning(chunk):
    return warnings.formatwarning("careful", UserWarning, "f.py", 1)


@pytest.mark.parametrize("backend", ["serial", "thread"])
def test_warnings_shown_from_a_chunk_in_this_process_carry_its_tag(pools, backend):
    texts = pools[backend].map_chunks(_formatted_warning, np.arange(4), n=2)
    assert "careful [chunk 0, thread" in texts[0] and "careful [chunk 1, thread" in texts[1]
    assert "[chunk" not in warnings.formatwarning("careful", UserWarning, "f.py", 1)


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _logs(chunk):
    log.warning("hello from %d", int(chunk[0]))
    return len(chunk)


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_log_lines_never_land_on_the_bar_line(pools, monkeypatch, backend):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(terminal)
    log.addHandler(handler)
    try:
        pools[backend].map_chunks(_logs, np.arange(40), n=4, progress=True)
    finally:
        log.removeHandler(handler)
    text = terminal.getvalue()
    starts = [i for i in range(len(text)) if text.startswith("hello from", i)]
    assert len(starts) == 4
    assert all(text[i - 1] in "\r\n" for i in starts), text


def test_nested_silencing_keeps_the_outer_one(capsys):
    from parallel_analysis import tagging

    with tagging.silenced():
        with tagging.silenced():
            print("inner")
        print("outer")
    print("after")
    assert capsys.readouterr().out == "after\n"


DEADLOCK = """
import logging, sys, threading
import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm
import parallel_analysis as par
logging.basicConfig(level=logging.INFO)
log = logging.getLogger("x")
done = threading.Event()
def background():
    while not done.is_set():
        log.info("background")
def chunk(c):
    for i in range(50):
        log.info("chunk line %d", i)
    return 0
with logging_redirect_tqdm():
    threading.Thread(target=background, daemon=True).start()
    bar = tqdm(total=10, file=sys.stderr)
    for _ in range(3):
        par.map_chunks(chunk, np.arange(100), n=8, backend="thread", workers=2)
    done.set()
print("DONE")
"""


def test_chunk_logging_beside_tqdms_logging_redirect_does_not_deadlock(tmp_path):
    """Lifting the bar took tqdm's lock and then the handler's, while tqdm's redirect handler
    takes them the other way round: a thread chunk's log line and another thread's hung."""
    import subprocess

    script = tmp_path / "redirect.py"
    script.write_text(DEADLOCK)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr[-2000:]
