"""Status light (green and red LEDs) and buzzer on GPIO pins, driven by gpiozero.

Patterns: idle = slow green heartbeat, busy = fast green blink, ok = green on,
error = red on, attention = red blink. Blinking and beeping run on gpiozero's threads.
"""

from __future__ import annotations

import threading
from typing import Any

from hardware.errors import IndicatorError
from hardware.ports import Beep, IndicatorState

# (green, red): None = off, "on" = steady, (on_s, off_s) = blinking.
_Led = str | tuple[float, float] | None
_Pattern = tuple[_Led, _Led]
PATTERNS: dict[IndicatorState, _Pattern] = {
    IndicatorState.IDLE: ((0.1, 2.9), None),
    IndicatorState.BUSY: ((0.2, 0.2), None),
    IndicatorState.OK: ("on", None),
    IndicatorState.ERROR: (None, "on"),
    IndicatorState.ATTENTION: (None, (0.25, 0.25)),
}
# (on_s, off_s, count)
BEEPS: dict[Beep, tuple[float, float, int]] = {
    Beep.OK: (0.08, 0.05, 1),
    Beep.ERROR: (0.15, 0.1, 3),
}


class GpioIndicator:
    """The indicator port on two LEDs and a buzzer; pass ``pin_factory`` or use the default."""

    def __init__(
        self,
        green_pin: int | str,
        red_pin: int | str,
        buzzer_pin: int | str,
        pin_factory: Any = None,
        *,
        buzzer_active_high: bool = True,
    ) -> None:
        from gpiozero import LED, Buzzer
        from gpiozero.exc import GPIOZeroError

        from hardware.gpio.pins import explain_pin_error, quiet_pin_factory_fallbacks

        opened: list[Any] = []
        try:
            with quiet_pin_factory_fallbacks():
                opened.append(LED(green_pin, pin_factory=pin_factory))
                opened.append(LED(red_pin, pin_factory=pin_factory))
                opened.append(
                    Buzzer(buzzer_pin, active_high=buzzer_active_high, pin_factory=pin_factory)
                )
        except (GPIOZeroError, OSError) as exc:
            for device in opened:
                device.close()
            raise IndicatorError(
                f"cannot set up the indicator on pins green={green_pin} red={red_pin} "
                f"buzzer={buzzer_pin}: {explain_pin_error(exc)}"
            ) from exc
        self._green, self._red, self._buzzer = opened
        self._lock = threading.Lock()
        self._closed = False
        self._state = IndicatorState.IDLE
        self.show(IndicatorState.IDLE)

    @property
    def state(self) -> IndicatorState:
        """What the light shows now."""
        return self._state

    def show(self, state: IndicatorState | str) -> None:
        """Switch the LEDs to the pattern of ``state``."""
        parsed = IndicatorState.parse(state)
        green, red = PATTERNS[parsed]
        with self._lock:
            self._check_open()
            _drive(self._green, green)
            _drive(self._red, red)
            self._state = parsed

    def beep(self, kind: Beep | str) -> None:
        """Sound the ``kind`` beep pattern in the background."""
        on_s, off_s, count = BEEPS[Beep.parse(kind)]
        with self._lock:
            self._check_open()
            self._buzzer.beep(on_time=on_s, off_time=off_s, n=count, background=True)

    def _check_open(self) -> None:
        if self._closed:
            raise IndicatorError("the indicator has been closed")

    def close(self) -> None:
        """Turn the LEDs and buzzer off and release the pins; calling it again does nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for device in (self._green, self._red, self._buzzer):
            try:
                device.off()
            finally:
                device.close()

    def __enter__(self) -> GpioIndicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _drive(device: Any, pattern: _Led) -> None:
    if pattern is None:
        device.off()
    elif pattern == "on":
        device.on()
    else:
        on_s, off_s = pattern  # type: ignore[misc]
        device.blink(on_time=on_s, off_time=off_s, background=True)
