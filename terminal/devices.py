"""Open the devices a configuration names (the hardware factory does the choosing)."""

from __future__ import annotations

from collections.abc import Callable

from hardware import factory
from hardware.ports import Camera, Indicator, Lock, Position
from terminal.config.schema import CameraSection, IndicatorSection, LockSection
from terminal.errors import ConfigError


def open_camera(section: CameraSection, *, clock: Callable[[], float]) -> Camera:
    """The camera ``section`` describes (nothing opens until this is called)."""
    if section.kind == "file" and not section.path:
        raise ConfigError("camera.path: required when camera.kind = 'file'")
    return factory.open_camera(section.kind, path=section.path, device=section.device,
                               size=(section.width, section.height), fps=section.fps,
                               clock=clock)


def open_lock(section: LockSection, *, clock: Callable[[], float]) -> Lock:
    """The lock ``section`` describes."""
    return factory.open_lock(section.kind, relay_pin=section.relay_pin,
                             latch_pin=section.latch_pin, debounce_s=section.debounce_s,
                             unlock_pulse_s=section.unlock_pulse_s, clock=clock,
                             battery_path=section.battery_path,
                             battery_pct=section.battery_pct, drain=lock_drain(section),
                             position=lock_position(section))


def lock_drain(section: LockSection) -> tuple[float, float, float]:
    """The emulated battery's drain (per unlock, per ride, per hour) ``section`` gives."""
    return (section.drain_per_unlock_pct, section.drain_per_ride_pct,
            section.drain_per_hour_pct)


def lock_position(section: LockSection) -> Position | None:
    """Where ``section`` puts an emulated lock (None: no position)."""
    if section.lat is None or section.lon is None:
        return None
    return Position(section.lat, section.lon, accuracy_m=5.0)


def open_indicator(section: IndicatorSection, *, clock: Callable[[], float]) -> Indicator:
    """The status light and buzzer ``section`` describes."""
    return factory.open_indicator(section.kind, green_pin=section.green_pin,
                                  red_pin=section.red_pin, buzzer_pin=section.buzzer_pin,
                                  clock=clock)
