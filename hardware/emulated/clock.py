"""Deterministic clocks to inject into devices in tests and scenario runs."""

from __future__ import annotations

import threading


class ManualClock:
    """A clock that only moves when told to: ``clock()`` reads it, ``advance(s)`` moves it."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (>= 0); returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to ``now`` (may go backwards, to test clock trouble)."""
        with self._lock:
            self._now = float(now)


class SteppingClock:
    """A clock that moves ``step_s`` forward on every read: frame i of a camera gets i*step_s.

    Gives a file or synthetic camera a fixed frame rate, e.g. ``SteppingClock(1 / 30)``.
    """

    def __init__(self, step_s: float, start: float = 0.0) -> None:
        if not step_s > 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        self._step = float(step_s)
        self._start = float(start)
        self._reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self._start + self._reads * self._step
            self._reads += 1
            return now
