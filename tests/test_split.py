"""split: balanced views along axis 0, by n, size or nbytes, for any ndim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import parallel_analysis as par
from parallel_analysis.cuts import even_slices
from parallel_analysis.split import choose_n_chunks


def lengths(chunks):
    return [len(c) for c in chunks]


@given(rows=st.integers(0, 500), n=st.integers(1, 600))
def test_even_slices_cover_rows_balanced(rows, n):
    slices = even_slices(rows, n)
    assert len(slices) == min(rows, n)
    sizes = [s.stop - s.start for s in slices]
    assert sum(sizes) == rows
    if sizes:
        assert max(sizes) - min(sizes) <= 1
        assert slices[0].start == 0 and slices[-1].stop == rows
        assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))


@pytest.mark.parametrize("shape", [(10,), (10, 3), (10, 2, 2)])
def test_split_by_n_gives_views_that_concatenate_back(shape):
    x = np.arange(np.prod(shape)).reshape(shape)
    chunks = par.split(x, 4)
    assert lengths(chunks) == [3, 3, 2, 2]
    assert all(np.shares_memory(c, x) for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks), x)


def test_split_by_size_and_nbytes():
    x = np.zeros(10, dtype=np.float64)
    assert lengths(par.split(x, size=3)) == [3, 3, 2, 2]
    assert lengths(par.split(x, nbytes=8 * 5)) == [5, 5]
    assert max(lengths(par.split(x, nbytes=1))) == 1  # at least one row per chunk


def test_empty_input_gives_no_chunks_and_more_chunks_than_rows_gives_one_row_each():
    assert par.split(np.empty((0, 3)), 4) == []
    assert lengths(par.split(np.arange(3), 10)) == [1, 1, 1]


def test_non_contiguous_and_fortran_inputs_split_as_views():
    base = np.arange(40.0).reshape(10, 4)
    for x in (base[::2], base[:, ::2], np.asfortranarray(base), base.T):
        chunks = par.split(x, 3)
        assert all(np.shares_memory(c, x) for c in chunks)
        np.testing.assert_array_equal(np.concatenate(chunks), x)


def test_default_chunking_is_a_pure_function_of_data_and_cpus():
    assert choose_n_chunks(0, 8, 2) == 0
    assert choose_n_chunks(5, 8, 2) == 5  # never more chunks than rows
    assert choose_n_chunks(10**6, 8, 2) == 8  # 8 MB: at least 4 chunks per CPU
    assert choose_n_chunks(10**8, 8, 2) == 48  # 800 MB: about 16 MiB each
    x = np.arange(1000)
    assert lengths(par.split(x)) == lengths(par.split(x))


@pytest.mark.parametrize("bad", [0, -1])
def test_non_positive_n_is_a_value_error(bad):
    with pytest.raises(ValueError, match="positive"):
        par.split(np.arange(5), bad)


def test_conflicting_sizes_and_0d_input_are_errors():
    with pytest.raises(ValueError, match="at most one"):
        par.split(np.arange(5), 2, size=2)
    with pytest.raises(ValueError, match="0-d"):
        par.split(np.array(3.0), 2)
    with pytest.raises(TypeError, match="cannot split"):
        par.split({"a": 1}, 2)


def test_a_list_is_chunks_already_and_a_count_for_it_is_an_error():
    chunks = [np.arange(3), np.arange(2)]
    assert par.split(chunks) == chunks and par.split(tuple(chunks)) == chunks
    for option in ({"n": 2}, {"size": 1}, {"nbytes": 8}):
        with pytest.raises(TypeError, match="chunks already.*np.asarray"):
            par.split([1, 2, 3, 4], **option)
        for backend in ("serial", "thread"):  # every map says so too (it ignored them)
            with pytest.raises(TypeError, match="chunks already"):
                par.map_chunks(len, chunks, backend=backend, **option)
            with pytest.raises(TypeError, match="chunks already"):
                par.map_reduce(None, chunks, par.reducers.Sum(), backend=backend, **option)
            with pytest.raises(TypeError, match="chunks already"):
                par.map_array(lambda c: c, chunks, backend=backend, **option)


@given(keys=st.lists(st.integers(0, 12), min_size=1, max_size=120),
       size=st.integers(1, 40), by_bytes=st.booleans())
def test_whole_groups_keep_the_size_and_nbytes_bounds_where_they_can(keys, size, by_bytes):
    """With ``by=``, a chunk holds at most ``size`` rows (or ``nbytes`` bytes) unless it is one
    group bigger than that: a chunk count of rows / size alone left groups packed over it."""
    import pandas as pd

    df = pd.DataFrame({"k": keys, "v": np.arange(len(keys), dtype=np.int64)})
    bound = dict(nbytes=size * 16) if by_bytes else dict(size=size)
    chunks = par.split(df, by="k", **bound)
    assert sum(len(c) for c in chunks) == len(df)
    for chunk in chunks:
        assert len(chunk) <= size or chunk["k"].nunique() == 1
    groups = [set(c["k"]) for c in chunks]
    assert sum(len(g) for g in groups) == len(set().union(*groups))  # each group in one chunk
    assert [len(c) for c in par.split(pd.DataFrame({"k": np.repeat(np.arange(4), 3)}), size=5,
                                      by="k")] == [3, 3, 3, 3]
