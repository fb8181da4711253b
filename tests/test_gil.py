"""gil: what the watcher counts as a wait for the GIL, and where it runs."""

from __future__ import annotations

import os

import pytest

from parallel_analysis import gil


def _nap(wall: float, run_delay: float, func_cpu: float, blocked_again: bool) -> tuple:
    return (0.0, wall, run_delay, func_cpu, blocked_again)


def test_a_nap_that_slept_once_waited_for_no_gil():
    """A late timer (the host did not run the watcher's CPU) is not a held GIL: waiting for
    the GIL means sleeping a second time, on its condition variable."""
    late_timer = [_nap(2e-3, 0.0, 2e-3, blocked_again=False)]
    held, ran, starved, naps = gil.gil_wait(late_timer, 0.0, 1.0, baseline=50e-6)
    assert (held, naps) == (0.0, 1) and ran == pytest.approx(2e-3)
    gil_wait = [_nap(2e-3, 0.0, 2e-3, blocked_again=True)]
    held, ran, _, _ = gil.gil_wait(gil_wait, 0.0, 1.0, baseline=50e-6)
    assert held == pytest.approx(2e-3 - gil.NAP - 50e-6)


def test_run_delay_and_the_time_after_func_ended_are_not_held():
    waited_for_cpu = [_nap(2e-3, 1.5e-3, 2e-3, blocked_again=True)]
    held, _, starved, _ = gil.gil_wait(waited_for_cpu, 0.0, 1.0, baseline=0.0)
    assert held == pytest.approx(2e-3 - gil.NAP - 1.5e-3) and starved == pytest.approx(1.5e-3)
    outlasting = [_nap(2e-3, 0.0, 1e-3, blocked_again=True)]  # func ended 1 ms into the nap
    held, _, _, _ = gil.gil_wait(outlasting, 0.0, 1e-3, baseline=0.0)
    assert held == pytest.approx(1e-3 - gil.NAP)


def test_current_cpu_is_one_this_thread_may_run_on():
    assert gil.current_cpu() in os.sched_getaffinity(0)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two usable CPUs")
def test_the_watcher_keeps_off_the_cpu_func_runs_on():
    """Woken on func's CPU, the watcher would queue behind func while another CPU idles, and
    see no GIL held; it pins itself elsewhere while it watches."""
    seen = {}
    watcher_tid = gil.watcher()._thread.native_id

    def func(_):
        seen["cpu"] = gil.current_cpu()
        seen["watcher may use"] = os.sched_getaffinity(watcher_tid)

    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})  # func stays on one CPU
    try:
        gil.watch(func, None)
    finally:
        os.sched_setaffinity(0, allowed)
    assert seen["cpu"] == min(allowed)
    assert seen["watcher may use"] and seen["cpu"] not in seen["watcher may use"]
