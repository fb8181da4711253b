"""The ``rolling`` workload: rolling windows over a float Series, against pandas' own rolling.
Layer: faces (bench.rolling; imports the package and its own modules).

Three variants, each against the same call on pandas (the baseline):

=========  ==================================================  ===========================
variant    call                                                rows (smoke / quick / full)
=========  ==================================================  ===========================
``mean``   ``rolling(1000).mean()``                            20k / 2M / 20M
``std``    ``rolling(1000).std()``                             20k / 2M / 20M
``apply``  ``rolling(100).apply(np.std, raw=True)``            2k / 20k / 200k
=========  ==================================================  ===========================

``apply`` runs on fewer rows: pandas calls the function once per window (about 20 µs each),
so 20 million rows would take it minutes. ``par.rolling`` runs each method on its default
backend unless the case says otherwise: threads for pandas' own kernels (they release the
GIL), processes for ``apply``. Peers run ``mean`` on the very same extended chunks, pickled,
with pandas on each (:func:`rolling_piece`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import parallel_analysis as par

from ..halos import halo_slices
from ..windows import fixed_window_reach
from .workloads import GOAL_WORKERS, Case, Data, Workload, chunk_slices

WINDOWS = {"mean": 1000, "std": 1000, "apply": 100}
VARIANTS = tuple(WINDOWS)


@dataclass
class Piece:
    """A peer's chunk: rows extended by the window's reach, and the halo rows to trim (one
    object, not a tuple, which some peers would unpack into arguments)."""

    chunk: Any
    trim: int
    variant: str


def rolling_piece(piece: Piece) -> np.ndarray:
    """pandas' rolling on a peer's extended chunk, its halo trimmed."""
    out = by_pandas(piece.chunk, piece.variant)
    return out.to_numpy()[piece.trim:]


def by_pandas(s: Any, variant: str) -> Any:
    r = s.rolling(WINDOWS[variant])
    return r.apply(np.std, raw=True) if variant == "apply" else getattr(r, variant)()


class RollingWorkload(Workload):
    name = "rolling"
    title = ("rolling mean and std over 1,000 rows and apply(np.std) over 100 rows of a float "
             "Series, against pandas")
    baseline = "plain"
    plain_label = "pandas"
    sizes = {"smoke": 20_000, "quick": 2_000_000, "full": 20_000_000}
    apply_sizes = {"smoke": 2_000, "quick": 20_000, "full": 200_000}
    rounds = {"smoke": 1, "quick": 3, "full": 5}
    peer_rounds = {"full": 2}

    variants = ("mean", "std")
    peer_variant = "mean"

    def cases(self, mode: str, workers: list[int], peers: list[str]) -> list[Case]:
        """The usual grid for mean and std, and again for apply on fewer rows (no peers). The
        test suite's smoke run keeps the larger pools for mean only: the other variants run
        the same code paths."""
        grid = super().cases(mode, workers, peers)
        grid += [replace(c, variant="apply", size=self.apply_sizes[mode]) for c in grid
                 if c.variant == "mean" and c.kind != "peer"]
        if mode == "smoke":
            grid = [c for c in grid if c.variant == "mean" or c.workers <= GOAL_WORKERS]
        return grid

    def make_data(self, size: int) -> Data:
        import pandas as pd

        s = pd.Series(np.random.default_rng(13).standard_normal(size) * 3 + 1, name="x")
        return Data(s, int(s.memory_usage(index=True)))

    def run(self, case: Case, runners: Any, data: Data) -> Any:
        s = data.value
        if case.kind == "plain":
            return by_pandas(s, case.variant)
        if case.kind == "ours":
            r = par.rolling(s, WINDOWS[case.variant], pool=runners.pool(case.runner,
                                                                         case.workers))
            return r.apply(np.std, raw=True) if case.variant == "apply" else \
                getattr(r, case.variant)()
        import pandas as pd

        before, after = fixed_window_reach(WINDOWS[case.variant])
        halos = halo_slices(len(s), chunk_slices(len(s)), before, after)
        items = [Piece(s.iloc[h.start:h.stop], h.trim_before, case.variant) for h in halos]
        parts = runners.peer(case.runner, case.workers).map(rolling_piece, items)
        # hstack: mpire joins numpy results into one array itself
        return pd.Series(np.hstack(parts), index=s.index, name=s.name)

    def check(self, result: Any, expected: Any) -> None:
        """Equal to the serial answer to rounding (pandas' own answer included: its running
        sums for mean and std depend on where a scan starts; apply is exact anyway)."""
        import pandas as pd

        pd.testing.assert_series_equal(result, expected, check_exact=False, rtol=1e-9,
                                       atol=1e-10)
