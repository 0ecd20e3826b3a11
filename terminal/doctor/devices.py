"""Doctor checks of the devices: camera (opens, frame size, frame rate delivered), lock and its
battery, zbar."""

from __future__ import annotations

import ctypes.util
import time
from collections.abc import Callable

from hardware.errors import HardwareError
from hardware.ports import Camera, Lock
from terminal.config.schema import CameraSection, Config, LockSection
from terminal.doctor.result import CheckResult, failed, passed
from terminal.errors import TerminalError

CameraOpener = Callable[[CameraSection], Camera]
LockOpener = Callable[[LockSection], Lock]

_BUSY_HINT = "a running unit holds it: stop it first (sudo systemctl stop scanpay-bike)"
# A camera delivering less than this share of its configured rate fails the check.
MIN_FPS_SHARE = 0.5


def open_configured_camera(section: CameraSection) -> Camera:
    """The camera ``section`` describes, paced on the real monotonic clock."""
    from terminal.devices import open_camera

    return open_camera(section, clock=time.monotonic)


def open_configured_lock(section: LockSection) -> Lock:
    """The lock ``section`` describes."""
    from terminal.devices import open_lock

    return open_lock(section, clock=time.monotonic)


def check_camera(config: Config, open_camera: CameraOpener = open_configured_camera, *,
                 probe_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic
                 ) -> CheckResult:
    """Open the camera, read frames for ``probe_s`` and report size and frame rate delivered."""
    section = config.camera
    what = f"{section.kind} camera"
    try:
        camera = open_camera(section)
    except (HardwareError, TerminalError, OSError) as exc:
        return failed("camera", f"{what} does not open: {exc}", _camera_fix(section))
    try:
        stamps: list[float] = []
        size: tuple[int, int] | None = None
        deadline = monotonic() + probe_s
        while monotonic() < deadline:
            frame = camera.read()
            if frame is None:
                break
            stamps.append(monotonic())
            size = (int(frame.image.shape[1]), int(frame.image.shape[0]))
    except (HardwareError, OSError) as exc:
        return failed("camera", f"{what} opened but reading failed: {exc}", _camera_fix(section))
    finally:
        camera.close()
    if size is None:
        return failed("camera", f"{what} opened but delivered no frame", _camera_fix(section))
    fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    detail = f"{what} {size[0]}x{size[1]}, {fps:.1f} fps delivered (configured {section.fps:g})"
    if (size[0], size[1]) != (section.width, section.height):
        return failed("camera", detail, f"the camera cannot deliver {section.width}x"
                      f"{section.height}: set camera.width/height to a mode it supports")
    if fps < section.fps * MIN_FPS_SHARE:
        return failed("camera", detail, "the camera is too slow: lower camera.fps or the size, "
                      "check the cable and that nothing else uses the camera", needed=False)
    return passed("camera", detail)


def _camera_fix(section: CameraSection) -> str:
    if section.kind == "picamera":
        return ("connect the camera module and enable it; sudo apt install python3-picamera2 "
                f"(venv with --system-site-packages); {_BUSY_HINT}")
    if section.kind == "opencv":
        return (f"plug in the USB camera or set camera.device (now {section.device}); the user "
                f"needs the video group; {_BUSY_HINT}")
    if section.kind == "file":
        return "set camera.path to an existing image, folder of images or video"
    return "check the [camera] section"


def check_lock(config: Config, open_lock: LockOpener = open_configured_lock
               ) -> tuple[CheckResult, ...]:
    """Open the lock's pins, read the latch switch and the battery gauge (when it opens)."""
    section = config.lock
    if section.kind == "emulated":
        try:
            lock = open_lock(section)
        except HardwareError as exc:
            return (failed("lock", f"emulated lock does not open: {exc}", "check [lock]"),)
        latch, battery = _read(lock, section)
        return passed("lock", f"emulated lock, latch {latch}"), battery
    pins = f"relay pin {section.relay_pin}, latch pin {section.latch_pin}"
    try:
        lock = open_lock(section)
    except (HardwareError, OSError) as exc:
        return (failed("lock", str(exc),
                       "check the wiring and lock.relay_pin/latch_pin (BCM numbers); the user "
                       f"needs the gpio group; {_BUSY_HINT}"),)
    latch, battery = _read(lock, section)
    return passed("lock", f"gpio lock ({pins}), latch {latch}"), battery


def _read(lock: Lock, section: LockSection) -> tuple[str, CheckResult]:
    """The latch reading and the battery check, closing the lock afterwards."""
    try:
        return ("reads closed" if lock.is_closed else "reads open"), _battery(lock, section)
    finally:
        lock.close()


def _battery(lock: Lock, section: LockSection) -> CheckResult:
    level = lock.battery
    limit = section.low_battery_pct
    if level is None:
        if section.battery_path:
            return failed("battery", f"the gauge {section.battery_path} cannot be read",
                          "check lock.battery_path (ls /sys/class/power_supply/*/capacity) "
                          "and that the UPS board's driver is loaded", needed=False)
        return passed("battery", "no battery gauge configured (lock.battery_path)")
    detail = f"{level:.0f}% charged (no new ride below {limit:g}%)"
    if level < limit:
        return failed("battery", detail, "charge or replace the battery: the unit refuses "
                      "new rides until it is above lock.low_battery_pct")
    return passed("battery", detail)


def check_zbar(find_library: Callable[[str], str | None] = ctypes.util.find_library
               ) -> CheckResult:
    """libzbar, the second QR engine of the decoder cascade, can be loaded."""
    name = find_library("zbar")
    if not name:
        return failed("libzbar", "libzbar not found (the QR cascade falls back to one engine)",
                      "sudo apt install libzbar0")
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        return failed("libzbar", f"{name} does not load: {exc}", "sudo apt install --reinstall "
                      "libzbar0")
    return passed("libzbar", f"{name} loads")
