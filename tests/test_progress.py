"""Progress bars: where they go (terminal, pipe, notebook, worker) and that they advance per chunk.

The notebook widget is checked by tests/test_notebooks.py in a real kernel; here stderr is
swapped for a fake terminal or a pipe-like stream.
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis import progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# pytest's output capture swaps sys.stderr back between set-up and the test call, so these
# fixtures hand back a function that the test calls first.
@pytest.fixture
def terminal(monkeypatch):
    stream = FakeTerminal()
    return lambda: monkeypatch.setattr(sys, "stderr", stream) or stream


@pytest.fixture
def pipe(monkeypatch):
    stream = io.StringIO()  # isatty() is False, like a pipe or a CI log
    return lambda: monkeypatch.setattr(sys, "stderr", stream) or stream


def _slow_len(chunk):
    time.sleep(0.05)
    return len(chunk)


def test_bar_on_a_terminal_advances_to_the_number_of_chunks(pool, terminal):
    terminal = terminal()
    assert pool.map_chunks(_slow_len, np.arange(40), n=4, progress=True) == [10] * 4
    text = terminal.getvalue()
    assert "_slow_len" in text and "4/4" in text and "chunk" in text


def test_desc_option_names_the_bar(pools, terminal):
    terminal = terminal()
    pools["thread"].map_reduce(None, np.arange(10), par.reducers.Sum(), n=2, progress=True,
                               desc="totals")
    assert "totals" in terminal.getvalue() and "2/2" in terminal.getvalue()


def test_silent_through_a_pipe_unless_forced(pools, pipe):
    pipe = pipe()
    pools["process"].map_chunks(len, np.arange(40), n=4, progress=True)
    assert pipe.getvalue() == ""
    pools["process"].map_chunks(len, np.arange(40), n=4, progress="always")
    assert "4/4" in pipe.getvalue()


@pytest.mark.parametrize("mode", [False, None])
def test_off_modes_print_nothing(pools, terminal, mode):
    terminal = terminal()
    pools["thread"].map_chunks(len, np.arange(40), n=4, progress=mode)
    assert terminal.getvalue() == ""


def test_auto_hides_quick_maps_and_shows_slow_ones(pools, terminal, monkeypatch):
    terminal = terminal()
    monkeypatch.setattr(progress, "AUTO_DELAY", 0.5)
    pools["thread"].map_chunks(len, np.arange(40), n=4, progress="auto")
    assert terminal.getvalue() == ""

    def slow(chunk):
        time.sleep(0.35)
        return len(chunk)

    pools["thread"].map_chunks(slow, np.arange(60), n=6, progress="auto")
    assert "6/6" in terminal.getvalue()


def test_invalid_mode_is_a_clear_error(pools):
    with pytest.raises(ValueError, match="progress must be"):
        progress.progress_bar(3, "x", "sometimes")
    with pytest.raises(ValueError, match="progress must be"):
        progress.progress_bar(0, "x", 1.5)


def test_bar_closes_when_a_chunk_fails(pools, terminal):
    terminal = terminal()
    def fails(chunk):
        if chunk[0] >= 20:
            raise ValueError("bad chunk")
        return len(chunk)

    with pytest.raises(ValueError, match="bad chunk"):
        pools["serial"].map_chunks(fails, np.arange(40), n=4, progress=True)
    text = terminal.getvalue()
    assert "/4" in text and text.endswith("\n")  # closed, left on screen where it stopped


def test_no_bar_for_maps_nested_in_workers(pools, terminal):
    terminal = terminal()
    def nested(chunk):
        return sum(par.map_chunks(len, chunk, n=2, progress="always", backend="serial"))

    assert pools["thread"].map_chunks(nested, np.arange(40), n=2) == [20, 20]
    assert terminal.getvalue() == ""


def test_where_decides_per_environment(monkeypatch, terminal):
    terminal = terminal()
    assert progress.where(True) == "stderr"
    monkeypatch.setattr(progress, "_in_notebook", lambda: True)
    assert progress.where(True) == "notebook" and progress.where("auto") == "notebook"
    assert progress.where(False) is None


def test_tqdm_is_not_imported_by_the_package():
    import subprocess

    code = "import parallel_analysis, sys; print('tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reductions_without_func_are_named_after_the_reducer(pools, terminal):
    terminal = terminal()
    pools["thread"].map_reduce(None, np.arange(40), par.reducers.Mean(), n=4, progress=True)
    assert "Mean: 100%" in terminal.getvalue()


def test_map_array_shows_one_bar(pools, pipe):
    pipe = pipe()
    out = pools["process"].map_array(np.sqrt, np.arange(40.0), n=4, progress="always")
    np.testing.assert_array_equal(out, np.sqrt(np.arange(40.0)))
    text = pipe.getvalue()
    assert "4/4" in text and "1/1" not in text and "3/3" not in text, text


def _logs(chunk):
    import logging

    logging.getLogger("par_test.progress").warning("chunk at %d", chunk[0])
    return len(chunk)


def test_worker_logs_do_not_draw_an_auto_bar_early(pools, terminal, caplog):
    terminal = terminal()
    caplog.set_level("WARNING", logger="par_test.progress")
    pools["process"].map_chunks(_logs, np.arange(40), n=4, progress="auto")
    assert len([r for r in caplog.records if r.name == "par_test.progress"]) == 4
    assert terminal.getvalue() == ""  # a quick map stays quiet, even while replaying logs


def test_a_serial_bar_advances_while_the_chunks_run(pools, monkeypatch):
    """Serial chunks run as the map submits them; each must reach the bar as it ends, not all
    at the end."""
    from parallel_analysis import pipeline

    started, updates = [], []

    class Recorder(progress.NoBar):
        def update(self, n=1):
            updates.append((len(started), n))

    monkeypatch.setattr(pipeline, "progress_bar", lambda total, desc, mode: Recorder())

    def chunk(values):
        started.append(len(values))
        return len(values)

    pools["serial"].map_chunks(chunk, np.arange(40), n=4, progress=True)
    assert updates == [(1, 1), (2, 1), (3, 1), (4, 1)]


@pytest.mark.parametrize("bins", [10, "auto", "doane"])
def test_a_histogram_shows_one_bar_whatever_its_passes(terminal, bins):
    terminal = terminal()
    par.histogram(np.arange(100.0), bins=bins, n=4, backend="thread", workers=2, progress=True)
    assert terminal.getvalue().count("4/4") == 1
