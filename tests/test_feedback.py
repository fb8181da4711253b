"""Worker feedback: log records, warnings and prints of process workers reach the caller.

The process-pool tests use the session's 2-worker pool (conftest ``pools``); the unit tests run
:func:`feedback.capture` in this process to check what it collects and that it restores the
interpreter's state.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import time
import warnings

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis import feedback, replay

LOGGER = "par_test.feedback"
log = logging.getLogger(LOGGER)


def _logs_info(chunk):
    log.info("rows=%d first=%d", len(chunk), chunk[0])
    log.debug("debug rows=%d", len(chunk))
    return int(chunk.sum())


def _warns(chunk):
    warnings.warn("big chunk starting at 0", RuntimeWarning, stacklevel=1)
    return int(chunk.sum())


def _prints(chunk):
    print(f"chunk starts at {chunk[0]}")
    print("to stderr", file=sys.stderr)
    return int(chunk.sum())


# -- through a real process pool ---------------------------------------------------------------

def test_worker_log_records_reach_caller_handlers_tagged(pools, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    x = np.arange(400)
    total = pools["process"].map_reduce(_logs_info, x, par.reducers.Sum(), n=4)
    assert total == x.sum()
    records = [r for r in caplog.records if r.name == LOGGER]
    assert sorted(r.chunk for r in records) == [0, 1, 2, 3]
    for r in records:
        assert r.levelno == logging.INFO
        assert r.worker_pid != os.getpid() and r.worker_pid == r.process
        assert r.getMessage().startswith("rows=100 first=")
        assert f"[chunk {r.chunk}, worker {r.worker_pid}]" in r.getMessage()
    assert not any("debug rows" in r.getMessage() for r in caplog.records)  # caller at INFO


def test_caller_debug_level_is_honoured(pools, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    pools["process"].map_chunks(_logs_info, np.arange(40), n=2)
    debug = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.DEBUG]
    assert sorted(r.chunk for r in debug) == [0, 1]


def test_logs_emitted_before_a_failure_still_arrive(pools, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    def fails(chunk):
        log.warning("about to fail on %d", chunk[0])
        raise KeyError("boom")

    with pytest.raises(KeyError):
        pools["process"].map_chunks(fails, np.arange(10), n=1)
    assert any("about to fail on 0" in r.getMessage() for r in caplog.records)


def test_unpicklable_log_arguments_and_exceptions_do_not_break_results(pools, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    def odd_logging(chunk):
        lock = threading.Lock()
        log.info("holding %s", lock, extra={"lock": lock})
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            log.exception("caught")
        return len(chunk)

    assert pools["process"].map_chunks(odd_logging, np.arange(10), n=2) == [5, 5]
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any(m.startswith("holding <unlocked _thread.lock") for m in messages)
    caught = [r for r in caplog.records if r.getMessage().startswith("caught")]
    assert caught and "ZeroDivisionError" in caught[0].exc_text
    assert all(isinstance(r.lock, str) for r in caplog.records if hasattr(r, "lock"))


def test_worker_warnings_reach_caller_filters(pools):
    x = np.arange(400)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pools["process"].map_chunks(_warns, x, n=4)
    ours = [w for w in seen if issubclass(w.category, RuntimeWarning)]
    assert len(ours) == 4
    assert all(str(w.message).startswith("big chunk starting at 0 [chunk ") for w in ours)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("ignore")
        pools["process"].map_chunks(_warns, x, n=4)
    assert not seen


def test_default_action_shows_a_worker_warning_once_as_a_serial_run_would(pools, monkeypatch):
    monkeypatch.setattr(replay, "_seen", {"filters": None, "keys": set()})  # a fresh session
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        pools["process"].map_chunks(_warns, np.arange(400), n=4)
        pools["process"].map_chunks(_warns, np.arange(400), n=4)
    assert len([w for w in seen if issubclass(w.category, RuntimeWarning)]) == 1


def test_error_filter_raises_in_the_caller_naming_the_chunk(pools):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(RuntimeWarning, match="big chunk") as info:
            pools["process"].map_chunks(_warns, np.arange(10), n=1)
    assert any("warned by chunk 0" in note for note in info.value.__notes__)


def test_worker_prints_reach_caller_stdout(pools, capsys):
    pools["process"].map_chunks(_prints, np.arange(30), n=3)
    out, err = capsys.readouterr()
    assert sorted(out.splitlines()) == ["chunk starts at 0", "chunk starts at 10",
                                        "chunk starts at 20"]
    assert err.count("to stderr") == 3


@pytest.mark.parametrize("name", ["serial", "thread"])
def test_in_process_backends_print_and_log_directly(pools, name, capsys, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    pools[name].map_chunks(_prints, np.arange(20), n=2)
    pools[name].map_chunks(_logs_info, np.arange(20), n=2)
    assert capsys.readouterr().out.count("chunk starts at") == 2
    records = [r for r in caplog.records if r.name == LOGGER]
    assert sorted(r.chunk for r in records) == [0, 1]  # tagged as a process worker's are
    for r in records:
        assert r.worker_pid == os.getpid()
        assert f"[chunk {r.chunk}, thread {r.threadName}]" in r.getMessage()
    logging.getLogger(LOGGER).info("outside any map")
    assert not hasattr(caplog.records[-1], "chunk")
    caplog.clear()  # a chunk's own extra= wins, as in a process worker's replayed record
    pools[name].map_chunks(lambda c: logging.getLogger(LOGGER).info("x", extra={"chunk": "own"}),
                           np.arange(20), n=2)
    assert [r.chunk for r in caplog.records if r.name == LOGGER] == ["own", "own"]


def _worker_state():
    """The worker's own logging and stdout, under the capture a submitted call runs in."""
    import logging as lg
    import sys as s

    root = lg.getLogger()
    own = [h for h in root.handlers if type(h).__name__ != "_Collector"]
    return len(own), type(getattr(s.stdout, "_original", s.stdout)).__name__


