"""The fixed pairwise tree: same shape whatever the arrival order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parallel_analysis.reduce import TreeReduction, tree_reduce


def shape(a, b):
    return f"({a}+{b})"


@given(st.integers(1, 200), st.randoms())
def test_order_of_arrival_does_not_change_the_tree(n, rnd: random.Random):
    expected = tree_reduce([str(i) for i in range(n)], shape)
    order = list(range(n))
    rnd.shuffle(order)
    tree = TreeReduction(n, shape)
    for i in order:
        assert not tree.complete
        tree.add(i, str(i))
    assert tree.complete and tree.result == expected and tree.pending == 0


def test_tree_shape_is_pairwise_by_index():
    assert tree_reduce(list("abcde"), shape) == "(((a+b)+(c+d))+e)"
    assert tree_reduce(["x"], shape) == "x"


def test_incomplete_tree_and_bad_index_are_errors():
    tree = TreeReduction(3, shape)
    tree.add(0, "a")
    with pytest.raises(ValueError, match="wait"):
        _ = tree.result
    with pytest.raises(IndexError):
        tree.add(5, "z")
    with pytest.raises(ValueError):
        TreeReduction(0, shape)
