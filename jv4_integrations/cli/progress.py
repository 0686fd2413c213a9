"""Progress of ``jv4 index``: a bar on a terminal, a line every so often in logs and pipes."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Seconds between two progress lines when stderr is not a terminal (CI logs, pipes, files).
LOG_INTERVAL_S = 30.0


class LogProgress:
    """The part of tqdm's interface ``jv4 index`` uses, writing a plain line to ``stream`` at most
    every :data:`LOG_INTERVAL_S` seconds (none for a run shorter than that: its summary says it all).

    Args:
        total: files to go through.
        stream: where the lines go (stderr).
        interval: seconds between lines (default :data:`LOG_INTERVAL_S`).
    """

    def __init__(self, total: int, stream: TextIO, interval: float | None = None) -> None:
        self.total = total
        self.n = 0
        self._stream = stream
        self._interval = LOG_INTERVAL_S if interval is None else interval
        self._items: Any = None
        self._start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self._last >= self._interval and self.n < self.total:
            self._last = now
            items = f", {self._items} item(s) written" if self._items is not None else ""
            percent = 100 * self.n // max(self.total, 1)
            print(
                f"jv4: indexing: {self.n}/{self.total} file(s) ({percent}%){items}, {now - self._start:.0f} s",
                file=self._stream,
                flush=True,
            )

    def set_postfix(self, *, items: Any = None, refresh: bool = True) -> None:
        self._items = items

    def set_description_str(self, desc: str, refresh: bool = True) -> None:
        """The bar shows the current file; the log lines do not."""

    def clear(self) -> None:
        """Nothing to clear: lines are never redrawn."""

    def refresh(self) -> None:
        """Nothing to redraw."""

    def close(self) -> None:
        """The summary line follows; nothing to close."""


def progress(total: int, *, disabled: bool) -> Any:
    """A tqdm bar on a terminal, :class:`LogProgress` otherwise, nothing with ``--no-progress``."""
    from tqdm.auto import tqdm

    if not disabled and not sys.stderr.isatty():
        return LogProgress(total, sys.stderr)
    return tqdm(total=total, desc="indexing", unit="file", disable=disabled, file=sys.stderr, dynamic_ncols=True)
