"""The oracle of the ``df.par`` tests: pandas' own call, and an exact comparison with it.

``check(pandas_call, ours_call)`` runs both and requires the same object (values, dtypes, index
types, names, element types, attrs, flags) or the same exception (type, message, plus our note
naming the label). Warnings: ours may emit those pandas emitted, plus the
:class:`~parallel_analysis.errors.PickleFallbackWarning` of an object column sent to processes.
The strategies draw small frames of every dtype the issue lists, with every index kind. Imported
by ``tests/test_exact_*.py`` and ``tests/test_accessor.py``.

``PAR_EXACT_EXAMPLES`` sets the examples per property (default 25: the whole set in well under
a minute on two busy CPUs); 1500 is the prototype's deep run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import warnings
import zlib

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pandas.testing import assert_index_equal, assert_series_equal

import parallel_analysis.pandas  # noqa: F401  registers df.par
from parallel_analysis.errors import PickleFallbackWarning
from parallel_analysis.exact.assembly import routes

EXAMPLES = int(os.environ.get("PAR_EXACT_EXAMPLES", "25"))
#: Every property: seeded (the same examples each run) unless a longer run asks for more.
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BACKENDS = ("serial", "thread", "process")
#: (hooks, typed, fast_expand): every route of the assembly.
ROUTES = ((True, True, True), (True, True, False), (True, False, False), (False, True, True),
          (False, False, False))
config = st.tuples(st.sampled_from(BACKENDS), st.sampled_from(ROUTES))


def par(obj, pool, n=None):
    """``obj.par`` on ``pool``, cut in ``n`` chunks."""
    return obj.par(pool=pool, n=n)


@contextlib.contextmanager
def using(route: tuple):
    hooks, typed, fast_expand = route
    with routes(hooks=hooks, typed=typed, fast_expand=fast_expand):
        yield


# -- exact comparison ----------------------------------------------------------------------------

def _types(values) -> list:
    return [type(v) for v in values]


def _same_index(a: pd.Index, b: pd.Index) -> None:
    assert type(a) is type(b), (type(a), type(b))
    assert_index_equal(a, b, exact=True, check_exact=True, check_categorical=True)
    assert a.names == b.names
    if isinstance(a, pd.MultiIndex):
        for i in range(a.nlevels):
            _same_index(a.get_level_values(i), b.get_level_values(i))
    elif a.dtype == object:
        assert _types(a) == _types(b)
    if isinstance(a, pd.DatetimeIndex):
        assert a.freq == b.freq


def _same_elem(a, b) -> None:
    """Two elements of object arrays: same type and value (NaN == NaN; containers recursively)."""
    assert type(a) is type(b), (type(a), type(b), a, b)
    if isinstance(a, (pd.Series, pd.DataFrame, pd.Index)):
        assert_same(a, b) if not isinstance(a, pd.Index) else _same_index(a, b)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        for x, y in zip(a.ravel(), b.ravel()):
            _same_elem(x, y)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same_elem(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same_elem(a[k], b[k])
    elif a is pd.NA or a is None or a is pd.NaT:
        assert a is b
    else:
        both_nan = isinstance(a, float) and a != a and b != b
        assert both_nan or a == b, (a, b)


def _same_series(got: pd.Series, exp: pd.Series) -> None:
    if exp.dtype == object:
        assert got.dtype == object and got.name == exp.name and len(got) == len(exp)
        _same_index(got.index, exp.index)
        for x, y in zip(got.array, exp.array):
            _same_elem(x, y)
    else:
        assert_series_equal(got, exp, check_exact=True, check_flags=True, check_freq=True,
                            check_index_type=True)
        _same_index(got.index, exp.index)
    assert got.attrs == exp.attrs and got.flags == exp.flags


def assert_same(got, exp) -> None:
    """Exactly the same pandas object: values, dtypes, index, names, order, element types."""
    assert type(got) is type(exp), (type(got), type(exp))
    if isinstance(exp, pd.DataFrame):
        assert got.shape == exp.shape
        _same_index(got.index, exp.index)
        _same_index(got.columns, exp.columns)
        assert list(got.dtypes) == list(exp.dtypes)
        for j in range(exp.shape[1]):
            _same_series(got.iloc[:, j], exp.iloc[:, j])
        assert got.attrs == exp.attrs and got.flags == exp.flags
    elif isinstance(exp, pd.Series):
        _same_series(got, exp)
    else:
        _same_elem(got, exp)


def outcome(fn):
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - compared below
        return None, exc


def _run(fn) -> tuple:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        value, error = outcome(fn)
    return value, error, {type(w.message) for w in seen}


def check(pandas_call, ours_call, expected_label=None) -> None:
    """Same result, or the same exception type and message (plus our row-label note)."""
    exp, exp_err, exp_warned = _run(pandas_call)
    got, got_err, got_warned = _run(ours_call)
    extra = got_warned - exp_warned - {PickleFallbackWarning}
    assert not extra, f"warnings pandas does not give: {extra}"
    if exp_err is not None:
        assert got_err is not None, f"pandas raised {exp_err!r}, we returned\n{got}"
        assert type(got_err) is type(exp_err), (got_err, exp_err)
        assert got_err.args == exp_err.args or str(got_err) == str(exp_err), (got_err, exp_err)
        if expected_label is not None:
            notes = getattr(got_err, "__notes__", [])
            assert any(repr(expected_label) in n for n in notes), (notes, expected_label)
        return
    assert got_err is None, f"pandas returned a result, we raised {got_err!r}"
    assert_same(got, exp)


# -- data ----------------------------------------------------------------------------------------

COLUMN_KINDS = ["float", "int", "Int64", "boolean", "bool", "category", "tz", "str", "object",
                "timedelta", "float32", "uint8", "Float64", "naive_dt"]


@st.composite
def column(draw, kind: str, n: int):
    def maybe_na(values, na):
        mask = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return [na if m else v for v, m in zip(values, mask)]

    ints = draw(st.lists(st.integers(-5, 5), min_size=n, max_size=n))
    if kind == "float":
        return np.array(maybe_na([i / 2 for i in ints], np.nan), dtype="float64")
    if kind == "float32":
        return np.array([i / 4 for i in ints], dtype="float32")
    if kind == "int":
        return np.array(ints, dtype="int64")
    if kind == "uint8":
        return np.array([abs(i) for i in ints], dtype="uint8")
    if kind == "Int64":
        return pd.array(maybe_na(ints, None), dtype="Int64")
    if kind == "Float64":
        return pd.array(maybe_na([i / 2 for i in ints], None), dtype="Float64")
    if kind == "boolean":
        return pd.array(maybe_na([i > 0 for i in ints], None), dtype="boolean")
    if kind == "bool":
        return np.array([i > 0 for i in ints])
    if kind == "category":
        return pd.Categorical(maybe_na([f"c{abs(i) % 3}" for i in ints], None),
                              categories=["c0", "c1", "c2", "unused"])
    if kind == "tz":
        return pd.array(maybe_na([pd.Timestamp("2024-03-10", tz="US/Eastern")
                                  + pd.Timedelta(hours=i) for i in ints], pd.NaT),
                        dtype="datetime64[ns, US/Eastern]")
    if kind == "naive_dt":
        return np.array(maybe_na([np.datetime64("2020-01-01") + np.timedelta64(i, "D")
                                  for i in ints], np.datetime64("NaT")), dtype="M8[s]")
    if kind == "timedelta":
        return pd.to_timedelta(ints, unit="s").to_numpy()
    if kind == "str":
        return pd.array(maybe_na([f"s{i}" for i in ints], None), dtype="str")
    if kind == "object":
        pool = [1, "a", None, 2.5, True, dt.date(2020, 1, 1), (1, 2)]
        out = np.empty(n, dtype=object)
        for i, v in enumerate(ints):
            out[i] = pool[v % len(pool)]
        return out
    raise AssertionError(kind)


@st.composite
def index_for(draw, n: int):
    kind = draw(st.sampled_from(["range", "str", "dup", "multi", "datetime", "int", "offset"]))
    if kind == "range":
        return pd.RangeIndex(n)
    if kind == "offset":
        return pd.RangeIndex(10, 10 + 3 * n, 3, name="r")
    if kind == "str":
        return pd.Index([f"row{i}" for i in range(n)], dtype="str", name="label")
    if kind == "dup":
        return pd.Index([f"d{i // 2}" for i in range(n)], dtype=object)
    if kind == "int":
        return pd.Index(draw(st.permutations(list(range(100, 100 + n)))), dtype="int64")
    if kind == "multi":
        return pd.MultiIndex.from_arrays([[f"a{i % 3}" for i in range(n)], list(range(n))],
                                         names=["outer", "inner"])
    return pd.date_range("2021-01-01", periods=n, freq="D", name="when")


@st.composite
def frames(draw, min_rows=0, max_rows=9, kinds=None, min_cols=1):
    n = draw(st.integers(min_rows, max_rows))
    chosen = draw(st.lists(st.sampled_from(kinds or COLUMN_KINDS), min_size=min_cols,
                           max_size=4))
    data = {f"{k}{j}": draw(column(k, n)) for j, k in enumerate(chosen)}
    df = pd.DataFrame(data, index=draw(index_for(n)))
    if draw(st.booleans()):
        df.attrs["source"] = "hypothesis"
    return df


def chunkings(n_rows: int) -> list:
    return sorted({1, 2, 3, max(n_rows, 1), n_rows + 2})


def _odd(label) -> bool:
    return len(str(label)) % 2 == 1


def stable_hash(x) -> int:
    """``hash(str(x))`` that every process agrees on (str hashes are salted per process)."""
    return zlib.crc32(str(x).encode())


def _pos_odd(r) -> bool:
    return stable_hash(r.name) % 2 == 1


@st.composite
def grouped(draw):
    n = draw(st.integers(0, 14))
    keys = draw(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=n, max_size=n))
    k2 = draw(st.lists(st.sampled_from(["x", "y", None]), min_size=n, max_size=n))
    df = pd.DataFrame({
        "k": keys,
        "k2": pd.array(k2, dtype=draw(st.sampled_from(["str", "object"]))),
        "kc": pd.Categorical([f"c{k % 3}" for k in keys], categories=["c2", "c0", "c1", "cx"]),
        "v": np.arange(n, dtype=float) / 2,
        "w": pd.array([None if i % 4 == 0 else i for i in range(n)], dtype="Int64"),
    }, index=draw(index_for(n)))
    return df


BYS = ["k", "k2", "kc", ["k", "k2"], ["kc", "k"]]

