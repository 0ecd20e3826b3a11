"""A manual clock for the emulator and tests: time moves only when told to."""

from __future__ import annotations

import threading


class ManualClock:
    """A unix-time clock (call it) that only moves with :meth:`advance` or :meth:`set`."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (never backwards); return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (may go backwards, to test clock trouble)."""
        with self._lock:
            self._now = float(now)
