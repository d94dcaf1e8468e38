"""A progress line for long work, at most one every few seconds: how much is done, how fast, and what is left.

Beam jobs call it from their DoFns (one per worker process: on the DirectRunner's default single process it
covers the whole job; with several workers each reports its own share), batch jobs and searches from their
loops.  It is a log line, so `embedflow -q` hides it and a scheduler's log keeps it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator


class Progress:
    """`add(n)` after each piece of work; logs `what: done of total (share), rate, time left` when due."""

    def __init__(self, what: str, unit: str, total: float | None = None, every_seconds: float = 10.0,
                 logger: logging.Logger | None = None, scale: float = 1.0):
        """`scale`: units per shown unit (1e6 to count bytes and show MB)."""
        self.what, self.unit, self.total, self.every, self.scale = what, unit, total, every_seconds, scale
        self.done = 0.0
        self._log = logger or logging.getLogger(__name__)
        self._started = self._last = time.monotonic()

    def add(self, n: float) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        rate = self.done / elapsed
        done = _amount(self.done / self.scale)
        if self.total:
            done += f" of {_amount(self.total / self.scale)}"
        text = f"{self.what}: {done} {self.unit}" + (f" ({self.done / self.total:.0%})" if self.total else "")
        text += f", {_amount(rate / self.scale)} {self.unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text


def _amount(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@contextlib.contextmanager
def timed(what: str, logger: logging.Logger | None = None) -> Iterator[None]:
    """Log `what` and how long it took, once it is done: for the long steps of a job that have no loop to count."""
    started = time.monotonic()
    yield
    seconds = time.monotonic() - started
    (logger or logging.getLogger(__name__)).info("%s in %s", what, f"{seconds:.1f} s" if seconds < 10 else _duration(seconds))
