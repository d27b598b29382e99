"""Progress display while waiting: a ``tqdm.auto`` bar in terminals and notebooks, or a callback."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._models import JobInfo
from ._text import printable

__all__ = ["Progress", "make_progress"]

#: ``None`` (automatic), ``False`` (off), ``True`` (on), or a callable given each JobInfo seen.
Progress = bool | Callable[[JobInfo], object] | None

#: Seconds between redraws of a one-job bar's clock while no new status comes.
TICK = 0.5


def _in_notebook() -> bool:
    """True inside a running Jupyter kernel (merely importing ipykernel does not count)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return False
    return bool(IPKernelApp.initialized())


def _interactive() -> bool:
    if _in_notebook():
        return True
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def _size() -> dict[str, int]:
    """80 by 24 for a terminal that reports no size (a bare pty, ``script``), where tqdm would draw
    nothing; tqdm's own choice elsewhere."""
    if _in_notebook():
        return {}
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return {}
    return {"ncols": size.columns or 80, "nrows": size.lines or 24} if 0 in size else {}


def enabled(progress: Progress) -> bool:
    """Whether a bar is shown for ``progress``: ``ASYNCJOBS_PROGRESS=0`` turns bars off everywhere."""
    if progress is False or os.environ.get("ASYNCJOBS_PROGRESS", "").strip() == "0":
        return False
    if progress is None:
        return _interactive()
    return True


class Reporter:
    """Feeds a bar and/or a callback; does nothing when both are off. A clock bar (one job) is redrawn
    every ``TICK`` seconds between polls, so that its elapsed time keeps moving while the job runs."""

    def __init__(
        self, bar: Any, callback: Callable[[JobInfo], object] | None, *, ticking: bool = False
    ) -> None:
        self._bar = bar
        self._callback = callback
        self._last: str | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if bar is not None and ticking:
            self._ticker = threading.Thread(
                target=self._tick, name="asyncjobs-progress", daemon=True
            )
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            self._bar.refresh()

    def seen(self, info: JobInfo) -> None:
        """A status was seen."""
        if self._callback is not None:
            self._callback(info)
        if self._bar is not None and info.raw_status != self._last:
            self._last = info.raw_status
            postfix = printable(f"{info.status.value} ({info.raw_status})")
            self._bar.set_postfix_str(postfix, refresh=True)

    def advance(self, n: int = 1) -> None:
        """``n`` more jobs finished."""
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        """Stop the clock and close the bar (idempotent)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self._bar is not None:
            self._bar.close()


#: The bar over many jobs: jobs done of all, the time and what is left (no rate: jobs end in bursts
#: as polls see them, so "it/s" would say nothing).
_MANY = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} jobs [{elapsed}<{remaining}]"


def make_progress(progress: Progress, *, total: int | None, desc: str) -> Reporter:
    """A reporter for ``progress``: ``total`` jobs (``None`` for one job, shown as elapsed time)."""
    callback = progress if callable(progress) and not isinstance(progress, bool) else None
    bar = None
    if callback is None and enabled(progress):
        try:
            if _in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
                from tqdm.auto import tqdm
            else:  # tqdm.auto without ipywidgets warns in notebooks; the text bar works there
                from tqdm.std import tqdm
        except ImportError:  # the progress extra is not installed: no bar, no error
            tqdm = None
        if tqdm is not None:
            fmt = "{desc}: {elapsed}{postfix}" if total is None else _MANY
            bar = tqdm(
                total=total, desc=printable(desc), bar_format=fmt, unit="job", leave=True, **_size()
            )
    return Reporter(bar, callback, ticking=total is None)
