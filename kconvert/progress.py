"""A one-line progress display for long weight transfers, on a terminal only.

Converting VGG16 moves half a gigabyte; a person at a terminal wants to see it move.  A pipeline
does not: the display draws only when its stream is a terminal, and never with ``--quiet``.
"""

from __future__ import annotations

import time
from typing import Callable, TextIO

_MB = 1024 * 1024


class Progress:
    """``update(nbytes)`` as data moves; ``close()`` ends the line.  Redraws at most every
    ``interval`` seconds, so that thousands of small tensors cost nothing."""

    def __init__(self, stream: TextIO, total: int, label: str, *, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.total, self.label = stream, max(total, 1), label
        self.interval, self.clock = interval, clock
        self.done = 0
        self.started = self.last = clock()
        self.drawn = False

    def update(self, nbytes: int) -> None:
        self.done += nbytes
        now = self.clock()
        if now - self.last >= self.interval:
            self.last = now
            self._draw(now)

    def close(self) -> None:
        if self.drawn or self.done:
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        done = min(self.done, self.total)
        width = 24
        filled = int(width * done / self.total)
        rate = done / max(now - self.started, 1e-9) / _MB
        return (f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {done / _MB:.1f}/{self.total / _MB:.1f} MB "
                f"{rate:.1f} MB/s")

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now))
        self.stream.flush()
        self.drawn = True


def for_terminal(stream: TextIO, total: int, label: str, *, quiet: bool = False,
                 minimum: int = 8 * _MB) -> Progress | None:
    """A display for ``total`` bytes if ``stream`` is a terminal, output is wanted and the transfer
    is big enough to be worth watching; else None."""
    if quiet or total < minimum or not getattr(stream, "isatty", lambda: False)():
        return None
    return Progress(stream, total, label)
