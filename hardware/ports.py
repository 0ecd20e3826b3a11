"""The device ports: what the terminal needs from a camera, a lock and an indicator.

Backends (emulated ones in ``hardware.emulated``, real ones in ``hardware.cameras`` and
``hardware.gpio``) implement these protocols; the terminal only ever sees the ports.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol, Self, TypeVar, runtime_checkable

import numpy as np

from hardware.errors import IndicatorError, InvalidFrameError

Callback = Callable[[], None]
Clock = Callable[[], float]  # monotonic seconds
# Entries of a lock's history: command received, latch seen opened/closed, unlock failed.
LockEvent = Literal["unlock", "opened", "closed", "jammed"]
Unsubscribe = Callable[[], None]


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image. Treat ``image`` as read-only: several consumers may share it."""

    image: np.ndarray  # BGR uint8, shape (height, width, 3)
    timestamp: float  # capture time in seconds, from the camera's (injected) monotonic clock
    index: int  # 0 for the first frame a camera delivered, then 1, 2, ...

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
            raise InvalidFrameError(
                f"frame image must be a uint8 numpy array, got {_describe(img)}"
            )
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
            raise InvalidFrameError(f"frame image must be HxWx3 (BGR), got shape {img.shape}")
        if self.index < 0:
            raise InvalidFrameError(f"frame index must be >= 0, got {self.index}")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray):
        return f"array of {obj.dtype}"
    return type(obj).__name__


@runtime_checkable
class Camera(Protocol):
    """A source of frames. ``read()`` returns None once the source has ended."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames this camera delivers."""
        ...

    def read(self) -> Frame | None:
        """The next frame, or None when the source ended; CameraError on failure."""
        ...

    def close(self) -> None:
        """Release the device; calling it again does nothing."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class Lock(Protocol):
    """A bike lock: a latch the terminal can release and a switch that reports it closed.

    Callbacks run on the backend's thread (a GPIO event thread on real hardware); they must
    return quickly and must not call ``unlock()``.
    """

    @property
    def is_closed(self) -> bool:
        """True while the latch is closed (debounced)."""
        ...

    @property
    def battery(self) -> float | None:
        """The unit's battery charge in percent (0-100), or None when it has no gauge."""
        ...

    def unlock(self) -> None:
        """Release the latch; LockError (LockJammedError) when it stays closed."""
        ...

    def on_closed(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch closes; returns a function to unregister."""
        ...

    def on_opened(self, callback: Callback) -> Unsubscribe:
        """Call ``callback()`` each time the latch opens; returns a function to unregister."""
        ...

    def close(self) -> None:
        """Release the hardware (relay de-energised); calling it again does nothing."""
        ...


@dataclass(frozen=True)
class Position:
    """Where a unit is: WGS84 degrees and the radius of its uncertainty in metres."""

    lat: float
    lon: float
    accuracy_m: float

    def __post_init__(self) -> None:
        for name, value, low, high in (("lat", self.lat, -90.0, 90.0),
                                       ("lon", self.lon, -180.0, 180.0),
                                       ("accuracy_m", self.accuracy_m, 0.0, 1e7)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and low <= value <= high):
                raise ValueError(f"position {name} must be a number {low:g}..{high:g}, "
                                 f"got {value!r}")


@runtime_checkable
class PositionSource(Protocol):
    """A lock that knows where it is (a GNSS receiver, or the emulator's configured point)."""

    @property
    def position(self) -> Position | None:
        """The latest fix, or None when there is none."""
        ...


class IndicatorState(enum.Enum):
    """What the status light shows."""

    IDLE = "idle"  # ready: waiting for a customer
    BUSY = "busy"  # reading: working (scanning, talking to the back end)
    OK = "ok"  # approved: done, go ahead
    DECLINED = "declined"  # refused (a code, a rider, a payment)
    ERROR = "error"  # failed (a device or the back end)
    ATTENTION = "attention"  # the customer must act (e.g. close the lock, look at the camera)
    LOW_BATTERY = "low_battery"  # ready, but the battery is too low to start a ride

    @classmethod
    def parse(cls, value: IndicatorState | str) -> IndicatorState:
        """The state named ``value``; IndicatorError for an unknown name."""
        return _parse_enum(cls, value, "indicator state")


class Beep(enum.Enum):
    """Kinds of audible feedback."""

    OK = "ok"  # approved
    DECLINED = "declined"  # refused
    ERROR = "error"  # failed

    @classmethod
    def parse(cls, value: Beep | str) -> Beep:
        """The beep named ``value``; IndicatorError for an unknown name."""
        return _parse_enum(cls, value, "beep kind")


_E = TypeVar("_E", bound=enum.Enum)


def _parse_enum(cls: type[_E], value: _E | str, what: str) -> _E:
    if isinstance(value, cls):
        return value
    try:
        return cls(str(value).lower())
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise IndicatorError(f"unknown {what} {value!r} (expected one of: {names})") from None


@runtime_checkable
class Indicator(Protocol):
    """Status light and buzzer facing the customer."""

    def show(self, state: IndicatorState | str) -> None:
        """Switch the light to ``state``."""
        ...

    def beep(self, kind: Beep | str) -> None:
        """Sound a short ``kind`` beep without blocking."""
        ...

    def close(self) -> None:
        """Turn everything off and release the hardware; calling it again does nothing."""
        ...
