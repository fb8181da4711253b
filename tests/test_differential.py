"""Differential tests: every reducer, shortcut, describe, value_counts and groupby_agg of
``parallel_analysis`` against numpy and pandas, over chunkings n=1..8, on every local backend.

Written only against the public API (``import parallel_analysis as par``, ``par.reducers``,
``par.errors``). numpy is the oracle for ndarrays, pandas for Series and DataFrames, as the
design asks ("Reducers follow the conventions of their input"). Calls alternate between the
shortcuts (``par.sum(x, pool=pool, n=n)``...) and ``pool.map_reduce(None, x, Reducer(), n=n)``.

What is compared, for every call:

- the outcome: if the oracle raises, par must raise (any exception); if it returns, par must
  return;
- the result's type (numpy scalar / ndarray / Python scalar / pd.NA / NaT / Timestamp ...),
  dtype, shape, index (values, dtype, names, order) and columns;
- the values: exactly where numpy/pandas are exact (integer and bool results, counts, min/max,
  first/last, nunique, exact quantiles, histogram counts and edges, datetimes); within a
  tolerance for floating sums, means and variances (rtol 1e-9 for 64-bit results, with an
  absolute term scaled by the data's magnitude; 1e-4/1e-2 for float32/float16 results, whose
  oracle itself rounds at every step);
- the warnings, recorded with ``warnings.catch_warnings(record=True)`` around every call (the
  real suite runs with ``filterwarnings = error``): par must emit the same kinds of warning as
  numpy (RuntimeWarning, ComplexWarning, ...), except for the "invalid value" warnings of sums,
  means and variances of data holding NaN or +-inf, which depend on the order of additions; and
  no kind of warning that pandas does not emit. ``par.errors.PickleFallbackWarning`` (object
  columns sent by pickle, documented) is ignored.

Each test first checks fixed edge cases (empty, one row, all-NA, NaN/NaT, +-inf, integer
extremes, 2-d with axis None/0, ddof >= N), then a few hypothesis examples drawing data and
chunkings. Default profile: 3 examples (2 for groupby), ``derandomize=True`` (seeded,
reproducible), no shrinking, failures reported without traceback; every dtype on the serial
backend and a representative subset of dtypes and edge cases on thread and process, so that
the file runs in about half a minute on 2 CPUs (some 25 s of CPU). ``PAR_FUZZ_EXAMPLES=<n>``
selects the long profile: n random examples per test, every chunking 1..8 for every case, every
dtype on every backend, shrinking and hypothesis' reproduction blobs. ``PAR_DIFF_SHOWN=<k>``
lists up to k mismatches per failing test (default 12).

Nothing here is marked xfail. The module started as an audit of issue 11 (286 failing tests,
in 36 classes); the reducers' docstrings say where numpy or pandas are inconsistent and which
way the reducers follow them.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import parallel_analysis as par
from parallel_analysis import reducers as R
from parallel_analysis.errors import PickleFallbackWarning

# -- settings ----------------------------------------------------------------------------------

BACKENDS = ("serial", "thread", "process")
ALL_CHUNKINGS = tuple(range(1, 9))

_LONG = int(os.environ.get("PAR_FUZZ_EXAMPLES", "0") or 0)
_SHOWN = int(os.environ.get("PAR_DIFF_SHOWN", "12"))  # mismatches listed per failing test
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=list(HealthCheck))
# By default no shrinking: a failing example is reported as found (the message names the data),
# which keeps a failing run as fast as a passing one.
settings.register_profile("par-differential", max_examples=3, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("par-differential-long", max_examples=max(_LONG, 1),
                          derandomize=False, **_COMMON)
#: Used as a decorator on every fuzz function (never loaded globally, so other modules' own
#: hypothesis settings are untouched).
FUZZ = settings.get_profile("par-differential-long" if _LONG else "par-differential")
#: groupby maps cost tens of milliseconds each: fewer examples by default.
FUZZ_GROUPBY = settings(FUZZ, max_examples=_LONG or 2)


def edge_chunkings(backend: str) -> tuple:
    """Chunkings for the fixed edge cases: one chunk and eight (one row each for most edge
    cases, an uneven tree for six rows) on serial, where a map costs ~1 ms; three on
    thread/process (a few ms per map); all of 1..8 when fuzzing long. The fuzz examples draw
    theirs (two per example on serial, so every chunking 1..8 turns up across a test)."""
    if _LONG:
        return ALL_CHUNKINGS
    return (1, 8) if backend == "serial" else (3,)


#: On thread/process only these edge cases run by default (the semantics are the reducers',
#: the same on every backend; these exercise transport of each dtype, NA and multi-chunk merges).
REPRESENTATIVE = {"6 values", "3x2", "NaN", "NaT", "integer extremes", "values", "one valid, NA",
                  "all NA", "tenths", "2**62 x3", "+-inf"}


def edge_cases_for(backend: str, cases: list) -> list:
    if backend == "serial" or _LONG:
        return cases
    return [case for case in cases if case[0] in REPRESENTATIVE]


def draw_chunkings(data, backend: str, k: int = 1, serial_k: int = 2) -> tuple:
    """All chunkings 1..8 when fuzzing long; else ``serial_k`` distinct ones drawn from 1..8 on
    serial and ``k`` on thread/process (each example draws its own, so they spread over 1..8)."""
    if _LONG:
        return ALL_CHUNKINGS
    k = serial_k if backend == "serial" else k
    return tuple(sorted(data.draw(st.sets(st.integers(1, 8), min_size=k, max_size=k),
                                  label="chunkings")))


# -- pools: one 2-worker pool per backend, made once for the module ------------------------------

_POOLS: dict[str, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _close_pools():
    yield
    for pool in _POOLS.values():
        pool.close()
    _POOLS.clear()


@pytest.fixture(params=BACKENDS, scope="module")
def backend(request) -> str:
    return request.param


@pytest.fixture
def pool(backend):
    if backend not in _POOLS:
        _POOLS[backend] = par.Pool(2, backend)
    return _POOLS[backend]


# -- running a call and comparing outcomes -------------------------------------------------------

_WARNING_KINDS = (np.exceptions.ComplexWarning, RuntimeWarning, FutureWarning,
                  DeprecationWarning, PendingDeprecationWarning, UserWarning, Warning)


class Outcome(NamedTuple):
    value: Any
    error: BaseException | None
    warnings: frozenset


def run(fn) -> Outcome:
    """``fn()``'s value or exception, and the kinds of warnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", PickleFallbackWarning)
        try:
            value, error = fn(), None
        except Exception as exc:  # noqa: BLE001 - an outcome to compare
            value, error = None, exc
    kinds = frozenset(next(k.__name__ for k in _WARNING_KINDS if issubclass(w.category, k))
                      for w in caught)
    return Outcome(value, error, kinds)


def short(x: Any, limit: int = 160) -> str:
    text = repr(x) if not isinstance(x, (pd.Series, pd.DataFrame)) else (
        f"{type(x).__name__}{x.shape} index={list(x.index)[:8]} values="
        f"{x.to_dict() if isinstance(x, pd.Series) else x.to_dict('list')}"
        f" dtypes={getattr(x, 'dtypes', getattr(x, 'dtype', None))}")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare_outcomes(label: str, got: Outcome, want: Outcome, diff,
                     warnings_rule: str = "same") -> list[str]:
    """Problems (human-readable) between par's outcome and the oracle's.

    ``warnings_rule``: ``"same"`` (numpy oracles: par warns exactly when numpy warns, with the
    same kinds of warning), ``"no extra"`` (pandas oracles: par emits no kind of warning that
    pandas does not; pandas' own incidental numpy warnings, e.g. from inf - inf inside its
    nanops, need not be copied) or ``"any"`` (sums, means and variances of data holding NaN or
    +-inf: whether ``inf + -inf`` or ``inf * 0`` is ever evaluated, and so whether an "invalid
    value" RuntimeWarning appears, depends on the order of the additions, which chunking
    changes; numpy's own warning changes with its pairwise blocking too)."""
    if want.error is not None:
        if got.error is None:
            return [f"{label}: oracle raised {type(want.error).__name__}({want.error}); "
                    f"par returned {short(got.value)}"]
        return []
    if got.error is not None:
        return [f"{label}: par raised {type(got.error).__name__}({short(str(got.error), 200)}); "
                f"oracle returned {short(want.value)}"]
    problems = [f"{label}: {p}" for p in diff(got.value, want.value)]
    if warnings_rule != "any" and got.warnings != want.warnings and (
            warnings_rule == "same" or not got.warnings <= want.warnings):
        problems.append(f"{label}: warnings {sorted(got.warnings)} != oracle's "
                        f"{sorted(want.warnings)} (value {short(got.value, 80)})")
    return problems


def fail_if(problems: list[str]) -> None:
    """Fail with every mismatch listed (each names its data, chunking and backend).

    By default without a Python traceback (``pytest.fail(pytrace=False)``): the messages say it
    all, and pytest re-parses this module's source for every failing test it renders with a
    traceback, which costs more than the test itself. When fuzzing long, an AssertionError with
    hypothesis' falsifying example and reproduction blob."""
    __tracebackhide__ = True
    if problems:
        shown = "\n  ".join(problems[:_SHOWN])
        more = f"\n  ... and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        message = f"{len(problems)} mismatch(es) with numpy/pandas:\n  {shown}{more}"
        if _LONG:
            raise AssertionError(message)
        pytest.fail(message, pytrace=False)


