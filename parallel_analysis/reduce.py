"""reduce: combine partial results as they arrive, in a fixed pairwise tree by chunk index.
Layer: leaves.

Level 0 holds the chunks; node ``j`` of level ``k+1`` combines nodes ``2j`` and ``2j+1`` of
level ``k`` (a node without a right neighbour moves up unchanged). A node is combined as soon as
both children are known, whatever order the chunks finish in, so memory stays small and the
answer is bit-for-bit the same on every backend and worker count for the same chunking::

    level 2:        (0..3)                 (4)
                   /      \\                 |
    level 1:   (0,1)      (2,3)            (4)
               /  \\      /   \\             |
    level 0:  0    1    2     3            4

Parents and siblings are index arithmetic, so setting up costs nothing even for 10,000 chunks.
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
        self._waiting: dict[tuple[int, int], Any] = {}  # (level, node) → value, sibling pending
        self._result: Any = None
        self._complete = False

    def add(self, index: int, partial: Any) -> None:
        if not 0 <= index < self.n:
            raise IndexError(f"chunk index {index} out of range for {self.n} chunks")
        level, node, value = 0, index, partial
        while (1 << level) < self.n:  # below the root
            sibling = node ^ 1
            if (sibling << level) < self.n:  # the sibling exists
                other = self._waiting.pop((level, sibling), _MISSING)
                if other is _MISSING:
                    self._waiting[(level, node)] = value
                    return
                value = self.combine(value, other) if node < sibling else self.combine(other, value)
            level, node = level + 1, node >> 1
        self._result, self._complete = value, True

    @property
    def complete(self) -> bool:
        return self._complete

    @property
    def result(self) -> Any:
        if not self._complete:
            raise ValueError(f"{len(self._waiting)} partial(s) still wait for their siblings")
        return self._result

    @property
    def pending(self) -> int:
        """Partials held right now (memory in use)."""
        return len(self._waiting)


_MISSING = object()


def tree_reduce(partials: list, combine: Callable[[Any, Any], Any]) -> Any:
    """Reduce a list in the same tree shape as :class:`TreeReduction` (for tests and serial use)."""
    tree = TreeReduction(len(partials), combine)
    for i, p in enumerate(partials):
        tree.add(i, p)
    return tree.result
