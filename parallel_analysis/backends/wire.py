"""backends.wire: how a batch's specs and outcomes look on the wire between processes. Layer:
backends (imports specs and worker; cloudpickle inside the functions).

A batch of 300 tiny chunks should cost a few hundred microseconds to send, not milliseconds, so
both directions are packed before pickling:

- specs that differ only in their integer fields (rows of one array, one shared frame) travel
  as one :class:`RowSpecs`: the class, the fields they share (the handle, pickled once) and one
  int64 column per field that varies;
- outcomes travel as columns (indices, values, seconds, start times), with the failed chunks'
  errors and the chunks' captured output on the side.

Payloads are pickled with the standard pickler (protocol 5), and with cloudpickle only when
that fails (a value whose class lives in a notebook, say): the standard pickler is several
times faster on many small objects, and ``pickle.loads`` reads either.
"""

from __future__ import annotations

import dataclasses
import operator
import pickle
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np

from ..specs import readonly
from ..worker import Outcome


def dumps(obj: Any) -> bytes:
    """``obj`` pickled: the standard pickler, or cloudpickle when that fails."""
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:
        import cloudpickle

        return cloudpickle.dumps(obj, protocol=5)


loads = pickle.loads


# -- specs --------------------------------------------------------------------------------------

class RowSpecs(NamedTuple):
    """Specs of one class that share every field but some integers: packed as columns."""

    cls: type
    shared: dict  # field name → the value every spec has
    columns: dict  # field name → int64 array, one value per spec
    order: tuple  # the class's field names, in __init__ order


def pack_specs(specs: list) -> Any:
    """A :class:`RowSpecs` when the batch allows it, else the specs as they are."""
    cls = type(specs[0])
    if len(specs) < 8 or not dataclasses.is_dataclass(cls) or set(map(type, specs)) != {cls}:
        return specs
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    shared, columns = {}, {}
    for name in names:  # map() over builtins: the loops over specs run in C
        values = list(map(operator.attrgetter(name), specs))
        if len(set(map(id, values))) == 1:
            shared[name] = values[0]
        elif set(map(type, values)) == {int}:
            columns[name] = np.asarray(values, dtype=np.int64)
        else:
            return specs
    return RowSpecs(cls, shared, columns, names)


def unpack_specs(packed: Any) -> list:
    """The list of specs :func:`pack_specs` packed."""
    if not isinstance(packed, RowSpecs):
        return packed
    count = len(next(iter(packed.columns.values()))) if packed.columns else 0
    columns = {name: col.tolist() for name, col in packed.columns.items()}
    # A shared array is made read-only once, so every chunk's view of it is read-only.
    shared = {n: readonly(v) if isinstance(v, np.ndarray) else v
              for n, v in packed.shared.items()}
    return list(map(packed.cls, *(columns[n] if n in columns else repeat(shared[n], count)
                                  for n in packed.order)))


# -- outcomes -----------------------------------------------------------------------------------

class Outcomes(NamedTuple):
    """A batch's outcomes as columns; ``failed`` and ``feedback`` by position in the batch."""

    pid: int
    indices: list
    values: list
    seconds: list
    started: list
    load_seconds: list
    failed: dict  # position → (error, remote traceback)
    feedback: dict  # position → the chunk's captured items


def pack_outcomes(outcomes: list[Outcome]) -> Outcomes:
    return Outcomes(
        outcomes[0].pid if outcomes else 0,
        [o.index for o in outcomes], [o.value for o in outcomes],
        [o.seconds for o in outcomes], [o.started for o in outcomes],
        [o.load_seconds for o in outcomes],
        {i: (o.error, o.remote_tb) for i, o in enumerate(outcomes) if not o.ok},
        {i: o.feedback for i, o in enumerate(outcomes) if o.feedback})


def unpack_outcomes(packed: Outcomes) -> list[Outcome]:
    n = len(packed.indices)  # built in C, field by field; then the few failed or chatty ones
    out = list(map(Outcome, packed.indices, repeat(True, n), packed.values, repeat(None, n),
                   repeat("", n), packed.seconds, repeat(packed.pid, n), repeat(None, n),
                   packed.started, packed.load_seconds))
    for i, (error, tb) in packed.failed.items():
        out[i].ok, out[i].error, out[i].remote_tb = False, error, tb
    for i, items in packed.feedback.items():
        out[i].feedback = items
    return out