def par_run(pool, fn) -> Outcome:
    """:func:`run` for a call of par on ``pool``."""
    return run(fn)


def on_backends(items, fast) -> list:
    """``(backend, item)`` parameters: every item on serial, the ``fast`` subset on thread and
    process (every item on all backends when fuzzing long). The semantics under test are the
    reducers', identical on every backend by design; thread/process runs check that each dtype
    survives the trip to the workers and back and that merges agree, at a few ms per map."""
    out = []
    for backend in BACKENDS:
        for item in items:
            if backend == "serial" or _LONG or item in fast:
                label = ",".join(item) if isinstance(item, tuple) else str(item)
                out.append(pytest.param(backend, item, id=f"{backend}-{label}"))
    return out


# -- numpy results ---------------------------------------------------------------------------------


def rtol_for(dtype: np.dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":
        return 1e-9
    bits = dtype.itemsize * 8 // (2 if dtype.kind == "c" else 1)
    return {16: 1e-2, 32: 1e-4}.get(bits, 1e-9)


def numpy_diff(got: Any, want: Any, *, exact: bool, atol: float = 0.0) -> list[str]:
    """Type, dtype, shape and value differences of numpy results (tuples elementwise)."""
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            return [f"expected a {len(want)}-tuple, got {short(got)}"]
        return [p for g, w in zip(got, want) for p in numpy_diff(g, w, exact=True)]
    if type(got) is not type(want):
        return [f"type {type(got).__name__} != numpy's {type(want).__name__} "
                f"(par {short(got, 70)}, numpy {short(want, 70)})"]
    g, w = np.asarray(got), np.asarray(want)
    if g.dtype != w.dtype:
        return [f"dtype {g.dtype} != numpy's {w.dtype} (par {short(got, 70)}, "
                f"numpy {short(want, 70)})"]
    if g.shape != w.shape:
        return [f"shape {g.shape} != numpy's {w.shape}"]
    if w.dtype.kind in "fc":
        gn, wn = np.isnan(g), np.isnan(w)
        if not np.array_equal(gn, wn):
            return [f"NaN at different places: par {short(got)}, numpy {short(want)}"]
        gv, wv = g[~gn], w[~wn]
        infinite = ~np.isfinite(wv)
        if not np.array_equal(gv[infinite], wv[infinite]) or not np.all(np.isfinite(gv[~infinite])):
            return [f"infinities differ: par {short(got)}, numpy {short(want)}"]
        gv, wv = gv[~infinite], wv[~infinite]
        if exact:
            ok = np.array_equal(gv, wv)
        else:
            ok = np.allclose(gv, wv, rtol=rtol_for(w.dtype), atol=atol)
        return [] if ok else [f"values par {short(got)} != numpy {short(want)}"
                              + ("" if exact else f" (rtol {rtol_for(w.dtype)}, atol {atol:.3g})")]
    if w.dtype.kind in "mM":
        same = (g == w) | (np.isnat(g) & np.isnat(w))
        return [] if np.all(same) else [f"values par {short(got)} != numpy {short(want)}"]
    return [] if np.array_equal(g, w) else [f"values par {short(got)} != numpy {short(want)}"]


def magnitude(x: np.ndarray) -> float:
    """max |finite value| of an array (1 if none): scales the absolute tolerance."""
    x = np.asarray(x)
    if x.dtype.kind not in "biufc" or x.size == 0:
        return 1.0
    v = np.abs(x.astype(np.complex128 if x.dtype.kind == "c" else np.float64))
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size and v.max() > 0 else 1.0


# -- numpy data ------------------------------------------------------------------------------------

NUMPY_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128", "datetime64[s]",
                "timedelta64[ms]")
FAST_NUMPY = {"bool", "int64", "float32", "float64", "datetime64[s]", "timedelta64[ms]"}


def numpy_base(dtype: np.dtype) -> np.ndarray:
    k = dtype.kind
    if k == "b":
        return np.array([True, False, True, True, False, True])
    if k in "iu":
        return np.array([3, 1, 4, 1, 5, 9], dtype)
    if k == "f":
        return np.array([0.5, -1.25, 3.0, 2.0, 0.125, 7.5], dtype)
    if k == "c":
        return np.array([1 + 2j, 3 - 1j, 0.5 + 0.5j, -2j, 1, 2.5j], dtype)
    return np.array([5, 1, 3, 7, 2, 4]).astype(dtype)


def numpy_edge_cases(dtype: Any) -> list[tuple[str, np.ndarray]]:
    dtype = np.dtype(dtype)
    base = numpy_base(dtype)
    cases = [("6 values", base), ("one value", base[:1]), ("empty", base[:0]),
             ("3x2", base.reshape(3, 2)), ("0x2", base[:0].reshape(0, 2)),
             ("2x0", np.empty((2, 0), dtype))]
    k = dtype.kind
    if k in "iu":
        info = np.iinfo(dtype)
        cases.append(("integer extremes", np.array([info.max, info.max, info.min, 1, info.max, 0],
                                                   dtype)))
    if k == "f":
        cases += [("NaN", np.array([1.0, np.nan, 2.0, 3.0], dtype)),
                  ("+inf", np.array([1.0, np.inf, 2.0, 3.0], dtype)),
                  ("+-inf", np.array([1.0, np.inf, 2.0, -np.inf], dtype)),
                  ("NaN 3x2", np.array([[1, 2], [np.nan, 3], [4, 5]], dtype))]
    if k == "c":
        cases.append(("NaN", np.array([1 + 2j, complex(np.nan, 0), 3], dtype)))
    if k in "mM":
        nat = np.array(["NaT"], dtype)
        cases.append(("NaT", np.concatenate([base[:2], nat, base[2:4]])))
    return cases


@st.composite
def numpy_arrays(draw, dtype: Any, max_rows: int = 12) -> np.ndarray:
    dtype = np.dtype(dtype)
    rows = draw(st.integers(0, max_rows), label="rows")
    shape = (rows,) if draw(st.booleans(), label="1-d") else (rows, draw(st.integers(0, 3)))
    size = math.prod(shape)
    k = dtype.kind
    specials = draw(st.booleans(), label="special values")
    if k == "b":
        elems = st.booleans()
    elif k in "iu":
        info = np.iinfo(dtype)
        small = st.integers(max(info.min, -20), min(info.max, 20))
        elems = st.one_of(small, st.sampled_from([info.min, info.max, info.max - 1])) \
            if specials else small
    elif k in "fc":
        grid = st.integers(-400, 400).map(lambda i: i / 4)
        part = st.one_of(grid, grid, grid, st.sampled_from([np.nan, np.inf, -np.inf, -0.0])) \
            if specials else grid
        elems = part if k == "f" else st.builds(complex, part, grid)
    else:
        ints = st.integers(-10**6, 10**6)
        values = draw(st.lists(ints, min_size=size, max_size=size))
        out = np.array(values, dtype=np.int64).astype(dtype)
        if specials and size:
            out[draw(st.integers(0, size - 1))] = np.array("NaT", dtype)
        return out.reshape(shape)
    values = draw(st.lists(elems, min_size=size, max_size=size))
    return np.array(values, dtype=dtype).reshape(shape)


# -- numpy reductions-------------------------------------------------------------------------------


def _np_oracle(op: str, x: np.ndarray, axis, ddof):
    if op == "count":
        return int(x.size if axis is None else x.shape[0])
    if op in ("var", "std"):
        return getattr(np, op)(x, axis=axis, ddof=ddof)
    return getattr(np, op)(x, axis=axis)


def _par_reduce(pool, op: str, x, axis, ddof, n: int, shortcut: bool):
    """Shortcut (par.sum ...) on odd chunkings, map_reduce(None, x, Reducer) on even ones."""
    if op == "count" or not shortcut:
        reducer = {"sum": R.Sum, "count": R.Count, "mean": R.Mean, "min": R.Min,
                   "max": R.Max}.get(op)
        reducer = reducer(axis) if reducer else getattr(R, op.capitalize())(ddof, axis)
        return pool.map_reduce(None, x, reducer, n=n)
    # a frame's axis=None given to a shortcut is every value (pandas 2); None here: no axis
    given = {} if axis is None and isinstance(x, pd.DataFrame) else {"axis": axis}
    if op in ("var", "std"):
        return getattr(par, op)(x, ddof=ddof, pool=pool, n=n, **given)
    return getattr(par, op)(x, pool=pool, n=n, **given)


def _numpy_atol(op: str, x: np.ndarray, result_dtype) -> float:
    scale = magnitude(x)
    if op == "sum":
        scale *= max(1, x.size)
    elif op == "var":
        scale *= scale
    return rtol_for(result_dtype) * scale * 8


def non_finite(x: np.ndarray) -> bool:
    """Holds NaN, +-inf or NaT."""
    x = np.asarray(x)
    if x.dtype.kind in "fc":
        return not bool(np.all(np.isfinite(x)))
    if x.dtype.kind in "mM":
        return bool(np.any(np.isnat(x)))
    return False


