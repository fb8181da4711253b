"""progress: one tqdm bar per map that advances as chunks finish.

``progress=True`` shows a bar in Jupyter (a widget, through ``tqdm.auto``) or on a terminal's
stderr, and stays silent when stderr is neither (a pipe, a CI log) unless ``progress="always"``.
``progress="auto"`` shows it only for maps that run longer than about two seconds. tqdm is
imported on first use.
"""

from __future__ import annotations

import sys
from typing import Any

#: Seconds a map must run before ``progress="auto"`` shows its bar.
AUTO_DELAY = 2.0


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # noqa: BLE001
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(total: int, desc: str, mode: Any) -> Any:
    """A bar for ``total`` chunks, or a no-op object when ``mode`` says not to show one."""
    if not mode or total <= 0:
        return _NoBar()
    if mode not in (True, "auto", "always"):
        raise ValueError(f"progress must be True, False, 'auto' or 'always', got {mode!r}")
    notebook = _in_notebook()
    if mode != "always" and not (notebook or _stderr_is_terminal()):
        return _NoBar()
    if notebook:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="chunk", delay=AUTO_DELAY if mode == "auto" else 0,
                file=None if notebook else sys.stderr, leave=True)
