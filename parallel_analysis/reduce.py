"""reduce: combine partial results as they arrive, in a fixed pairwise tree by chunk index.

The tree over chunks ``[0, n)`` splits each range at its midpoint. A node is combined as soon as
both of its children are known, whatever order the chunks finish in, so memory stays small and
the answer is bit-for-bit the same on every backend and worker count for the same chunking::

                 [0,5)
               /       \\
           [0,2)       [2,5)
           /   \\       /    \\
         [0,1] [1,2] [2,3]  [3,5)
                            /   \\
                         [3,4]  [4,5]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class TreeReduction:
    """Accepts ``(index, partial)`` pairs in any order; ``result`` once all ``n`` arrived."""

    def __init__(self, n: int, combine: Callable[[Any, Any], Any]):
        if n <= 0:
            raise ValueError("a tree reduction needs at least one chunk")
        self.n = n
        self.combine = combine
        self._done: dict[tuple[int, int], Any] = {}
        self._parent: dict[tuple[int, int], tuple[int, int]] = {}
        stack = [(0, n)]
        while stack:
            lo, hi = stack.pop()
            if hi - lo > 1:
                mid = (lo + hi) // 2
                for child in ((lo, mid), (mid, hi)):
                    self._parent[child] = (lo, hi)
                    stack.append(child)

    def add(self, index: int, partial: Any) -> None:
        node, value = (index, index + 1), partial
        while node in self._parent:
            lo, hi = parent = self._parent[node]
            mid = (lo + hi) // 2
            sibling = (mid, hi) if node[0] == lo else (lo, mid)
            if sibling not in self._done:
                self._done[node] = value
                return
            other = self._done.pop(sibling)
            value = self.combine(value, other) if node[0] == lo else self.combine(other, value)
            node = parent
        self._done[node] = value

    @property
    def complete(self) -> bool:
        return (0, self.n) in self._done

    @property
    def result(self) -> Any:
        return self._done[(0, self.n)]

    @property
    def pending(self) -> int:
        """Partials held right now (memory in use)."""
        return len(self._done)


def tree_reduce(partials: list, combine: Callable[[Any, Any], Any]) -> Any:
    """Reduce a list in the same tree shape as :class:`TreeReduction` (for tests and serial use)."""
    tree = TreeReduction(len(partials), combine)
    for i, p in enumerate(partials):
        tree.add(i, p)
    return tree.result
