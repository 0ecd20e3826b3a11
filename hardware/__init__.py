"""Device ports (camera, lock, indicator) with real and emulated backends side by side.

Importing ``hardware`` loads no vendor library: OpenCV, gpiozero and picamera2 are imported
by the backend that needs them, when it is constructed.

- ports: ``hardware.ports`` (Frame, Camera, Lock, Indicator, IndicatorState, Beep, Position)
- what the light and buzzer do in each state: ``hardware.patterns`` (LIGHTS, BEEPS)
- a fuel gauge for the lock's battery reading: ``hardware.battery`` (SysfsBattery)
- emulated: ``hardware.emulated`` (FileCamera, SyntheticCamera, HeldPhotoCamera,
  EmulatedLock, EmulatedIndicator, ManualClock, SteppingClock)
- real: ``hardware.cameras.opencv.OpenCvCamera``, ``hardware.cameras.picamera.PiCamera``,
  ``hardware.gpio.lock.GpioLock``, ``hardware.gpio.indicator.GpioIndicator``
- by kind name (config): ``hardware.factory`` (open_camera, open_lock, open_indicator)
"""

from hardware.errors import (
    CameraError,
    HardwareError,
    IndicatorError,
    LockError,
    LockJammedError,
)
from hardware.ports import Beep, Camera, Frame, Indicator, IndicatorState, Lock, Position

__all__ = [
    "Beep",
    "Camera",
    "CameraError",
    "Frame",
    "HardwareError",
    "Indicator",
    "IndicatorError",
    "IndicatorState",
    "Lock",
    "LockError",
    "LockJammedError",
    "Position",
]
