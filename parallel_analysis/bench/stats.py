"""Statistics of a benchmark run: round summaries, paired speedups with 95% intervals, verdicts.
Layer: faces (bench.stats; imports nothing of the package).

Rounds of every case of a workload are interleaved (round r of each case runs in the same sweep),
so the r-th times of two cases saw the same background load. A speedup is therefore computed per
round, as a ratio of paired times, and summarised by the median of those ratios with a bootstrap
95% interval over rounds. A goal counts as met only when the whole interval clears it, as not
met when the whole interval misses it, and as unclear otherwise: a noisy run can make a goal
unclear, never met.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

#: Resamples drawn for a bootstrap interval (fixed seed: the same run gives the same interval).
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 2026

#: A case whose rounds spread (max - min over median) more than this is flagged as noisy.
NOISY_SPREAD = 0.20


def summary(times: list[float]) -> dict:
    """pytest-benchmark's ``stats`` block for a list of round times (seconds)."""
    data = sorted(times)
    n = len(data)
    mean = statistics.fmean(data)
    stddev = statistics.stdev(data) if n > 1 else 0.0
    if n >= 4:
        q1, _, q3 = statistics.quantiles(data, n=4, method="inclusive")
    else:
        q1, q3 = data[0], data[-1]
    iqr = q3 - q1
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    return {
        "min": data[0], "max": data[-1], "mean": mean, "stddev": stddev, "rounds": n,
        "median": statistics.median(data), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": sum(1 for t in data if t < lo or t > hi),
        "stddev_outliers": sum(1 for t in data if abs(t - mean) > stddev) if n > 1 else 0,
        "outliers": "", "ld15iqr": min((t for t in data if t >= lo), default=data[0]),
        "hd15iqr": max((t for t in data if t <= hi), default=data[-1]),
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": sum(data), "iterations": 1,
        "data": list(times),
        "spread": (data[-1] - data[0]) / statistics.median(data) if data[0] > 0 else 0.0,
    }


@dataclass(frozen=True)
class Interval:
    """A median and its 95% interval; ``n`` is the number of rounds it rests on."""

    median: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if self.n == 0 or np.isnan(self.median):
            return "not measured"
        if self.n < 2:
            return f"{self.median:.2f}× (1 round)"
        return f"{self.median:.2f}× [{self.low:.2f}–{self.high:.2f}]"


def bootstrap_median(values: list[float]) -> Interval:
    """The median of ``values`` and a percentile-bootstrap 95% interval of it."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    median = float(np.median(data))
    if data.size == 1:
        return Interval(median, median, median, 1)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, data.size, (BOOTSTRAP_RESAMPLES, data.size))
    medians = np.median(data[picks], axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return Interval(median, float(low), float(high), int(data.size))


def paired_speedup(base_times: list[float], case_times: list[float]) -> Interval:
    """How many times faster the case ran than the base, round by round (paired)."""
    pairs = [b / c for b, c in zip(base_times, case_times) if c > 0]
    return bootstrap_median(pairs)


def verdict(interval: Interval, target: float) -> str:
    """"met" when the interval's lower end clears ``target``, "not met" when its upper end is
    below it, "unclear" in between (or with a single round)."""
    if interval.n == 0 or np.isnan(interval.median):
        return "not measured"
    if interval.n < 2:  # one round has no interval, whichever side of the target it lands
        return "unclear"
    if interval.low >= target:
        return "met"
    if interval.high < target:
        return "not met"
    return "unclear"


def is_noisy(stats: dict) -> bool:
    """Whether a case's rounds spread more than :data:`NOISY_SPREAD`."""
    return stats.get("rounds", 0) > 1 and stats.get("spread", 0.0) > NOISY_SPREAD
