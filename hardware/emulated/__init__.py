"""Emulated devices that double as test instruments: inject frames, jam the lock, read history.

Import the backends from their modules (``hardware.emulated.file_camera`` etc.) or from here;
nothing heavy (OpenCV) is imported until a camera is opened.
"""

from hardware.emulated.clock import ManualClock, SteppingClock
from hardware.emulated.file_camera import FileCamera
from hardware.emulated.held_photo import HeldPhotoCamera
from hardware.emulated.indicator import EmulatedIndicator
from hardware.emulated.lock import BatteryDrain, Drift, EmulatedLock
from hardware.emulated.synthetic_camera import SyntheticCamera

__all__ = [
    "BatteryDrain",
    "Drift",
    "EmulatedIndicator",
    "EmulatedLock",
    "FileCamera",
    "HeldPhotoCamera",
    "ManualClock",
    "SteppingClock",
    "SyntheticCamera",
]