def check_numpy_reduction(pool, backend, op, x, axis, ddof, chunkings, label) -> list[str]:
    want = run(lambda: _np_oracle(op, x, axis, ddof))
    rule = "any" if op in ("sum", "mean", "var", "std") and non_finite(x) else "same"
    exact = op in ("min", "max", "count") or (
        want.error is None and np.asarray(want.value).dtype.kind not in "fc")
    atol = _numpy_atol(op, x, np.asarray(want.value).dtype) if want.error is None else 0
    problems = []
    for n in chunkings:
        got = par_run(pool, lambda n=n: _par_reduce(pool, op, x, axis, ddof, n, n % 2 == 1))
        problems += compare_outcomes(
            f"{label} axis={axis} ddof={ddof} n={n}", got, want,
            lambda g, w: numpy_diff(g, w, exact=exact, atol=atol), rule)
        if problems:
            break  # one chunking is enough to show it
    return problems


def _axes(x):
    return (None,) if x.ndim == 1 else (None, 0)


def _ddofs(op, x, axis, every: bool):
    """ddof values to try: 0 and 1, and N, N + 2 (numpy: inf) on the ``every`` cases."""
    if op not in ("var", "std"):
        return (None,)
    n = x.size if axis is None else x.shape[0]
    return tuple(dict.fromkeys((0, 1, n, n + 2) if every else (0, 1)))


NUMPY_OPS = ("sum", "count", "mean", "var", "std", "min", "max")


@pytest.mark.parametrize(("backend", "dtype"), on_backends(NUMPY_DTYPES, FAST_NUMPY))
@pytest.mark.parametrize("op", NUMPY_OPS)
def test_numpy_reduction(pool, backend, op, dtype):
    """sum/count/mean/var/std/min/max of arrays (1-d, 2-d with axis None and 0) as numpy's:
    same type, dtype, shape, values, warnings and errors (var/std with every ddof, incl. >= N)."""
    problems = []
    for name, x in edge_cases_for(backend, numpy_edge_cases(dtype)):
        for axis in _axes(x):
            for ddof in _ddofs(op, x, axis, every=name in ("6 values", "3x2")):
                problems += check_numpy_reduction(pool, backend, op, x, axis, ddof,
                                                  edge_chunkings(backend), f"{op}({name})")
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        x = data.draw(numpy_arrays(dtype), label="x")
        axis = data.draw(st.sampled_from(_axes(x)), label="axis")
        ddof = None
        if op in ("var", "std"):
            rows = x.size if axis is None else x.shape[0]
            ddof = data.draw(st.integers(0, rows + 2), label="ddof")
        fail_if(check_numpy_reduction(pool, backend, op, x, axis, ddof,
                                      draw_chunkings(data, backend), f"{op}(x={short(x, 300)})"))

    fuzz()


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "complex128"])
def test_var_std_with_ddof_at_least_n_are_numpys_inf(pool, backend, dtype):
    """numpy divides M2 > 0 by max(N - ddof, 0) = 0: inf (var and std), with a RuntimeWarning;
    NaN only when M2 == 0 as well."""
    x = np.array([1, 2, 4, 8], dtype=dtype)
    problems = []
    for ddof in (4, 5, 9):
        for op in ("var", "std"):
            problems += check_numpy_reduction(pool, backend, op, x, None, ddof,
                                              edge_chunkings(backend), f"{op}(ddof={ddof})")
    x2 = np.array([[1, 5], [2, 5], [4, 5]], dtype=dtype)  # column 1 is constant: NaN there
    problems += check_numpy_reduction(pool, backend, "var", x2, 0, 3, edge_chunkings(backend),
                                      "var(3x2, ddof=3)")
    fail_if(problems)


@pytest.mark.parametrize("axis", [None, 0])
def test_float16_sum_is_accumulated_in_float32_like_numpy(pool, backend, axis):
    """np.sum of float16 adds in float32 and rounds once when the reduced axis is the
    contiguous inner loop (1-d data, or shape (N, 1) here); par.sum must be within one float16
    ulp of ``np.sum(x.astype(float32)).astype(float16)``, so its partial sums must not be
    rounded to float16 per chunk. (Over axis 0 of an (N, M > 1) array numpy itself adds row by
    row in float16; REPORT.md proposes the float32 rule for every layout.)"""
    x = np.concatenate([[2048.0], np.full(63, 1.0)]).astype(np.float16)
    x = x.reshape(-1, 1) if axis == 0 else x
    want = np.sum(x.astype(np.float32), axis=axis).astype(np.float16)
    problems = []
    for n in edge_chunkings(backend):
        got = par_run(pool, lambda n=n: par.sum(x, axis=axis, pool=pool, n=n))
        if got.error is not None:
            problems.append(f"n={n}: raised {got.error!r}")
            continue
        g = np.asarray(got.value)
        ulp = np.spacing(np.abs(want)).astype(np.float64)
        if g.dtype != np.float16 or np.any(np.abs(g.astype(np.float64) - want) > ulp):
            problems.append(f"n={n}: par {got.value!r} ({g.dtype}), float32-accumulated "
                            f"{want!r}, numpy axis={axis}: {np.sum(x, axis=axis)!r}")
    fail_if(problems)


# -- quantiles--------------------------------------------------------------------------------------

QUANTILE_DTYPES = ("bool", "int8", "int64", "uint8", "uint64", "float16", "float32", "float64",
                   "complex128", "datetime64[s]", "timedelta64[ms]")
FAST_QUANTILE = {"int64", "float32", "float64", "datetime64[s]"}


def _q_forms():
    # numpy's result dtype follows NEP 50: a Python float q is "weak" (float32 data stays
    # float32), a list or np.float64 q is not (float64).
    # An integer q (0 or 1) takes a value without interpolating: numpy's scalar of the data's
    # dtype.
    return {"python float": 0.3, "list": [0.0, 0.25, 0.5, 1.0], "np.float64": np.float64(0.75),
            "python int": 1, "np.int64": np.int64(0)}


def check_quantile(pool, backend, x, q, exact, chunkings, label) -> list[str]:
    want = run(lambda: np.quantile(x, q))
    # with a NaN the answer is NaN whatever the rest; numpy still interpolates (and may warn
    # about inf - inf on the way): par may short-cut that, so warnings are not compared then
    has_nan = x.dtype.kind in "fcmM" and bool(np.any(np.isnan(x)))
    problems = []
    for n in chunkings:
        if n % 2:
            got = par_run(pool, lambda n=n: par.quantile(x, q, exact=exact, pool=pool, n=n))
        else:
            got = par_run(pool, lambda n=n: pool.map_reduce(None, x, R.Quantile(q, exact=exact),
                                                         n=n))
        # exact=True is numpy's answer bit for bit; the default sketch keeps small chunks whole,
        # so it may differ only by the interpolation's last bits (its docstring says so).
        problems += compare_outcomes(
            f"{label} q={q!r} exact={exact} n={n}", got, want,
            lambda g, w: numpy_diff(g, w, exact=exact, atol=1e-12 * magnitude(x)),
            "any" if has_nan else "same")
        if problems:
            break
    return problems


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "sketch"])
@pytest.mark.parametrize(("backend", "dtype"), on_backends(QUANTILE_DTYPES, FAST_QUANTILE))
def test_numpy_quantile(pool, backend, dtype, exact):
    """Quantile / par.quantile of arrays as np.quantile (linear): value, result dtype (incl.
    numpy's q-dependent rule), NaN/NaT propagation, +-inf, integer extremes, errors."""
    problems = []
    for name, x in edge_cases_for(backend, numpy_edge_cases(dtype)):
        if x.size == 0:
            continue  # numpy raises IndexError, par a clearer ValueError: both raise
        for qname, q in _q_forms().items():
            problems += check_quantile(pool, backend, x, q, exact, edge_chunkings(backend),
                                       f"quantile({name}, {qname})")
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        x = data.draw(numpy_arrays(dtype).filter(lambda a: a.size > 0), label="x")
        q = data.draw(st.sampled_from(list(_q_forms().values())), label="q")
        fail_if(check_quantile(pool, backend, x, q, exact, draw_chunkings(data, backend),
                               f"quantile(x={short(x, 300)})"))

    fuzz()


# -- histograms-------------------------------------------------------------------------------------

HISTOGRAM_DTYPES = ("bool", "int8", "int64", "uint8", "uint64", "float16", "float32", "float64",
                    "complex128", "datetime64[s]")
FAST_HISTOGRAM = {"int64", "float32", "float64"}


def _histogram_data(dtype: np.dtype) -> list[tuple[str, np.ndarray]]:
    dtype = np.dtype(dtype)
    cases = [(name, x) for name, x in numpy_edge_cases(dtype) if "inf" not in name]
    if dtype.kind == "f":
        # decimal values: the float32/float16 values sit next to bin edges built in float64
        tenths = (np.arange(-3, 13) / 10).astype(dtype)
        cases += [("tenths", tenths), ("one tenth", tenths[4:5])]
    return cases


