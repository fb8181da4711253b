"""The benchmark CLI and its report: run ``bench --smoke`` on two cheap workloads into a temporary
folder, check that every file is there and parses, and that ``report`` re-renders and compares.

Nothing here asserts a timing: the figures of a smoke run mean nothing; the machinery must work.
"""

from __future__ import annotations

import json
import os

import pytest

from parallel_analysis import cli
from parallel_analysis.bench import goals, render, results, runner, stats
from parallel_analysis.bench.workloads import Case

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("bench")
    code = cli.main(["bench", "--smoke", "--quiet", "--no-peers", "--workloads", "pybound",
                     "transfer", "autoprobe", "--out", str(out)])
    assert code == 0
    return out


def test_bench_writes_report_results_and_plots(smoke_run):
    names = set(os.listdir(smoke_run))
    assert {"report.md", "results.json", "speedup.png", "scaling.png", "transfer.png"} <= names
    for png in (n for n in names if n.endswith(".png")):
        with open(smoke_run / png, "rb") as f:
            assert f.read(8) == PNG_MAGIC
    report = (smoke_run / "report.md").read_text()
    for heading in ("## Goals", "## pybound", "## transfer", "## Machine"):
        assert heading in report
    assert "95% interval" in report and "chunking alone" in report
    assert "## auto: the same answer under load" in report and "busy loop" in report
    assert "CPUs usable" in report and "start method" in report
    assert "This is a `smoke` run" in report  # its verdicts are not read as measurements


def test_results_are_pytest_benchmark_json_with_our_figures(smoke_run):
    doc = json.loads((smoke_run / "results.json").read_text())
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(doc)
    entries = doc["benchmarks"]
    assert {e["group"] for e in entries} == {"pybound", "transfer"}
    for entry in entries:
        assert {"name", "fullname", "params", "stats", "extra_info"} <= set(entry)
        assert "error" not in entry["extra_info"], entry["extra_info"]["error"]
        stats = entry["stats"]
        assert stats["rounds"] >= 1 and stats["min"] <= stats["median"] <= stats["max"]
        assert entry["extra_info"]["memory_peak"] > 0
    runners = {e["extra_info"]["runner"] for e in entries}
    assert {"serial", "thread", "process", "auto", "plain"} <= runners


def test_report_rerenders_and_compares(smoke_run, tmp_path, capsys):
    path = str(smoke_run / "results.json")
    assert cli.main(["report", path, "--out", str(tmp_path), "--no-plots"]) == 0
    assert "## pybound" in (tmp_path / "report.md").read_text()
    capsys.readouterr()
    assert cli.main(["report", path, path]) == 0
    text = capsys.readouterr().out
    assert "# Comparison" in text and "| B / A |" in text
    assert "1.00" in text  # a run compared with itself: every ratio is one


def test_goals_say_when_a_case_is_missing():
    rec = results.records({"benchmarks": [results.entry(Case("pybound", "serial", 1, size=10),
                                                        [0.5, 0.6], {"baseline": "serial"})]})
    rows = goals.evaluate(rec)
    assert rows and all(g.met is None for g in rows if "serial" in g.target)


def test_speedup_and_efficiency_from_paired_rounds():
    entries = [results.entry(Case("npbound", "serial", 1, size=5), [1.0, 1.0, 1.2],
                             {"baseline": "serial"}),
               results.entry(Case("npbound", "thread", 2, size=5), [0.5, 0.5, 0.6],
                             {"baseline": "serial"})]
    recs = results.records({"benchmarks": entries})
    assert results.speedup(recs[1], recs) == pytest.approx(2.0)  # round by round: 2, 2, 2
    table = render.workload_table(recs, "npbound", cpus=2)
    assert "2.00× [2.00–2.00]" in table and "100%" in table


def test_a_goal_is_met_only_when_its_whole_interval_clears_it():
    steady = stats.paired_speedup([2.0] * 7, [1.0] * 7)
    assert (steady.low, steady.median, steady.high) == (2.0, 2.0, 2.0)
    assert stats.verdict(steady, 1.95) == "met" and stats.verdict(steady, 2.5) == "not met"
    noisy = stats.paired_speedup([2.0, 2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.3, 0.9])
    assert noisy.low < 1.95 <= noisy.median <= noisy.high
    assert stats.verdict(noisy, 1.95) == "unclear"  # a noisy run is never "met"
    assert stats.verdict(stats.paired_speedup([1.0], [0.5]), 1.5) == "unclear"  # one round
    assert stats.verdict(stats.paired_speedup([1.0], [2.0]), 1.5) == "unclear"  # either side
    assert stats.is_noisy(stats.summary([1.0, 1.0, 1.3])) and not stats.is_noisy(
        stats.summary([1.0, 1.05, 1.1]))


