"""Security of shared segments: unguessable names, mode 0600, raw bytes (never pickles), small
handles, and clear errors for stale or foreign segments."""

from __future__ import annotations

import os
import pickle
import re
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis import attached, segment
from parallel_analysis.errors import SharedMemoryError, SharedMemoryFallbackWarning

NAME = re.compile(rf"^par_{os.getpid()}_[0-9a-f]{{32}}$")


def test_names_carry_an_unguessable_token():
    handles = [par.share(np.arange(100)) for _ in range(50)]
    try:
        names = [h.segment_name for h in handles]
        assert all(NAME.match(n) for n in names), names[:3]
        tokens = {n.rsplit("_", 1)[1] for n in names}
        assert len(tokens) == 50
        # 128 random bits: every hex digit position varies across 50 tokens
        assert all(len({t[i] for t in tokens}) > 1 for i in range(32))
    finally:
        for h in handles:
            h.close()


def test_segments_are_mode_0600_whatever_the_umask():
    old = os.umask(0)
    try:
        with par.share(np.arange(100)) as h, par.shared_array(10) as out:
            for name in (h.segment_name, out.segment_name):
                mode = stat.S_IMODE(os.stat(os.path.join("/dev/shm", name)).st_mode)
                assert mode == 0o600, oct(mode)
    finally:
        os.umask(old)


def test_file_backed_fallback_is_mode_0600(monkeypatch, tmp_path):
    monkeypatch.setattr(segment.tempfile, "gettempdir", lambda: str(tmp_path))
    real = segment.free_bytes
    monkeypatch.setattr(segment, "free_bytes",
                        lambda folder: 0 if folder == segment.SHM_DIR else real(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = par.share(np.arange(1000))
    try:
        assert [w.category for w in caught] == [SharedMemoryFallbackWarning]
        path = h.meta.ref.path
        assert os.path.dirname(path) == str(tmp_path) and NAME.match(os.path.basename(path))
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        h.close()
    assert os.listdir(tmp_path) == []


def test_segment_bytes_are_the_raw_array():
    x = np.arange(1000, dtype=np.float64)
    for data in (x, np.asfortranarray(x.reshape(100, 10)), x[::3]):
        with par.share(data) as h, open(os.path.join("/dev/shm", h.segment_name), "rb") as f:
            raw = f.read()
        assert raw[: data.nbytes] == np.ascontiguousarray(data).tobytes()
        assert not raw.startswith(b"\x80"), "a pickle header in a segment"


class Boom:
    """Unpickling this creates a marker file: proof that a payload was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_segment_bytes_are_never_unpickled(pools, tmp_path):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Boom(str(marker)), protocol=2)
    x = np.frombuffer(payload * 4000, dtype=np.uint8).copy()  # > SHARE_MIN_BYTES
    with par.share(x) as h:
        for pool in pools.values():
            assert pool.map_reduce(None, h, par.reducers.Sum()) == x.sum()
            assert pool.map_reduce(None, x, par.reducers.Sum()) == x.sum()
        assert bytes(h.value[: len(payload)]) == payload
    assert not marker.exists()


def test_handle_pickles_to_metadata_only():
    x = np.random.default_rng(0).random(2**20)  # 8 MiB
    with par.share(x) as h:
        blob = pickle.dumps(h)
        assert len(blob) < 4096
        assert x[:64].tobytes() not in blob


def test_stale_handle_is_a_clear_error(pools):
    x = np.arange(2**16, dtype=np.float64)
    h = par.share(x)
    copy = pickle.loads(pickle.dumps(h))  # what a worker holds
    blob = pickle.dumps(h)
    h.close()
    with pytest.raises(SharedMemoryError, match="no longer exists") as info:
        copy.value  # noqa: B018
    assert info.value.errno == 2
    with pytest.raises(ValueError, match="closed"):
        h.value  # noqa: B018
    with pytest.raises(Exception, match="closed"):
        pools["process"].map_reduce(None, h, par.reducers.Sum())
    with pytest.raises(SharedMemoryError, match="no longer exists") as info:
        pools["process"].map_chunks(lambda c, b: pickle.loads(b).value.sum(), np.arange(4),
                                    n=2, args=(blob,))
    assert info.value.chunk_index in (0, 1)


def test_forged_names_do_not_escape_dev_shm():
    for name in ("../../etc/hostname", "par_1_" + "0" * 32):
        with pytest.raises(OSError):
            attached.attach(segment.SegmentRef(name, 8, 1))


FOREIGN = """
import os, sys
import parallel_analysis as par
from parallel_analysis import attached, segment
from parallel_analysis.errors import SharedMemoryError
ref = segment.SegmentRef(sys.argv[1], 800, int(sys.argv[2]))
os.setgid(65534)
os.setuid(65534)
try:
    attached.attach(ref)
    print("attached")
except SharedMemoryError as exc:
    print("error", exc.errno, exc)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_segment_of_another_user_is_a_clear_error():
    import subprocess
    import sys

    with par.share(np.arange(100)) as h:
        proc = subprocess.run([sys.executable, "-c", FOREIGN, h.segment_name, str(os.getpid())],
                              capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("error 13 "), proc.stdout
    assert "another user" in proc.stdout


def test_the_fallback_warning_is_shown_under_default_filters():
    """A fresh interpreter's default filters show it (a ResourceWarning would be hidden)."""
    code = ("import warnings; from parallel_analysis.errors import SharedMemoryFallbackWarning "
            "as W; warnings.warn('no room in /dev/shm', W)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={k: v for k, v in os.environ.items()
                                          if k != "PYTHONWARNINGS"})
    assert "SharedMemoryFallbackWarning: no room in /dev/shm" in out.stderr
