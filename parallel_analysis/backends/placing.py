"""backends.placing: a map's data put where process workers read it in place. Layer: backends
(imports share and specs).

=====================================  ============================  ===========================
data                                   placed                        spec per chunk
=====================================  ============================  ===========================
ndarray already in a segment we own    a handle to that view         ``ArrayRows`` (no copy)
ndarray (≥ ``SHARE_MIN_BYTES``)        copied once into a transient  ``ArrayRows``
                                       segment, freed after the map
small ndarray                          rides in each batch           ``InlineRows``
object ndarray                         pickled (one warning)         ``Local``
DataFrame / Series / Table             Arrow IPC in a transient      ``FrameRows``
                                       segment
``Shared`` handle                      as it is (no copy at all)     ``ArrayRows``/``FrameRows``
=====================================  ============================  ===========================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..share import ArrayRows, Shared, is_frame_like, local_value, share_array
from ..share.arrays import owned_view
from ..specs import InlineRows, Local, readonly
from ..split import take_rows
from .base import Placement

#: Arrays smaller than this travel by pickle: a segment costs more than copying a few KiB.
SHARE_MIN_BYTES = 256 * 2**10


def _handle_for(data: Any) -> tuple[Any, Any]:
    """(data as workers should get it, a release callable or None)."""
    if isinstance(data, Shared):
        return data, None
    if isinstance(data, np.ndarray):
        if data.dtype.hasobject or data.nbytes < SHARE_MIN_BYTES:
            if data.dtype.hasobject:
                share_array(data)  # warns once that objects travel by pickle
            return data, None
        view = owned_view(data)
        if view is not None:  # already in a segment we own (e.g. par.shared_array): no copy
            return view, None
        handle = share_array(data, transient=True)
        return handle, lambda: handle.close(wait=False)
    if is_frame_like(data):
        from ..share.frames import share_frame  # pandas and pyarrow, loaded for frames only

        handle = share_frame(data, transient=True)
        return handle, lambda: handle.close(wait=False)
    return data, None


def place_shared(data: Any, slices: list[slice]) -> Placement:
    """Specs that let process workers read the chunks of ``data`` in place (see the table)."""
    placed, release = _handle_for(data)
    placement = Placement([], [release] if release is not None else [])
    if isinstance(placed, Shared) and placed.kind == "array":
        placement.specs = [ArrayRows(i, s.start, s.stop, placed, s.start, s.stop)
                           for i, s in enumerate(slices)]
    elif isinstance(placed, Shared) and placed.kind == "frame":
        from ..share.frames import frame_rows_specs

        placement.specs = frame_rows_specs(placed, slices)
    elif isinstance(placed, np.ndarray) and not placed.dtype.hasobject:
        # A small array: each batch carries it once, and each chunk is just a pair of ints.
        placement.specs = [InlineRows(i, s.start, s.stop, placed, s.start, s.stop)
                           for i, s in enumerate(slices)]
    else:
        value = local_value(placed)
        placement.specs = [Local(i, s.start, s.stop, readonly(take_rows(value, s)))
                           for i, s in enumerate(slices)]
    return placement
