"""par.info() and format_info(): the facts that decide how maps run on this machine."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import parallel_analysis as par
from parallel_analysis.cpus import available_cpus

# The module, not par.info (the function of the same name).
info_mod = importlib.import_module("parallel_analysis.info")


def test_info_reports_cpus_shm_blas_and_versions():
    facts = info_mod.info()
    assert isinstance(facts, dict)
    assert facts["cpus"]["usable"] == available_cpus()
    assert facts["cpus"]["present"] == os.cpu_count()
    assert 1 <= facts["cpus"]["usable"] <= facts["cpus"]["present"]
    assert facts["start_method"] in ("forkserver", "spawn")
    shm = facts["shm"]
    if os.path.isdir("/dev/shm"):
        assert 0 <= shm["free"] <= shm["size"]
    assert facts["versions"]["numpy"] == np.__version__
    assert facts["versions"]["parallel_analysis"] == par.__version__
    for name in ("pandas", "pyarrow", "cloudpickle", "dask"):
        assert name in facts["versions"]
    assert all(lib["num_threads"] >= 1 for lib in facts["blas"])
    assert facts["threads_per_worker"] >= 1


def test_missing_library_is_none_not_an_error():
    assert info_mod._version("surely-not-a-real-package-xyz") is None


def test_format_info_is_one_fact_per_line():
    text = info_mod.format_info()
    for label in ("CPUs", "start method", "/dev/shm", "BLAS", "numpy", "pandas", "pyarrow",
                  "cloudpickle", "dask"):
        assert any(line.startswith(label) for line in text.splitlines()), label
    assert f"{available_cpus()} usable of {os.cpu_count()} present" in text
    assert str(info_mod.info()).splitlines()[0] == text.splitlines()[0]


def test_notes_explain_quota_and_small_shm():
    facts = info_mod.info()
    facts["cpus"] = {"usable": 2, "present": 16, "affinity": 16, "cgroup_quota": 2.0}
    facts["shm"] = {"path": "/dev/shm", "size": 64 * 2**20, "free": 60 * 2**20}
    notes = info_mod._notes(facts)
    assert any("only 2 of 16 CPUs" in n and "cgroup" in n for n in notes)
    assert any("64.0 MiB" in n and "--shm-size" in n for n in notes)
    facts["notes"] = notes
    assert "note: only 2 of 16 CPUs" in info_mod.format_info(facts)


def test_info_imports_neither_pandas_nor_pyarrow():
    code = ("import sys, parallel_analysis as par; par.info(); "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_par_info_is_the_function_whatever_was_imported_first():
    code = ("from parallel_analysis.info import format_info; import parallel_analysis as par; "
            "assert callable(par.info), type(par.info); print(par.info()['cpus']['usable'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == available_cpus()


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity masks here")
def test_a_changed_affinity_mask_counts_after_the_first_map():
    """CPUs usable are read at each call: taskset-like changes in a running session count."""
    mask = os.sched_getaffinity(0)
    assert par.map_reduce(None, np.arange(10), par.reducers.Sum()) == 45
    before = par.info()["cpus"]["usable"]
    try:
        os.sched_setaffinity(0, {min(mask)})
        assert par.info()["cpus"]["usable"] == 1
        with par.Pool(backend="thread") as pool:
            assert pool.workers == 1
    finally:
        os.sched_setaffinity(0, mask)
    assert par.info()["cpus"]["usable"] == before  # and back


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_the_cgroup_quota_is_the_tightest_of_the_process_cgroup_and_its_parents(
        tmp_path, monkeypatch, kind):
    """A nested cgroup (a systemd slice, a job scheduler's) holds its quota in its own folder,
    named by /proc/self/cgroup under the hierarchy's mount point (the root alone was read)."""
    import io

    from parallel_analysis import cpus

    mount = tmp_path / ("cpu,cpuacct" if kind == "v1" else "unified")
    own, parent = mount / "jobs" / "job7", mount / "jobs"
    own.mkdir(parents=True)
    fake = {
        "/proc/self/cgroup": ("4:cpu,cpuacct:/jobs/job7\n" if kind == "v1" else "0::/jobs/job7\n"),
        "/proc/self/mountinfo": (
            f"32 31 0:29 / {mount} rw,relatime - cgroup cgroup rw,cpu,cpuacct\n" if kind == "v1"
            else f"30 23 0:27 / {mount} rw,relatime - cgroup2 cgroup2 rw\n"),
    }

    def quota(folder, cpus_allowed):
        if kind == "v2":
            (folder / "cpu.max").write_text("max 100000\n" if cpus_allowed is None
                                            else f"{int(cpus_allowed * 100000)} 100000\n")
        else:
            (folder / "cpu.cfs_quota_us").write_text(
                "-1\n" if cpus_allowed is None else f"{int(cpus_allowed * 100000)}\n")
            (folder / "cpu.cfs_period_us").write_text("100000\n")

    quota(mount, None)
    quota(parent, 3.0)
    quota(own, 1.5)
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path in fake:
            return io.StringIO(fake[path])
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    for cached in (cpus.cgroup_quota, cpus.cgroup_mounts):
        cached.cache_clear()
    try:
        assert cpus.cgroup_quota() == 1.5
        quota(own, None)
        cpus.cgroup_quota.cache_clear()
        assert cpus.cgroup_quota() == 3.0  # the parent's, then
    finally:
        monkeypatch.undo()
        for cached in (cpus.cgroup_quota, cpus.cgroup_mounts):
            cached.cache_clear()
