"""An emulated bike lock that doubles as a scenario instrument (close it, jam it, drain its
battery, move it, read history).

Its battery (when it has one) drains as a real unit's does: a little per unlock (the latch
motor), per ride (radio and light while the bike is out) and per hour (idle load), at the rates
of a :class:`BatteryDrain`. Its position (when it has one) is a configured point that drifts
during rides: while the latch is open it wanders ``drift_m_per_min`` metres a minute in a
seeded random direction, staying within ``max_drift_m`` of where the ride began, and stays
where the bike was left.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass

from hardware._callbacks import CallbackList
from hardware.errors import LockError, LockJammedError
from hardware.ports import Callback, Clock, LockEvent, Position, Unsubscribe

_M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class BatteryDrain:
    """How fast the emulated battery runs down, in percentage points (default: it does not)."""

    per_unlock_pct: float = 0.0
    per_ride_pct: float = 0.0
    per_hour_pct: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_unlock_pct", "per_ride_pct", "per_hour_pct"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and 0 <= value <= 100):
                raise ValueError(f"battery drain {name} must be 0..100 points, got {value!r}")


@dataclass(frozen=True)
class Drift:
    """How far an emulated bike moves while it is out (a ride)."""

    drift_m_per_min: float = 60.0
    max_drift_m: float = 400.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.drift_m_per_min) and self.drift_m_per_min >= 0
                and math.isfinite(self.max_drift_m) and self.max_drift_m >= 0):
            raise ValueError("drift_m_per_min and max_drift_m must be >= 0 metres")


class EmulatedLock:
    """A latch that starts closed; ``unlock()`` opens it, ``close_latch()`` is the rider closing it.

    ``history`` lists ``(timestamp, event)`` with events "unlock" (command received),
    "opened", "closed" and "jammed" (an unlock that failed).
    """

    def __init__(self, clock: Clock = time.monotonic, *, closed: bool = True,
                 battery: float | None = None, drain: BatteryDrain | None = None,
                 position: Position | None = None, drift: Drift | None = None) -> None:
        self._clock = clock
        self._battery = _percent(battery)
        self._battery_at = float(clock())
        self._drain = drain or BatteryDrain()
        self._position = position
        self._drift = drift or Drift()
        self._rng = random.Random(self._drift.seed)
        self._heading = self._rng.uniform(0, 2 * math.pi)
        self._ride_origin: Position | None = None
        self._moved_at = self._battery_at
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
        with self._lock:
            if self._battery is None:
                return None
            self._settle_battery()
            return self._battery

    @property
    def position(self) -> Position | None:
        """Where the emulated bike is (None: no position configured)."""
        with self._lock:
            self._move()
            return self._position

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
            self._use_battery(self._drain.per_unlock_pct)
            if not self._latched:
                return
            self._latched = False
            self._ride_origin = self._position
            self._moved_at = float(self._clock())
            self._record("opened")
        self._on_opened.fire()

    # -- instruments ---------------------------------------------------------------------

    def close_latch(self) -> None:
        """The rider pushes the latch shut (a no-op when already closed); fires on_closed."""
        with self._lock:
            if self._latched:
                return
            self._move()
            self._latched = True
            self._ride_origin = None
            self._use_battery(self._drain.per_ride_pct)
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
        value = _percent(percent)
        with self._lock:
            self._battery = value
            self._battery_at = float(self._clock())

    def set_position(self, position: Position | None) -> None:
        """Put the bike at ``position`` (None: the lock reports no position)."""
        with self._lock:
            self._position = position
            self._ride_origin = None if self._latched else position
            self._moved_at = float(self._clock())

    # -- battery and position ------------------------------------------------------------

    def _settle_battery(self) -> None:
        """Apply the hourly drain up to now (with ``_lock`` held)."""
        now = float(self._clock())
        elapsed = max(0.0, now - self._battery_at)
        self._battery_at = now
        self._use_battery(self._drain.per_hour_pct * elapsed / 3600.0)

    def _use_battery(self, points: float) -> None:
        if self._battery is not None and points > 0:
            self._battery = max(0.0, self._battery - points)

    def _move(self) -> None:
        """Drift the position while the bike is out (with ``_lock`` held)."""
        now = float(self._clock())
        elapsed_min = max(0.0, now - self._moved_at) / 60.0
        self._moved_at = now
        here, origin = self._position, self._ride_origin
        if self._latched or here is None or origin is None or elapsed_min <= 0:
            return
        step = self._drift.drift_m_per_min * elapsed_min
        self._heading += self._rng.uniform(-0.8, 0.8)
        north = math.cos(self._heading) * step
        east = math.sin(self._heading) * step
        lat, lon = _offset(here, north, east)
        away_n, away_e = _metres(origin, lat, lon)
        distance = math.hypot(away_n, away_e)
        if distance > self._drift.max_drift_m:  # stay near where the ride began
            scale = self._drift.max_drift_m / distance
            lat, lon = _offset(origin, away_n * scale, away_e * scale)
            self._heading += math.pi
        self._position = Position(lat, lon, here.accuracy_m)

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


def _offset(origin: Position, north_m: float, east_m: float) -> tuple[float, float]:
    lat = origin.lat + north_m / _M_PER_DEG_LAT
    scale = _M_PER_DEG_LAT * max(0.01, math.cos(math.radians(origin.lat)))
    lon = origin.lon + east_m / scale
    lat = min(90.0, max(-90.0, lat))
    lon = (lon + 180.0) % 360.0 - 180.0
    return lat, lon


def _metres(origin: Position, lat: float, lon: float) -> tuple[float, float]:
    north = (lat - origin.lat) * _M_PER_DEG_LAT
    dlon = (lon - origin.lon + 180.0) % 360.0 - 180.0
    east = dlon * _M_PER_DEG_LAT * max(0.01, math.cos(math.radians(origin.lat)))
    return north, east


def _percent(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= 100):
        raise ValueError(f"battery must be a percentage between 0 and 100, got {value!r}")
    return float(value)
