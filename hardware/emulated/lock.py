"""An emulated bike lock that doubles as a scenario instrument (close it, jam it, drain its
battery, read history)."""

from __future__ import annotations

import math
import threading
import time

from hardware._callbacks import CallbackList
from hardware.errors import LockError, LockJammedError
from hardware.ports import Callback, Clock, LockEvent, Unsubscribe


class EmulatedLock:
    """A latch that starts closed; ``unlock()`` opens it, ``close_latch()`` is the rider closing it.

    ``history`` lists ``(timestamp, event)`` with events "unlock" (command received),
    "opened", "closed" and "jammed" (an unlock that failed).
    """

    def __init__(self, clock: Clock = time.monotonic, *, closed: bool = True,
                 battery: float | None = None) -> None:
        self._clock = clock
        self._battery = _percent(battery)
        self._latched = bool(closed)
        self._jams = 0
        self._released = False
        self._lock = threading.RLock()
        self._on_closed = CallbackList("on_closed")
        self._on_opened = CallbackList("on_opened")
        self.history: list[tuple[float, LockEvent]] = []

    @property
    def is_closed(self) -> bool:
        """True while the latch is closed."""
        return self._latched

    @property
    def battery(self) -> float | None:
        """The emulated battery charge in percent, or None (no gauge: the default)."""
        return self._battery

    def on_closed(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch closes; returns a function to unregister."""
        return self._on_closed.add(callback)

    def on_opened(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch opens; returns a function to unregister."""
        return self._on_opened.add(callback)

    def unlock(self) -> None:
        """Open the latch (a no-op when already open); LockJammedError when jammed."""
        with self._lock:
            if self._released:
                raise LockError("the lock has been closed down and cannot be unlocked")
            self._record("unlock")
            if self._jams > 0:
                self._jams -= 1
                self._record("jammed")
                raise LockJammedError("the latch did not open: it is jammed")
            if not self._latched:
                return
            self._latched = False
            self._record("opened")
        self._on_opened.fire()

    # -- instruments ---------------------------------------------------------------------

    def close_latch(self) -> None:
        """The rider pushes the latch shut (a no-op when already closed); fires on_closed."""
        with self._lock:
            if self._latched:
                return
            self._latched = True
            self._record("closed")
        self._on_closed.fire()

    def jam(self, count: int = 1) -> None:
        """Make the next ``count`` unlock commands fail with the latch staying closed."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        with self._lock:
            self._jams = int(count)

    def set_battery(self, percent: float | None) -> None:
        """Set the battery charge the lock reports (0-100), or None for no gauge."""
        self._battery = _percent(percent)

    def events(self) -> list[LockEvent]:
        """The event names of ``history``, without timestamps."""
        return [event for _, event in self.history]

    def _record(self, event: LockEvent) -> None:
        self.history.append((float(self._clock()), event))

    def close(self) -> None:
        """Stop accepting unlock commands and drop callbacks; calling it again does nothing."""
        with self._lock:
            self._released = True
        self._on_closed.clear()
        self._on_opened.clear()

    def __enter__(self) -> EmulatedLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _percent(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"battery must be a percentage between 0 and 100, got {value!r}")
    return float(value)