def check_histogram(pool, backend, x, bins, rng, mode, chunkings, label) -> list[str]:
    want = run(lambda: np.histogram(x, bins, rng))
    problems = []
    for n in chunkings:
        if mode == "reducer":
            got = par_run(pool, lambda n=n: pool.map_reduce(None, x, R.Histogram(bins, rng), n=n))
        else:
            got = par_run(pool, lambda n=n: par.histogram(x, bins, rng, pool=pool, n=n))
        problems += compare_outcomes(f"{label} bins={bins!r} range={rng!r} {mode} n={n}",
                                     got, want, lambda g, w: numpy_diff(g, w, exact=True))
        if problems:
            break
    return problems


@pytest.mark.parametrize("mode", ["auto_range", "given_range", "reducer", "edges"])
@pytest.mark.parametrize(("backend", "dtype"), on_backends(HISTOGRAM_DTYPES, FAST_HISTOGRAM))
def test_numpy_histogram(pool, backend, dtype, mode):
    """par.histogram / Histogram as np.histogram: counts, bin edges (values and dtype: numpy
    builds them in the input's float dtype), empty input, NaN, warnings and errors."""
    ranges = {"auto_range": [None], "given_range": [(0, 1)], "reducer": [(-0.3, 0.7)],
              "edges": [None]}[mode]
    problems = []
    for name, x in edge_cases_for(backend, _histogram_data(dtype)):
        for rng in ranges:
            for bins in (3, 10):
                if mode == "edges":
                    bins = np.linspace(-1, 8, bins + 1)
                problems += check_histogram(pool, backend, x, bins, rng, mode,
                                            edge_chunkings(backend), f"histogram({name})")
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        x = data.draw(numpy_arrays(dtype), label="x")
        bins = data.draw(st.integers(1, 12), label="bins")
        rng = data.draw(st.sampled_from(ranges), label="range")
        if mode == "edges":
            bins = np.sort(data.draw(st.lists(st.integers(-40, 40).map(lambda i: i / 4),
                                              min_size=2, max_size=6, unique=True)))
        fail_if(check_histogram(pool, backend, x, bins, rng, mode, draw_chunkings(data, backend),
                                f"histogram(x={short(x, 300)})"))

    fuzz()


@pytest.mark.parametrize("bins", ["auto", "fd", "sturges", "sqrt", "scott", "rice", "doane"])
def test_histogram_string_bins_as_numpy(pool, backend, bins):
    """np.histogram(x, "auto") picks the bin count from the whole data; par must give the same
    edges and counts (or refuse clearly), not one silent bin."""
    x = np.random.default_rng(0).normal(size=400)
    want = run(lambda: np.histogram(x, bins))
    problems = []
    for n in (1, 3):
        got = par_run(pool, lambda n=n: par.histogram(x, bins, pool=pool, n=n))
        if got.error is not None and isinstance(got.error, (ValueError, TypeError)) and \
                "bins" in str(got.error):
            continue  # an explicit refusal is acceptable
        problems += compare_outcomes(f"histogram(bins={bins!r}) n={n}", got, want,
                                     lambda g, w: numpy_diff(g, w, exact=True))
    fail_if(problems)


# -- pandas scalars---------------------------------------------------------------------------------


def pandas_scalar_diff(got: Any, want: Any, rtol: float = 1e-9, atol: float = 0.0,
                       approx_time: bool = False) -> list[str]:
    """Differences between two pandas reduction results (scalars: NA, NaT, numpy, Python,
    Timestamp, Timedelta...). ``approx_time``: a Timestamp/Timedelta computed through float64
    (pandas' mean and std of datetimes) may differ by 1e-12 of its value plus one unit."""
    if want is pd.NA or got is pd.NA:
        return [] if got is want else [f"par {got!r} ({type(got).__name__}) != pandas {want!r}"]
    if want is pd.NaT or got is pd.NaT:
        return [] if got is want else [f"par {got!r} != pandas {want!r}"]
    if isinstance(want, np.generic):
        # the same dtype, not always the same type: np.ulonglong and np.uint64 are both uint64
        # (pandas builds UInt64 arrays of 2**63 as the former, Arrow transport as the latter)
        if not isinstance(got, np.generic) or got.dtype != want.dtype:
            return [f"type {type(got).__name__} != pandas' {type(want).__name__} "
                    f"(par {got!r}, pandas {want!r})"]
    elif isinstance(want, float):  # Python float (pandas' nan): np.float64 is a float too
        if not isinstance(got, float):
            return [f"type {type(got).__name__} != pandas' float (par {got!r}, pandas {want!r})"]
    elif type(got) is not type(want):
        return [f"type {type(got).__name__} != pandas' {type(want).__name__} "
                f"(par {got!r}, pandas {want!r})"]
    if isinstance(want, pd.Timestamp) and (got.tz != want.tz or got.unit != want.unit):
        return [f"Timestamp tz/unit {got.tz}/{got.unit} != pandas' {want.tz}/{want.unit}"]
    if isinstance(want, pd.Timedelta) and got.unit != want.unit:
        return [f"Timedelta unit {got.unit} != pandas' {want.unit}"]
    if approx_time and isinstance(want, (pd.Timestamp, pd.Timedelta)):
        unit = pd.Timedelta(1, unit=want.unit).value  # .value is in ns whatever the unit
        ok = abs(got.value - want.value) <= 1e-12 * abs(want.value) + unit
        return [] if ok else [f"value par {got!r} != pandas {want!r}"]
    if isinstance(want, (float, np.floating, complex, np.complexfloating)):
        if np.isnan(want) or np.isnan(got):
            ok = bool(np.isnan(want) and np.isnan(got))
        elif np.isinf(want) or np.isinf(got):
            ok = bool(got == want)
        else:
            ok = bool(np.isclose(got, want, rtol=rtol, atol=atol))
        return [] if ok else [f"value par {got!r} != pandas {want!r} (rtol {rtol})"]
    try:
        ok = bool(got == want)
    except (TypeError, ValueError):
        ok = False
    return [] if ok else [f"value par {got!r} != pandas {want!r}"]


def frame_diff(got: Any, want: Any, rtol: float = 1e-9, approx_time: bool = False) -> list[str]:
    """Differences between Series / DataFrames: index, columns, dtypes, values (NA-aware;
    exact except for float columns, and, with ``approx_time``, for datetimes and timedeltas
    computed through float64, as :func:`pandas_scalar_diff` allows)."""
    if type(got) is not type(want):
        return [f"type {type(got).__name__} != pandas' {type(want).__name__}: "
                f"par {short(got)}, pandas {short(want)}"]
    if isinstance(want, pd.DataFrame):
        try:
            pd.testing.assert_index_equal(got.columns, want.columns, exact=True)
        except AssertionError as e:
            return [f"columns differ: {' '.join(str(e).split())[:300]}"]
    try:
        pd.testing.assert_index_equal(got.index, want.index, exact=True, check_order=True,
                                      check_categorical=True)
    except AssertionError as e:
        return [f"index differs: {' '.join(str(e).split())[:400]}"]
    cols = [(got, want)] if isinstance(want, pd.Series) else \
        [(got.iloc[:, i], want.iloc[:, i]) for i in range(want.shape[1])]
    problems = []
    for g, w in cols:
        name = f"column {w.name!r}" if isinstance(want, pd.DataFrame) else "values"
        if g.dtype != w.dtype:
            problems.append(f"{name}: dtype {g.dtype} != pandas' {w.dtype} "
                            f"(par {short(g.tolist(), 100)}, pandas {short(w.tolist(), 100)})")
            continue
        if approx_time and getattr(w.dtype, "kind", "O") in "mM":
            for a, b in zip(g.tolist(), w.tolist()):
                p = pandas_scalar_diff(a, b, rtol, approx_time=True)
                if p:
                    problems.append(f"{name}: {p[0]}")
                    break
            continue
        if w.dtype == object:
            for a, b in zip(g.tolist(), w.tolist()):
                p = pandas_scalar_diff(a, b, rtol) if not (
                    isinstance(b, float) and isinstance(a, float) and a != a and b != b) else []
                if p:
                    problems.append(f"{name}: {p[0]}")
                    break
            continue
        kind = getattr(w.dtype, "kind", "O")
        exact = kind not in "fc"
        tol = 1e-5 if getattr(w.dtype, "itemsize", 8) <= 4 and kind == "f" else rtol
        try:
            pd.testing.assert_series_equal(g, w, check_exact=exact, rtol=tol, atol=tol * 1e-3,
                                           check_names=True, check_index=False)
        except AssertionError as e:
            problems.append(f"{name}: {' '.join(str(e).split())[:400]}")
    return problems


def result_diff(got: Any, want: Any, rtol: float = 1e-9, approx_time: bool = False) -> list[str]:
    if isinstance(want, (pd.Series, pd.DataFrame)) or isinstance(got, (pd.Series, pd.DataFrame)):
        return frame_diff(got, want, rtol, approx_time)
    if isinstance(want, np.ndarray):
        return numpy_diff(got, want, exact=False)
    return pandas_scalar_diff(got, want, rtol, approx_time=approx_time)


# -- pandas data------------------------------------------------------------------------------------

SERIES_KINDS = ("int64", "int8", "uint64", "float64", "float32", "bool", "Int64", "Int8",
                "UInt64", "Float64", "Float32", "boolean", "string", "str", "object",
                "object_mixed", "category", "category_ordered", "datetime", "datetime_tz",
                "timedelta")
