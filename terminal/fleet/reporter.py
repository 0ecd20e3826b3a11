"""Heartbeats, positions and alarms, timed on an injected clock.

:meth:`Reporter.tick` is called often (the agent's ticker, or a test after moving a manual
clock). A heartbeat (and, when the device knows where it is, a position) goes out when the
reporting interval has passed since the last one, and at once after each (re)connect. Alarms
are raised once when a condition appears and again only after it has cleared:

- ``jammed`` / ``unlock_failed``: an unlock (a rider's or the operator's) failed;
- ``low_battery``: the charge fell below the unit's ``low_battery_pct`` (cleared 2 points above);
- ``lock_timeout``: a ride has lasted past the unit's time limit without the lock closing.

A unit without a battery gauge (mains powered, or none fitted) sends ``battery_pct: null``:
the charge is unknown, and an operator must not read a made-up one. Heartbeats and positions
are skipped while offline (stale ones help nobody); alarms are queued
and sent after reconnecting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from payments.fleet_messages import Alarm, Heartbeat, Message, Position, format_time
from terminal.fleet.control import UnitControl

log = logging.getLogger(__name__)

_CLEAR_MARGIN_PCT = 2.0


class Reporter:
    """Builds and sends one device's periodic reports and alarms."""

    def __init__(self, device_id: str, control: UnitControl, *,
                 send: Callable[[Message, bool], bool], next_seq: Callable[[], int],
                 interval_s: int, low_battery_pct: float = 15.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._device_id = device_id
        self._control = control
        self._send = send  # (message, queue_offline) -> sent or queued
        self._next_seq = next_seq
        self._interval_s = int(interval_s)
        self._low_pct = low_battery_pct
        self._clock = clock
        self._wall = wall
        self._mutex = threading.Lock()
        self._due_at = float("-inf")  # the first tick reports
        self._raised: set[str] = set()
        self.heartbeats = 0
        self.positions = 0
        self.alarms: list[str] = []

    @property
    def interval_s(self) -> int:
        """The reporting interval in seconds."""
        return self._interval_s

    def set_interval(self, seconds: int) -> None:
        """Report every ``seconds`` from now on (the next report is due one interval after the
        last one, or at once when that has passed)."""
        with self._mutex:
            last = self._due_at - self._interval_s
            self._interval_s = int(seconds)
            self._due_at = last + self._interval_s

    def report_now(self) -> None:
        """Make the next tick report (e.g. after reconnecting)."""
        with self._mutex:
            self._due_at = float("-inf")

    def tick(self) -> None:
        """Send what is due: alarms that appeared, then a heartbeat and position."""
        with self._mutex:
            self._check_alarms()
            now = self._clock()
            if now < self._due_at:
                return
            if self._send(self._heartbeat(), False):
                self.heartbeats += 1
                self._due_at = now + self._interval_s
            else:
                return  # offline: report as soon as the link is back
            where = self._control.position()
            if where is not None:
                message = Position(device_id=self._device_id, sent_at=self._now(),
                                   lat=where.lat, lon=where.lon, accuracy_m=where.accuracy_m,
                                   seq=self._next_seq())
                if self._send(message, False):
                    self.positions += 1

    def _heartbeat(self) -> Heartbeat:
        level = self._control.battery()
        return Heartbeat(device_id=self._device_id, sent_at=self._now(),
                         lock=self._control.lock_state(), unit_state=self._control.unit_state(),
                         battery_pct=None if level is None else max(0, min(100, round(level))),
                         battery_mv=None, signal_dbm=None, interval_s=self._interval_s,
                         seq=self._next_seq())

    def _check_alarms(self) -> None:
        fault = self._control.fault()
        self._alarm("jammed", fault == "jammed",
                    "the latch did not open when told to: it seems jammed; check the lock")
        self._alarm("unlock_failed", fault == "fault",
                    "the lock did not open when told to (a wiring or power fault); check it")
        level = self._control.battery()
        if level is not None:
            if level < self._low_pct:
                self._alarm("low_battery", True, f"battery at {level:.0f}%, below "
                            f"{self._low_pct:.0f}%: no new rides start until it is charged")
            elif level >= self._low_pct + _CLEAR_MARGIN_PCT:
                self._alarm("low_battery", False, "")
        self._alarm("lock_timeout", self._control.overdue(),
                    "a ride has gone past the time limit without the lock closing")

    def _alarm(self, code: str, active: bool, message: str) -> None:
        if not active:
            self._raised.discard(code)
            return
        if code in self._raised:
            return
        alarm = Alarm(device_id=self._device_id, sent_at=self._now(), code=code,
                      message=message, seq=self._next_seq())
        if self._send(alarm, True):
            self._raised.add(code)
            self.alarms.append(code)
            log.warning("fleet: alarm %s: %s", code, message)

    def _now(self) -> str:
        return format_time(self._wall())
