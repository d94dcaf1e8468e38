"""Ctrl-C that is never lost: a SIGINT handler that remembers the request, and checks at safe points.

Python's own SIGINT handler raises KeyboardInterrupt wherever the main
thread happens to be; when that is a weakref or `__del__` callback (TensorFlow
runs many while it traces and frees graphs), Python prints "Exception
ignored in ..." and carries on: `tune` then ran its whole search on.  While
`interrupts_noticed()` lasts, a Ctrl-C still raises at once and is also
remembered, and long loops call `raise_if_interrupted()` between steps (each
training epoch, each tuning trial), so a swallowed one stops the work there.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

_requested = threading.Event()


def _on_sigint(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_noticed() -> Iterator[None]:
    """Install the remembering handler (main thread only; elsewhere a no-op) and restore the previous one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came (and was swallowed) since the handler was installed."""
    if _requested.is_set():
        raise KeyboardInterrupt
