"""The device ports: frames are validated, names parse, importing hardware stays light."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hardware.emulated import EmulatedIndicator, EmulatedLock, FileCamera
from hardware.errors import CameraError, IndicatorError, InvalidFrameError
from hardware.ports import Beep, Camera, Frame, Indicator, IndicatorState, Lock


def test_frame_accepts_bgr_uint8_and_reports_width_height() -> None:
    frame = Frame(image=np.zeros((48, 64, 3), np.uint8), timestamp=1.5, index=3)
    assert frame.size == (64, 48)
    assert frame.timestamp == 1.5
    assert frame.index == 3


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((48, 64), np.uint8),  # grey
        np.zeros((48, 64, 4), np.uint8),  # BGRA
        np.zeros((48, 64, 3), np.float32),  # wrong depth
        np.zeros((0, 64, 3), np.uint8),  # empty
        [[0, 0, 0]],  # not an array
    ],
)
def test_frame_rejects_anything_but_bgr_uint8(image: object) -> None:
    with pytest.raises(InvalidFrameError):
        Frame(image=image, timestamp=0.0, index=0)  # type: ignore[arg-type]


def test_invalid_frame_error_is_a_camera_error() -> None:
    assert issubclass(InvalidFrameError, CameraError)


def test_indicator_names_parse_case_insensitively() -> None:
    assert IndicatorState.parse("Busy") is IndicatorState.BUSY
    assert IndicatorState.parse(IndicatorState.OK) is IndicatorState.OK
    assert Beep.parse("ERROR") is Beep.ERROR


def test_unknown_indicator_name_lists_the_valid_ones() -> None:
    with pytest.raises(IndicatorError,
                       match="idle, busy, ok, declined, error, attention, low_battery"):
        IndicatorState.parse("party")
    with pytest.raises(IndicatorError, match="unknown beep kind"):
        Beep.parse("fanfare")


def test_emulated_backends_satisfy_the_ports(tmp_path) -> None:
    import cv2

    path = tmp_path / "still.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), 128, np.uint8))
    with FileCamera(path) as camera:
        assert isinstance(camera, Camera)
    assert isinstance(EmulatedLock(), Lock)
    assert isinstance(EmulatedIndicator(), Indicator)


def test_importing_hardware_loads_no_vendor_library() -> None:
    code = (
        "import sys, hardware, hardware.ports, hardware.emulated, hardware.gpio.lock, "
        "hardware.gpio.indicator, hardware.cameras.opencv, hardware.cameras.picamera, "
        "hardware.factory\n"
        "print(sorted(m for m in ('cv2', 'gpiozero', 'picamera2', 'qrcode', 'pyzbar') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