FAST_SERIES = {"float64", "Int64", "str", "object", "category_ordered", "datetime_tz"}
#: Reductions also take complex Series: the mean complex128, the variance E|z - mean|².
REDUCTION_KINDS = SERIES_KINDS + ("complex128", "complex64")

_CATS = ["c", "b", "a", "z"]  # "z" is never used


def make_series(kind: str, values: list, name: Any = None) -> pd.Series:
    """A Series of ``kind`` from plain values (None = missing)."""
    na = [v is None for v in values]
    if kind in ("int64", "int8", "uint64", "bool"):
        return pd.Series(values, dtype=kind, name=name)
    if kind in ("float64", "float32", "complex128", "complex64"):
        return pd.Series([np.nan if v is None else v for v in values], dtype=kind, name=name)
    if kind in ("Int64", "Int8", "UInt64", "Float64", "Float32", "boolean", "string"):
        return pd.Series(pd.array(values, dtype=kind), name=name)
    if kind == "str":
        return pd.Series(values, dtype="str", name=name)
    if kind in ("object", "object_mixed"):
        return pd.Series(values, dtype=object, name=name)
    if kind in ("category", "category_ordered"):
        return pd.Series(pd.Categorical(values, categories=_CATS,
                                        ordered=kind == "category_ordered"), name=name)
    if kind in ("datetime", "datetime_tz"):
        s = pd.Series(pd.to_datetime([pd.NaT if m else pd.Timestamp("2020-01-01")
                                      + pd.Timedelta(hours=int(v)) for v, m in zip(values, na)]),
                      name=name, dtype="datetime64[us]")
        # UTC instants shown in Paris time (wall times would hit the DST gap)
        return s.dt.tz_localize("UTC").dt.tz_convert("Europe/Paris") if kind == "datetime_tz" \
            else s
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta([pd.NaT if m else pd.Timedelta(minutes=int(v))
                                          for v, m in zip(values, na)]), name=name)
    raise KeyError(kind)


def series_element(kind: str) -> st.SearchStrategy:
    if kind in ("int64", "Int64"):
        return st.integers(-50, 50)
    if kind in ("int8", "Int8"):
        return st.integers(-128, 127)
    if kind in ("uint64", "UInt64"):
        return st.one_of(st.integers(0, 50), st.sampled_from([2**63, 2**64 - 1]))
    if kind in ("float64", "float32", "Float64", "Float32"):
        return st.integers(-400, 400).map(lambda i: i / 4)
    if kind in ("complex128", "complex64"):
        quarters = st.integers(-400, 400).map(lambda i: i / 4)
        return st.builds(complex, quarters, quarters)
    if kind in ("bool", "boolean"):
        return st.booleans()
    if kind in ("string", "str", "object", "category", "category_ordered"):
        return st.sampled_from(["a", "b", "c"])
    if kind == "object_mixed":
        return st.one_of(st.integers(-5, 5), st.integers(-20, 20).map(lambda i: i / 4))
    return st.integers(0, 10**4)  # hours / minutes for datetimes and timedeltas


def nullable(kind: str) -> bool:
    return kind not in ("int64", "int8", "uint64", "bool")


@st.composite
def series_values(draw, kind: str, max_size: int = 12) -> list:
    size = draw(st.integers(0, max_size), label="size")
    elem = series_element(kind)
    if nullable(kind) and draw(st.booleans(), label="with NA"):
        elem = st.one_of(elem, elem, st.none())
    if kind in ("float64", "float32") and draw(st.booleans(), label="with inf"):
        elem = st.one_of(elem, elem, elem, st.sampled_from([np.inf, -np.inf]))
    return draw(st.lists(elem, min_size=size, max_size=size))


def series_edge_values(kind: str) -> list[tuple[str, list]]:
    base = {"int64": [3, -1, 4, 1, 5], "int8": [100, 100, -100, 27], "uint64": [2**63, 2**63, 5],
            "float64": [1.5, None, 2.5, 4.0], "float32": [0.1, None, 0.25, 0.7],
            "complex128": [1 + 2j, None, 3 - 1j, 0.5j], "complex64": [0.1j, None, 2 + 0.7j, 1],
            "bool": [True, False, True], "Int64": [1, None, 3, 7], "Int8": [100, 100, None, 27],
            "UInt64": [1, None, 2**63], "Float64": [1.5, None, 2.5], "Float32": [0.1, None, 0.7],
            "boolean": [True, None, False, True], "object_mixed": [1, None, 3.5],
            "datetime": [50, None, 2, 900], "datetime_tz": [50, None, 2, 900],
            "timedelta": [50, None, 2, 900]}.get(kind, ["b", None, "a", "c", "b"])
    cases = [("values", base), ("empty", [])]
    valid = [v for v in base if v is not None]
    cases.append(("one value", valid[:1]))
    if nullable(kind):
        cases += [("one valid, NA", [None, valid[0], None]), ("all NA", [None, None, None])]
    if kind in ("float64", "float32"):
        cases += [("+-inf", [1.0, np.inf, -np.inf, 2.0]), ("+inf", [1.0, np.inf, 2.0, 3.0])]
    if kind in ("int64", "Int64"):
        cases.append(("2**62 x3", [2**62, 2**62, 2**62]))
    return cases


# -- Series and DataFrame reductions----------------------------------------------------------------

PANDAS_OPS = ("sum", "count", "mean", "var", "std", "min", "max")


def _pd_oracle(op, obj, ddof):
    method = getattr(obj, op)
    return method(ddof=ddof) if op in ("var", "std") and ddof is not None else method()


def check_pandas_reduction(pool, op, obj, ddof, chunkings, label, rtol=1e-9) -> list[str]:
    want = run(lambda: _pd_oracle(op, obj, ddof))
    problems = []
    for n in chunkings:
        got = par_run(pool, lambda n=n: _par_reduce(pool, op, obj, None, ddof, n, n % 2 == 1))
        problems += compare_outcomes(
            f"{label} ddof={ddof} n={n}", got, want,
            lambda g, w: result_diff(g, w, rtol, approx_time=op in ("mean", "var", "std")),
            "no extra")
        if problems:
            break
    return problems


@pytest.mark.parametrize(("backend", "kind"), on_backends(REDUCTION_KINDS, FAST_SERIES))
@pytest.mark.parametrize("op", PANDAS_OPS)
def test_series_reduction(pool, backend, op, kind):
    """sum/count/mean/var/std/min/max of a Series as pandas': NA skipped, nullable results
    (<NA>), result type (np.float32 for float32 data, Timestamp/Timedelta/str), errors."""
    ddofs = (None, 0) if op in ("var", "std") else (None,)
    rtol = 1e-5 if kind in ("float32", "Float32", "complex64") else 1e-9
    problems = []
    for name, values in edge_cases_for(backend, series_edge_values(kind)):
        s = make_series(kind, values, name="x")
        # ddof = N on the first case: NaN for numpy-backed dtypes, but inf (M2 > 0) for the
        # nullable ones, whose reductions follow numpy there
        for ddof in ddofs + ((int(s.count()),) if ddofs[1:] and name == "values" else ()):
            problems += check_pandas_reduction(pool, op, s, ddof, edge_chunkings(backend),
                                               f"{op}({kind} {name})", rtol)
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        s = make_series(kind, data.draw(series_values(kind), label="values"))
        ddof = data.draw(st.sampled_from(ddofs + ((3,) if ddofs[1:] else ())), label="ddof")
        fail_if(check_pandas_reduction(pool, op, s, ddof, draw_chunkings(data, backend),
                                       f"{op}({short(s.tolist(), 200)} {kind})", rtol))

    fuzz()


def mixed_frame(values: dict[str, list] | None = None) -> pd.DataFrame:
    cols = {"i": ("int64", [3, 1, 4, 1, 5]), "f": ("float64", [1.5, None, 2.0, 8.0, None]),
            "f32": ("float32", [0.5, 0.25, None, 1.0, 2.0]),
            "I": ("Int64", [1, None, None, None, None]),
            "F": ("Float64", [None, None, None, None, None]), "b": ("bool", [True] * 5),
            "B": ("boolean", [True, None, False, None, None]),
            "t": ("datetime", [5, None, 1, 9, 2]), "s": ("str", ["b", None, "a", "c", "a"])}
    out = {}
    for c, (kind, v) in cols.items():
        out[c] = make_series(kind, (values or {}).get(c, v))
    return pd.DataFrame(out)


@pytest.mark.parametrize("op", PANDAS_OPS)
def test_dataframe_reduction(pool, backend, op):
    """DataFrame.sum/count/mean/var/std/min/max (per column) as pandas': one result Series with
    pandas' dtype and values, incl. an all-NA nullable column (<NA>, not None)."""
    df = mixed_frame()
    if op in ("sum", "mean", "var", "std"):
        df = df.drop(columns=["t", "s"] if op != "sum" else ["t"])
    # pandas reduces the float32 column in float32: 1e-6 (the other columns' values are exact)
    problems = check_pandas_reduction(pool, op, df, None, edge_chunkings(backend), f"df.{op}()",
                                      rtol=1e-6)
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        frame = data.draw(pandas_frames(), label="frame")
        fail_if(check_pandas_reduction(pool, op, frame, None, draw_chunkings(data, backend),
                                       f"df.{op}({short(frame.to_dict('list'), 300)})",
                                       rtol=1e-6))

    fuzz()


