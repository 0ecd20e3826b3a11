"""A bike lock on two GPIO pins: a relay that releases the latch and a switch that senses it.

Wiring: the relay (or MOSFET) driving the latch solenoid on ``relay_pin``; the latch switch on
``latch_pin`` to ground with the internal pull-up, so the switch reads active ("pressed")
while the latch is closed. gpiozero does the pin timing (the relay pulse runs on its blink
thread); this module adds a stable-time debounce: a latch change counts once the switch has
kept its new level for ``debounce_s`` (a settle timer re-reads the switch, so a bounce that
ends where it started reports nothing).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from hardware._callbacks import CallbackList
from hardware.errors import LockError, LockJammedError
from hardware.ports import Callback, Clock, LockEvent, Unsubscribe

logger = logging.getLogger(__name__)

# Extra time allowed after the pulse and debounce for the opening to be confirmed.
_CONFIRM_MARGIN_S = 0.25


class GpioLock:
    """The lock port on gpiozero; pass ``pin_factory`` (e.g. a MockFactory) or use the default.

    ``battery_gauge()`` (e.g. :class:`hardware.battery.SysfsBattery`) gives the charge the
    lock reports; without one the battery is unknown (None).

    ``clock`` times the debounce and stamps ``history``. With an injected clock that does not
    move by itself (tests), a latch change is confirmed only by ``poll()`` after advancing it,
    or at once when ``debounce_s`` is 0.
    """

    def __init__(
        self,
        relay_pin: int | str,
        latch_pin: int | str,
        *,
        pin_factory: Any = None,
        active_high: bool = True,
        latch_pull_up: bool = True,
        debounce_s: float = 0.05,
        unlock_pulse_s: float = 1.0,
        clock: Clock = time.monotonic,
        battery_gauge: Callable[[], float | None] | None = None,
    ) -> None:
        if not (math.isfinite(debounce_s) and 0 <= debounce_s <= 5):
            raise LockError(f"debounce_s must be between 0 and 5 seconds, got {debounce_s}")
        if not (math.isfinite(unlock_pulse_s) and 0 < unlock_pulse_s <= 10):
            raise LockError(f"unlock_pulse_s must be in (0, 10] seconds, got {unlock_pulse_s}")
        self._relay_pin = relay_pin
        self._debounce_s = float(debounce_s)
        self._pulse_s = float(unlock_pulse_s)
        self._clock = clock
        self._gauge = battery_gauge
        self._relay, self._switch = _open_pins(
            relay_pin, latch_pin, pin_factory, active_high, latch_pull_up, debounce_s
        )
        self._on_closed = CallbackList("on_closed")
        self._on_opened = CallbackList("on_opened")
        self.history: list[tuple[float, LockEvent]] = []
        self._state_lock = threading.Lock()  # guards the fields below
        self._dispatch = threading.RLock()  # one confirmation (and its callbacks) at a time
        self._stable_closed = bool(self._switch.is_active)
        self._pending_since: float | None = None
        self._timer: threading.Timer | None = None
        self._opened: threading.Event | None = None
        self._shut = False
        self._switch.when_activated = self._on_edge
        self._switch.when_deactivated = self._on_edge

    # -- the port ------------------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        """True while the latch is closed (debounced)."""
        return self._stable_closed

    @property
    def battery(self) -> float | None:
        """The battery charge in percent from ``battery_gauge``; None without a gauge."""
        return None if self._gauge is None else self._gauge()

    @property
    def open_timeout_s(self) -> float:
        """How long ``unlock()`` waits for the latch to be seen open."""
        return self._pulse_s + self._debounce_s + _CONFIRM_MARGIN_S

    def on_closed(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch closes; returns a function to unregister."""
        return self._on_closed.add(callback)

    def on_opened(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch opens; returns a function to unregister."""
        return self._on_opened.add(callback)

    def unlock(self) -> None:
        """Pulse the relay and wait until the latch is seen open; LockJammedError if it is not.

        Returns as soon as the opening is confirmed (usually well before the pulse ends); the
        relay pulse itself runs on gpiozero's background thread. A no-op when already open.
        """
        with self._state_lock:
            if self._shut:
                raise LockError("the lock has been closed down and cannot be unlocked")
            already_open = not self._stable_closed and not self._switch.is_active
            opened = threading.Event()
            if not already_open:
                self._opened = opened
        self._record("unlock")
        if already_open:
            logger.info("unlock requested while the latch is already open")
            return
        try:
            self._relay.blink(on_time=self._pulse_s, off_time=0, n=1, background=True)
            if not opened.wait(self.open_timeout_s):
                self._record("jammed")
                raise LockJammedError(
                    f"the latch did not open within {self.open_timeout_s:.2f} s of energising "
                    f"the relay on pin {self._relay_pin} (jammed latch or wiring fault)"
                )
        finally:
            with self._state_lock:
                self._opened = None

    # -- debounce ------------------------------------------------------------------------

    def poll(self) -> None:
        """Re-read the latch switch now and report a change that has been stable long enough.

        The settle timer calls this after each switch edge; tests with an injected clock call
        it after advancing the clock.
        """
        with self._dispatch:
            with self._state_lock:
                if self._shut:
                    return
                raw_closed = bool(self._switch.is_active)
                if raw_closed == self._stable_closed:
                    self._pending_since = None
                    return
                now = self._clock()
                if self._pending_since is None:
                    self._pending_since = now
                remaining = self._debounce_s - (now - self._pending_since)
                if remaining > 0:
                    self._schedule(remaining)
                    return
                self._stable_closed = raw_closed
                self._pending_since = None
                opened_event = None if raw_closed else self._opened
            self._record("closed" if raw_closed else "opened")
            if raw_closed:
                self._on_closed.fire()
            else:
                if opened_event is not None:
                    opened_event.set()
                self._on_opened.fire()

    def _on_edge(self) -> None:
        with self._state_lock:
            if self._shut:
                return
            self._pending_since = self._clock()
            if self._debounce_s > 0:
                self._schedule(self._debounce_s)
                return
        self.poll()

    def _schedule(self, delay: float) -> None:
        """(Re)start the settle timer; call with ``_state_lock`` held."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(max(delay, 0.001), self.poll)
        self._timer.daemon = True
        self._timer.start()

    def _record(self, event: LockEvent) -> None:
        self.history.append((float(self._clock()), event))

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """De-energise the relay and release both pins; calling it again does nothing."""
        with self._state_lock:
            if self._shut:
                return
            self._shut = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._on_closed.clear()
        self._on_opened.clear()
        try:
            self._relay.off()
        finally:
            self._relay.close()
            self._switch.close()

    def __enter__(self) -> GpioLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open_pins(
    relay_pin: int | str,
    latch_pin: int | str,
    pin_factory: Any,
    active_high: bool,
    latch_pull_up: bool,
    debounce_s: float,
) -> tuple[Any, Any]:
    from gpiozero import DigitalInputDevice, DigitalOutputDevice
    from gpiozero.exc import GPIOZeroError

    from hardware.gpio.pins import explain_pin_error, quiet_pin_factory_fallbacks

    relay = None
    try:
        with quiet_pin_factory_fallbacks():
            relay = DigitalOutputDevice(
                relay_pin, active_high=active_high, initial_value=False, pin_factory=pin_factory
            )
            # A Button without its hold thread (which delays close() by up to hold_time).
            switch = DigitalInputDevice(
                latch_pin,
                pull_up=latch_pull_up,
                bounce_time=debounce_s or None,
                pin_factory=pin_factory,
            )
    except (GPIOZeroError, OSError) as exc:
        if relay is not None:
            relay.close()
        raise LockError(
            f"cannot set up the lock on relay pin {relay_pin} and latch pin {latch_pin}: "
            f"{explain_pin_error(exc)}"
        ) from exc
    return relay, switch