def test_worker_state_is_restored_after_each_chunk(pools):
    pool = pools["process"]
    before = {pool.submit(_worker_state).result() for _ in range(4)}
    pool.map_chunks(_prints, np.arange(100), n=10)
    after = {pool.submit(_worker_state).result() for _ in range(4)}
    assert after == before
    assert all(name != "_Stream" for _, name in after)


# -- capture and replay in this process --------------------------------------------------------

def test_capture_disabled_collects_nothing_and_touches_nothing():
    out = sys.stdout
    with feedback.capture(0, enabled=False) as captured:
        assert sys.stdout is out
    assert captured.items == []


def test_capture_keeps_emission_order_merges_text_and_counts_repeats():
    with feedback.capture(3, enabled=True) as captured:
        print("a")
        print("b")
        logging.getLogger(LOGGER).warning("w %d", 1)
        for _ in range(1000):
            warnings.warn("again", UserWarning, stacklevel=1)
        print("c")
    kinds = [kind for kind, _ in captured.items]
    assert kinds == ["stdout", "log", "warning", "stdout"]
    assert captured.items[0][1] == "a\nb\n"
    assert captured.items[1][1]["msg"] == "w 1" and captured.items[1][1]["args"] is None
    assert captured.items[2][1][-1] == 1000
    assert repr(pickle.loads(pickle.dumps(captured.items))) == repr(captured.items)


def test_capture_bounds_text():
    with feedback.capture(0, enabled=True) as captured:
        sys.stdout.write("x" * (feedback.MAX_TEXT + 10))
        sys.stdout.write("more")
    (kind, text), = captured.items
    assert len(text) < feedback.MAX_TEXT + 200 and "cut at" in text


def test_replay_tags_records_and_respects_levels(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    with feedback.capture(0, enabled=True) as captured:
        logging.getLogger(LOGGER).warning("shown")
        logging.getLogger(LOGGER).info("dropped")
    caplog.set_level(logging.WARNING, logger=LOGGER)  # the caller's level at replay decides
    replay.replay(captured.items, 7, 4242)
    shown = [r for r in caplog.records if r.name == LOGGER and hasattr(r, "chunk")]
    assert [r.getMessage() for r in shown] == ["shown [chunk 7, worker 4242]"]
    assert shown[0].chunk == 7 and shown[0].worker_pid == 4242


def test_caller_level_is_the_lowest_configured_level():
    logger = logging.getLogger("par_test.feedback.level")
    old = logger.level
    try:
        logger.setLevel(5)
        assert replay.caller_level() <= 5
        logging.disable(logging.INFO)  # nothing at INFO or below is emitted anywhere
        assert replay.caller_level() == logging.INFO + 1
    finally:
        logging.disable(logging.NOTSET)
        logger.setLevel(old)


def test_capture_is_cheap_when_nothing_is_emitted():
    start = time.perf_counter()
    for i in range(2000):
        with feedback.capture(i, enabled=True):
            pass
    per_chunk = (time.perf_counter() - start) / 2000
    assert per_chunk < 200e-6, f"{per_chunk * 1e6:.0f} µs per chunk"


def _root_level(chunk):
    return logging.getLogger().getEffectiveLevel()


def test_workers_log_at_the_callers_lowest_level(pools, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    levels = pools["process"].map_chunks(_root_level, np.arange(4), n=2)
    assert levels == [replay.caller_level()] * 2


def _nested(chunk):
    log.info("outer %d", chunk[0])
    return sum(par.map_chunks(_logs_info, chunk, n=2))


def test_nested_maps_in_a_worker_report_each_record_once(pools, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    assert pools["process"].map_chunks(_nested, np.arange(40), n=2) == [190, 590]
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2 + 4, messages  # two outer records, two inner ones per chunk
    assert all(m.count("[chunk") == 1 for m in messages)