#: Column kinds of the fuzzed frames: pandas joins their results by rules of its own (common
#: dtype, then object if any column is object, NaN as <NA> next to a nullable column...).
FRAME_KINDS = ("int64", "float64", "float32", "Int64", "boolean", "object_mixed", "datetime",
               "timedelta", "complex128", "complex64")


@st.composite
def pandas_frames(draw, kinds: tuple = FRAME_KINDS) -> pd.DataFrame:
    size = draw(st.integers(0, 10), label="rows")
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=4, unique=True),
                  label="columns")
    return pd.DataFrame({
        f"{k}_{j}": make_series(k, draw(st.lists(
            st.one_of(series_element(k), st.none()) if nullable(k) else series_element(k),
            min_size=size, max_size=size)))
        for j, k in enumerate(chosen)})


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "sketch"])
def test_dataframe_quantile(pool, backend, exact):
    """Quantile of a DataFrame as DataFrame.quantile: per column (not of all the values), a
    Series named q for a scalar q, a frame indexed by q for a list, pandas' joined dtypes."""
    df = mixed_frame().drop(columns=["s", "b", "B"])  # pandas refuses bool and str columns
    problems = []
    # pandas takes a dtype's columns together: one NaN makes every float32 column float32
    singles = pd.DataFrame({"a": np.arange(4, dtype=np.float32), "c": np.arange(4.0),
                            "b": np.array([1, 2, np.nan, 4], np.float32)})
    assigned = singles[["a", "c"]].copy()
    assigned["b"] = singles["b"]  # a block of its own: pandas' dtype follows the blocks
    for frame in (df, df.iloc[:0], df[["t", "f"]], singles, singles[["a", "c"]], assigned):
        for q in (0.5, [0.25, 0.75]):
            want = run(lambda f=frame, q=q: f.quantile(q))
            for n in edge_chunkings(backend):
                got = par_run(pool, lambda f=frame, q=q, n=n: par.quantile(
                    f, q, exact=exact, pool=pool, n=n))
                problems += compare_outcomes(f"quantile({list(frame.columns)} x{len(frame)}, "
                                             f"q={q}) n={n}", got, want,
                                             lambda g, w: result_diff(g, w, 1e-9), "no extra")
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        frame = data.draw(pandas_frames(("int64", "float64", "float32", "Int64", "Float64",
                                         "datetime", "timedelta", "object_mixed")),
                          label="frame")
        q = data.draw(st.sampled_from([0.5, 0.3, [0.0, 0.5, 1.0]]), label="q")
        want = run(lambda: frame.quantile(q))
        problems = []
        for n in draw_chunkings(data, backend):
            got = par_run(pool, lambda n=n: par.quantile(frame, q, exact=exact, pool=pool, n=n))
            problems += compare_outcomes(f"quantile({short(frame.to_dict('list'), 300)}, q={q})"
                                         f" n={n}", got, want,
                                         lambda g, w: result_diff(g, w, 1e-9), "no extra")
        fail_if(problems)

    fuzz()


# -- value_counts-----------------------------------------------------------------------------------

VALUE_COUNT_KINDS = SERIES_KINDS + ("ndarray int", "ndarray float", "frame")
FAST_VALUE_COUNTS = {"Int64", "str", "category", "frame", "ndarray float"}


def _value_counts_input(kind: str, values: list):
    if kind == "ndarray int":
        return np.array([0 if v is None else v for v in values], dtype=np.int64)
    if kind == "ndarray float":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if kind == "frame":
        return pd.DataFrame({"a": make_series("Int64", values),
                             "b": make_series("str", [None if v is None else "xy"[int(v) % 2]
                                                      for v in values])})
    return make_series(kind, values, name="x")


def _vc_oracle(obj, dropna, normalize):
    obj = pd.Series(obj) if isinstance(obj, np.ndarray) else obj
    return obj.value_counts(dropna=dropna, normalize=normalize)


def check_value_counts(pool, obj, dropna, normalize, chunkings, label) -> list[str]:
    want = run(lambda: _vc_oracle(obj, dropna, normalize))
    problems = []
    for n in chunkings:
        reducer = R.ValueCounts(dropna=dropna, normalize=normalize)
        got = par_run(pool, lambda r=reducer, n=n: pool.map_reduce(None, obj, r, n=n))
        problems += compare_outcomes(f"{label} dropna={dropna} normalize={normalize} n={n}",
                                     got, want, frame_diff, "no extra")
        if problems:
            break
    return problems


def _vc_element(kind):
    if kind in ("ndarray int", "frame"):
        return st.integers(0, 4)
    if kind == "ndarray float":
        return st.integers(0, 8).map(lambda i: i / 2)
    return series_element(kind)


@pytest.mark.parametrize(("backend", "kind"), on_backends(VALUE_COUNT_KINDS, FAST_VALUE_COUNTS))
def test_value_counts(pool, backend, kind):
    """ValueCounts as Series/DataFrame.value_counts(dropna=, normalize=): values, counts, the
    order (count descending, ties in pandas' order, NA placed as pandas places it), the index
    dtype (object stays object) and name."""
    problems = []
    edge = series_edge_values(kind) if kind in SERIES_KINDS else \
        [("values", [1, None, 2, 1, None, 3]), ("ties", [2, 1, None, 3]), ("empty", [])]
    for name, values in edge_cases_for(backend, edge):
        obj = _value_counts_input(kind, values)
        for dropna, normalize in ((True, False), (False, False), (False, True)):
            problems += check_value_counts(pool, obj, dropna, normalize,
                                           edge_chunkings(backend), f"value_counts({name})")
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        size = data.draw(st.integers(0, 14))
        elem = _vc_element(kind)
        if kind == "frame" or (kind in SERIES_KINDS and nullable(kind)) or kind == "ndarray float":
            elem = st.one_of(elem, elem, st.none())
        values = data.draw(st.lists(elem, min_size=size, max_size=size))
        obj = _value_counts_input(kind, values)
        fail_if(check_value_counts(pool, obj, data.draw(st.booleans()), data.draw(st.booleans()),
                                   draw_chunkings(data, backend),
                                   f"value_counts({short(values, 200)} {kind})"))

    fuzz()


# -- Series quantiles (pandas conventions)----------------------------------------------------------

QUANTILE_SERIES_KINDS = ("float64", "float32", "int64", "Int64", "Float64", "datetime",
                         "timedelta")
FAST_SERIES_QUANTILE = {"float64", "Int64"}


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "sketch"])
@pytest.mark.parametrize(("backend", "kind"),
                         on_backends(QUANTILE_SERIES_KINDS, FAST_SERIES_QUANTILE))
def test_series_quantile(pool, backend, kind, exact):
    """Quantile of a Series as Series.quantile: NA skipped; a scalar q gives pandas' scalar
    (np.float32 for float32, Timestamp/Timedelta for datetimes, <NA> when nothing is left), a
    list gives a Series indexed by q with pandas' dtype."""
    rtol = 1e-5 if kind == "float32" else 1e-9
    problems = []
    for name, values in edge_cases_for(backend, series_edge_values(kind)):
        s = make_series(kind, values, name="x")
        for q in (0.5, [0.25, 0.5]):
            want = run(lambda s=s, q=q: s.quantile(q))
            for n in edge_chunkings(backend):
                got = par_run(pool, lambda s=s, q=q, n=n: par.quantile(s, q, exact=exact,
                                                                       pool=pool, n=n))
                problems += compare_outcomes(f"quantile({kind} {name}, q={q}) n={n}", got, want,
                                             lambda g, w: result_diff(g, w, rtol), "no extra")
                if problems:
                    break
    fail_if(problems)


# -- describe---------------------------------------------------------------------------------------

DESCRIBE_KINDS = ("float64", "int64", "Int64", "Float64", "float32", "bool+float", "datetime+float",
                  "timedelta+float", "series", "str only", "inf")
FAST_DESCRIBE = {"float64", "Int64", "datetime+float"}


def describe_input(kind: str, values: list) -> Any:
    floats = make_series("float64", values, "a")
    if kind == "float64":
        return floats.to_frame()
    if kind == "int64":
        return make_series("int64", [0 if v is None else int(v) for v in values], "a").to_frame()
    if kind in ("Int64", "Float64", "float32"):
        vals = [None if v is None else (int(v) if kind == "Int64" else v) for v in values]
        return pd.DataFrame({"a": make_series(kind, vals), "f": floats})
    if kind == "bool+float":
        return pd.DataFrame({"b": [v is None for v in values], "f": floats})
    if kind == "datetime+float":
        return pd.DataFrame({"t": make_series("datetime", [None if v is None else abs(int(v))
                                                           for v in values]), "f": floats})
    if kind == "timedelta+float":
        return pd.DataFrame({"t": make_series("timedelta", [None if v is None else abs(int(v))
                                                            for v in values]), "f": floats})
    if kind == "series":
        return floats
    if kind == "str only":
        return pd.DataFrame({"s": make_series("str", [None if v is None else "xyz"[int(v) % 3]
                                                      for v in values])})
    if kind == "inf":
        return pd.DataFrame({"f": make_series("float64", [np.inf if v is None else v
                                                          for v in values])})
    raise KeyError(kind)


