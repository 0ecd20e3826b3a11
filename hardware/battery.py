"""A battery gauge read from Linux's power-supply class (a UPS HAT's fuel-gauge driver).

Boards with a fuel gauge whose kernel driver is loaded expose the charge in percent at
``/sys/class/power_supply/<name>/capacity``; the lock reports it when ``[lock] battery_path``
names that file. A gauge that cannot be read reports None (unknown), never a made-up level.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from hardware.ports import Clock

log = logging.getLogger(__name__)


class SysfsBattery:
    """Reads a ``capacity`` file at most every ``max_age_s`` (the unit asks on every turn of its
    loop); None when it is missing or holds no percent."""

    def __init__(self, path: str | Path, *, max_age_s: float = 10.0,
                 clock: Clock = time.monotonic) -> None:
        self.path = Path(path)
        self._max_age_s = max_age_s
        self._clock = clock
        self._read_at: float | None = None
        self._value: float | None = None
        self._warned = False

    def __call__(self) -> float | None:
        """The charge in percent (0-100), or None when the gauge cannot be read."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._max_age_s:
            self._value = self._read()
            self._read_at = now
        return self._value

    def _read(self) -> float | None:
        try:
            text = self.path.read_text(encoding="ascii").strip()
            value = float(text)
        except (OSError, ValueError) as exc:
            if not self._warned:
                log.warning("battery gauge %s cannot be read: %s", self.path, exc)
                self._warned = True
            return None
        if not 0 <= value <= 100:
            return None
        return value
