"""The server's one notion of "now", shared by every handler and the live core.

Time is an input to scoring (decay, windows, SLA age, silence), so it is injectable:
production reads the wall clock; tests and benchmarks pin it (`set`) or move it
(`advance`) and the whole server, clock sweeps included, follows without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """Wall time (or a pinned time) plus an offset; safe to read from any thread."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._pinned: float | None = None
        self._offset = 0.0
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        pinned = self._pinned
        return (pinned if pinned is not None else self._source()) + self._offset

    def set(self, when: float) -> None:
        """Pins now to `when` (epoch seconds) until the next set() or advance()."""
        with self._lock:
            self._pinned, self._offset = float(when), 0.0
        self._moved()

    def advance(self, seconds: float) -> None:
        """Moves now forward by `seconds` (pinned or not)."""
        with self._lock:
            self._offset += float(seconds)
        self._moved()

    def on_move(self, listener: Callable[[], None]) -> None:
        """Calls `listener()` after every set() or advance() (the live core wakes its
        sweep then, so a test that moves time sees the move's effect promptly)."""
        self._listeners.append(listener)

    def _moved(self) -> None:
        for listener in list(self._listeners):
            listener()


__all__ = ["Clock"]
