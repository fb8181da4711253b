"""progress: one tqdm bar per map that advances as chunks finish. Layer: low (imports worker).

Where the bar goes is decided once per map, from where the caller runs:

=====================  ===========================  ==========================================
caller                 ``progress=True``            ``progress="always"``
=====================  ===========================  ==========================================
Jupyter kernel         a widget (``tqdm.auto``)     the same
terminal               text on stderr               the same
pipe, file, CI log     nothing                      text on stderr
inside a worker        nothing (a nested map)       nothing
=====================  ===========================  ==========================================

``progress="auto"`` is ``True`` for maps that run longer than :data:`AUTO_DELAY` seconds: the bar
is created hidden and appears at the first finished chunk after the delay, so quick maps in a
loop print nothing. tqdm (and ipywidgets) are imported on first use, never by
``import parallel_analysis``. tqdm's own ``TQDM_*`` environment variables (``TQDM_DISABLE=1``,
``TQDM_MININTERVAL``, ...) apply as usual.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .worker import in_worker

#: Seconds a map must run before ``progress="auto"`` shows its bar: long enough that maps in a
#: loop stay quiet, short enough that a user waiting on a slow cell sees movement.
AUTO_DELAY = 2.0

MODES = (True, False, None, "auto", "always")

#: Bar size on a terminal that reports no size.
FALLBACK_COLUMNS, FALLBACK_ROWS = 80, 24


class NoBar:
    """Stands in for a bar when none is shown, so the map driver never checks."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _in_notebook() -> bool:
    """True in a Jupyter kernel (where a widget bar renders in the running cell)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # any IPython oddity means "not a notebook"
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def check_mode(mode: Any) -> Any:
    """``mode`` itself when it is a valid ``progress=`` value; a clear error otherwise."""
    if not any(mode is m or (isinstance(m, str) and mode == m) for m in MODES):
        raise ValueError(
            f"progress must be True, False, None, 'auto' or 'always', got {mode!r}"
        )
    return mode


def where(mode: Any) -> str | None:
    """Where a bar for ``mode`` would go now: ``"notebook"``, ``"stderr"`` or None (nowhere)."""
    check_mode(mode)
    if not mode:
        return None
    if in_worker():
        return None
    if _in_notebook():
        return "notebook"
    if mode == "always" or _stderr_is_terminal():
        return "stderr"
    return None


def progress_bar(total: int, desc: str, mode: Any) -> Any:
    """A bar for ``total`` chunks named ``desc``, or a no-op object when none should show."""
    target = where(mode)
    if target is None or total <= 0:
        return NoBar()
    delay = AUTO_DELAY if mode == "auto" else 0
    options = dict(total=total, desc=desc or "map", unit="chunk", delay=delay, leave=True)
    if target == "notebook":
        try:
            from tqdm.auto import tqdm as auto_tqdm

            return auto_tqdm(**options)
        except ImportError:  # no ipywidgets: tqdm.notebook cannot draw; text in the cell
            pass
    from tqdm import tqdm

    if _terminal_columns() > 0:
        return tqdm(file=sys.stderr, dynamic_ncols=True, **options)
    # A terminal that reports no size (a bare pty, ``docker run -t``): tqdm would trim the bar
    # to nothing and hide it below row 0, so give it the classic size.
    return tqdm(file=sys.stderr, ncols=FALLBACK_COLUMNS, nrows=FALLBACK_ROWS, **options)


def _terminal_columns() -> int:
    """Columns of the terminal behind stderr; 0 when it reports none or is not a terminal."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
