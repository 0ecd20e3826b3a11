"""Backends open by kind name, and a wrong name or missing setting is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from hardware.emulated import EmulatedIndicator, EmulatedLock, FileCamera, SyntheticCamera
from hardware.errors import CameraError, HardwareError
from hardware.factory import open_camera, open_indicator, open_lock
from hardware.gpio.indicator import GpioIndicator
from hardware.gpio.lock import GpioLock
from hardware.ports import Camera, Indicator, Lock


@pytest.fixture
def pins() -> Iterator[MockFactory]:
    mock = MockFactory()
    yield mock
    mock.reset()
    mock.close()


def test_synthetic_camera_opens_with_the_requested_size() -> None:
    with open_camera("synthetic", size=(320, 240)) as camera:
        assert isinstance(camera, SyntheticCamera) and isinstance(camera, Camera)
        frame = camera.read()
    assert frame is not None and frame.image.shape == (240, 320, 3)


def test_file_camera_loops_its_source(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((24, 32, 3), np.uint8))
    with open_camera("file", path=str(tmp_path / "a.png"), size=(32, 24)) as camera:
        assert isinstance(camera, FileCamera)
        assert all(camera.read() is not None for _ in range(3))


def test_file_camera_without_a_path_is_an_error() -> None:
    with pytest.raises(HardwareError, match="needs a path"):
        open_camera("file")


def test_real_camera_kinds_report_a_missing_device() -> None:
    with pytest.raises(CameraError):
        open_camera("opencv", device=99)


def test_locks_and_indicators_open_by_kind(pins: MockFactory) -> None:
    emulated = open_lock("emulated")
    assert isinstance(emulated, EmulatedLock) and isinstance(emulated, Lock)
    gpio = open_lock("gpio", pin_factory=pins, debounce_s=0.0)
    assert isinstance(gpio, GpioLock)
    gpio.close()
    assert isinstance(open_indicator("emulated"), EmulatedIndicator)
    light = open_indicator("gpio", pin_factory=pins)
    assert isinstance(light, GpioIndicator) and isinstance(light, Indicator)
    light.close()


@pytest.mark.parametrize(
    ("opener", "kind"), [(open_camera, "webcam"), (open_lock, "magnet"), (open_indicator, "lcd")]
)
def test_unknown_kinds_list_the_known_ones(opener: object, kind: str) -> None:
    with pytest.raises(HardwareError, match="expected one of"):
        opener(kind)  # type: ignore[operator]
