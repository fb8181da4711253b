"""par.last_run(): per-chunk timings, bytes moved, utilisation, summary, HTML and extra_info."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.insights import PHASES, ChunkTiming, RunStats


def _sleepy(chunk):
    time.sleep(0.03)
    return int(chunk.sum())


def test_every_chunk_is_timed_on_every_backend(pool):
    pool.map_chunks(_sleepy, np.arange(1000), n=6)
    stats = par.last_run()
    assert sorted(t.index for t in stats.timings) == list(range(6))
    for t in stats.timings:
        assert t.compute >= 0.025, t
        assert all(getattr(t, p) >= 0 for p in PHASES)
        assert t.queue_wait < stats.seconds and t.send_back < stats.seconds
    assert 0 < stats.busy_fraction <= 1
    assert set(stats.utilisation()) == {t.pid for t in stats.timings}


def test_bytes_are_counted_for_processes_only(pools):
    x = np.arange(100_000)
    pools["process"].map_chunks(lambda c: c[:10].copy(), x, n=4)
    moved = par.last_run()
    assert moved.as_dict()["bytes_sent"] > 0 and moved.as_dict()["bytes_received"] > 0
    # The data itself is in shared memory: far fewer bytes pickled than the array holds.
    assert moved.bytes_moved < x.nbytes
    pools["thread"].map_chunks(len, x, n=4)
    assert par.last_run().bytes_moved == 0


def test_attach_is_separated_from_compute_for_shared_frames(pools):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": np.arange(200_000), "b": np.arange(200_000) * 0.5})
    pools["process"].map_chunks(lambda f: float(f["b"].sum()), df, n=4)
    stats = par.last_run()
    assert all(t.attach > 0 for t in stats.timings)


def test_summary_html_and_dict_agree(pools):
    pools["process"].map_reduce(_sleepy, np.arange(100), par.reducers.Sum(), n=4)
    stats = par.last_run()
    line = stats.summary()
    assert line.startswith("4 chunks on process backend") and "compute" in line
    assert "\n" not in line and repr(stats).startswith("<RunStats: 4 chunks")
    page = stats._repr_html_()
    assert page.count("<tr>") == 4 + 2  # header, 4 chunks, totals
    extra = stats.as_dict()
    json.dumps(extra)  # pytest-benchmark's extra_info must be JSON
    assert extra["chunks"] == 4 and extra["compute_total"] >= 4 * 0.025


def test_html_is_bounded_for_many_chunks():
    stats = RunStats("thread backend", 2, 500, 1.0, [0.001] * 500, "",
                     [ChunkTiming(i, 1, 0, 0, 0.001, 0) for i in range(500)])
    assert "first 20 of 500 chunks" in stats._repr_html_()
