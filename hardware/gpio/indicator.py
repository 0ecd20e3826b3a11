"""Status light (green and red LEDs) and buzzer on GPIO pins, driven by gpiozero.

The patterns are :mod:`hardware.patterns`' table. Blinking and beeping run on gpiozero's
threads.
"""

from __future__ import annotations

import threading
from typing import Any

from hardware.errors import IndicatorError
from hardware.patterns import BEEPS, LIGHTS, Blink, Led
from hardware.ports import Beep, IndicatorState


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
        pattern = LIGHTS[parsed]
        with self._lock:
            self._check_open()
            _drive(self._green, pattern.green)
            _drive(self._red, pattern.red)
            self._state = parsed

    def beep(self, kind: Beep | str) -> None:
        """Sound the ``kind`` beep pattern in the background."""
        pattern = BEEPS[Beep.parse(kind)]
        with self._lock:
            self._check_open()
            self._buzzer.beep(on_time=pattern.on_s, off_time=pattern.off_s, n=pattern.count,
                              background=True)

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


def _drive(device: Any, pattern: Led) -> None:
    if isinstance(pattern, Blink):
        device.blink(on_time=pattern.on_s, off_time=pattern.off_s, background=True)
    elif pattern:
        device.on()
    else:
        device.off()