def _describe(pool, backend, data, **kw):
    return par.describe(data, pool=pool, **kw)


def check_describe(pool, backend, data, chunkings, label, rtol=1e-9) -> list[str]:
    want = run(lambda: data.describe())
    problems = []
    for n in chunkings:
        exact = n % 2 == 1  # small data: the default sketch keeps every value too
        got = par_run(pool, lambda e=exact, n=n: _describe(pool, backend, data, exact=e, n=n))
        problems += compare_outcomes(f"{label} exact={exact} n={n}", got, want,
                                     lambda g, w: frame_diff(g, w, rtol), "no extra")
        if problems:
            break
    return problems


@pytest.mark.parametrize(("backend", "kind"), on_backends(DESCRIBE_KINDS, FAST_DESCRIBE))
def test_describe(pool, backend, kind):
    """par.describe as DataFrame/Series.describe(): rows, columns (pandas includes datetime
    columns and, without numeric columns, describes the others), dtypes and values."""
    rtol = 1e-6 if kind == "float32" else 1e-9  # pandas' float32 mean/std round in float32
    problems = []
    for name, values in edge_cases_for(backend, [
            ("values", [1.5, None, 2.5, 4.0, 0.25, 7.0]), ("one row", [3.0]),
            ("all NA", [None, None, None]), ("empty", [])]):
        problems += check_describe(pool, backend, describe_input(kind, values),
                                   edge_chunkings(backend), f"describe({kind} {name})", rtol)
    fail_if(problems)

    @FUZZ
    @given(data=st.data())
    def fuzz(data):
        values = data.draw(st.lists(st.one_of(st.integers(-40, 40).map(lambda i: i / 4),
                                              st.none()), max_size=12))
        fail_if(check_describe(pool, backend, describe_input(kind, values),
                               draw_chunkings(data, backend),
                               f"describe({kind} {short(values, 200)})", rtol))

    fuzz()


def test_describe_accepts_pool(pool, backend):
    """par.describe takes ``pool=`` like every other DataFrame function (groupby_agg does)."""
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    got = par_run(pool, lambda: par.describe(df, pool=pool, n=2))
    if got.error is not None:
        fail_if([f"par.describe(df, pool=...) raised {got.error!r}"])
    fail_if(frame_diff(got.value, df.describe()))


def test_describe_picks_columns_by_include_and_exclude_as_pandas_does(pool, backend):
    rng = np.random.default_rng(6)
    df = pd.DataFrame({"f": rng.standard_normal(60), "i": rng.integers(0, 9, 60),
                       "s": rng.choice(["a", "b"], 60),
                       "c": pd.Categorical(rng.choice(["x", "y"], 60)),
                       "t": pd.date_range("2024", periods=60, freq="h"), "b": rng.random(60) > 0.5})
    problems = []
    for options in ({"include": "all"}, {"include": [np.number]}, {"exclude": [np.number]},
                    {"include": ["category", "datetime"], "percentiles": [0.1, 0.9]},
                    {"include": [object, "string"]}):
        got = par_run(pool, lambda o=options: par.describe(df, pool=pool, **o))
        problems += compare_outcomes(f"describe(df, {options})", got,
                                     run(lambda o=options: df.describe(**o)),
                                     lambda g, w: frame_diff(g, w), "no extra")
    fail_if(problems)
    with pytest.warns(DeprecationWarning, match="no effect on Series") as pandas_said:
        want = df["f"].describe(include="all")
    with pytest.warns(pandas_said[0].category, match="no effect on Series"):
        got = par.describe(df["f"], include="all", pool=pool)
    pd.testing.assert_series_equal(got, want)  # a Series ignores them, as in pandas


def test_describe_of_an_array_is_pandas_describe_of_it(pool, backend):
    """numpy has no describe: a 1-d array as pd.Series(x).describe(), 2-d as pd.DataFrame(x)'s;
    other dimensions raise a TypeError that says what to pass."""
    rng = np.random.default_rng(5)
    cases = [rng.standard_normal(101), rng.integers(-9, 9, 50), rng.standard_normal((40, 3)),
             np.array([1.5, np.nan, 2.0]), np.array([], dtype=float)]
    problems = []
    for x in cases:
        want = (pd.Series(x) if x.ndim == 1 else pd.DataFrame(x)).describe()
        got = par_run(pool, lambda x=x: par.describe(x, pool=pool, n=3))
        problems += compare_outcomes(f"describe(array {x.dtype} {x.shape})", got, run(
            lambda want=want: want), lambda g, w: frame_diff(g, w, 1e-9), "no extra")
    fail_if(problems)
    with pytest.raises(TypeError, match="1-d or 2-d"):
        par.describe(np.zeros((2, 2, 2)), pool=pool)


# -- groupby_agg------------------------------------------------------------------------------------

KEY_KINDS = {
    # kind: (common values, a value seen on one row only (None: none), can be NA)
    "int": ([0, 1], 7, False),
    "Int64": ([0, 1], 7, True),
    "float": ([0.5, -1.0], 2.5, True),
    "str": (["b", "a"], "d", True),
    "string": (["b", "a"], "d", True),
    "object": (["b", "a"], "d", True),
    "bool": ([True, False], None, False),
    "boolean": ([True, False], None, True),
    "category": (["y", "x"], None, True),
    "category_ordered": (["y", "x"], None, True),
    "datetime_tz": ([1, 2], 9, True),
    "timedelta": ([1, 2], 9, True),
}


def make_key(kind: str, values: list) -> Any:
    if kind == "int":
        return pd.Series(values, dtype="int64")
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    if kind in ("Int64", "string", "boolean"):
        return pd.Series(pd.array(values, dtype=kind))
    if kind == "str":
        return pd.Series(values, dtype="str")
    if kind == "object":
        return pd.Series(values, dtype=object)
    if kind == "bool":
        return pd.Series(values, dtype=bool)
    if kind in ("category", "category_ordered"):
        return pd.Series(pd.Categorical(values, categories=["z", "y", "x"],
                                        ordered=kind == "category_ordered"))
    if kind == "datetime_tz":
        return make_series("datetime_tz", values)
    if kind == "timedelta":
        return make_series("timedelta", values)
    raise KeyError(kind)


GROUPBY_KEYS = [
    ("int",), ("Int64",), ("float",), ("str",), ("string",), ("object",), ("bool",),
    ("boolean",), ("category",), ("category_ordered",), ("datetime_tz",), ("timedelta",),
    ("category", "str"), ("str", "category"), ("category", "int"), ("category", "boolean"),
    ("category", "category_ordered"), ("Int64", "str"), ("datetime_tz", "category"),
    ("float", "object"),
    ("category", "str", "int"), ("int", "category", "boolean"), ("str", "Int64", "datetime_tz"),
]
FAST_GROUPBY_KEYS = {("int",), ("str",), ("category",), ("category", "str"),
                     ("int", "category", "boolean")}

AGGS = ("count", "sum", "mean", "var", "std", "min", "max", "first", "last", "nunique", "size")
VALUE_COLUMNS = {"f": "float64", "i": "int64", "I": "Int64", "s": "str"}


def groupby_frame(key_kinds: tuple, key_rows: list[list], values: dict[str, list]) -> pd.DataFrame:
    cols = {f"k{j}": make_key(kind, [row[j] for row in key_rows])
            for j, kind in enumerate(key_kinds)}
    for c, kind in VALUE_COLUMNS.items():
        cols[c] = make_series(kind, values[c])
    return pd.DataFrame(cols)


def groupby_edge_frame(key_kinds: tuple) -> pd.DataFrame:
    """Every combination of the keys' common values (twice); then, for each key that can be NA,
    a row where it is NA and every other key takes a value seen on that row only (so pandas'
    observed=False product and sort=False order must count rows dropped for an NA key)."""
    import itertools

    rows = [list(combo) for combo in itertools.product(*(KEY_KINDS[k][0] for k in key_kinds))]
    rows = rows + rows[::-1]
    for j, kind in enumerate(key_kinds):
        if KEY_KINDS[kind][2]:
            row = [KEY_KINDS[k][1] if KEY_KINDS[k][1] is not None else KEY_KINDS[k][0][-1]
                   for k in key_kinds]
            row[j] = None
            rows.insert(1, row)
    m = len(rows)
    values = {"f": [None if i % 5 == 3 else i * 0.25 - 1 for i in range(m)],
              "i": [(i * 7) % 5 - 2 for i in range(m)],
              "I": [None if i % 4 == 1 else i % 3 for i in range(m)],
              "s": [None if i % 6 == 2 else "pqr"[i % 3] for i in range(m)]}
    return groupby_frame(key_kinds, rows, values)


def _agg_columns(agg) -> list:
    if isinstance(agg, dict):
        return list(agg)
    if isinstance(agg, str) and agg in ("mean", "var", "std"):
        return ["f", "i", "I"]  # pandas raises for str columns
    if isinstance(agg, list) and any(a in ("mean", "var", "std") for a in agg):
        return ["f", "i", "I"]
    return list(VALUE_COLUMNS)


