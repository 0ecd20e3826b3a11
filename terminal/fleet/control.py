"""What remote commands do on a device, and what its reports say about it.

:class:`BikeControl` drives a bike-lock unit: ``unlock`` is a service action (no fare, no
deposit, refused during a rental), ``lock`` ends it, ``find`` beeps and flashes. A
:class:`KioskControl` has no lock: it reports ``unknown`` and refuses lock commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from hardware.ports import Position, PositionSource
from payments.fleet_messages import SERVICE_STATE
from terminal.bikelock.states import RideState
from terminal.bikelock.unit import BikeLockUnit

Outcome = tuple[str, str]  # (ack status, plain words)


class UnitControl(Protocol):
    """A device as the fleet link sees it."""

    def lock_state(self) -> str:
        """``locked``, ``unlocked``, ``jammed`` or ``unknown``."""
        ...

    def unit_state(self) -> str:
        """The device's state-machine state name (``service`` while in service: a service
        unlock, or the latch opened by hand with no ride)."""
        ...

    def battery(self) -> float | None:
        """Charge in percent, or None when the device has no gauge."""
        ...

    def position(self) -> Position | None:
        """Where the device is, or None."""
        ...

    def fault(self) -> str | None:
        """``jammed`` or ``fault`` after an unlock that failed, until the latch opens."""
        ...

    def overdue(self) -> bool:
        """True while a ride has lasted past the unit's time limit without the lock closing."""
        ...

    def unlock(self) -> Outcome:
        """Open for service."""
        ...

    def lock(self) -> Outcome:
        """End a service unlock."""
        ...

    def find(self) -> Outcome:
        """Beep and flash."""
        ...


class BikeControl:
    """A :class:`BikeLockUnit` under remote control."""

    def __init__(self, unit: BikeLockUnit, *, ride_limit_s: float, find_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._unit = unit
        self._ride_limit_s = ride_limit_s
        self._find_s = find_s
        self._clock = clock

    def lock_state(self) -> str:
        """The latch as a fleet state."""
        lock = self._unit.lock
        if self._unit.lock_fault == "jammed" and lock.is_closed:
            return "jammed"
        return "locked" if lock.is_closed else "unlocked"

    def unit_state(self) -> str:
        """The ride state, or ``service`` while in service (unlocked by the operator, or the
        latch opened with no ride)."""
        if self._unit.in_service and self._unit.state is RideState.IDLE:
            return SERVICE_STATE
        return self._unit.state.value

    def battery(self) -> float | None:
        """The lock's gauge."""
        return self._unit.lock.battery

    def position(self) -> Position | None:
        """The lock's position when it has a source of one."""
        lock = self._unit.lock
        return lock.position if isinstance(lock, PositionSource) else None

    def fault(self) -> str | None:
        """The last failed unlock's kind."""
        return self._unit.lock_fault

    def overdue(self) -> bool:
        """A ride past the time limit."""
        rental = self._unit.rental
        if rental is None or self._unit.state is not RideState.RIDING:
            return False
        started = rental.unlocked_at or rental.started_at
        return self._clock() - started > self._ride_limit_s

    def unlock(self) -> Outcome:
        """Service unlock (no fare, no deposit); refused during a rental."""
        return self._unit.service_unlock()

    def lock(self) -> Outcome:
        """End the service unlock."""
        return self._unit.service_lock()

    def find(self) -> Outcome:
        """Beep and flash for ``find_s``."""
        self._unit.find(self._find_s)
        return "done", f"beeping and flashing for {self._find_s:.0f} s"


class KioskControl:
    """An ordering kiosk: mains powered, no lock, no light of its own to flash."""

    def __init__(self, state: Callable[[], str] = lambda: "serving") -> None:
        self._state = state

    def lock_state(self) -> str:
        """A kiosk has no lock."""
        return "unknown"

    def unit_state(self) -> str:
        """The kiosk's screen state."""
        return self._state()

    def battery(self) -> float | None:
        """Mains powered: no gauge."""
        return None

    def position(self) -> Position | None:
        """A kiosk does not move."""
        return None

    def fault(self) -> str | None:
        """No lock, no fault."""
        return None

    def overdue(self) -> bool:
        """No rides."""
        return False

    def unlock(self) -> Outcome:
        """Refused: no lock."""
        return "refused", "this device is a kiosk and has no lock"

    def lock(self) -> Outcome:
        """Refused: no lock."""
        return "refused", "this device is a kiosk and has no lock"

    def find(self) -> Outcome:
        """Refused: nothing to beep with."""
        return "refused", "this device is a kiosk and has no buzzer"
