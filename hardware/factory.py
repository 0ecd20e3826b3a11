"""Open a camera, lock or indicator backend by kind name (as written in a config file)."""

from __future__ import annotations

import time
from typing import Any

from hardware.errors import HardwareError
from hardware.ports import Camera, Clock, Indicator, Lock, Position

CAMERA_KINDS = ("synthetic", "file", "opencv", "picamera")
LOCK_KINDS = ("emulated", "gpio")
INDICATOR_KINDS = ("emulated", "gpio")


def _unknown(what: str, kind: str, kinds: tuple[str, ...]) -> HardwareError:
    return HardwareError(f"unknown {what} kind {kind!r} (expected one of: {', '.join(kinds)})")


def open_camera(
    kind: str,
    *,
    path: str = "",
    device: int | str = 0,
    size: tuple[int, int] = (640, 480),
    fps: float = 15.0,
    loop: bool = True,
    clock: Clock = time.monotonic,
) -> Camera:
    """A camera of ``kind``: "synthetic" (an empty scene; call ``show()``), "file" (``path``,
    looped by default), "opencv" (``device``) or "picamera".

    Every kind delivers at most ``fps`` frames a second: the emulated ones are paced on
    ``clock`` as a real camera is by its sensor, so an idle unit does not spin a core."""
    if kind == "synthetic":
        from hardware.emulated.synthetic_camera import SyntheticCamera

        return SyntheticCamera(None, size=size, clock=clock, max_fps=fps)
    if kind == "file":
        from hardware.emulated.file_camera import FileCamera

        if not path:
            raise HardwareError("a file camera needs a path (an image, a folder or a video)")
        return FileCamera(path, loop=loop, size=size, clock=clock, max_fps=fps)
    if kind == "opencv":
        from hardware.cameras.opencv import OpenCvCamera

        return OpenCvCamera(device, size, fps, clock=clock)
    if kind == "picamera":
        from hardware.cameras.picamera import PiCamera

        return PiCamera(size, fps=fps, clock=clock)
    raise _unknown("camera", kind, CAMERA_KINDS)


def open_lock(
    kind: str,
    *,
    relay_pin: int | str = 17,
    latch_pin: int | str = 27,
    debounce_s: float = 0.05,
    unlock_pulse_s: float = 1.0,
    active_high: bool = True,
    pin_factory: Any = None,
    clock: Clock = time.monotonic,
    battery_path: str = "",
    battery_pct: float | None = None,
    drain: tuple[float, float, float] = (0.0, 0.0, 0.0),
    position: Position | None = None,
) -> Lock:
    """A lock of ``kind``: "emulated" (starts closed) or "gpio" (pins in BCM numbering).

    ``battery_path`` (gpio) names a fuel gauge's sysfs ``capacity`` file; empty: no gauge.
    The emulated lock starts at ``battery_pct`` (None: no gauge), drains ``drain`` points per
    (unlock, ride, hour), and sits at ``position`` (None: none), drifting during rides."""
    if kind == "emulated":
        from hardware.emulated.lock import BatteryDrain, EmulatedLock

        return EmulatedLock(clock, battery=battery_pct, drain=BatteryDrain(*drain),
                            position=position)
    if kind == "gpio":
        from hardware.battery import SysfsBattery
        from hardware.gpio.lock import GpioLock

        return GpioLock(
            relay_pin,
            latch_pin,
            pin_factory=pin_factory,
            active_high=active_high,
            debounce_s=debounce_s,
            unlock_pulse_s=unlock_pulse_s,
            clock=clock,
            battery_gauge=SysfsBattery(battery_path) if battery_path else None,
        )
    raise _unknown("lock", kind, LOCK_KINDS)


def open_indicator(
    kind: str,
    *,
    green_pin: int | str = 5,
    red_pin: int | str = 6,
    buzzer_pin: int | str = 13,
    pin_factory: Any = None,
    clock: Clock = time.monotonic,
) -> Indicator:
    """An indicator of ``kind``: "emulated" (records history) or "gpio"."""
    if kind == "emulated":
        from hardware.emulated.indicator import EmulatedIndicator

        return EmulatedIndicator(clock)
    if kind == "gpio":
        from hardware.gpio.indicator import GpioIndicator

        return GpioIndicator(green_pin, red_pin, buzzer_pin, pin_factory)
    raise _unknown("indicator", kind, INDICATOR_KINDS)