def test_intervals_pair_rounds_so_a_shared_slowdown_cancels():
    # Round 2 was slow for everyone (someone else's job): paired ratios stay 2.0.
    interval = stats.paired_speedup([1.0, 3.0, 1.0, 1.0], [0.5, 1.5, 0.5, 0.5])
    assert (interval.low, interval.high) == (2.0, 2.0)


def test_the_ceiling_runs_bare_pools_and_is_read_beside_the_goals(tmp_path):
    """The ceiling workload runs its units on bare pools (no code of ours) at 1 and 2 workers,
    checked against the one call; the report shows their 2-vs-1 rows and the goals' note."""
    assert cli.main(["bench", "--smoke", "--quiet", "--workloads", "ceiling", "--out",
                     str(tmp_path), "--no-plots"]) == 0
    doc, recs = results.load(str(tmp_path / "results.json"))
    got = {(r.runner, r.workers, r.variant) for r in recs if r.ok}
    assert {("plain", 1, "python"), ("multiprocessing", 1, "python"),
            ("multiprocessing", 2, "python"), ("plain", 1, "numpy"), ("threads", 1, "numpy"),
            ("threads", 2, "numpy")} <= got
    report = (tmp_path / "report.md").read_text()
    assert "| python | multiprocessing: 2 workers vs 1 |" in report
    assert "| numpy | threads: 2 workers vs 1 |" in report
    assert "This run's ceiling" in report and "threads (numpy units) 2 workers vs 1" in report


def test_each_round_runs_every_case_once_with_changing_neighbours():
    cases = [f"case{i}" for i in range(6)]
    orders = [runner.round_order(cases, r) for r in range(9)]
    assert all(sorted(order) == cases for order in orders)
    assert orders == [runner.round_order(cases, r) for r in range(9)]  # repeatable
    before_second = {order[order.index("case1") - 1] for order in orders
                     if order.index("case1") > 0}
    assert len(before_second) > 2  # not always the same case just before it


def test_info_prints_something(capsys):
    assert cli.main(["info"]) == 0
    assert capsys.readouterr().out.strip()


# -- backend="auto" (parallel_analysis/auto.py): right answers whatever it picks -----------------

def _collatz(chunk):
    from parallel_analysis.bench.work import collatz_steps

    return collatz_steps(chunk)


@pytest.fixture(scope="module")
def auto_pool():
    import parallel_analysis as par

    with par.Pool(2, "auto") as pool:
        yield pool


def test_auto_matches_serial_on_every_map(auto_pool):
    import numpy as np

    x = np.random.default_rng(0).integers(1, 10_000, 20_000)
    assert auto_pool.map_reduce(_collatz, x, lambda a, b: a + b) == _collatz(x)
    assert auto_pool.last_reason.split(":")[0] in ("thread", "process")
    np.testing.assert_array_equal(auto_pool.map_array(np.sqrt, x.astype(float)),
                                  np.sqrt(x.astype(float)))
    assert auto_pool.map_chunks(len, [[1, 2], [3]]) == [2, 1]
    assert auto_pool.map_chunks(len, x[:0]) == []


def test_auto_reraises_the_user_error(auto_pool):
    import numpy as np

    def boom(chunk):
        raise KeyError("bad chunk")

    with pytest.raises(KeyError, match="bad chunk"):
        auto_pool.map_chunks(boom, np.arange(1000), n=4)


def test_auto_one_worker_is_serial():
    import numpy as np

    import parallel_analysis as par

    with par.Pool(1, "auto") as pool:
        assert pool.map_reduce(None, np.arange(100), par.reducers.Sum()) == 4950
        assert pool.last_reason.startswith("serial")


def test_rolling_workload_checks_each_variant_against_its_own_serial_answer():
    from parallel_analysis.bench.measure import Runners
    from parallel_analysis.bench.runner import Progress, run_group, workloads

    workload = workloads()["rolling"]
    cases = [c for c in workload.cases("smoke", [1, 2], []) if c.workers in (1, 2)
             and c.runner in ("plain", "serial", "thread", "process")]
    runners = Runners()
    try:
        entries = []
        for size in sorted({c.size for c in cases}):
            entries += run_group(workload, [c for c in cases if c.size == size], runners,
                                 Progress(False), "rolling")
    finally:
        runners.close()
    assert {e["extra_info"]["variant"] for e in entries} == {"mean", "std", "apply"}
    for entry in entries:
        assert "error" not in entry["extra_info"], entry["extra_info"]["error"]
    rows = goals.evaluate(results.records({"benchmarks": entries}))
    assert {g.target for g in rows} == {
        "[mean] thread ×2 ≥ 1.7× pandas' rolling(1000).mean()",
        "[apply] process ×2 ≥ 1.8× pandas' rolling(100).apply(np.std)",
        "[mean] thread ×2: peak memory of all processes ≤ 1.3× input + output"}
    assert all(g.status != "not measured" for g in rows)


