"""An emulated status light and buzzer that records everything it was told to show."""

from __future__ import annotations

import threading
import time

from hardware.errors import IndicatorError
from hardware.ports import Beep, Clock, IndicatorState


class EmulatedIndicator:
    """Records ``history`` as ``(timestamp, IndicatorState | Beep)`` in call order."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._state = IndicatorState.IDLE
        self._closed = False
        self._lock = threading.Lock()
        self.history: list[tuple[float, IndicatorState | Beep]] = []

    @property
    def state(self) -> IndicatorState:
        """What the light shows now."""
        return self._state

    @property
    def states(self) -> list[IndicatorState]:
        """Every state shown, in order."""
        return [item for _, item in self.history if isinstance(item, IndicatorState)]

    @property
    def beeps(self) -> list[Beep]:
        """Every beep sounded, in order."""
        return [item for _, item in self.history if isinstance(item, Beep)]

    def show(self, state: IndicatorState | str) -> None:
        """Switch the light to ``state`` (an IndicatorState or its name)."""
        parsed = IndicatorState.parse(state)
        with self._lock:
            self._check_open()
            self._state = parsed
            self.history.append((float(self._clock()), parsed))

    def beep(self, kind: Beep | str) -> None:
        """Sound a ``kind`` beep (a Beep or its name)."""
        parsed = Beep.parse(kind)
        with self._lock:
            self._check_open()
            self.history.append((float(self._clock()), parsed))

    def _check_open(self) -> None:
        if self._closed:
            raise IndicatorError("the indicator has been closed")

    def close(self) -> None:
        """Stop accepting commands; calling it again does nothing."""
        with self._lock:
            self._closed = True

    def __enter__(self) -> EmulatedIndicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