def check_groupby(pool, df, by, agg, sort, dropna, observed, chunkings, label) -> list[str]:
    df = df[[*by, *_agg_columns(agg)]]
    by = by if len(by) > 1 else by[0]
    want = run(lambda: df.groupby(by, sort=sort, dropna=dropna, observed=observed).agg(agg))
    problems = []
    for n in chunkings:
        if n % 2:
            got = par_run(pool, lambda n=n: par.groupby_agg(
                df, by, agg, sort=sort, dropna=dropna, observed=observed, pool=pool, n=n))
        else:
            reducer = R.GroupBy(by, agg, sort=sort, dropna=dropna, observed=observed)
            got = par_run(pool, lambda r=reducer, n=n: pool.map_reduce(None, df, r, n=n))
        problems += compare_outcomes(
            f"{label} by={by!r} agg={agg!r} sort={sort} dropna={dropna} observed={observed} "
            f"n={n}", got, want, frame_diff, "no extra")
        if problems:
            break
    return problems


_EDGE_AGGS = ["sum", ["count", "mean", "first"], {"f": ["min", "var", "last"], "I": "max",
                                                  "s": ["nunique", "size"]}, "std"]


def _configs(key_kinds):
    import itertools

    cat = any(k.startswith("category") for k in key_kinds)
    for sort, dropna, observed in itertools.product((True, False), repeat=3):
        if observed or cat:
            yield sort, dropna, observed


@pytest.mark.parametrize(("backend", "key_kinds"), on_backends(GROUPBY_KEYS, FAST_GROUPBY_KEYS))
def test_groupby_agg(pool, backend, key_kinds):
    """groupby_agg / GroupBy as df.groupby(by, sort=, dropna=, observed=).agg(agg): 1-3 keys of
    every dtype, NA keys, agg as a string, a list and a dict; index (values, dtype, names,
    order), columns, dtypes and values."""
    by = [f"k{j}" for j in range(len(key_kinds))]
    df = groupby_edge_frame(key_kinds)
    problems = []
    for i, (sort, dropna, observed) in enumerate(_configs(key_kinds)):
        agg = _EDGE_AGGS[i % len(_EDGE_AGGS)]
        n = (2, 3, 1)[i % 3]
        problems += check_groupby(pool, df, by, agg, sort, dropna, observed, (n,),
                                  f"groupby({','.join(key_kinds)} edge frame)")
    fail_if(problems)

    @FUZZ_GROUPBY
    @given(data=st.data())
    def fuzz(data):
        rows = data.draw(st.integers(0, 12), label="rows")
        keys = []
        for kind in key_kinds:
            common, solo, na = KEY_KINDS[kind]
            elem = st.sampled_from(common + ([solo] if solo is not None else []))
            if na:
                elem = st.one_of(elem, elem, st.none())
            keys.append(data.draw(st.lists(elem, min_size=rows, max_size=rows)))
        key_rows = [list(r) for r in zip(*keys)] if rows else []
        values = {c: data.draw(st.lists(st.one_of(series_element(k), st.none()) if nullable(k)
                                        else series_element(k), min_size=rows, max_size=rows))
                  for c, k in VALUE_COLUMNS.items()}
        frame = groupby_frame(key_kinds, key_rows, values)
        agg = data.draw(st.one_of(
            st.sampled_from(AGGS),
            st.lists(st.sampled_from(AGGS[:-1]), min_size=1, max_size=3, unique=True),
            st.dictionaries(st.sampled_from(list(VALUE_COLUMNS)),
                            st.one_of(st.sampled_from(AGGS),
                                      st.lists(st.sampled_from(AGGS[:-1]), min_size=1,
                                               max_size=2, unique=True)),
                            min_size=1, max_size=2)), label="agg")
        if isinstance(agg, dict):  # pandas cannot take the mean of a str column
            agg = {c: f for c, f in agg.items() if c != "s" or not any(
                x in ("mean", "var", "std") for x in ([f] if isinstance(f, str) else f))} or \
                {"f": "sum"}
        sort, dropna, observed = (data.draw(st.booleans(), label=x)
                                  for x in ("sort", "dropna", "observed"))
        fail_if(check_groupby(pool, frame, by, agg, sort, dropna, observed,
                              draw_chunkings(data, backend, 1, serial_k=1),
                              f"groupby({','.join(key_kinds)} "
                              f"{short(frame.to_dict('list'), 300)})"))

    fuzz()


GROUPBY_VALUE_KINDS = ("float64", "float32", "float16", "float64 inf", "int8", "uint64", "bool",
                       "Int64", "UInt64", "Float64", "Float32", "boolean", "str", "string",
                       "object", "category", "category_ordered", "datetime", "datetime_tz",
                       "timedelta")
FAST_GROUPBY_VALUES = {"float64", "Int64", "str", "datetime_tz", "category"}


def value_column(kind: str, m: int) -> pd.Series:
    """m values for group keys ``i % 3``: group 0 is all-NA where the kind has NA, group 1 has
    one valid value, group 2 several."""
    base = kind.split()[0]
    if base == "float16":
        vals = [float(i % 7) * 1.5 + 0.25 for i in range(m)]
        return pd.Series(vals, dtype="float16")
    elem = {"int8": lambda i: (i * 37) % 256 - 128, "uint64": lambda i: 2**63 + i,
            "bool": lambda i: i % 2 == 0, "boolean": lambda i: i % 2 == 0,
            "UInt64": lambda i: i * 3}.get(base)
    if elem is None:
        if base in ("str", "string", "object", "category", "category_ordered"):
            def elem(i):
                return "abc"[i % 3]
        elif base in ("datetime", "datetime_tz", "timedelta"):
            def elem(i):
                return (i * 13) % 50
        elif base in ("Int64",):
            def elem(i):
                return (i * 5) % 11 - 3
        else:
            def elem(i):
                return ((i * 5) % 11) * 0.75 - 2
    vals = []
    for i in range(m):
        group = i % 3
        missing = nullable(base) and (group == 0 or (group == 1 and i > 3))
        vals.append(None if missing else elem(i))
    if kind == "float64 inf":
        vals = [np.inf if v is None else v for v in vals]
        vals[2] = -np.inf
    return make_series(base, vals)


@pytest.mark.parametrize(("backend", "kind"), on_backends(GROUPBY_VALUE_KINDS, FAST_GROUPBY_VALUES))
def test_groupby_value_dtypes(pool, backend, kind):
    """Every aggregation of a value column of each dtype, as pandas: result dtypes (float32
    stays float32, Float32 stays Float32, object stays object), NA groups, +-inf."""
    m = 12
    df = pd.DataFrame({"k": [i % 3 for i in range(m)], "f": value_column(kind, m)})
    chunkings = ALL_CHUNKINGS if _LONG else (1, 3) if backend == "serial" else (2,)
    problems = []
    for funcs in (["count", "size", "first", "last", "nunique", "min", "max"],
                  ["sum", "mean", "var", "std"]):
        # one map for the whole list; where pandas refuses the list (e.g. the mean of a str
        # column), each function on its own, so that par must refuse the same ones
        pandas_ok = run(lambda funcs=funcs: df.groupby("k").agg({"f": funcs})).error is None
        for agg in ([funcs] if pandas_ok else [[f] for f in funcs]):
            problems += check_groupby(pool, df, ["k"], {"f": agg}, True, True, True, chunkings,
                                      f"groupby(int key, {kind} values)")
    fail_if(problems)


# -- stability of the thread backend on CPython 3.11 ---------------------------------------------


class _GilReleasingGarbage:
    """A reference cycle whose finalizer releases the GIL: garbage collected inside
    ``ast.parse``, it lets another thread run in the middle of the parse."""

    def __init__(self):
        self.me = self

    def __del__(self):
        time.sleep(0)


def _index_error(chunk):
    return [1][2] + chunk.sum()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="gh-106905 is fixed in CPython 3.12")
def test_failing_thread_chunks_do_not_break_the_callers_ast_parse():
    """A chunk failing in a worker thread formats its traceback there. On CPython 3.11 the
    ``^^^`` markers of a traceback cost an ``ast.parse``, whose recursion counter is global to
    the interpreter (gh-106905): one racing with a parse in another thread (IPython parsing a
    cell, pytest rewriting a module) raised "SystemError: AST constructor recursion depth
    mismatch" there, which ended a pytest session. Worker tracebacks are written without
    those markers on 3.11; this parses while failing maps run, with the garbage collector
    switching threads mid-parse (before the fix it failed on the first parse)."""
    import ast
    import gc
    import threading

    source = Path(ast.__file__).read_text()
    stop = threading.Event()

    unexpected = []

    def failing_maps(pool):
        while not stop.is_set():
            try:
                pool.map_chunks(_index_error, np.arange(100.0), n=20)
            except IndexError:
                continue
            except Exception as exc:  # noqa: BLE001 - reported below
                unexpected.append(exc)
            unexpected.append("the map did not raise")
            return

    threshold = gc.get_threshold()
    with par.Pool(2, "thread") as pool:
        mapper = threading.Thread(target=failing_maps, args=(pool,))
        mapper.start()
        gc.set_threshold(50, 1, 1)
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                for _ in range(200):
                    _GilReleasingGarbage()
                ast.parse(source)
        finally:
            gc.set_threshold(*threshold)
            stop.set()
            mapper.join()
    assert not unexpected