def test_accessor_workloads_run_and_state_their_goals(tmp_path):
    """rowapply, seriesmap and groupapply: every case checked against pandas, goals listed."""
    assert cli.main(["bench", "--smoke", "--quiet", "--no-peers", "--no-plots", "--workloads",
                     "rowapply", "seriesmap", "groupapply", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert {e["group"] for e in doc["benchmarks"]} == {"rowapply", "seriesmap", "groupapply"}
    assert not [e["extra_info"]["error"] for e in doc["benchmarks"]
                if "error" in e["extra_info"]]
    report = (tmp_path / "report.md").read_text()
    for text in ("## rowapply", "≥ 1.85× pandas' df.apply(f, axis=1)", "s.map(g)",
                 "≥ 1.7× pandas' groupby(k).apply(f)", "auto within 5%"):
        assert text in report, text


def test_report_of_a_file_that_is_no_results_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("nope")
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "entries.json").write_text('{"benchmarks": [5]}')
    (tmp_path / "machine.json").write_text('{"machine_info": 3, "benchmarks": []}')
    (tmp_path / "stats.json").write_text('{"benchmarks": [{"name": "x", "stats": '
                                         '{"median": "fast"}}]}')
    for name, says in [("missing.json", "No such file"), ("bad.json", "is not JSON"),
                       ("empty.json", "holds no benchmark results"),
                       ("entries.json", "entries are not benchmark results"),
                       ("machine.json", "not results this tool wrote"),
                       ("stats.json", "not results this tool wrote")]:
        assert cli.main(["report", str(tmp_path / name)]) == 2
        assert says in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert cli.main(["report", str(tmp_path / "entries.json"), str(tmp_path / "entries.json")]
                    ) == 2
    capsys.readouterr()
    results = tmp_path / "run.json"
    results.write_text('{"benchmarks": []}')
    assert cli.main(["report", str(results), "--out", str(tmp_path / "a_file")]) == 2
    assert "give --out a folder" in capsys.readouterr().err


def test_scaling_pairs_cases_of_one_data_size():
    """transfer runs at several sizes: x2 of the small array was divided into x1 of the big."""
    def entry(workers, size, seconds):
        return results.entry(Case("transfer", "process", workers, variant="shared", size=size),
                             [seconds] * 3, {"baseline": "serial"})

    recs = results.records({"benchmarks": [entry(1, 400, 4.0), entry(2, 400, 2.5),
                                           entry(1, 100, 1.0), entry(2, 100, 0.8)]})
    table = render.scaling_table(recs, "transfer")
    assert "| shared (400 rows) | process: 2 workers vs 1 | 1.60× [1.60–1.60] |" in table
    assert "| shared (100 rows) | process: 2 workers vs 1 | 1.25× [1.25–1.25] |" in table


def test_pytest_benchmarks_own_files_keep_their_noise_flags_and_say_what_is_missing():
    entry = results.entry(Case("npbound", "serial", 1, size=5), [1.0, 1.0, 1.5],
                          {"baseline": "serial"})
    del entry["stats"]["spread"]  # pytest-benchmark writes min, max and median only
    (rec,) = results.records({"benchmarks": [entry]})
    assert stats.is_noisy(rec.stats)
    assert str(stats.paired_speedup([], [])) == "not measured"


def test_bench_exits_non_zero_when_a_case_fails(tmp_path, monkeypatch, capsys):
    from parallel_analysis.bench import workloads

    real = workloads.PyBound.run

    def wrong_on_threads(self, case, runners, data):
        value = real(self, case, runners, data)
        return value + 1 if case.runner == "thread" else value

    monkeypatch.setattr(workloads.PyBound, "run", wrong_on_threads)
    code = cli.main(["bench", "--smoke", "--quiet", "--no-peers", "--no-plots", "--workloads",
                     "pybound", "--out", str(tmp_path)])
    assert code == 1
    assert "failed: pybound thread" in capsys.readouterr().err
    report = (tmp_path / "report.md").read_text()
    assert "--workloads pybound --no-peers" in report
    assert "not measured" in report.split("## Goals")[1].split("\n## ")[0]
    assert cli.main(["bench", "--smoke", "--out", "/proc/no/such/folder"]) == 2
    assert "cannot write the report to '/proc/no/such/folder'" in capsys.readouterr().err


def test_the_commit_is_the_packages_checkout_wherever_bench_runs(tmp_path, monkeypatch):
    import subprocess

    from parallel_analysis.bench.machine import commit_info

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                          text=True).stdout.strip()
    monkeypatch.chdir(tmp_path)  # a folder that is no checkout (or someone else's)
    assert commit_info()["id"] == head
