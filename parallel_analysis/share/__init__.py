"""share: place data in shared memory once and hand out a small picklable handle. Layer: share
(the package's modules import segment, attached, specs and each other).

=================  ===================================================================
module             owns
=================  ===================================================================
:mod:`.handle`     ``Shared``: the handle (context manager, ``.value``, ``close()``)
:mod:`.arrays`     ndarrays in a segment (``share_array``, ``shared_array``), ``ArrayRows``
:mod:`.arrow`      the Arrow codec of one column (pandas, pyarrow)
:mod:`.frames`     DataFrames, Series, Tables as Arrow IPC in a segment, ``FrameRows``
=================  ===================================================================

``import parallel_analysis`` loads :mod:`.handle` and :mod:`.arrays` only; the frame modules
(and with them pandas and pyarrow) load when a frame is first shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import ArrayMeta, ArrayRows, share_array, shared_array
from .handle import Shared, local_value, refuse_masked

__all__ = ["ArrayMeta", "ArrayRows", "Shared", "is_frame_like", "local_value", "refuse_masked",
           "share", "share_array", "shared_array"]


def is_frame_like(obj: Any) -> bool:
    """A pandas DataFrame or Series, or a pyarrow Table (checked without importing either)."""
    return type(obj).__module__.startswith(("pandas", "pyarrow"))


def share(obj: Any) -> Shared:
    """Place ``obj`` in shared memory once; return a :class:`Shared` handle.

    ``obj`` may be an ndarray, a pandas DataFrame or Series, or a pyarrow Table (a Shared handle
    is returned as it is). One copy is made; use :func:`shared_array` to make none.
    """
    if isinstance(obj, Shared):
        return obj
    if isinstance(obj, np.ndarray):
        return share_array(obj)
    if is_frame_like(obj):
        from .frames import share_frame  # pandas and pyarrow, loaded for frames only

        return share_frame(obj)
    if isinstance(obj, (np.generic, int, float, complex, bool)):
        raise TypeError(
            f"cannot share a scalar ({type(obj).__name__}): pass it to the map's args= instead"
        )
    raise TypeError(
        f"cannot share {type(obj).__name__}: expected a numpy array, pandas DataFrame or Series, "
        "or pyarrow Table"
    )
